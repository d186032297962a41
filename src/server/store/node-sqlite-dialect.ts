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
 * - Group commit: the connection keeps one `BEGIN IMMEDIATE` transaction (a batch) open while
 *   statements arrive, and commits it once per turn of the event loop (`setImmediate`). Callers'
 *   own transactions are SAVEPOINTs inside the batch. Nothing that wrote (or read while writes were
 *   pending) is handed back before the COMMIT that contains it returned, so a caller that got its
 *   answer has its data on disk (WAL) exactly as with one transaction per call — but under load
 *   one COMMIT and one WAL write of each touched page serve many callers (a DM session's ~30
 *   statements from 50 concurrent sessions share a handful of commits instead of ~20 each).
 *   If the batch fails to commit, every caller in it gets the error (none was answered yet).
 * - WAL checkpoints run in a worker thread with its own connection (PASSIVE, every 100 ms), so the
 *   event loop never copies pages back or waits for their fsync; the connection's own
 *   auto-checkpoint only remains as a safety net (at 64 MiB of WAL).
 * - `node:sqlite` is synchronous, so SQLite's own busy handler would block the event loop while
 *   another connection of *this process* holds the lock and needs the event loop to finish — a
 *   self-deadlock. The PRAGMA busy_timeout is therefore kept at 0 and waiting happens here, with
 *   an async backoff up to `busyTimeoutMs` (default 10 s), which works within and across processes.
 */
import { DatabaseSync, type StatementSync, type SQLInputValue } from 'node:sqlite';
import { Worker } from 'node:worker_threads';
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
  /** Run WAL checkpoints in a worker thread instead of on the event loop. Default true. */
  readonly checkpointWorker?: boolean;
}

/** Pages of WAL after which the connection itself checkpoints (the worker normally runs first). */
const SAFETY_CHECKPOINT_PAGES = 16_384;
const CHECKPOINT_INTERVAL_MS = 100;
/** A WAL file larger than this is cut back to it when it restarts (PRAGMA journal_size_limit). */
const WAL_LIMIT_BYTES = 64 * 1024 * 1024;

/**
 * A worker thread with its own connection that runs `PRAGMA wal_checkpoint(PASSIVE)` every
 * `intervalMs`. PASSIVE never waits for or blocks writers and readers; it copies what it can.
 */
function startCheckpointer(path: string, intervalMs: number): Worker {
  const source = `
    const { DatabaseSync } = require('node:sqlite');
    const { workerData, parentPort } = require('node:worker_threads');
    const db = new DatabaseSync(workerData.path, { timeout: 0 });
    db.exec('PRAGMA busy_timeout = 0');
    const passive = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
    let ticks = 0;
    const timer = setInterval(() => {
      try {
        const r = passive.get();
        // Every few seconds, once everything in a large WAL is copied back, truncate it: it only
        // restarts from its beginning by itself, never shrinks (journal_size_limit trims it then).
        if (++ticks % 50 === 0 && r && r.log > workerData.truncatePages && r.checkpointed === r.log)
          db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
      } catch {}
    }, workerData.intervalMs);
    parentPort.on('message', () => {
      clearInterval(timer);
      try { db.exec('PRAGMA wal_checkpoint(PASSIVE)'); } catch {}
      db.close();
      parentPort.close();
    });
  `;
  const worker = new Worker(source, {
    eval: true,
    workerData: { path, intervalMs, truncatePages: WAL_LIMIT_BYTES / 4096 },
  });
  worker.unref();
  // A failing worker only means checkpoints fall back to the connection's own auto-checkpoint.
  worker.on('error', () => undefined);
  return worker;
}

/**
 * Kysely dialect over `node:sqlite`.
 *
 * @example
 * const db = new Kysely<DB>({ dialect: new NodeSqliteDialect({ path: 'omadm.db' }) });
 */
