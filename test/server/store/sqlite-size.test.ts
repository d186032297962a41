/**
 * SQLite under continuous writes with retention (issue 21): the database file and its WAL stop
 * growing once retention is reached (freed pages are reused; the WAL is checkpointed and cut back),
 * a new file is created in incremental auto-vacuum mode, an older file is switched to it when
 * opened, and a large prune gives its pages back to the file system.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';
import { openStore } from '../../../src/server/store/index.ts';
import { testClock } from './backends.ts';

function size(path: string): number {
  let n = 0;
  for (const f of [path, `${path}-wal`]) {
    try {
      n += statSync(f).size;
    } catch {
      // no WAL
    }
  }
  return n;
}

function pragma(path: string, name: string): number {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return Object.values(db.prepare(`PRAGMA ${name}`).get() as Record<string, number>)[0]!;
  } finally {
    db.close();
  }
}

test('sqlite: the file stops growing under continuous writes once retention is reached', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'omadm-size-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'omadm.db');
  const clock = testClock();
  const store = await openStore(`sqlite:${path}`, {
    now: clock.now,
    traceRetention: { maxAgeMs: 10_000, maxSessionsPerDevice: 1000 },
    retention: { sessionLog: { maxAgeMs: 10_000 } },
  });
  t.after(() => store.close());
  assert.equal(pragma(path, 'auto_vacuum'), 2, 'a new file is in incremental auto-vacuum mode');
  const sizes: number[] = [];
  const pages: number[] = [];
  const payload = new Uint8Array(3000).fill(7);
  for (let round = 0; round < 24; round++) {
    // One "second": 100 sessions with 2 KB-ish messages, and their compact records.
    for (let i = 0; i < 100; i++) {
      const deviceId = `IMEI:${i}`;
      await store.traces.appendMany([
        { deviceId, sessionId: `r${round}`, direction: 'in', contentType: 'x', body: payload, at: clock.t },
        { deviceId, sessionId: `r${round}`, direction: 'out', contentType: 'x', body: payload, at: clock.t },
      ]);
      await store.sessionLog.append({
        deviceId,
        at: clock.t,
        outcome: 'completed',
        kind: 'commands',
        messages: 1,
        bytes: 6000,
        sessionId: `r${round}`,
      });
    }
    clock.advance(1000);
    await store.sweep();
    // Let the checkpoint worker catch up between rounds, as a real server's idle moments do.
    await new Promise((r) => setTimeout(r, 150));
    sizes.push(size(path));
    pages.push(pragma(path, 'page_count'));
  }
  // Retention (10 s) is reached after ~10 rounds; from then on the database's pages stay put. The
  // WAL beside it restarts after each complete checkpoint, so its size depends on the checkpoint
  // worker's timing (a loaded machine lets it grow a few rounds' worth) but never past the 64 MiB
  // journal_size_limit it is cut back to.
  const last = Math.max(...sizes.slice(-6));
  assert.ok(
    last - pages[pages.length - 1]! * 4096 <= 64 * 1024 * 1024 + 1024 * 1024,
    `WAL bounded: ${sizes.join(', ')}`,
  );
  // The database itself holds ~10 rounds (each ~207 pages of 4 KiB), not 24: pages are reused.
  assert.ok(pages[pages.length - 1]! <= pages[11]! * 1.02, `pages: ${pages.join(', ')}`);
  assert.ok(pages[pages.length - 1]! < 12 * 220, `pages: ${pages.join(', ')}`);
});

test('sqlite: an older file is switched to incremental auto-vacuum; a large prune gives pages back', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'omadm-vacuum-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'omadm.db');
  // A database created the way releases before migration 0007 did (auto_vacuum off).
  const old = new DatabaseSync(path);
  old.exec('PRAGMA journal_mode = WAL; CREATE TABLE leftover (x)');
  old.close();
  assert.equal(pragma(path, 'auto_vacuum'), 0);
  const clock = testClock();
  const store = await openStore(`sqlite:${path}`, {
    now: clock.now,
    traceRetention: { maxAgeMs: 60_000 },
  });
  t.after(() => store.close());
  assert.equal(pragma(path, 'auto_vacuum'), 2, 'switched when opened');

  const payload = new Uint8Array(4000).fill(1);
  for (let i = 0; i < 6000; i++) {
    await store.traces.append({
      deviceId: `IMEI:${i % 50}`,
      sessionId: `s${i}`,
      direction: 'in',
      contentType: 'x',
      body: payload,
      at: clock.t,
    });
  }
  const full = pragma(path, 'page_count') * 4096;
  assert.ok(full > 24_000_000, `filled: ${full}`);
  clock.advance(120_000);
  const r = await store.sweep(clock.t, { pruneBudgetMs: 60_000 });
  assert.equal(r.pruned.trace, 6000);
  const stats = await store.stats();
  // Free pages beyond the kept reserve (16 MiB) went back: the free list is at most that.
  assert.ok((stats.freeBytes ?? 0) <= 16 * 1024 * 1024);
  const after = pragma(path, 'page_count') * 4096;
  assert.ok(after < full - 4_000_000, `the file shrank: ${full} → ${after}`);
});
