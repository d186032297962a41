/**
 * Soak (issue 21): heartbeat and command sessions at a fixed rate for a given time against a full
 * server in a CHILD process (createServer on SQLite or PostgreSQL, its maintenance sweep and
 * retention on), sampling the child's RSS and the database's size every few seconds. Prints:
 * - sessions by kind, failed sessions and errors;
 * - disk bytes per record, measured in the database (per table, indexes included): a heartbeat's
 *   compact record, a traced session; and the database's growth per session before retention;
 * - the size over time (it must stop growing once retention is reached) and the RSS slope over
 *   the last half of the run (target: under 1 MB per 10 minutes);
 * - the steady-state size of 100,000 devices with hourly heartbeats under the default retention,
 *   computed from the measured bytes.
 *
 * The device fleet: `--devices` md5 devices (both ways), each in turn (round robin) opens a
 * session at `--rate` sessions/s overall; a share `--commands` of them first gets a Replace queued
 * through the REST API (a command session, traced); the others are heartbeats (nothing queued,
 * nothing changed). Retention is compressed to `--retention` seconds (traces and session
 * records) so that a run of minutes reaches it; every other retention rule is the default.
 *
 * Standalone: `./omadm node bench/sections/soak.ts [--backend sqlite|postgres] [--minutes M]
 * [--devices N] [--rate R] [--commands 0.05] [--retention S] [--sample S]`. The issue's target run:
 * `--devices 10000 --rate 400 --minutes 30 --retention 600` on each backend (see docs/performance.md).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { DatabaseSync } from 'node:sqlite';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { BenchContext } from '../run.ts';

const SELF = fileURLToPath(import.meta.url);
const PG_URL = process.env.OMADM_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const SECRET = 'soak-client-secret';
const SERVER_ID = 'omadm-soak';
const deviceIdOf = (i: number) => `IMEI:36${String(i).padStart(13, '0')}`;
const serverSecretOf = (id: string) => `srv-${id}`;

interface SoakOptions {
  backend: 'sqlite' | 'postgres';
  devices: number;
  rate: number;
  seconds: number;
  commands: number;
  retentionSeconds: number;
  sampleSeconds: number;
  concurrency: number;
}

// ---- the server (child process) ----------------------------------------------------------------

async function serverChild(o: {
  backend: string;
  target: string;
  schema?: string;
  devices: number;
  retention: number;
}) {
  const { openStore } = await import('../../src/server/store/index.ts');
  const { createServer } = await import('../../src/server/index.ts');
  const retention = { maxAgeMs: o.retention * 1000 };
  const store = await openStore(o.backend === 'sqlite' ? `sqlite:${o.target}` : o.target, {
    secretKey: new Uint8Array(randomBytes(32)),
    ...(o.schema ? { schema: o.schema } : {}),
    traceRetention: retention,
    retention: { sessionLog: retention },
  });
  let next = 0;
  const create = async () => {
    while (next < o.devices) {
      const id = deviceIdOf(next++);
      await store.devices.create({
        id,
        authType: 'md5',
        clientSecret: SECRET,
        serverAuthName: SERVER_ID,
        serverSecret: serverSecretOf(id),
      });
    }
  };
  await Promise.all(Array.from({ length: 16 }, create));
  const admin = `soak-${randomBytes(16).toString('hex')}`;
  await store.tokens.create({ name: 'soak', role: 'admin', secret: admin });
  const pino = (await import('pino')).default;
  const logger = pino({ level: 'warn' }, pino.destination(2)); // stdout carries the handshake
  const server = await createServer({ store, logger, serverId: SERVER_ID, sweepIntervalMs: 2000 });
  const { url } = await server.listen({ host: '127.0.0.1', port: 0 });
  process.stdout.write(`${JSON.stringify({ url, admin })}\n`);
  process.stdin.resume();
  await new Promise((r) => process.stdin.once('end', r));
  await server.close();
  await store.close();
}

// ---- sizes ---------------------------------------------------------------------------------------

interface Sizes {
  /** Files of the data directory (SQLite) or relations of the schema (PostgreSQL). */
  dataBytes: number;
  /** Bytes in use (SQLite: pages not on the free list; PostgreSQL: same as dataBytes). */
  usedBytes: number;
  /** Per table, its indexes included. */
  tables: Record<string, number>;
  rows: Record<string, number>;
}

