/**
 * Crash-safe file persistence: a snapshot plus an append-only journal (write-ahead log).
 *
 * Files in `dir`:
 * - `tree.snap`: `omadm-tree-snapshot 1 <seq> <crc32-hex> <bytes>\n` then the snapshot as JSON.
 *   Written to `tree.snap.tmp`, fsynced, renamed over the old one, directory fsynced: a reader
 *   sees the old or the new file, never a mix.
 * - `tree.wal`: records `u32le length | u32le crc32 | JSON {"s":seq,"m":[mutations]}`, one per
 *   committed command or Atomic. A batch is durable once its record is written and fdatasynced.
 *   A torn or corrupt tail (kill -9, power loss mid-write) fails its length or CRC check; loading
 *   stops there and truncates it, so a batch is either entirely present or absent.
 *
 * Compaction: when the journal outgrows `max(compactBytes, snapshot size)`, a new snapshot is
 * written (carrying the last journal seq) and the journal truncated. A crash between the two
 * leaves records with seq ≤ the snapshot's, which loading skips.
 *
 * One store at a time may open a directory: `tree.lock` holds the owner's pid; a lock left by a
 * process that no longer runs (killed) is taken over.
 *
 * The tree holds secrets (DMAcc credentials): the directory is made 0700 and every file 0600,
 * whatever the umask, also when an older version left them readable.
 */
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type FileHandle, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { TreeError, TreeErrorCode } from '../errors.ts';
import type { Mutation } from '../node.ts';
import type { LoadedTree, TreeSnapshot, TreeStore } from './store.ts';

export interface JournalTreeStoreOptions {
  /** Directory holding `tree.snap` and `tree.wal` (created when missing). */
  readonly dir: string;
  /** fdatasync every commit (default true). Off = faster, but a power loss may lose recent commits. */
  readonly fsync?: boolean;
  /** Journal size that triggers compaction, at least the snapshot size. Default 1 MiB. */
  readonly compactBytes?: number;
}

const SNAP = 'tree.snap';
const WAL = 'tree.wal';
const LOCK = 'tree.lock';
const MAGIC = 'omadm-tree-snapshot';
const HEADER = 8;
/** A journal record larger than this is treated as corruption (values are capped far below). */
const MAX_RECORD = 1 << 30;
/** Owner-only modes (the umask cannot widen them; chmod narrows what already exists). */
const DIR_MODE = 0o700;
const FILE_MODE = 0o600;

function corrupt(why: string): TreeError {
  return new TreeError(TreeErrorCode.StoreCorrupt, why);
}

export class JournalTreeStore implements TreeStore {
  readonly dir: string;
  readonly #fsync: boolean;
  readonly #compactBytes: number;
  #wal: FileHandle | undefined;
  #walSize = 0;
  #seq = 0;
  #threshold: number;
  #broken: Error | undefined;

  constructor(options: JournalTreeStoreOptions) {
    this.dir = options.dir;
    this.#fsync = options.fsync ?? true;
    this.#compactBytes = options.compactBytes ?? 1024 * 1024;
    this.#threshold = this.#compactBytes;
  }

  async load(): Promise<LoadedTree> {
    mkdirSync(this.dir, { recursive: true, mode: DIR_MODE });
    chmodSync(this.dir, DIR_MODE);
    this.#lock();
    try {
      return await this.#load();
    } catch (err) {
      this.#unlock();
      throw err;
    }
  }

  #locked = false;

