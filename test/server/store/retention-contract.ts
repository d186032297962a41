/**
 * Retention contract (issue 21), run on every backend: each table rule prunes what it should —
 * oldest first, by age, per device (rows or sessions) and by total bytes — keeps what it should,
 * and works in batches (one batch per rule when the sweep has no time budget).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sql } from 'kysely';
import type { Store } from '../../../src/server/store/index.ts';
import type { TestBackend } from './backends.ts';

const body = (n: number, tag: number) => new Uint8Array(n).fill(tag & 0xff);

async function traces(store: Store, deviceId: string): Promise<{ session: string | null; tag: number }[]> {
  const page = await store.traces.list(deviceId, { limit: 1000, oldestFirst: true });
  return page.items.map((e) => ({ session: e.sessionId, tag: e.body[0]! }));
}

async function appendSession(store: Store, deviceId: string, session: string, at: number, size = 10) {
  const tag = Number(session.replace(/\D/g, '')) || 0;
  await store.traces.appendMany([
    { deviceId, sessionId: session, direction: 'in', contentType: 'x', body: body(size, tag), at },
    { deviceId, sessionId: session, direction: 'out', contentType: 'x', body: body(size, tag), at },
  ]);
}

const logEntry = (deviceId: string, at: number, bytes = 250) =>
  ({ deviceId, at, outcome: 'completed', kind: 'heartbeat', messages: 1, bytes, sessionId: null }) as const;

export function retentionContract(backend: TestBackend): void {
  describe(`${backend.name}: retention`, () => {
    test('traces: the newest sessions per device stay, older ones go; other devices untouched', async () => {
      await using f = await backend.fresh({ traceRetention: { maxSessionsPerDevice: 3 } });
      for (let i = 0; i < 5; i++) await appendSession(f.store, 'IMEI:1', `s${i}`, f.clock.t + i);
      for (let i = 0; i < 2; i++) await appendSession(f.store, 'IMEI:2', `s${i}`, f.clock.t + i);
      const report = await f.store.sweep();
      assert.equal(report.pruned.trace, 4);
      assert.equal(report.tracesPruned, 4);
      assert.deepEqual(
        [...new Set((await traces(f.store, 'IMEI:1')).map((t) => t.session))],
        ['s2', 's3', 's4'],
      );
      assert.equal((await traces(f.store, 'IMEI:2')).length, 4);
      // Nothing more to do.
      assert.deepEqual((await f.store.sweep()).pruned, {});
    });

    test('traces: by age, and the oldest first when the table passes its total size', async () => {
      await using f = await backend.fresh({
        traceRetention: { maxAgeMs: 60_000, maxBytes: 1000, maxSessionsPerDevice: 100 },
      });
      for (let i = 0; i < 15; i++) await appendSession(f.store, `IMEI:${i % 3}`, `s${i}`, f.clock.t + i, 100);
      // 30 messages of 100 bytes: the 10 newest fit in 1000 bytes.
      const r = await f.store.sweep(f.clock.t + 20);
      assert.equal(r.pruned.trace, 20);
      const left = [
        ...(await traces(f.store, 'IMEI:0')),
        ...(await traces(f.store, 'IMEI:1')),
        ...(await traces(f.store, 'IMEI:2')),
      ]
        .map((t) => t.tag)
        .sort((a, b) => a - b);
      assert.deepEqual(left, [10, 10, 11, 11, 12, 12, 13, 13, 14, 14]);
      assert.ok((await f.store.stats()).oldestTraceAt === f.clock.t + 10);
      // A minute later the age bound takes everything older than a minute.
      f.clock.advance(60_013);
      assert.equal((await f.store.sweep()).pruned.trace, 6);
      assert.equal((await f.store.stats()).oldestTraceAt, f.clock.t - 60_013 + 13);
    });

    test('session log: per device bound and age; the compact record reads back', async () => {
      await using f = await backend.fresh({
        retention: { sessionLog: { maxPerDevice: 5, maxAgeMs: 3_600_000 } },
      });
      for (let i = 0; i < 12; i++)
        await f.store.sessionLog.append(logEntry('IMEI:1', f.clock.t + i, 200 + i));
      await f.store.sessionLog.append(logEntry('IMEI:2', f.clock.t - 3_600_001));
      const r = await f.store.sweep(f.clock.t + 20);
      assert.equal(r.pruned.session_log, 7 + 1);
      const kept = (await f.store.sessionLog.list('IMEI:1')).items;
      assert.deepEqual(
        kept.map((e) => e.bytes),
        [211, 210, 209, 208, 207],
      );
      assert.equal(kept[0]!.kind, 'heartbeat');
      assert.equal(kept[0]!.sessionId, null);
      assert.equal((await f.store.sessionLog.list('IMEI:2')).items.length, 0);
    });

    test('notification attempts and audit entries go by age', async () => {
      await using f = await backend.fresh({
        retention: { notifyAttempts: { maxAgeMs: 1000, maxPerDevice: 2 }, audit: { maxAgeMs: 5000 } },
      });
      await f.store.devices.create({ id: 'IMEI:1', clientSecret: 's' });
      for (let i = 0; i < 4; i++) {
        await f.store.notifications.record({
          deviceId: 'IMEI:1',
          at: f.clock.t - 2000 + i * 1000,
          bearer: 'udp',
          target: '127.0.0.1',
          sessionId: '1',
          uiMode: 'background',
          attempt: i + 1,
          trigger: 'request',
          actor: null,
          result: 'accepted',
          status: null,
          detail: null,
          parts: 1,
          ids: [],
        });
      }
      await f.store.audit.append({ actor: 'a', action: 'old', at: f.clock.t - 6000 });
      await f.store.audit.append({ actor: 'a', action: 'new', at: f.clock.t });
      const r = await f.store.sweep();
      // Attempts at t-2000 and t-1000 are too old; t and t+1000 stay (2 per device).
      assert.equal(r.pruned.notify_attempt, 2);
      assert.equal((await f.store.notifications.attempts('IMEI:1')).length, 2);
      assert.equal(r.pruned.audit, 1);
      assert.deepEqual(
        (await f.store.audit.list()).items.map((e) => e.action),
        ['new'],
      );
    });

    test('pruning runs in batches: without a time budget, one batch per rule per sweep', async () => {
      await using f = await backend.fresh({
        retention: { sessionLog: { maxAgeMs: 1000 } },
        pruner: { batchSize: 7 },
      });
      for (let i = 0; i < 30; i++)
        await f.store.sessionLog.append(logEntry(`IMEI:${i}`, f.clock.t - 5000 + i));
      assert.equal((await f.store.sweep(f.clock.t, { pruneBudgetMs: 0 })).pruned.session_log, 7);
      assert.equal((await f.store.sweep(f.clock.t, { pruneBudgetMs: 0 })).pruned.session_log, 7);
      // With time, the rest in batches of 7 (7 + 7 + 2).
      assert.equal((await f.store.sweep()).pruned.session_log, 16);
      assert.equal((await f.store.sweep()).pruned.session_log, undefined);
    });

    test('postgres: a table left with many dead rows is vacuumed by the sweep', {
      skip: backend.name !== 'postgres',
    }, async () => {
      await using f = await backend.fresh({ retention: { sessionLog: { maxAgeMs: 1000 } } });
      for (let i = 0; i < 25; i++) {
        await Promise.all(
          Array.from({ length: 100 }, (_, j) =>
            f.store.sessionLog.append(logEntry(`IMEI:${j}`, f.clock.t - 5000)),
          ),
        );
      }
      assert.equal((await f.store.sweep()).pruned.session_log, 2500);
      const db = (
        f.store as Store & {
          kysely: import('kysely').Kysely<import('../../../src/server/store/index.ts').Database>;
        }
      ).kysely;
      const stat = async () =>
        (
          await sql<{
            dead: number | string;
            vacuumed: Date | null;
          }>`select n_dead_tup as dead, last_vacuum as vacuumed
            from pg_stat_user_tables where schemaname = current_schema() and relname = 'omadm_session_log'`.execute(
            db,
          )
        ).rows[0];
      // Statistics reach the view within a second or so; then a sweep a minute later vacuums.
      for (let i = 0; i < 50 && Number((await stat())?.dead ?? 0) < 1000; i++)
        await new Promise((r) => setTimeout(r, 100));
      f.clock.advance(61_000);
      await f.store.sweep();
      let s = await stat();
      for (let i = 0; i < 50 && !s?.vacuumed; i++) {
        await new Promise((r) => setTimeout(r, 100));
        s = await stat();
      }
      assert.ok(s?.vacuumed, 'vacuumed');
      assert.ok(Number(s?.dead) < 100, `dead rows left: ${s?.dead}`);
    });

    test('a module adds its own table rule (generic pruner)', async () => {
      await using f = await backend.fresh();
      f.store.addRetentionRule({
        name: 'audit_by_target',
        table: 'omadm_audit',
        timeColumn: 'at',
        perDevice: { column: 'target', max: 2, slack: 1 },
      });
      assert.ok(f.store.retentionRules().some((r) => r.name === 'audit_by_target'));
      for (let i = 0; i < 5; i++) await f.store.audit.append({ actor: 'a', action: `x${i}`, target: 'T' });
      await f.store.audit.append({ actor: 'a', action: 'other', target: 'U' });
      const store = f.store as Store & { pruner: { pruneNow(n: string, now: number): Promise<number> } };
      assert.equal(await store.pruner.pruneNow('audit_by_target', f.clock.t), 3);
      assert.deepEqual(
        (await f.store.audit.list()).items.map((e) => e.action),
        ['other', 'x4', 'x3'],
      );
    });
  });
}