export class NodeSqliteDialect implements Dialect {
  readonly #config: NodeSqliteDialectConfig;
  #driver: NodeSqliteDriver | undefined;
  constructor(config: NodeSqliteDialectConfig) {
    this.#config = Object.freeze({ ...config });
  }
  createDriver(): Driver {
    this.#driver = new NodeSqliteDriver(this.#config);
    return this.#driver;
  }
  /**
   * Runs one compiled statement outside any Kysely transaction, skipping Kysely's executor: when
   * no caller holds or waits for the connection, the statement runs at once, synchronously, and
   * only the wait for its COMMIT is asynchronous. The store's hot statements (`prepared`) use it.
   */
  execute<R>(sql: string, parameters: readonly unknown[]): Promise<QueryResult<R>> {
    const driver = this.#driver;
    if (!driver) return Promise.reject(new StoreError(StoreErrorCode.Closed, 'SQLite store is not open'));
    return driver.execute<R>(sql, parameters);
  }
  /**
   * Runs `fn` on the raw connection outside any transaction, once everything before it is
   * committed (for VACUUM, which cannot run in one, and PRAGMAs the retention pruner reads). It
   * holds the connection: keep it short.
   */
  maintenance<T>(fn: (db: DatabaseSync) => T): Promise<T> {
    const driver = this.#driver;
    if (!driver) return Promise.reject(new StoreError(StoreErrorCode.Closed, 'SQLite store is not open'));
    return driver.maintenance(fn);
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
  /**
   * Our driver serializes use of its one connection itself (and gives it up before waiting for
   * the group COMMIT). Saying `false` here would add Kysely's own mutex, held until a caller's
   * COMMIT is done, which serializes every caller and defeats the group commit.
   */
  override get supportsMultipleConnections(): boolean {
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
  #checkpointer: Worker | undefined;

  constructor(config: NodeSqliteDialectConfig) {
    this.#config = config;
  }

  async init(): Promise<void> {
    const db = new DatabaseSync(this.#config.path, { timeout: 0 });
    const memory = this.#config.path === ':memory:' || this.#config.path === '';
    this.#connection = new NodeSqliteConnection(db, this.#config.busyTimeoutMs ?? 10_000, () =>
      this.#scheduleFlush(),
    );
    db.exec('PRAGMA busy_timeout = 0');
    // Before any table exists (a new file), this makes freed pages returnable to the file system
    // (PRAGMA incremental_vacuum); on an existing file it changes nothing until a VACUUM.
    await this.#connection.withBusyRetry(() => {
      if ((db.prepare('PRAGMA page_count').get() as { page_count: number }).page_count === 0)
        db.exec('PRAGMA auto_vacuum = INCREMENTAL');
    });
    if (!memory) await this.#connection.withBusyRetry(() => db.exec('PRAGMA journal_mode = WAL'));
    db.exec(`PRAGMA journal_size_limit = ${WAL_LIMIT_BYTES}`);
    db.exec('PRAGMA synchronous = NORMAL');
    if (!memory && this.#config.checkpointWorker !== false) {
      // Checkpoints (copying the WAL back into the database file, with its fsyncs) run in a worker
      // thread, off the event loop. The connection's own auto-checkpoint stays as a safety net,
      // at a size the worker never lets the WAL reach while it runs.
      db.exec(`PRAGMA wal_autocheckpoint = ${SAFETY_CHECKPOINT_PAGES}`);
      this.#checkpointer = startCheckpointer(this.#config.path, CHECKPOINT_INTERVAL_MS);
    }
    db.exec('PRAGMA foreign_keys = ON');
  }

  /** Callers holding or waiting for the connection (0: a statement may run at once). */
  #holders = 0;

