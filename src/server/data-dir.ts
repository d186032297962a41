/**
 * The server's data directory is private: the directory 0700, every file in it 0600 (SQLite
 * database, its WAL and shared-memory files, the secret key, the start token). Files a previous
 * version left readable are tightened on every start.
 */
import { chmodSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const DIR_MODE = 0o700;
export const FILE_MODE = 0o600;

/** Creates `dir` (and parents) if missing and makes it and the files in it private. */
export function preparePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: DIR_MODE });
  chmodSync(dir, DIR_MODE);
  for (const name of readdirSync(dir)) {
    const file = join(dir, name);
    try {
      if (statSync(file).isFile()) chmodSync(file, FILE_MODE);
    } catch {
      // Gone meanwhile, or not ours to change: opening it will tell.
    }
  }
}
