/**
 * `openStore(url)`: one entry point for every backend. Opens the database, runs migrations, and
 * returns the stores wired to one Kysely instance.
 *
 * URLs:
 * - `sqlite:/abs/path/omadm.db`, `sqlite:relative.db`, `sqlite::memory:`, or a bare file path;
 * - `postgres://user@host:5432/db` or `postgresql://…` (any `pg` connection string), optionally with
 *   `?schema=NAME` (created if missing; the `schema` option wins).
 */
import { chmodSync, closeSync, existsSync, openSync } from 'node:fs';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { newEvents, registerDirect, type StoreContext } from './context.ts';
import { pgRemote } from './pg-remote.ts';
import { StoreError, StoreErrorCode } from './errors.ts';
import { migrateToLatest } from './migrations.ts';
import { NodeSqliteDialect } from './node-sqlite-dialect.ts';
import type { Database } from './schema.ts';
import { SecretBox } from './secret-box.ts';
import { DEFAULT_SECRET_LEAVES, SecretLeaves } from './secret-leaves.ts';
import { SqlAuditLog } from './sql-audit-log.ts';
import { SqlCommandQueue } from './sql-command-queue.ts';
import { SqlDeviceStore } from './sql-device-store.ts';
import { SqlSessionStore } from './sql-session-store.ts';
import { SqlNotificationStore } from './sql-notification-store.ts';
import { SqlTokenStore } from './sql-token-store.ts';
import { SqlTraceStore } from './sql-trace-store.ts';
import { SqlTreeCache } from './sql-tree-cache.ts';
import { SqlEventStore } from './sql-event-store.ts';
import type { EventRetention, Store, SweepReport, TraceRetention } from './types.ts';

/** Options of {@link openStore}. */
export interface StoreOptions {
  /** 32-byte key sealing server-side secrets (AES-256-GCM). See docs/storage.md. */
  readonly secretKey?: Uint8Array;
  /**
   * Leaves whose values are secrets, on top of those the standard DDFs mark (no Get): leaf names
   * or URI patterns (`*` = one segment). Default {@link DEFAULT_SECRET_LEAVES}. See secret-leaves.ts.
   */
  readonly secretLeaves?: readonly string[];
  /** Clock (ms); injected by tests. Default `Date.now`. */
  readonly now?: () => number;
  /** Trace retention; defaults 1000 messages per device, 7 days. */
  readonly traceRetention?: Partial<TraceRetention>;
  /** Device event retention; defaults 1000 events per device, 90 days. */
  readonly eventRetention?: Partial<EventRetention>;
  /** Apply a device's trace retention inline every N of its appends (default 64). */
  readonly pruneEvery?: number;
  /** Finished commands (and their correlators) are deleted this long after completion (default 90 days). */
  readonly commandRetentionMs?: number;
  /** PostgreSQL schema to use (created if missing); default the connection's search_path. */
  readonly schema?: string;
  /** PostgreSQL pool size (default 10). */
  readonly poolSize?: number;
  /** SQLite: how long to wait for another connection's write lock (default 10 s). */
  readonly busyTimeoutMs?: number;
}

/** What a URL resolves to. */
export type StoreLocation =
  | { readonly backend: 'sqlite'; readonly path: string }
  | { readonly backend: 'postgres'; readonly url: string; readonly schema?: string };

/** Parses a store URL (see module doc). */
export function parseStoreUrl(url: string): StoreLocation {
  if (typeof url !== 'string' || url.trim() === '')
    throw new StoreError(StoreErrorCode.BadUrl, 'empty database URL');
  if (/^postgres(ql)?:\/\//i.test(url)) {
    // `?schema=NAME` is ours, not pg's: take it out of the connection string.
    const u = new URL(url);
    const schema = u.searchParams.get('schema');
    if (schema === null) return { backend: 'postgres', url };
    u.searchParams.delete('schema');
    return { backend: 'postgres', url: u.toString(), schema };
  }
  if (/^sqlite:/i.test(url)) {
    let path = url.slice('sqlite:'.length);
    if (path.startsWith('//')) path = path.slice(2); // sqlite:///abs/path → /abs/path
    if (path === '') throw new StoreError(StoreErrorCode.BadUrl, 'sqlite: URL without a path');
    return { backend: 'sqlite', path };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    throw new StoreError(StoreErrorCode.BadUrl, `unsupported database URL scheme in ${url.split(':')[0]}:`);
  }
  return { backend: 'sqlite', path: url };
}

