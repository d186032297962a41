/**
 * The agent's data directory holds secrets (DMAcc credentials, the bootstrap PIN and IMSI in
 * agent.json): it is 0700 and every file in it 0600, whatever the umask, also when an older
 * version created them readable.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';

export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/** Creates `dir` (and parents) and makes it owner-only. */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  chmodSync(dir, PRIVATE_DIR_MODE);
}

/** Writes `file` atomically (a temporary file renamed over it), owner-only. */
export function writePrivateFile(file: string, text: string): void {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, text, { mode: PRIVATE_FILE_MODE });
  // A temporary left by a crash may have other modes: writeFileSync keeps those.
  chmodSync(tmp, PRIVATE_FILE_MODE);
  renameSync(tmp, file);
}

/** Makes an existing file owner-only (a no-op when it does not exist). */
export function restrictFile(file: string): void {
  if (existsSync(file)) chmodSync(file, PRIVATE_FILE_MODE);
}

/** Reads a JSON file, or undefined when it is missing or unreadable as JSON. */
export function readJsonFile(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as unknown;
  } catch {
    return undefined;
  }
}
