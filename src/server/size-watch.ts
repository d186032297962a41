/**
 * The data-directory size warning (issue 21): a `store.size.warning` log line when the data
 * directory (or the database, when no directory is named) passes the configured size.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Store } from './store/index.ts';

const CHECK_EVERY_MS = 60_000;
const REPEAT_EVERY_MS = 3600_000;

/** Bytes of the regular files under `dir` (not following links; a few levels deep at most). */
export function directoryBytes(dir: string, depth = 3): number {
  let total = 0;
  let entries: import('node:fs').Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    try {
      if (e.isFile()) total += statSync(p).size;
      else if (e.isDirectory() && depth > 0) total += directoryBytes(p, depth - 1);
    } catch {
      // removed meanwhile
    }
  }
  return total;
}

export class SizeWatch {
  readonly #store: Store;
  readonly #log: { warn(obj: object, msg: string): void };
  #checkedAt = Number.NEGATIVE_INFINITY;
  #warnedAt = Number.NEGATIVE_INFINITY;

  constructor(store: Store, log: { warn(obj: object, msg: string): void }) {
    this.#store = store;
    this.#log = log;
  }

  /** Checks (at most once a minute unless `force`); returns the size when it was measured. */
  async check(
    limit: { readonly bytes: number; readonly path?: string },
    now = Date.now(),
    force = false,
  ): Promise<number | undefined> {
    if (!force && now - this.#checkedAt < CHECK_EVERY_MS) return undefined;
    this.#checkedAt = now;
    const bytes = limit.path ? directoryBytes(limit.path) : (await this.#store.stats()).bytes;
    if (bytes <= limit.bytes) {
      this.#warnedAt = Number.NEGATIVE_INFINITY;
      return bytes;
    }
    if (force || now - this.#warnedAt >= REPEAT_EVERY_MS) {
      this.#warnedAt = now;
      this.#log.warn(
        {
          event: 'store.size.warning',
          bytes,
          limit: limit.bytes,
          ...(limit.path ? { path: limit.path } : {}),
        },
        'the data directory is larger than the configured warning size: check retention (docs/storage.md)',
      );
    }
    return bytes;
  }
}
