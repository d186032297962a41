/**
 * Store throughput: the durable command queue on SQLite (temp file, WAL) and PostgreSQL (fresh
 * schema on 127.0.0.1:5432, skipped when unreachable). Phases, each for `seconds`:
 *   enqueue   — commands queued (round-robin over 100 devices), one transaction each;
 *   claim     — a session's package: claim up to 10 + markSent for each (commands/s);
 *   settle    — Status 200 applied to sent commands (commands/s);
 *   cycle ×1  — enqueue → claim → markSent → settle for one command at a time, one device;
 *   cycle ×8  — the same from 8 concurrent sessions on 8 devices (one store instance).
 * Standalone: `./omadm node bench/sections/store.ts [--seconds S]`.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { openStore, type Store } from '../../src/server/store/index.ts';
import type { BenchContext } from '../run.ts';

const PG_URL = process.env.OMADM_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const DEVICES = 100;

interface QueueFigures {
  enqueuePerSec: number;
  claimPerSec: number;
  settlePerSec: number;
  cyclePerSec: number;
  cycle8PerSec: number;
}

/** Runs `step` (which returns how many operations it did) until `seconds` elapse; ops/s. */
async function rate(seconds: number, step: () => Promise<number>): Promise<number> {
  const end = performance.now() + seconds * 1000;
  const start = performance.now();
  let ops = 0;
  while (performance.now() < end) {
    const n = await step();
    if (n === 0) break;
    ops += n;
  }
  return ops / ((performance.now() - start) / 1000);
}

async function measureQueue(store: Store, seconds: number): Promise<QueueFigures> {
  const ids = Array.from({ length: DEVICES }, (_, i) => `IMEI:${String(i).padStart(15, '0')}`);
  for (const id of ids) await store.devices.create({ id, clientSecret: 's' });
  const far = Date.now() + 3_600_000;

  let i = 0;
  const enqueuePerSec = await rate(seconds, async () => {
    await store.queue.enqueue(ids[i++ % DEVICES]!, {
      kind: 'Replace',
      target: `./Vendor/Settings/Node${i}`,
      data: `value ${i}`,
    });
    return 1;
  });

  const sent: { id: number; session: string }[] = [];
  let d = 0;
  let msg = 0;
  const claimPerSec = await rate(seconds, async () => {
    // Devices whose queue is empty yield 0 and are skipped; stop when all are drained.
    for (let tries = 0; tries < DEVICES; tries++) {
      const device = ids[d++ % DEVICES]!;
      const session = `${device}-s`;
      const batch = await store.queue.claim(device, session, { limit: 10, leaseUntil: far });
      if (!batch.length) continue;
      msg++;
      for (const [k, c] of batch.entries()) {
        await store.queue.markSent(c.id, session, { msgId: msg, cmdId: String(k + 1) });
        sent.push({ id: c.id, session });
      }
      return batch.length;
    }
    return 0;
  });

  let s = 0;
  const settlePerSec = await rate(seconds, async () => {
    const next = sent[s++];
    if (!next) return 0;
    await store.queue.settle(next.id, { status: 200 });
    return 1;
  });

  const cycle = async (device: string, n: number) => {
    const c = await store.queue.enqueue(device, { kind: 'Replace', target: './Cfg/x', data: String(n) });
    const [claimed] = await store.queue.claim(device, `cycle-${device}`, { limit: 1, leaseUntil: far });
    if (claimed?.id !== c.id) throw new Error('cycle: claimed something else');
    await store.queue.markSent(c.id, `cycle-${device}`, { msgId: n, cmdId: '1' });
    await store.queue.settle(c.id, { status: 200 });
  };
  // The cycle devices have empty queues (the claim phase may have left commands elsewhere).
  const fresh = Array.from({ length: 8 }, (_, k) => `cycle-${k}-${randomBytes(3).toString('hex')}`);
  for (const id of fresh) await store.devices.create({ id });
  let n = 0;
  const cyclePerSec = await rate(seconds, async () => {
    await cycle(fresh[0]!, ++n);
    return 1;
  });
  const cycle8PerSec = await rate(seconds, async () => {
    n++;
    await Promise.all(fresh.map((dev) => cycle(dev, n)));
    return fresh.length;
  });
  return { enqueuePerSec, claimPerSec, settlePerSec, cyclePerSec, cycle8PerSec };
}

async function postgresReachable(): Promise<string | undefined> {
  const c = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    return undefined;
  } catch (e) {
    return (e as Error).message;
  } finally {
    await c.end().catch(() => {});
  }
}

function line(log: (l: string) => void, backend: string, f: QueueFigures): void {
  const fmt = (v: number) => `${Math.round(v).toLocaleString('en-US')}/s`.padStart(10);
  log(
    `${backend.padEnd(10)} enqueue ${fmt(f.enqueuePerSec)}   claim+markSent ${fmt(f.claimPerSec)}   settle ${fmt(f.settlePerSec)}   cycle×1 ${fmt(f.cyclePerSec)}   cycle×8 ${fmt(f.cycle8PerSec)}`,
  );
}

export default async function storeSection(ctx: BenchContext): Promise<void> {
  const results: Record<string, QueueFigures | { skipped: string }> = {};
  const dir = mkdtempSync(join(tmpdir(), 'omadm-bench-store-'));
  try {
    const store = await openStore(`sqlite:${join(dir, 'bench.db')}`);
    try {
      const f = await measureQueue(store, ctx.seconds);
      results.sqlite = f;
      line(ctx.log, 'sqlite', f);
    } finally {
      await store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const why = await postgresReachable();
  if (why) {
    results.postgres = { skipped: why };
    ctx.log(`postgres   skipped: ${PG_URL} not reachable (${why})`);
  } else {
    const schema = `omadm_bench_${randomBytes(6).toString('hex')}`;
    const store = await openStore(PG_URL, { schema });
    try {
      const f = await measureQueue(store, ctx.seconds);
      results.postgres = f;
      line(ctx.log, 'postgres', f);
    } finally {
      await store.close();
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await c.end();
    }
  }
  ctx.results.store = results;
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { seconds: { type: 'string', default: '2' } } });
  const seconds = Number(values.seconds);
  const root = new URL('../../', import.meta.url);
  await storeSection({
    seconds: Number.isFinite(seconds) && seconds > 0 ? seconds : 2,
    results: {},
    root,
    shared: new URL('../shared/', root),
    log: (l = '') => process.stdout.write(`${l}\n`),
  });
}