function dirBytes(dir: string): number {
  let n = 0;
  for (const f of readdirSync(dir)) n += statSync(join(dir, f)).size;
  return n;
}

async function sqliteSizes(dir: string, path: string, withTables: boolean): Promise<Sizes> {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    const get = (q: string) => Object.values(db.prepare(q).get() as Record<string, number>)[0]!;
    const pageSize = get('PRAGMA page_size');
    const used = (get('PRAGMA page_count') - get('PRAGMA freelist_count')) * pageSize;
    const tables: Record<string, number> = {};
    const rows: Record<string, number> = {};
    if (withTables) {
      const owner = new Map<string, string>();
      for (const r of db
        .prepare("select name, tbl_name from sqlite_schema where type in ('table','index')")
        .all() as {
        name: string;
        tbl_name: string;
      }[])
        owner.set(r.name, r.tbl_name);
      for (const r of db.prepare('select name, sum(pgsize) as bytes from dbstat group by name').all() as {
        name: string;
        bytes: number;
      }[]) {
        const t = owner.get(r.name) ?? r.name;
        tables[t] = (tables[t] ?? 0) + r.bytes;
      }
      for (const t of [
        'omadm_session_log',
        'omadm_trace',
        'omadm_session',
        'omadm_device',
        'omadm_tree_value',
        'omadm_command',
      ])
        rows[t] = get(`select count(*) from ${t}`);
      if (rows.omadm_trace) rows.traced_sessions = get('select count(distinct session_id) from omadm_trace');
    }
    return { dataBytes: dirBytes(dir), usedBytes: used, tables, rows };
  } finally {
    db.close();
  }
}

async function pgSizes(schema: string, withTables: boolean): Promise<Sizes> {
  const pg = (await import('pg')).default;
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  try {
    const r = await c.query<{ relname: string; bytes: string; dead: string | null }>(
      `select c.relname, pg_total_relation_size(c.oid) as bytes, s.n_dead_tup as dead
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
         left join pg_stat_user_tables s on s.relid = c.oid
        where n.nspname = $1 and c.relkind = 'r'`,
      [schema],
    );
    const tables: Record<string, number> = {};
    const rows: Record<string, number> = {};
    let total = 0;
    for (const row of r.rows) {
      tables[row.relname] = Number(row.bytes);
      total += Number(row.bytes);
      if (withTables && row.dead !== null) rows[`${row.relname}.dead`] = Number(row.dead);
    }
    if (withTables) {
      for (const t of [
        'omadm_session_log',
        'omadm_trace',
        'omadm_session',
        'omadm_device',
        'omadm_tree_value',
        'omadm_command',
      ])
        rows[t] = Number((await c.query(`select count(*) as n from "${schema}".${t}`)).rows[0].n);
      if (rows.omadm_trace)
        rows.traced_sessions = Number(
          (await c.query(`select count(distinct session_id) as n from "${schema}".omadm_trace`)).rows[0].n,
        );
    }
    return { dataBytes: total, usedBytes: total, tables, rows };
  } finally {
    await c.end();
  }
}

function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