  /** FIFO mutex: resolves when the caller owns the connection; call the returned release. */
  async #lock(): Promise<() => void> {
    const previous = this.#tail;
    let resolveTail!: () => void;
    this.#tail = new Promise<void>((resolve) => {
      resolveTail = resolve;
    });
    this.#holders++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.#holders--;
      resolveTail();
    };
    await previous;
    return release;
  }

  /** See {@link NodeSqliteDialect.execute}. */
  execute<R>(sql: string, parameters: readonly unknown[]): Promise<QueryResult<R>> {
    const conn = this.#connection;
    if (!conn) return Promise.reject(new StoreError(StoreErrorCode.Closed, 'SQLite store is closed'));
    if (this.#holders === 0 && conn.tryOpenBatch()) {
      // Nobody else is inside the connection and nothing can enter while this runs synchronously.
      let result: QueryResult<R>;
      try {
        result = conn.run<R>(sql, parameters);
      } catch (err) {
        return Promise.reject(err);
      }
      return conn.durable().then(() => result);
    }
    return this.#executeLocked<R>(conn, sql, parameters);
  }

  async #executeLocked<R>(
    conn: NodeSqliteConnection,
    sql: string,
    parameters: readonly unknown[],
  ): Promise<QueryResult<R>> {
    const release = await this.#lock();
    let result: QueryResult<R>;
    let durable: Promise<void> | undefined;
    try {
      if (this.#connection !== conn) throw new StoreError(StoreErrorCode.Closed, 'SQLite store is closed');
      await conn.ensureBatch();
      result = conn.run<R>(sql, parameters);
      durable = conn.durable();
    } finally {
      release();
    }
    await durable;
    return result;
  }

  /** See {@link NodeSqliteDialect.maintenance}. */
  async maintenance<T>(fn: (db: DatabaseSync) => T): Promise<T> {
    const release = await this.#lock();
    try {
      const conn = this.#connection;
      if (!conn) throw new StoreError(StoreErrorCode.Closed, 'SQLite store is closed');
      await conn.commitBatch();
      return await conn.withBusyRetry(() => fn(conn.raw));
    } finally {
      release();
    }
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    const conn = this.#connection;
    if (!conn) throw new StoreError(StoreErrorCode.Closed, 'SQLite store is closed');
    const release = await this.#lock();
    if (this.#connection !== conn) {
      release();
      throw new StoreError(StoreErrorCode.Closed, 'SQLite store is closed');
    }
    this.#release = release;
    return conn;
  }

  #flushScheduled = false;

  /** Commits the open batch once the current holders are done (one COMMIT per event-loop turn). */
  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(() => {
      void this.#lock().then(async (release) => {
        this.#flushScheduled = false;
        try {
          await this.#connection?.commitBatch();
        } finally {
          release();
        }
      });
    });
  }

  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await (connection as NodeSqliteConnection).beginSavepoint();
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    (connection as NodeSqliteConnection).releaseSavepoint();
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    (connection as NodeSqliteConnection).rollbackSavepoint();
  }

  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    // Wait (after giving the connection up) for the COMMIT of what this holder wrote or read.
    const durable = (connection as NodeSqliteConnection).durable();
    const release = this.#release;
    this.#release = undefined;
    release?.();
    await durable;
  }

  async destroy(): Promise<void> {
    // Wait for the current holder so we never close under a running transaction.
    const release = await this.#lock();
    try {
      await this.#connection?.commitBatch();
    } finally {
      this.#connection?.close();
      this.#connection = undefined;
      release();
      const worker = this.#checkpointer;
      this.#checkpointer = undefined;
      if (worker) {
        // Let it finish a checkpoint in progress and close its connection; terminate if it hangs.
        const exited = new Promise((resolve) => worker.once('exit', resolve));
        worker.ref();
        worker.postMessage('close');
        const stop = setTimeout(() => void worker.terminate(), 2000);
        await exited;
        clearTimeout(stop);
      }
    }
  }
}

/** The open group-commit transaction and who waits for its COMMIT. */
interface Batch {
  /** Something was written in it (a COMMIT makes it durable). */
  dirty: boolean;
  readonly waiters: { resolve(): void; reject(err: unknown): void }[];
}

const SAVEPOINT = 'omadm_tx';

const STATEMENT_CACHE = 256;

class NodeSqliteConnection implements DatabaseConnection {
  readonly #db: DatabaseSync;
  readonly #busyTimeoutMs: number;
  readonly #statements = new Map<string, { stmt: StatementSync; reads: boolean; writes: boolean }>();
  readonly #onBatchOpened: () => void;
  #batch: Batch | undefined;

  constructor(db: DatabaseSync, busyTimeoutMs: number, onBatchOpened: () => void) {
    this.#db = db;
    this.#busyTimeoutMs = busyTimeoutMs;
    this.#onBatchOpened = onBatchOpened;
  }

  /** The underlying connection (maintenance only, outside any batch). */
  get raw(): DatabaseSync {
    return this.#db;
  }

  close(): void {
    this.#statements.clear();
    this.#db.close();
  }

