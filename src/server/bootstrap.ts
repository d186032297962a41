/**
 * First-start chores of `omadm server`: the admin API token and the key that seals server-side
 * secrets. Both are created once and kept: the token hashed in the database, the key in the data
 * directory (or given by the operator, which several nodes on one PostgreSQL must share).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { preparePrivateDir } from './data-dir.ts';
import type { Store } from './store/index.ts';

export interface AdminTokenResult {
  /** The plaintext token when it was generated now (print it once), else undefined. */
  readonly generated?: string;
  /** True when the token given by the operator (--token / OMADM_TOKEN) was imported now. */
  readonly imported: boolean;
  /** Live admin tokens after the call. */
  readonly admins: number;
}

/**
 * Makes sure an admin token exists. A `given` token is imported (stored hashed) unless it is
 * already known; without one, a token is generated only when no live admin token exists.
 */
export async function ensureAdminToken(store: Store, given?: string): Promise<AdminTokenResult> {
  if (given !== undefined) {
    if (given.length < 16) throw new Error('the admin token must be at least 16 characters');
    const known = await store.tokens.verify(given);
    if (known) {
      if (known.role !== 'admin')
        throw new Error(`the given token exists with role ${known.role}, not admin`);
      return { imported: false, admins: await countAdmins(store) };
    }
    await store.tokens.create({ name: 'admin', role: 'admin', createdBy: 'omadm server', secret: given });
    await store.audit.append({ actor: 'system', action: 'token.import', target: 'admin' });
    return { imported: true, admins: await countAdmins(store) };
  }
  if ((await countAdmins(store)) > 0) return { imported: false, admins: await countAdmins(store) };
  const { secret } = await store.tokens.create({ name: 'admin', role: 'admin', createdBy: 'omadm server' });
  await store.audit.append({ actor: 'system', action: 'token.generate', target: 'admin' });
  return { generated: secret, imported: false, admins: 1 };
}

async function countAdmins(store: Store): Promise<number> {
  return (await store.tokens.list()).filter((t) => t.role === 'admin' && t.revokedAt === null).length;
}

/**
 * The 32-byte secret-sealing key: from `given` (hex or base64, e.g. OMADM_SECRET_KEY), else the
 * file `secret.key` in the data directory, created with mode 0600 on first start.
 */
export function loadSecretKey(
  dataDir: string,
  given?: string,
): { key: Uint8Array; created: boolean; source: string } {
  if (given !== undefined && given !== '') {
    const key = /^[0-9a-f]{64}$/i.test(given) ? Buffer.from(given, 'hex') : Buffer.from(given, 'base64');
    if (key.length !== 32) throw new Error('the secret key must be 32 bytes (64 hex digits or base64)');
    return { key: new Uint8Array(key), created: false, source: 'OMADM_SECRET_KEY' };
  }
  const file = join(dataDir, 'secret.key');
  if (existsSync(file)) {
    const text = readFileSync(file, 'utf8').trim();
    const key = Buffer.from(text, 'hex');
    if (key.length !== 32) throw new Error(`${file} does not hold a 32-byte hex key`);
    return { key: new Uint8Array(key), created: false, source: file };
  }
  preparePrivateDir(dataDir);
  const key = randomBytes(32);
  writeFileSync(file, `${key.toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  return { key: new Uint8Array(key), created: true, source: file };
}