/** Least-squares slope of y over x. */
function slope(points: readonly [number, number][]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((s, p) => s + p[0], 0) / n;
  const my = points.reduce((s, p) => s + p[1], 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

// ---- the load ------------------------------------------------------------------------------------

async function loadGenerator(url: string, admin: string, o: SoakOptions) {
  const { DmClientSession } = await import('../../src/protocol/client-session.ts');
  const { syncmlCodec } = await import('../../src/protocol/default-codec.ts');
  const { HttpTransport } = await import('../../src/binding/http/index.ts');
  const { runClientSession } = await import('../../src/protocol/client-runner.ts');
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.concurrency * 2 });
  const transport = new HttpTransport({ httpAgent: agent, retries: 0, timeoutMs: 60_000 });
  const nonces = new Map<string, { clientNonce?: string; serverNonce?: string }>();
  const dmUrl = `${url}/dm`;

  async function session(deviceId: string): Promise<{ outcome: string; commands: number }> {
    let commands = 0;
    const s = new DmClientSession({
      codec: syncmlCodec,
      encoding: 'xml',
      deviceId,
      devInfo: {
        './DevInfo/DevId': deviceId,
        './DevInfo/Man': 'omadm-soak',
        './DevInfo/Mod': 'soak-1',
        './DevInfo/DmV': '1.2',
        './DevInfo/Lang': 'en-US',
      },
      account: {
        serverId: SERVER_ID,
        serverUri: dmUrl,
        client: { mode: 'md5', name: deviceId, secret: SECRET },
        server: { mode: 'md5', name: SERVER_ID, secret: serverSecretOf(deviceId) },
        ...(nonces.get(deviceId) ?? {}),
      },
      accountState: {
        saveNonces: async (x) => {
          nonces.set(deviceId, {
            ...nonces.get(deviceId),
            ...(x.clientNonce !== undefined ? { clientNonce: x.clientNonce } : {}),
            ...(x.serverNonce !== undefined ? { serverNonce: x.serverNonce } : {}),
          });
        },
      },
      handler: {
        execute: async () => {
          commands++;
          return { status: 200 };
        },
      },
    });
    const r = await runClientSession(s, transport);
    return { outcome: r.outcome, commands };
  }

  async function enqueue(deviceId: string, value: string): Promise<void> {
    const res = await fetch(`${url}/api/v1/devices/${encodeURIComponent(deviceId)}/commands`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'Replace', uri: './Vendor/Soak', value }),
    });
    if (res.status !== 201) throw new Error(`enqueue: HTTP ${res.status}`);
  }
  return { session, enqueue, close: () => agent.destroy() };
}

interface Sample {
  t: number;
  rss: number;
  dataBytes: number;
  usedBytes: number;
  sessions: number;
}