  /** Opens the batch transaction if none is open (taking the database write lock). */
  async ensureBatch(): Promise<Batch> {
    if (this.#batch) return this.#batch;
    await this.withBusyRetry(() => this.#db.exec('BEGIN IMMEDIATE'));
    return this.#opened();
  }

  #opened(): Batch {
    const batch: Batch = { dirty: false, waiters: [] };
    this.#batch = batch;
    this.#onBatchOpened();
    return batch;
  }

  /** Opens the batch now if the write lock is free; false when another connection holds it. */
  tryOpenBatch(): boolean {
    if (this.#batch) return true;
    try {
      this.#db.exec('BEGIN IMMEDIATE');
    } catch (e) {
      if (isBusy(e)) return false;
      throw e;
    }
    this.#opened();
    return true;
  }

  /**
   * After an error: SQLite rolls the whole transaction back by itself on some (SQLITE_FULL, IOERR,
   * …). Then the batch is gone, and everyone waiting for it learns it.
   */
  #checkBatch(cause: unknown): void {
    const batch = this.#batch;
    if (!batch || this.#db.isTransaction) return;
    this.#batch = undefined;
    const err = new StoreError(StoreErrorCode.RolledBack, 'SQLite rolled back the transaction', { cause });
    for (const w of batch.waiters) w.reject(err);
  }

  /** COMMITs the open batch and settles its waiters (called by the driver under its mutex). */
  async commitBatch(): Promise<void> {
    const batch = this.#batch;
    if (!batch) return;
    try {
      await this.withBusyRetry(() => this.#db.exec('COMMIT'));
    } catch (err) {
      this.#batch = undefined;
      if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
      for (const w of batch.waiters) w.reject(err);
      return;
    }
    this.#batch = undefined;
    for (const w of batch.waiters) w.resolve();
  }

  /** Resolves when what the current holder did is committed (at once if nothing was written). */
  durable(): Promise<void> {
    const batch = this.#batch;
    if (!batch?.dirty) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      batch.waiters.push({ resolve, reject });
    });
  }

  async beginSavepoint(): Promise<void> {
    await this.ensureBatch();
    this.#db.exec(`SAVEPOINT ${SAVEPOINT}`);
  }

  releaseSavepoint(): void {
    try {
      this.#db.exec(`RELEASE ${SAVEPOINT}`);
    } catch (err) {
      this.#checkBatch(err);
      throw err;
    }
  }

  rollbackSavepoint(): void {
    // Some errors (SQLITE_FULL, IOERR, …) already rolled everything back: then there is nothing
    // to roll back to, and a ROLLBACK TO would throw and hide the original error.
    if (!this.#db.isTransaction) {
      this.#checkBatch(undefined);
      return;
    }
    this.#db.exec(`ROLLBACK TO ${SAVEPOINT}`);
    this.#db.exec(`RELEASE ${SAVEPOINT}`);
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

  #prepare(sql: string): { stmt: StatementSync; reads: boolean; writes: boolean } {
    let entry = this.#statements.get(sql);
    if (entry) return entry;
    const stmt = this.#db.prepare(sql);
    // Anything but a plain SELECT may write (INSERT/UPDATE/DELETE … RETURNING, WITH … UPDATE).
    entry = { stmt, reads: stmt.columns().length > 0, writes: !/^\s*select\b/i.test(sql) };
    if (this.#statements.size >= STATEMENT_CACHE) {
      const oldest = this.#statements.keys().next().value;
      if (oldest !== undefined) this.#statements.delete(oldest);
    }
    this.#statements.set(sql, entry);
    return entry;
  }

  async executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    await this.ensureBatch();
    return this.run<R>(compiledQuery.sql, compiledQuery.parameters);
  }

  /** Runs one statement in the open batch (the caller opened it and owns the connection). */
  run<R>(sql: string, parameters: readonly unknown[]): QueryResult<R> {
    const batch = this.#batch;
    if (!batch) throw new StoreError(StoreErrorCode.RolledBack, 'no open SQLite transaction');
    const params = parameters.map(toSqlite);
    try {
      const { stmt, reads, writes } = this.#prepare(sql);
      if (writes) batch.dirty = true;
      if (reads) return { rows: stmt.all(...params) as R[] };
      const { changes, lastInsertRowid } = stmt.run(...params);
      return {
        numAffectedRows: BigInt(changes),
        insertId: BigInt(lastInsertRowid),
        rows: [],
      };
    } catch (err) {
      this.#checkBatch(err);
      throw err;
    }
  }

  async *streamQuery<R>(compiledQuery: CompiledQuery): AsyncIterableIterator<QueryResult<R>> {
    const params = compiledQuery.parameters.map(toSqlite);
    const batch = await this.ensureBatch();
    const { stmt, writes } = this.#prepare(compiledQuery.sql);
    if (writes) batch.dirty = true;
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
