/**
 * A Kysely dialect for Node's built-in `node:sqlite` (DatabaseSync), so omadm needs no native addon.
 *
 * Design, and why:
 * - One connection per store instance, guarded by a FIFO mutex: a transaction owns the connection
 *   from BEGIN to COMMIT, so concurrent async callers never interleave statements inside someone
 *   else's transaction (Kysely's own SqliteDriver hands the same connection to everyone).
 * - Every transaction is `BEGIN IMMEDIATE`: it takes SQLite's single write lock up front, so two
 *   connections (or processes) on one file serialize their transactions instead of failing with
 *   SQLITE_BUSY half-way through when a read lock is upgraded.
 * - WAL journal: readers never block the writer and vice versa; `synchronous=NORMAL` is durable
 *   across process crashes (only an OS crash/power loss may lose the last transactions).
 * - `node:sqlite` is synchronous, so SQLite's own busy handler would block the event loop while
 *   another connection of *this process* holds the lock and needs the event loop to finish — a
 *   self-deadlock. The PRAGMA busy_timeout is therefore kept at 0 and waiting happens here, with
 *   an async backoff up to `busyTimeoutMs` (default 10 s), which works within and across processes.
 */
import { DatabaseSync, type StatementSync, type SQLInputValue } from 'node:sqlite';
import {
  type CompiledQuery,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  type QueryCompiler,
  type QueryResult,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
} from 'kysely';
import { StoreError, StoreErrorCode } from './errors.ts';

/** Configuration of {@link NodeSqliteDialect}. */
export interface NodeSqliteDialectConfig {
  /** Database file path, or `:memory:`. */
  readonly path: string;
  /** How long to keep retrying while another connection holds the write lock (ms). Default 10000. */
  readonly busyTimeoutMs?: number;
}

/**
 * Kysely dialect over `node:sqlite`.
 *
 * @example
 * const db = new Kysely<DB>({ dialect: new NodeSqliteDialect({ path: 'omadm.db' }) });
 */
export class NodeSqliteDialect implements Dialect {
  readonly #config: NodeSqliteDialectConfig;
  constructor(config: NodeSqliteDialectConfig) {
    this.#config = Object.freeze({ ...config });
  }
  createDriver(): Driver {
    return new NodeSqliteDriver(this.#config);
  }
  createQueryCompiler(): QueryCompiler {
    return new SqliteQueryCompiler();
  }
  createAdapter(): DialectAdapter {
    return new NodeSqliteAdapter();
  }
  // biome-ignore lint/suspicious/noExplicitAny: Kysely's own Dialect signature takes Kysely<any>.
  createIntrospector(db: Kysely<any>): DatabaseIntrospector {
    return new SqliteIntrospector(db);
  }
}

/**
 * SQLite DDL is transactional. Saying so makes Kysely's Migrator run inside one transaction, which
 * here is BEGIN IMMEDIATE: the database write lock is the migration lock, so processes opening a
 * fresh file at once migrate it once (Kysely's default assumes a single process and no lock).
 */
class NodeSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}

const SQLITE_BUSY = 5;
const SQLITE_LOCKED = 6;