export async function runSoak(
  ctx: BenchContext,
  o: SoakOptions,
): Promise<Record<string, unknown> | undefined> {
  const dir = mkdtempSync(join(tmpdir(), 'omadm-soak-'));
  const schema = `soak_${randomBytes(5).toString('hex')}`;
  const dbPath = join(dir, 'omadm.db');
  if (o.backend === 'postgres') {
    const pg = (await import('pg')).default;
    const probe = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2000 });
    try {
      await probe.connect();
    } catch (err) {
      ctx.log(`postgres  SKIPPED — not reachable at ${PG_URL} (${(err as Error).message})`);
      return undefined;
    } finally {
      await probe.end().catch(() => undefined);
    }
  }
  const args = [
    SELF,
    '--server',
    '--backend',
    o.backend,
    '--target',
    o.backend === 'sqlite' ? dbPath : PG_URL,
    '--devices',
    String(o.devices),
    '--retention',
    String(o.retentionSeconds),
    ...(o.backend === 'postgres' ? ['--schema', schema] : []),
  ];
  const child: ChildProcess = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise((r) => child.once('exit', r));
  const sizes = (withTables: boolean) =>
    o.backend === 'sqlite' ? sqliteSizes(dir, dbPath, withTables) : pgSizes(schema, withTables);
  try {
    const first = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout! }).once('line', resolve);
      child.once('exit', (code) => reject(new Error(`soak server exited with ${code}`)));
    });
    const { url, admin } = JSON.parse(first) as { url: string; admin: string };
    const load = await loadGenerator(url, admin, o);
    const counts = { heartbeat: 0, command: 0, failed: 0, warm: 0 };
    const errors: Record<string, number> = {};
    const fail = (what: string) => {
      counts.failed++;
      errors[what] = (errors[what] ?? 0) + 1;
    };
    // Warm-up: every device once (md5 nonce learned, DevInfo registered: a traced first session).
    let w = 0;
    await Promise.all(
      Array.from({ length: o.concurrency }, async () => {
        while (w < o.devices) {
          const id = deviceIdOf(w++);
          const r = await load.session(id).catch((e: Error) => ({ outcome: e.message, commands: 0 }));
          if (r.outcome !== 'completed') fail(`warm-up ${r.outcome}`);
          counts.warm++;
        }
      }),
    );
    const base = await sizes(true);
    ctx.log(
      `${o.backend}: ${o.devices} devices provisioned and warmed up; database ${mb(base.dataBytes)} MB; soak ${o.seconds} s at ${o.rate} sessions/s, ${Math.round(o.commands * 100)} % with a command, retention ${o.retentionSeconds} s`,
    );

    const samples: Sample[] = [];
    const t0 = performance.now();
    const sample = async () => {
      const s = await sizes(false);
      samples.push({
        t: (performance.now() - t0) / 1000,
        rss: rssOf(child.pid!),
        dataBytes: s.dataBytes,
        usedBytes: s.usedBytes,
        sessions: counts.heartbeat + counts.command,
      });
    };
    await sample();
    let nextDevice = 0;
    let inFlight = 0;
    let behind = 0;
    let started = 0;
    let seq = 0;
    let beforeRetention: { t: number; used: number; hb: number; cmd: number } | undefined;
    let early: Sizes | undefined;
    const end = t0 + o.seconds * 1000;
    let nextSample = t0 + o.sampleSeconds * 1000;
    const running = new Set<Promise<void>>();
    while (performance.now() < end) {
      const now = performance.now();
      const due = Math.floor(((now - t0) / 1000) * o.rate);
      while (started < due) {
        started++;
        if (inFlight >= o.concurrency) {
          behind++;
          continue;
        }
        const id = deviceIdOf(nextDevice);
        nextDevice = (nextDevice + 1) % o.devices;
        const withCommand = o.commands > 0 && seq++ % Math.round(1 / o.commands) === 0;
        inFlight++;
        const p = (async () => {
          try {
            if (withCommand) await load.enqueue(id, `v${seq}`);
            const r = await load.session(id);
            if (r.outcome !== 'completed') fail(r.outcome);
            else if (r.commands > 0) counts.command++;
            else if (withCommand) fail('command not delivered');
            else counts.heartbeat++;
          } catch (e) {
            fail((e as { code?: string }).code ?? (e as Error).message);
          } finally {
            inFlight--;
          }
        })();
        running.add(p);
        void p.finally(() => running.delete(p));
      }
      if (now >= nextSample) {
        nextSample += o.sampleSeconds * 1000;
        await sample();
        const last = samples[samples.length - 1]!;
        if (!beforeRetention && last.t >= o.retentionSeconds * 0.9) {
          beforeRetention = { t: last.t, used: last.usedBytes, hb: counts.heartbeat, cmd: counts.command };
          // The tables as they fill, before any row is pruned (no free space from deletions yet).
          early = await sizes(true);
        }
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    await Promise.all(running);
    await sample();
    const final = await sizes(true);
    load.close();

    // ---- figures ----
    const perRow = (t: string) => (final.rows[t] ? (final.tables[t] ?? 0) / final.rows[t]! : Number.NaN);
    const logBytes = perRow('omadm_session_log');
    const earlyLogBytes = early?.rows.omadm_session_log
      ? (early.tables.omadm_session_log ?? 0) / early.rows.omadm_session_log
      : Number.NaN;
    const tracedSessions = final.rows.traced_sessions ?? 0;
    const traceBytesPerSession = tracedSessions
      ? (final.tables.omadm_trace ?? 0) / tracedSessions
      : Number.NaN;
    const deviceBytes =
      ((final.tables.omadm_device ?? 0) +
        (final.tables.omadm_tree_value ?? 0) +
        (final.tables.omadm_group_member ?? 0)) /
      o.devices;
    const growth = beforeRetention
      ? (beforeRetention.used - base.usedBytes) / Math.max(1, beforeRetention.hb + beforeRetention.cmd)
      : Number.NaN;
    const half = samples.filter((s) => s.t >= samples[samples.length - 1]!.t / 2);
    const rssSlope = slope(half.map((s) => [s.t, s.rss])) * 600; // bytes per 10 minutes
    // Retention reached: the configured age, and the 2 minutes closed sessions stay for retransmissions.
    const steadyFrom = Math.max(o.retentionSeconds, 120) + 2 * o.sampleSeconds;
    const afterRet = samples.filter((s) => s.t >= steadyFrom);
    const dataSlope = slope(afterRet.map((s) => [s.t, s.dataBytes])) * 60; // bytes per minute
    const usedSlope = slope(afterRet.map((s) => [s.t, s.usedBytes])) * 60;
    const elapsed = samples[samples.length - 1]!.t || 1;
    const hourlyRecords = 24 * 7; // default retention: 7 days of hourly heartbeats
    const fleet = 100_000;
    // At one record per device per hour and 7 days, pruning frees 1/10,080 of the table a minute:
    // the table is as dense as while it fills (plus at most the dead share a vacuum waits for).
    const recordBytes = Number.isFinite(earlyLogBytes) ? earlyLogBytes : logBytes;
    const steady = fleet * (deviceBytes + hourlyRecords * recordBytes);

    ctx.log(
      `${o.backend}: ${counts.heartbeat} heartbeats, ${counts.command} command sessions in ${elapsed.toFixed(0)} s (${((counts.heartbeat + counts.command) / elapsed).toFixed(1)}/s); failed ${counts.failed}${behind ? `; ${behind} starts skipped (concurrency cap)` : ''}${Object.keys(errors).length ? `; errors ${JSON.stringify(errors)}` : ''}`,
    );
    ctx.log(
      `${o.backend}: bytes per record — heartbeat (compact session record, indexes included) ${Math.round(earlyLogBytes)} B while the table fills, ${Math.round(logBytes)} B at the end with its ${o.retentionSeconds}-s turnover [target ≤ 300]; traced session (raw messages) ${Math.round(traceBytesPerSession)} B + its record; device row + tree cache ${Math.round(deviceBytes)} B per device`,
    );
    if (beforeRetention)
      ctx.log(
        `${o.backend}: database growth before retention: ${Math.round(growth)} B per session over the first ${beforeRetention.t.toFixed(0)} s (includes session rows kept 2 min for retransmissions)`,
      );
    ctx.log(
      `${o.backend}: after retention (t ≥ ${steadyFrom} s, ${afterRet.length} samples): data ${dataSlope >= 0 ? '+' : ''}${(dataSlope / 1024).toFixed(1)} KiB/min, in use ${usedSlope >= 0 ? '+' : ''}${(usedSlope / 1024).toFixed(1)} KiB/min (${mb(afterRet[0]?.dataBytes ?? 0)} → ${mb(afterRet[afterRet.length - 1]?.dataBytes ?? 0)} MB)`,
    );
    ctx.log(
      `${o.backend}: RSS ${mb(samples[0]!.rss)} → ${mb(samples[samples.length - 1]!.rss)} MB; slope over the last half ${(rssSlope / 1024 / 1024).toFixed(2)} MB per 10 min [target < 1]`,
    );
    ctx.log(
      `${o.backend}: 100,000 devices, hourly heartbeats, 7 days: ${fleet} × (${Math.round(deviceBytes)} + ${hourlyRecords} × ${Math.round(recordBytes)}) B = ${(steady / 1e9).toFixed(2)} GB [target ≤ 5 GB]`,
    );
    ctx.log(
      `${o.backend}: samples (s, RSS MB, data MB, in use MB): ${samples
        .filter((_, i) => i % Math.max(1, Math.floor(samples.length / 12)) === 0 || i === samples.length - 1)
        .map((s) => `${s.t.toFixed(0)}:${mb(s.rss)}/${mb(s.dataBytes)}/${mb(s.usedBytes)}`)
        .join(' ')}`,
    );
    if (o.backend === 'postgres') {
      const dead = Object.entries(final.rows)
        .filter(([k]) => k.endsWith('.dead'))
        .map(([k, v]) => `${k.replace('.dead', '')} ${v}`)
        .join(', ');
      ctx.log(`postgres: dead tuples at the end (autovacuum): ${dead}`);
    }
    ctx.log(
      `${o.backend}: rows at the end ${JSON.stringify(Object.fromEntries(Object.entries(final.rows).filter(([k]) => !k.endsWith('.dead'))))}`,
    );
    return {
      backend: o.backend,
      options: o,
      counts,
      errors,
      behind,
      bytesPerHeartbeatRecord: Math.round(earlyLogBytes),
      bytesPerHeartbeatRecordAtEnd: Math.round(logBytes),
      bytesPerTracedSession: Math.round(traceBytesPerSession),
      bytesPerDevice: Math.round(deviceBytes),
      growthPerSessionBeforeRetention: Math.round(growth),
      dataSlopeBytesPerMinuteAfterRetention: Math.round(dataSlope),
      rssSlopeBytesPer10Min: Math.round(rssSlope),
      steadyState100kHourlyBytes: Math.round(steady),
      samples,
      tables: final.tables,
      rows: final.rows,
    };
  } finally {
    child.stdin!.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
    if (o.backend === 'postgres') {
      const pg = (await import('pg')).default;
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).finally(() => c.end());
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

const mb = (n: number) => (n / 1024 / 1024).toFixed(1);

/** In `./omadm bench`: a short soak per backend (machinery and bytes per record, not the 30-minute target). */
export default async function soakSection(ctx: BenchContext): Promise<void> {
  ctx.log(
    `short soak (load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}); the full one: see docs/performance.md`,
  );
  const results: unknown[] = [];
  for (const backend of ['sqlite', 'postgres'] as const) {
    const r = await runSoak(ctx, {
      backend,
      devices: 500,
      rate: 40,
      seconds: Math.max(150, ctx.seconds * 75),
      commands: 0.05,
      retentionSeconds: 20,
      sampleSeconds: 2,
      concurrency: 32,
    });
    if (r) results.push({ ...r, samples: undefined });
  }
  ctx.results.soak = results;
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      server: { type: 'boolean' },
      target: { type: 'string' },
      schema: { type: 'string' },
      backend: { type: 'string', multiple: true },
      devices: { type: 'string', default: '2000' },
      rate: { type: 'string', default: '50' },
      minutes: { type: 'string', default: '3' },
      commands: { type: 'string', default: '0.05' },
      retention: { type: 'string', default: '60' },
      sample: { type: 'string', default: '5' },
      concurrency: { type: 'string', default: '64' },
      json: { type: 'string' },
    },
  });
  if (values.server) {
    await serverChild({
      backend: values.backend?.[0] ?? 'sqlite',
      target: values.target!,
      ...(values.schema ? { schema: values.schema } : {}),
      devices: Number(values.devices),
      retention: Number(values.retention),
    });
  } else {
    const ctx: BenchContext = {
      seconds: 2,
      results: {},
      root: new URL('../../', import.meta.url),
      shared: new URL('../../../shared/', import.meta.url),
      log: (l = '') => process.stdout.write(`${l}\n`),
    };
    const out: unknown[] = [];
    for (const backend of (values.backend ?? ['sqlite', 'postgres']) as ('sqlite' | 'postgres')[]) {
      out.push(
        await runSoak(ctx, {
          backend,
          devices: Number(values.devices),
          rate: Number(values.rate),
          seconds: Number(values.minutes) * 60,
          commands: Number(values.commands),
          retentionSeconds: Number(values.retention),
          sampleSeconds: Number(values.sample),
          concurrency: Number(values.concurrency),
        }),
      );
    }
    if (values.json)
      (await import('node:fs')).writeFileSync(values.json, `${JSON.stringify(out, null, 2)}\n`);
  }
}