  #lock(): void {
    const path = join(this.dir, LOCK);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        writeFileSync(path, String(process.pid), { flag: 'wx', mode: FILE_MODE });
        this.#locked = true;
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const owner = Number(readFileSync(path, 'utf8'));
      if (Number.isInteger(owner) && owner > 0 && isRunning(owner)) {
        throw new TreeError(TreeErrorCode.StoreLocked, `${this.dir} is in use by process ${owner}`);
      }
      rmSync(path, { force: true }); // left by a process that died
    }
    throw new TreeError(TreeErrorCode.StoreLocked, `cannot lock ${this.dir}`);
  }

  #unlock(): void {
    if (!this.#locked) return;
    this.#locked = false;
    rmSync(join(this.dir, LOCK), { force: true });
  }

  async #load(): Promise<LoadedTree> {
    await rm(join(this.dir, `${SNAP}.tmp`), { force: true });
    let snapshot: TreeSnapshot | undefined;
    let snapSeq = 0;
    const snapBytes = await readIfExists(join(this.dir, SNAP));
    if (snapBytes) {
      chmodSync(join(this.dir, SNAP), FILE_MODE);
      const nl = snapBytes.indexOf(0x0a);
      const header = snapBytes.subarray(0, Math.max(nl, 0)).toString('latin1').split(' ');
      if (nl < 0 || header.length !== 5 || header[0] !== MAGIC || header[1] !== '1') {
        throw corrupt(`${SNAP}: not an omadm tree snapshot`);
      }
      const body = snapBytes.subarray(nl + 1);
      if (body.length !== Number(header[4]) || crc32(body).toString(16) !== header[3]) {
        throw corrupt(`${SNAP}: length or checksum mismatch`);
      }
      snapSeq = Number(header[2]);
      try {
        snapshot = JSON.parse(body.toString('utf8')) as TreeSnapshot;
      } catch {
        throw corrupt(`${SNAP}: bad JSON`);
      }
      this.#threshold = Math.max(this.#compactBytes, body.length);
    }
    const batches: Mutation[][] = [];
    let lastSeq = snapSeq;
    const walPath = join(this.dir, WAL);
    const existing = await readIfExists(walPath);
    const wal = existing ?? Buffer.alloc(0);
    let offset = 0;
    while (offset + HEADER <= wal.length) {
      const length = wal.readUInt32LE(offset);
      const sum = wal.readUInt32LE(offset + 4);
      if (length === 0 || length > MAX_RECORD || offset + HEADER + length > wal.length) break;
      const payload = wal.subarray(offset + HEADER, offset + HEADER + length);
      if (crc32(payload) !== sum) break;
      let record: { s: number; m: Mutation[] };
      try {
        record = JSON.parse(payload.toString('utf8')) as { s: number; m: Mutation[] };
      } catch {
        break;
      }
      if (record.s > lastSeq) {
        batches.push(record.m);
        lastSeq = record.s;
      }
      offset += HEADER + length;
    }
    this.#wal = await open(walPath, 'a', FILE_MODE);
    await this.#wal.chmod(FILE_MODE);
    // A new journal's directory entry must be durable before its records are relied upon.
    if (!existing) await syncDir(this.dir);
    if (offset < wal.length) {
      // A torn tail from a crash: drop it so new records follow the last good one.
      await this.#wal.truncate(offset);
      await this.#wal.sync();
    }
    this.#walSize = offset;
    this.#seq = lastSeq;
    return { snapshot, batches };
  }

  async commit(batch: readonly Mutation[], snapshot: () => TreeSnapshot): Promise<void> {
    const wal = this.#wal;
    if (!wal) throw new TreeError(TreeErrorCode.Closed, 'journal store is not open');
    if (this.#broken)
      throw new TreeError(TreeErrorCode.StoreWrite, `journal unusable: ${this.#broken.message}`);
    const seq = this.#seq + 1;
    const payload = Buffer.from(JSON.stringify({ s: seq, m: batch }), 'utf8');
    const record = Buffer.allocUnsafe(HEADER + payload.length);
    record.writeUInt32LE(payload.length, 0);
    record.writeUInt32LE(crc32(payload), 4);
    payload.copy(record, HEADER);
    try {
      await wal.write(record);
      if (this.#fsync) await wal.datasync();
    } catch (err) {
      // Cut a partial record off so the journal stays a clean sequence; if even that fails, stop.
      try {
        await wal.truncate(this.#walSize);
      } catch (cut) {
        this.#broken = cut as Error;
      }
      throw new TreeError(TreeErrorCode.StoreWrite, `journal write failed: ${(err as Error).message}`);
    }
    this.#seq = seq;
    this.#walSize += record.length;
    if (this.#walSize > this.#threshold) await this.compact(snapshot());
  }

  /** Writes a snapshot of the current state and empties the journal. */
  async compact(snap: TreeSnapshot): Promise<void> {
    const wal = this.#wal;
    if (!wal) throw new TreeError(TreeErrorCode.Closed, 'journal store is not open');
    const body = Buffer.from(JSON.stringify(snap), 'utf8');
    const header = Buffer.from(
      `${MAGIC} 1 ${this.#seq} ${crc32(body).toString(16)} ${body.length}\n`,
      'latin1',
    );
    const tmp = join(this.dir, `${SNAP}.tmp`);
    const fh = await open(tmp, 'w', FILE_MODE);
    try {
      await fh.writev([header, body]);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, join(this.dir, SNAP));
    await syncDir(this.dir);
    await wal.truncate(0);
    await wal.sync();
    this.#walSize = 0;
    this.#threshold = Math.max(this.#compactBytes, body.length);
  }

  /** Bytes in the journal since the last snapshot. */
  get journalBytes(): number {
    return this.#walSize;
  }

  async close(): Promise<void> {
    const wal = this.#wal;
    this.#wal = undefined;
    try {
      await wal?.close();
    } finally {
      this.#unlock();
    }
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readIfExists(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** fsync of the directory makes the rename itself durable (ignored where unsupported). */
async function syncDir(dir: string): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch {
    // some platforms cannot fsync a directory
  } finally {
    await fh?.close();
  }
}

/** Size of the persisted files, for diagnostics and benchmarks. */
export async function journalFootprint(dir: string): Promise<{ snapshot: number; journal: number }> {
  const size = async (f: string) => {
    try {
      return (await stat(join(dir, f))).size;
    } catch {
      return 0;
    }
  };
  return { snapshot: await size(SNAP), journal: await size(WAL) };
}
