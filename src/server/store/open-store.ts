/**
 * `openStore(url)`: one entry point for every backend. Opens the database, runs migrations, and
 * returns the stores wired to one Kysely instance.
 *
 * URLs:
 * - `sqlite:/abs/path/omadm.db`, `sqlite:relative.db`, `sqlite::memory:`, or a bare file path;
 * - `postgres://user@host:5432/db` or `postgresql://…` (any `pg` connection string), optionally with
 *   `?schema=NAME` (created if missing; the `schema` option wins).
 */
import { chmodSync, closeSync, existsSync, openSync, statSync } from 'node:fs';
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
import { type PruneReport, Pruner, type PrunerOptions, type RetentionRule } from './retention.ts';
import { SqlSessionLog } from './sql-session-log.ts';
import {
  type EventRetention,
  type ExpiredSession,
  FINAL_STATES,
  type RecoveryReport,
  type RetentionOptions,
  type Store,
  type StoreStats,
  type SweepReport,
  type TraceRetention,
} from './types.ts';
import { SqlEventStore } from './sql-event-store.ts';

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
  /** Trace retention; defaults 20 sessions per device, 7 days, 2 GiB (same as `retention.traces`). */
  readonly traceRetention?: Partial<TraceRetention>;
  /** Retention of every table (docs/storage.md, Retention). */
  readonly retention?: RetentionOptions;
  /** The pruner's batch size and slow-pass interval (tests). */
  readonly pruner?: PrunerOptions;
  /** Device event retention; defaults 1000 events per device, 90 days. */
  readonly eventRetention?: Partial<EventRetention>;
  /** Apply a device's event retention inline every N of its appends (default 64). */
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
  let sqlite: NodeSqliteDialect | undefined;
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
    sqlite = dialect;
    // A file created before auto_vacuum was set (migration 0007) switches once, here: VACUUM
    // rewrites it (it cannot run inside the migration's transaction).
    await dialect.maintenance((raw) => {
      const mode = (raw.prepare('PRAGMA auto_vacuum').get() as { auto_vacuum: number }).auto_vacuum;
      if (mode !== 2) {
        raw.exec('PRAGMA auto_vacuum = INCREMENTAL');
        raw.exec('VACUUM');
      }
    });
  }
  const events = newEvents();
  const remote =
    location.backend === 'postgres'
      ? pgRemote(db, location.url, events, options.schema ?? location.schema)
      : undefined;
  const commandRetentionMs = options.commandRetentionMs ?? 90 * 24 * 3600 * 1000;
  const pruner = new Pruner(db, retentionRules(options, commandRetentionMs), options.pruner);
  return new SqlStore(
    {
      db,
      backend: location.backend,
      now: options.now ?? Date.now,
      box,
      secrets: new SecretLeaves(options.secretLeaves ?? DEFAULT_SECRET_LEAVES),
      events,
      ...(remote ? { remote } : {}),
      pruner,
      commandRetentionMs,
    },
    {
      ...(sqlite ? { sqlite } : {}),
      ...(location.backend === 'sqlite' ? { path: location.path } : {}),
      ...(location.backend === 'postgres' && (options.schema ?? location.schema)
        ? { schema: (options.schema ?? location.schema)! }
        : {}),
    },
    eventRetention(options),
    Math.max(1, Math.floor(options.pruneEvery ?? 64)),
  );
}

function eventRetention(options: StoreOptions): EventRetention {
  return {
    maxPerDevice: options.eventRetention?.maxPerDevice ?? 1000,
    maxAgeMs: options.eventRetention?.maxAgeMs ?? 90 * DAY,
  };
}

const DAY = 24 * 3600 * 1000;

/** The defaults of docs/storage.md (Retention), with the caller's changes. */
export function retentionRules(options: StoreOptions, commandRetentionMs: number): RetentionRule[] {
  const r = options.retention ?? {};
  const traces: TraceRetention = {
    maxSessionsPerDevice: 20,
    maxAgeMs: 7 * DAY,
    maxBytes: 2 * 1024 ** 3,
    ...options.traceRetention,
    ...r.traces,
  };
  return [
    {
      name: 'trace',
      table: 'omadm_trace',
      timeColumn: 'at',
      maxAgeMs: traces.maxAgeMs,
      perDevice: {
        column: 'device_id',
        max: Math.max(1, traces.maxSessionsPerDevice),
        session: 'session_id',
      },
      maxBytes: { sizeColumn: 'size', max: traces.maxBytes },
    },
    {
      name: 'session_log',
      table: 'omadm_session_log',
      timeColumn: 'at',
      maxAgeMs: r.sessionLog?.maxAgeMs ?? traces.maxAgeMs,
      perDevice: { column: 'device_id', max: Math.max(1, r.sessionLog?.maxPerDevice ?? 1000) },
    },
    {
      name: 'notify_attempt',
      table: 'omadm_notify_attempt',
      timeColumn: 'at',
      maxAgeMs: r.notifyAttempts?.maxAgeMs ?? 90 * DAY,
      perDevice: { column: 'device_id', max: Math.max(1, r.notifyAttempts?.maxPerDevice ?? 100) },
    },
    {
      name: 'event',
      table: 'omadm_device_event',
      timeColumn: 'at',
      maxAgeMs: eventRetention(options).maxAgeMs,
      perDevice: { column: 'device_id', max: Math.max(1, eventRetention(options).maxPerDevice) },
    },
    { name: 'audit', table: 'omadm_audit', timeColumn: 'at', maxAgeMs: r.audit?.maxAgeMs ?? 400 * DAY },
    {
      // Correlators go with their command (foreign key ON DELETE CASCADE, enforced on both backends).
      name: 'command',
      table: 'omadm_command',
      timeColumn: 'completed_at',
      maxAgeMs: commandRetentionMs,
      eligible: `state in (${FINAL_STATE_LIST})`,
    },
  ];
}

