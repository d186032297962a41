/**
 * Real OS processes on one database: concurrent claimers in separate processes never share a
 * command, and a process killed with SIGKILL mid-transaction loses nothing (its unsent claims are
 * re-delivered, its sent destructive commands become `unknown`).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import {
  type Fixture,
  PG_URL,
  postgresBackend,
  postgresUnavailable,
  sqliteBackend,
  type TestBackend,
} from './backends.ts';

const WORKER = fileURLToPath(new URL('./claim-worker.ts', import.meta.url));

function worker(
  f: Fixture,
  session: string,
  mode: 'drain' | 'crash',
): { child: ChildProcess; lines: string[] } {
  const child = spawn(process.execPath, [WORKER, f.url, f.options.schema ?? '-', 'IMEI:1', session, mode], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines: string[] = [];
  let buf = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buf += chunk;
    const parts = buf.split('\n');
    buf = parts.pop()!;
    lines.push(...parts);
    child.emit('line');
  });
  return { child, lines };
}

/** Waits for the worker's next output line; false when it exited instead. */
async function nextLine(child: ChildProcess): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return false;
  const ac = new AbortController();
  try {
    return await Promise.race([
      once(child, 'line', { signal: ac.signal }).then(() => true),
      once(child, 'exit', { signal: ac.signal }).then(() => false),
    ]);
  } finally {
    ac.abort();
  }
}

/** Waits until every worker opened its store, then lets them all go at once. */
async function start(workers: { child: ChildProcess; lines: string[] }[]): Promise<void> {
  for (const w of workers) {
    while (!w.lines.includes('open')) {
      if (!(await nextLine(w.child)))
        assert.fail(`worker exited before opening the store: ${w.lines.join(' | ')}`);
    }
  }
  for (const w of workers) w.child.stdin!.end('go\n');
}

async function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const [code] = await once(child, 'exit');
  return code as number | null;
}

const ids = (lines: string[], what: string) =>
  lines.filter((l) => l.startsWith(`${what} `)).map((l) => Number(l.slice(what.length + 1)));

function suite(backend: TestBackend): void {
  describe(`${backend.name}: several processes`, () => {
    test('three processes draining one queue send every command exactly once', async (t) => {
      await using f = await backend.fresh();
      await f.store.devices.create({ id: 'IMEI:1' });
      const all: number[] = [];
      for (let i = 0; i < 90; i++) {
        all.push((await f.store.queue.enqueue('IMEI:1', { kind: 'Delete', target: `./n/${i}` })).id);
      }
      const workers = ['p1', 'p2', 'p3'].map((s) => worker(f, s, 'drain'));
      await start(workers);
      const codes = await Promise.all(workers.map((w) => exited(w.child)));
      assert.deepEqual(codes, [0, 0, 0]);
      const sent = workers.flatMap((w) => ids(w.lines, 'sent'));
      assert.equal(sent.length, all.length, 'no command sent twice');
      assert.deepEqual(new Set(sent), new Set(all));
      assert.deepEqual(await f.store.queue.counts(), { sent: 90 });
      // Not a timing assertion, just a report of how the work was shared.
      t.diagnostic(`commands per process: ${workers.map((w) => ids(w.lines, 'sent').length).join('/')}`);
    });

    test('a process killed with SIGKILL mid-session loses no command and never re-sends a sent one', async () => {
      await using f = await backend.fresh();
      await f.store.devices.create({ id: 'IMEI:1' });
      const all: number[] = [];
      for (let i = 0; i < 20; i++) {
        all.push(
          (await f.store.queue.enqueue('IMEI:1', { kind: 'Replace', target: `./n/${i}`, data: 'x' })).id,
        );
      }
      const w = worker(f, 'doomed', 'crash');
      await start([w]);
      while (!w.lines.includes('ready')) {
        if (!(await nextLine(w.child))) assert.fail(`worker exited early: ${w.lines.join(' | ')}`);
      }
      w.child.kill('SIGKILL');
      await exited(w.child);
      const sent = ids(w.lines, 'sent');
      const claimed = ids(w.lines, 'claimed');
      assert.equal(sent.length, 3);
      assert.equal(claimed.length, 3);
      // Another process recovers once the dead session's leases run out.
      const report = await f.store.queue.recover(Date.now() + 4 * 3_600_000);
      const { ids: byKind, ...counts } = report;
      assert.deepEqual(counts, { requeued: 3, resent: 0, unknown: 3, expired: 0 });
      assert.deepEqual(new Set(byKind?.unknown), new Set(sent));
      for (const id of sent) assert.equal((await f.store.queue.get(id))?.state, 'unknown');
      const again = await f.store.queue.claim('IMEI:1', 'next', {
        limit: 100,
        leaseUntil: Date.now() + 60_000,
      });
      const redelivered = again.map((c) => c.id);
      assert.equal(redelivered.length, all.length - sent.length);
      assert.ok(sent.every((id) => !redelivered.includes(id)));
      assert.ok(claimed.every((id) => redelivered.includes(id)));
    });
  });
}

/** Three processes open a database nobody opened before: the schema is migrated exactly once. */
async function concurrentFirstOpen(url: string, schema: string | undefined): Promise<void> {
  const fake = { url, options: schema ? { schema } : {} } as Fixture;
  const workers = ['o1', 'o2', 'o3'].map((s) => worker(fake, s, 'drain'));
  await start(workers);
  const codes = await Promise.all(workers.map((w) => exited(w.child)));
  assert.deepEqual(codes, [0, 0, 0], workers.map((w) => w.lines.join(' | ')).join('\n'));
  for (const w of workers) assert.deepEqual(w.lines, ['open', 'done']);
}

test('sqlite: three processes opening a fresh database at once migrate it once', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'omadm-first-open-'));
  try {
    await concurrentFirstOpen(`sqlite:${join(dir, 'omadm.db')}`, undefined);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

suite(sqliteBackend);
const unavailable = await postgresUnavailable();
if (unavailable) test('several processes on PostgreSQL', { skip: unavailable }, () => {});
else {
  suite(postgresBackend);
  test('postgres: three processes opening a fresh schema at once create and migrate it once', async () => {
    const schema = `omadm_test_${randomBytes(6).toString('hex')}`;
    try {
      await concurrentFirstOpen(PG_URL, schema);
    } finally {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await c.end();
    }
  });
}