/**
 * The database file is created 0600 before SQLite opens it (SQLite gives its WAL, shared-memory and
 * journal files the database file's mode); existing ones are tightened. Not for `:memory:`/URIs.
 */
function privateSqliteFiles(path: string): void {
  if (path === '' || path.startsWith(':') || path.startsWith('file:')) return;
  if (!existsSync(path)) {
    try {
      closeSync(openSync(path, 'a', 0o600));
    } catch {
      return; // a missing directory or no permission: SQLite's own open reports it
    }
  }
  for (const f of [path, `${path}-wal`, `${path}-shm`, `${path}-journal`]) {
    try {
      chmodSync(f, 0o600);
    } catch {
      // absent (no WAL yet) or not ours
    }
  }
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** int8 and numeric counts come back from pg as strings; our values fit in a double. */
const pgTypes = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === 20 && format !== 'binary') return (v: string) => Number(v);
    // biome-ignore lint/suspicious/noExplicitAny: pg's overloaded getTypeParser signature.
    return (pg.types.getTypeParser as any)(oid, format);
  },
};

/**
 * Opens (and migrates) a store.
 *
 * @example
 * await using store = await openStore('sqlite:./omadm-data/omadm.db');
 * await store.devices.create({ id: 'IMEI:1', clientSecret: 's' });
 */
export async function openStore(url: string, options: StoreOptions = {}): Promise<Store> {
  const location = parseStoreUrl(url);
  const box = new SecretBox(options.secretKey);
  let db: Kysely<Database>;
  if (location.backend === 'postgres') {
    const schema = options.schema ?? location.schema;
    if (schema !== undefined && !SCHEMA_NAME.test(schema)) {
      throw new StoreError(StoreErrorCode.BadUrl, 'schema must be a lower-case SQL identifier');
    }
    if (schema) {
      // Create the schema with a throwaway client so the pool's search_path points to it.
      const c = new pg.Client({ connectionString: location.url });
      await c.connect();
      try {
        await c.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
      } catch (e) {
        // Two nodes starting at once: IF NOT EXISTS still races on the catalog's unique index.
        const code = (e as { code?: string }).code;
        if (code !== '23505' && code !== '42P06') throw e;
      } finally {
        await c.end();
      }
    }
    const pool = new pg.Pool({
      connectionString: location.url,
      max: options.poolSize ?? 10,
      types: pgTypes,
      ...(schema ? { options: `-c search_path=${schema}` } : {}),
    });
    db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    await sql`select 1`.execute(db);
    await migrateToLatest(db, 'postgres', schema);
  } else {
    privateSqliteFiles(location.path);
    const dialect = new NodeSqliteDialect({
      path: location.path,
      ...(options.busyTimeoutMs !== undefined ? { busyTimeoutMs: options.busyTimeoutMs } : {}),
    });
    db = new Kysely<Database>({ dialect });
    await migrateToLatest(db, 'sqlite');
    registerDirect(db, (text, parameters) => dialect.execute(text, parameters));
  }
  const events = newEvents();
  const remote =
    location.backend === 'postgres'
      ? pgRemote(db, location.url, events, options.schema ?? location.schema)
      : undefined;
  return new SqlStore(
    {
      db,
      backend: location.backend,
      now: options.now ?? Date.now,
      box,
      secrets: new SecretLeaves(options.secretLeaves ?? DEFAULT_SECRET_LEAVES),
      events,
      ...(remote ? { remote } : {}),
      retention: {
        maxPerDevice: options.traceRetention?.maxPerDevice ?? 1000,
        maxAgeMs: options.traceRetention?.maxAgeMs ?? 7 * 24 * 3600 * 1000,
      },
      pruneEvery: Math.max(1, Math.floor(options.pruneEvery ?? 64)),
      commandRetentionMs: options.commandRetentionMs ?? 90 * 24 * 3600 * 1000,
    },
    {
      maxPerDevice: options.eventRetention?.maxPerDevice ?? 1000,
      maxAgeMs: options.eventRetention?.maxAgeMs ?? 90 * 24 * 3600 * 1000,
    },
  );
}