const FINAL_STATE_LIST = FINAL_STATES.map((x) => `'${x}'`).join(', ');

/** Where a store's bytes are (for `stats`). */
interface StoreFiles {
  readonly sqlite?: NodeSqliteDialect;
  readonly path?: string;
  readonly schema?: string;
}

/** Tables rewritten or emptied continuously by DM sessions (besides the retention rules'). */
const CHURN_TABLES = ['omadm_session', 'omadm_device', 'omadm_notify_state', 'omadm_tree_value'];

/** Free pages SQLite keeps for reuse before giving the rest back to the file system (16 MiB). */
const FREE_PAGES_KEPT = 4096;
/** Pages returned per `PRAGMA incremental_vacuum` step (4 MiB: a few ms of the connection). */
const VACUUM_STEP_PAGES = 1024;

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
  readonly sessionLog: SqlSessionLog;
  readonly events: SqlEventStore;
  readonly secrets: SecretLeaves;
  readonly #ctx: StoreContext;
  readonly #files: StoreFiles;
  #closed = false;

  constructor(
    ctx: StoreContext,
    files: StoreFiles = {},
    eventRetention: EventRetention = { maxPerDevice: 1000, maxAgeMs: 90 * DAY },
    eventPruneEvery = 64,
  ) {
    this.#ctx = ctx;
    this.#files = files;
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
    this.sessionLog = new SqlSessionLog(ctx);
    this.events = new SqlEventStore(ctx, eventRetention, eventPruneEvery);
  }

  /** The underlying Kysely instance (for the server's own read-only reports; not for writes). */
  get kysely(): Kysely<Database> {
    return this.#ctx.db;
  }

  /** The retention pruner (tests and benchmarks look inside). */
  get pruner(): Pruner {
    return this.#ctx.pruner;
  }

  addRetentionRule(rule: RetentionRule): void {
    this.#ctx.pruner.addRule(rule);
  }

  retentionRules(): readonly RetentionRule[] {
    return this.#ctx.pruner.rules();
  }

  async stats(): Promise<StoreStats> {
    const oldest = await this.#ctx.db
      .selectFrom('omadm_trace')
      .select((eb) => eb.fn.min('at').as('at'))
      .executeTakeFirst();
    const oldestTraceAt = oldest?.at == null ? null : Number(oldest.at);
    if (this.backend === 'postgres') {
      const r = await sql<{
        bytes: number | string | null;
      }>`select sum(pg_total_relation_size(c.oid)) as bytes
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where c.relkind in ('r', 'p') and c.relname like 'omadm\_%'
          and n.nspname = ${this.#files.schema ?? sql`current_schema()`}`.execute(this.#ctx.db);
      return { bytes: Number(r.rows[0]?.bytes ?? 0), oldestTraceAt };
    }
    const sqlite = this.#files.sqlite;
    const pages = sqlite
      ? await sqlite.maintenance((raw) => ({
          count: (raw.prepare('PRAGMA page_count').get() as { page_count: number }).page_count,
          free: (raw.prepare('PRAGMA freelist_count').get() as { freelist_count: number }).freelist_count,
          size: (raw.prepare('PRAGMA page_size').get() as { page_size: number }).page_size,
        }))
      : { count: 0, free: 0, size: 0 };
    let bytes = pages.count * pages.size;
    const path = this.#files.path;
    if (path && path !== ':memory:') {
      for (const f of [path, `${path}-wal`]) {
        try {
          if (f !== path) bytes += statSync(f).size;
        } catch {
          // no WAL right now
        }
      }
    }
    return { bytes, freeBytes: pages.free * pages.size, oldestTraceAt };
  }

  async sweep(
    now = this.#ctx.now(),
    options: { readonly pruneBudgetMs?: number } = {},
  ): Promise<SweepReport> {
    const ids = { requeued: [] as number[], resent: [] as number[], unknown: [] as number[] };
    const add = (r: RecoveryReport) => {
      ids.requeued.push(...(r.ids?.requeued ?? []));
      ids.resent.push(...(r.ids?.resent ?? []));
      ids.unknown.push(...(r.ids?.unknown ?? []));
    };
    let requeued = 0;
    let resent = 0;
    let unknown = 0;
    let sessionsExpired = 0;
    // Closed sessions past their grace are housekeeping; open ones were abandoned by their device.
    const abandoned: ExpiredSession[] = [];
    // Expired sessions a batch at a time (a busy server closes thousands a minute).
    for (;;) {
      const expiredSessions = await this.sessions.expireIdle(now, 500);
      sessionsExpired += expiredSessions.length;
      for (const s of expiredSessions) if (s.phase !== 'closed') abandoned.push(s);
      // One read for the batch: only devices with a command claimed or sent can have one held by
      // an expired session (most are heartbeats, closed and kept for retransmissions).
      const devices = [...new Set(expiredSessions.map((s) => s.deviceId))];
      const holding = new Set(
        devices.length === 0
          ? []
          : (
              await this.#ctx.db
                .selectFrom('omadm_command')
                .select('device_id')
                .distinct()
                .where('device_id', 'in', devices)
                .where('state', 'in', ['claimed', 'sent'])
                .execute()
            ).map((r) => r.device_id),
      );
      for (const s of expiredSessions) {
        if (!holding.has(s.deviceId)) continue;
        // Commands are claimed under the DM SessionID (rows from before 0004 have only the key).
        const r = await this.queue.releaseSession(
          s.deviceId,
          s.dmSessionId ?? s.sessionId,
          // The reason is shown to viewers: it never names the session key (a RespURI token).
          'session expired while idle',
        );
        requeued += r.requeued;
        resent += r.resent;
        unknown += r.unknown;
        add(r);
      }
      if (expiredSessions.length < 500) break;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    const r = await this.queue.recover(now);
    add(r);
    const pruned: PruneReport = await this.#ctx.pruner.run(now, {
      ...(options.pruneBudgetMs !== undefined ? { budgetMs: options.pruneBudgetMs } : {}),
    });
    await this.#giveBackFreePages();
    await this.#vacuumIfBehind(now);
    return {
      commandsPurged: pruned.command ?? 0,
      sessionsExpired,
      sessions: abandoned,
      requeued: requeued + r.requeued,
      resent: resent + r.resent,
      unknown: unknown + r.unknown,
      expired: r.expired,
      tracesPruned: pruned.trace ?? 0,
      eventsPruned: pruned.event ?? 0,
      pruned,
      ids: { ...ids, expired: [...(r.ids?.expired ?? [])] },
    };
  }

  /**
   * SQLite reuses the pages pruning frees; beyond a reserve (what a few sweeps of new rows need)
   * it gives them back to the file system, a step at a time, so the file shrinks after a large
   * prune (a lowered retention) instead of staying at its peak.
   */
  async #giveBackFreePages(): Promise<void> {
    const sqlite = this.#files.sqlite;
    if (!sqlite) return;
    for (let step = 0; step < 16; step++) {
      const more = await sqlite.maintenance((raw) => {
        const free = (raw.prepare('PRAGMA freelist_count').get() as { freelist_count: number })
          .freelist_count;
        if (free <= FREE_PAGES_KEPT) return false;
        raw.exec(`PRAGMA incremental_vacuum(${Math.min(VACUUM_STEP_PAGES, free - FREE_PAGES_KEPT)})`);
        return true;
      });
      if (!more) return;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  #lastVacuumCheck = Number.NEGATIVE_INFINITY;

  /**
   * PostgreSQL: the tables pruning and sessions churn through are vacuumed by this sweep when
   * autovacuum has not kept up (off, or too few workers for the cluster): more than 10 % dead rows
   * (and over 1,000). A plain VACUUM blocks no reads or writes; SKIP_LOCKED leaves a table another
   * node or autovacuum is at. Checked at most once a minute.
   */
  async #vacuumIfBehind(now: number): Promise<void> {
    if (this.backend !== 'postgres' || now - this.#lastVacuumCheck < 60_000) return;
    this.#lastVacuumCheck = now;
    const tables = [...new Set([...this.#ctx.pruner.rules().map((r) => r.table), ...CHURN_TABLES])];
    const r = await sql<{ relname: string }>`select relname from pg_stat_user_tables
      where schemaname = current_schema() and relname = any(${tables})
        and n_dead_tup > 1000 and n_dead_tup > 0.1 * n_live_tup`.execute(this.#ctx.db);
    for (const { relname } of r.rows) {
      await sql`vacuum (skip_locked) ${sql.table(relname)}`.execute(this.#ctx.db);
    }
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