function isBusy(e: unknown): boolean {
  const code = (e as { errcode?: unknown }).errcode;
  if (typeof code !== 'number') return false;
  const primary = code & 0xff;
  return primary === SQLITE_BUSY || primary === SQLITE_LOCKED;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

class NodeSqliteDriver implements Driver {
  readonly #config: NodeSqliteDialectConfig;
  #connection: NodeSqliteConnection | undefined;
  #tail: Promise<void> = Promise.resolve();
  #release: (() => void) | undefined;

  constructor(config: NodeSqliteDialectConfig) {
    this.#config = config;
  }

  async init(): Promise<void> {
    const db = new DatabaseSync(this.#config.path, { timeout: 0 });
    const memory = this.#config.path === ':memory:' || this.#config.path === '';
    this.#connection = new NodeSqliteConnection(db, this.#config.busyTimeoutMs ?? 10_000);
    db.exec('PRAGMA busy_timeout = 0');
    if (!memory) await this.#connection.withBusyRetry(() => db.exec('PRAGMA journal_mode = WAL'));
    db.exec('PRAGMA synchronous = NORMAL');
    db.exec('PRAGMA foreign_keys = ON');
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    const conn = this.#connection;
    if (!conn) throw new StoreError(StoreErrorCode.Closed, 'SQLite store is closed');
    // FIFO mutex: each acquirer waits for the previous holder's release.
    const previous = this.#tail;
    let release!: () => void;
    this.#tail = new Promise<void>((resolve) => {
      release = resolve;
    });
    await previous;
    this.#release = release;
    return conn;
  }

  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await (connection as NodeSqliteConnection).withBusyRetry(() =>
      (connection as NodeSqliteConnection).exec('BEGIN IMMEDIATE'),
    );
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await (connection as NodeSqliteConnection).withBusyRetry(() =>
      (connection as NodeSqliteConnection).exec('COMMIT'),
    );
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    // Some errors (SQLITE_FULL, IOERR, …) already rolled back: a second ROLLBACK would throw and
    // hide the original error.
    (connection as NodeSqliteConnection).rollbackIfActive();
  }

  async releaseConnection(): Promise<void> {
    const release = this.#release;
    this.#release = undefined;
    release?.();
  }

  async destroy(): Promise<void> {
    // Wait for the current holder so we never close under a running transaction.
    await this.#tail;
    this.#connection?.close();
    this.#connection = undefined;
  }
}

const STATEMENT_CACHE = 256;

class NodeSqliteConnection implements DatabaseConnection {
  readonly #db: DatabaseSync;
  readonly #busyTimeoutMs: number;
  readonly #statements = new Map<string, StatementSync>();

  constructor(db: DatabaseSync, busyTimeoutMs: number) {
    this.#db = db;
    this.#busyTimeoutMs = busyTimeoutMs;
  }

  exec(sql: string): void {
    this.#db.exec(sql);
  }

  rollbackIfActive(): void {
    if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
  }

  close(): void {
    this.#statements.clear();
    this.#db.close();
  }

  /** Runs `fn`, retrying with async backoff while the database is locked by another connection. */
  async withBusyRetry<T>(fn: () => T): Promise<T> {
    const deadline = Date.now() + this.#busyTimeoutMs;
    let delay = 1;
    for (;;) {
      try {
        return fn();
      } catch (e) {
        if (!isBusy(e)) throw e;
        if (Date.now() >= deadline) {
          throw new StoreError(StoreErrorCode.Busy, 'SQLite database stayed locked', { cause: e });
        }
        await sleep(delay);
        delay = Math.min(delay * 2, 50);
      }
    }
  }

  #prepare(sql: string): StatementSync {
    let stmt = this.#statements.get(sql);
    if (stmt) return stmt;
    stmt = this.#db.prepare(sql);
    if (this.#statements.size >= STATEMENT_CACHE) {
      const oldest = this.#statements.keys().next().value;
      if (oldest !== undefined) this.#statements.delete(oldest);
    }
    this.#statements.set(sql, stmt);
    return stmt;
  }

  async executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    const params = compiledQuery.parameters.map(toSqlite);
    // Outside a transaction an autocommit write may meet another connection's lock: retry.
    // Inside BEGIN IMMEDIATE we already hold the write lock, so this never loops there.
    return this.withBusyRetry(() => {
      const stmt = this.#prepare(compiledQuery.sql);
      if (stmt.columns().length > 0) {
        return { rows: stmt.all(...params) as R[] };
      }
      const { changes, lastInsertRowid } = stmt.run(...params);
      return {
        numAffectedRows: BigInt(changes),
        insertId: BigInt(lastInsertRowid),
        rows: [],
      };
    });
  }

  async *streamQuery<R>(compiledQuery: CompiledQuery): AsyncIterableIterator<QueryResult<R>> {
    const params = compiledQuery.parameters.map(toSqlite);
    const stmt = this.#prepare(compiledQuery.sql);
    for (const row of stmt.iterate(...params)) yield { rows: [row as R] };
  }
}

function toSqlite(v: unknown): SQLInputValue {
  if (v === undefined || v === null) return null;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'string') return v;
  if (v instanceof Uint8Array) return v;
  if (v instanceof Date) return v.getTime();
  return JSON.stringify(v);
}