/** The SQL-backed {@link Store}. */
export class SqlStore implements Store {
  readonly backend: 'sqlite' | 'postgres';
  readonly devices: SqlDeviceStore;
  readonly tree: SqlTreeCache;
  readonly queue: SqlCommandQueue;
  readonly sessions: SqlSessionStore;
  readonly traces: SqlTraceStore;
  readonly audit: SqlAuditLog;
  readonly tokens: SqlTokenStore;
  readonly notifications: SqlNotificationStore;
  readonly events: SqlEventStore;
  readonly secrets: SecretLeaves;
  readonly #ctx: StoreContext;
  #closed = false;
  #lastCountPass = Number.NEGATIVE_INFINITY;

  constructor(
    ctx: StoreContext,
    eventRetention: EventRetention = { maxPerDevice: 1000, maxAgeMs: 90 * 24 * 3600 * 1000 },
  ) {
    this.#ctx = ctx;
    this.backend = ctx.backend;
    this.secrets = ctx.secrets;
    this.devices = new SqlDeviceStore(ctx);
    this.tree = new SqlTreeCache(ctx);
    this.queue = new SqlCommandQueue(ctx);
    this.sessions = new SqlSessionStore(ctx);
    this.traces = new SqlTraceStore(ctx);
    this.audit = new SqlAuditLog(ctx);
    this.tokens = new SqlTokenStore(ctx);
    this.notifications = new SqlNotificationStore(ctx);
    this.events = new SqlEventStore(ctx, eventRetention);
  }

  /** The underlying Kysely instance (for the server's own read-only reports; not for writes). */
  get kysely(): Kysely<Database> {
    return this.#ctx.db;
  }

  async sweep(now = this.#ctx.now()): Promise<SweepReport> {
    const expiredSessions = await this.sessions.expireIdle(now);
    let requeued = 0;
    let resent = 0;
    let unknown = 0;
    for (const s of expiredSessions) {
      // The reason is shown to viewers: it never names the session key (a RespURI token).
      const r = await this.queue.releaseSession(s.deviceId, s.sessionId, 'session expired while idle');
      requeued += r.requeued;
      resent += r.resent;
      unknown += r.unknown;
    }
    const r = await this.queue.recover(now);
    // The per-device count pass groups the whole trace table: at most every 10 minutes.
    const countPass = now - this.#lastCountPass >= 600_000;
    if (countPass) this.#lastCountPass = now;
    const tracesPruned = await this.traces.prune(undefined, now, { countPass });
    const commandsPurged = await this.queue.purgeFinished(now - this.#ctx.commandRetentionMs);
    // Events grow slowly: their retention runs with the trace count pass.
    const eventsPruned = countPass ? await this.events.prune(undefined, now) : 0;
    return {
      commandsPurged,
      eventsPruned,
      sessionsExpired: expiredSessions.length,
      requeued: requeued + r.requeued,
      resent: resent + r.resent,
      unknown: unknown + r.unknown,
      expired: r.expired,
      tracesPruned,
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#ctx.events.removeAllListeners();
    await this.#ctx.remote?.close();
    await this.#ctx.db.destroy();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
