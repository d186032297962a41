/** The FUMO record as a JSON file, rewritten atomically (write, fsync, rename) on every step. */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import type { FumoRecord, FumoStore } from '../../mo/index.ts';

export class FileFumoStore implements FumoStore {
  readonly file: string;
  constructor(file: string) {
    this.file = file;
  }

  load(): FumoRecord | undefined {
    let raw: string;
    try {
      raw = readFileSync(this.file, 'utf8');
    } catch {
      return undefined;
    }
    try {
      const r = JSON.parse(raw) as FumoRecord;
      return r && r.v === 1 && typeof r.state === 'number' ? r : undefined;
    } catch {
      return undefined; // a torn file cannot happen (rename), a hand-edited one starts afresh
    }
  }

  save(record: FumoRecord): void {
    const tmp = `${this.file}.tmp`;
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, JSON.stringify(record));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file);
  }
}
