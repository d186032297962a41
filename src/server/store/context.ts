/** What every SQL store shares: the Kysely instance, backend, clock, secret box, events. */
import { EventEmitter } from 'node:events';
import {
  type Compilable,
  createQueryId,
  type Kysely,
  type QueryResult,
  type RootOperationNode,
} from 'kysely';
import type { Database } from './schema.ts';
import type { SecretBox } from './secret-box.ts';
import type { Pruner } from './retention.ts';
import type { SecretLeaves } from './secret-leaves.ts';
import { StoreError, StoreErrorCode } from './errors.ts';

export interface StoreContext {
  readonly db: Kysely<Database>;
  readonly backend: 'sqlite' | 'postgres';
  readonly now: () => number;
  readonly box: SecretBox;
  /** Which tree leaves hold secrets (their command values are sealed at rest). */
  readonly secrets: SecretLeaves;
  /** In-process change events (`command` with the command id) for waiters. */
  readonly events: EventEmitter;
  /**
   * Cross-process wake-ups (PostgreSQL LISTEN/NOTIFY): `publish` tells other nodes which commands
   * changed, `subscribe` starts listening (idempotent) so their changes reach `events` here.
   * Absent on SQLite, where waiters poll.
   */
  readonly remote?: {
    publish(ids: readonly number[]): void;
    subscribe(): Promise<void>;
    close(): Promise<void>;
  };
  /** Applies every table's retention off the DM path; writers tell it what they added. */
  readonly pruner: Pruner;
  /** Finished commands older than this (ms after completion) are deleted by the sweep. */
  readonly commandRetentionMs: number;
}

export function newEvents(): EventEmitter {
  const e = new EventEmitter();
  e.setMaxListeners(0);
  return e;
}

/** Opaque cursor of a keyset page: base64url of the last key. */
export function encodeCursor(key: string | number): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

export function decodeCursor<T extends string | number>(
  cursor: string | undefined,
  kind: 'string' | 'number',
): T | undefined {
  if (cursor === undefined || cursor === '') return undefined;
  try {
    const v: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (typeof v === kind) return v as T;
  } catch {
    // fall through
  }
  throw new StoreError(StoreErrorCode.InvalidInput, 'invalid pagination cursor');
}

export function clampLimit(limit: number | undefined, def = 100, max = 1000): number {
  if (limit === undefined || !Number.isFinite(limit)) return def;
  return Math.max(1, Math.min(max, Math.floor(limit)));
}

export function parseJson<T>(text: string | null, fallback: T): T {
  if (text === null || text === '') return fallback;
  try {
    return JSON.parse(text) as T;
  } catch {
    return fallback;
  }
}

/** Runs compiled SQL directly on a database's connection (see {@link registerDirect}). */
export type DirectExecutor = <R>(sql: string, parameters: readonly unknown[]) => Promise<QueryResult<R>>;

const directOf = new WeakMap<Kysely<Database>, DirectExecutor>();

/**
 * Lets {@link prepared} queries run on `db` (the store's root instance, never a transaction) by
 * `exec` instead of Kysely's executor — SQLite's driver runs them synchronously when its
 * connection is free (NodeSqliteDialect.execute).
 */
export function registerDirect(db: Kysely<Database>, exec: DirectExecutor): void {
  directOf.set(db, exec);
}

/** A named parameter of a {@link prepared} query (typed as whatever the builder wants there). */
export type Param = (name: string) => never;

/** Runs a prepared query on the store's database or inside one of its transactions. */
export type PreparedQuery<R> = (
  db: Kysely<Database>,
  params: Readonly<Record<string, unknown>>,
) => Promise<QueryResult<R>>;

/**
 * A query built and compiled once, then run with fresh parameters: the hot statements of a DM
 * session skip Kysely's building, compiling and identifier quoting (together about a fifth of the
 * server's CPU per session), and the driver finds its prepared statement under the very same SQL
 * string. Create one per store instance (the SQL is the backend's dialect). `build` must give the
 * same SQL whatever the values: no conditional parts, no value lists; `p('name')` marks a
 * parameter, every other value is a constant of the query.
 */
export function prepared<R>(build: (db: Kysely<Database>, p: Param) => Compilable<R>): PreparedQuery<R> {
  let compiled: { sql: string; query: RootOperationNode; slots: readonly (string | { value: unknown })[] };
  return (db, params) => {
    if (!compiled) {
      const names = new Map<string, string>();
      const mark = (name: string): never => {
        const token = `\u0000omadm-param:${name}`;
        names.set(token, name);
        return token as never;
      };
      const c = build(db, mark).compile();
      const slots = c.parameters.map((v) =>
        typeof v === 'string' && names.has(v) ? names.get(v)! : { value: v },
      );
      compiled = { sql: c.sql, query: c.query, slots };
    }
    const parameters = compiled.slots.map((s) => (typeof s === 'string' ? params[s] : s.value));
    const direct = directOf.get(db);
    if (direct) return direct<R>(compiled.sql, parameters);
    return db.executeQuery<R>({
      sql: compiled.sql,
      parameters,
      query: compiled.query,
      queryId: createQueryId(),
    });
  };
}
