/**
 * Tree persistence in an SQLite database (node:sqlite), for devices that already keep their data
 * there: the same snapshot + batches model as the journal store, with SQLite's own crash safety
 * (WAL mode, synchronous=FULL). Tables are prefixed `omadm_tree_` so the database can be shared.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { TreeError, TreeErrorCode } from '../errors.ts';
import type { Mutation } from '../node.ts';
import type { LoadedTree, TreeSnapshot, TreeStore } from './store.ts';

export interface SqliteTreeStoreOptions {
  /** Database file (created when missing). */
  readonly path: string;
  /** Bytes of batches since the last snapshot that trigger compaction (at least the snapshot size). Default 1 MiB. */
  readonly compactBytes?: number;
}

export class SqliteTreeStore implements TreeStore {
  readonly path: string;
  readonly #compactBytes: number;
  #db: DatabaseSync | undefined;
  #seq = 0;
  #pending = 0;
  #threshold: number;

  constructor(options: SqliteTreeStoreOptions) {
    this.path = options.path;
    this.#compactBytes = options.compactBytes ?? 1024 * 1024;
    this.#threshold = this.#compactBytes;
  }

  async load(): Promise<LoadedTree> {
    mkdirSync(dirname(this.path), { recursive: true });
    const db = new DatabaseSync(this.path);
    try {
      db.exec(`
        PRAGMA journal_mode = WAL;
        PRAGMA synchronous = FULL;
        PRAGMA secure_delete = ON;
        CREATE TABLE IF NOT EXISTS omadm_tree_snapshot (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, body TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS omadm_tree_batch (seq INTEGER PRIMARY KEY, body TEXT NOT NULL);
      `);
      const snap = db.prepare('SELECT seq, body FROM omadm_tree_snapshot WHERE id = 1').get() as
        | { seq: number; body: string }
        | undefined;
      let snapshot: TreeSnapshot | undefined;
      let snapSeq = 0;
      if (snap) {
        try {
          snapshot = JSON.parse(snap.body) as TreeSnapshot;
        } catch {
          throw new TreeError(TreeErrorCode.StoreCorrupt, `${this.path}: bad snapshot JSON`);
        }
        snapSeq = snap.seq;
        this.#threshold = Math.max(this.#compactBytes, snap.body.length);
      }
      const rows = db
        .prepare('SELECT seq, body FROM omadm_tree_batch WHERE seq > ? ORDER BY seq')
        .all(snapSeq) as Array<{
        seq: number;
        body: string;
      }>;
      const batches: Mutation[][] = [];
      let seq = snapSeq;
      let pending = 0;
      for (const row of rows) {
        try {
          batches.push(JSON.parse(row.body) as Mutation[]);
        } catch {
          throw new TreeError(TreeErrorCode.StoreCorrupt, `${this.path}: bad batch ${row.seq}`);
        }
        seq = row.seq;
        pending += row.body.length;
      }
      const last = db.prepare('SELECT MAX(seq) AS seq FROM omadm_tree_batch').get() as { seq: number | null };
      this.#seq = Math.max(seq, last.seq ?? 0);
      this.#pending = pending;
      this.#db = db;
      return { snapshot, batches };
    } catch (err) {
      db.close();
      throw err;
    }
  }

  async commit(batch: readonly Mutation[], snapshot: () => TreeSnapshot): Promise<void> {
    const db = this.#db;
    if (!db) throw new TreeError(TreeErrorCode.Closed, 'sqlite tree store is not open');
    const body = JSON.stringify(batch);
    try {
      db.prepare('INSERT INTO omadm_tree_batch (seq, body) VALUES (?, ?)').run(this.#seq + 1, body);
    } catch (err) {
      throw new TreeError(TreeErrorCode.StoreWrite, `sqlite write failed: ${(err as Error).message}`);
    }
    this.#seq++;
    this.#pending += body.length;
    if (this.#pending > this.#threshold) await this.compact(snapshot());
  }

  /** Stores a snapshot of the current state and drops the batches it contains, in one transaction. */
  async compact(snap: TreeSnapshot): Promise<void> {
    const db = this.#db;
    if (!db) throw new TreeError(TreeErrorCode.Closed, 'sqlite tree store is not open');
    const body = JSON.stringify(snap);
    db.exec('BEGIN IMMEDIATE');
    try {
      db.prepare('INSERT OR REPLACE INTO omadm_tree_snapshot (id, seq, body) VALUES (1, ?, ?)').run(
        this.#seq,
        body,
      );
      db.prepare('DELETE FROM omadm_tree_batch WHERE seq <= ?').run(this.#seq);
      db.exec('COMMIT');
    } catch (err) {
      db.exec('ROLLBACK');
      throw new TreeError(TreeErrorCode.StoreWrite, `sqlite compaction failed: ${(err as Error).message}`);
    }
    // With secure_delete the dropped batches are zeroed in the database; the checkpoint also
    // empties the -wal file that still held them.
    db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    this.#pending = 0;
    this.#threshold = Math.max(this.#compactBytes, body.length);
  }

  async close(): Promise<void> {
    const db = this.#db;
    this.#db = undefined;
    db?.close();
  }
}
