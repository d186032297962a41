/**
 * Server sessions: complete DM sessions per second through the full server (`createServer`: Fastify,
 * the DM endpoint, the session engine, the store, the command queue, the trace) on SQLite and on
 * PostgreSQL, against a bare node:http echo measured in the same run with the same load generator.
 *
 * Layout: the server under test (and the echo server) run in THIS process; the load generator —
 * omadm's client session engine (`DmClientSession`) over the HTTP binding's `HttpTransport` — runs
 * in a CHILD process, so it does not share the server's core. Devices authenticate with md5 (both
 * directions: the server sends SRVCRED too) and keep their nonces from session to session.
 *
 * Variants, each measured in rounds (every device one session per round, `CONCURRENCY` in flight):
 *   empty   — heartbeat sessions: nothing queued, the server answers package 1 and the session ends;
 *   replace — before every round, one `Replace` is queued per device (outside the timed part), so
 *             every session claims, sends, settles one command (queue and tree cache in the loop).
 * The echo measure: a node:http server here answering each 2 KB POST with its body, loaded by the
 * same child with the same transport and concurrency. A session is taken as 3 round trips (the
 * issue's yardstick), so the limit is echo req/s ÷ 3; the target is ≥ 0.5 of it on SQLite.
 *
 * Standalone: `./omadm node bench/sections/server.ts [--seconds S] [--backend sqlite|postgres]
 * [--variant empty|replace] [--devices N] [--concurrency C]`. Profile the server with
 * `./omadm node --cpu-prof --cpu-prof-dir=prof bench/sections/server.ts --backend sqlite`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { BenchContext } from '../run.ts';

const SELF = fileURLToPath(import.meta.url);
const PG_URL = process.env.OMADM_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const DEFAULT_DEVICES = 1000;
const DEFAULT_CONCURRENCY = 48;
const SECRET = 'bench-client-secret';
const SERVER_ID = 'omadm-bench';

type Variant = 'empty' | 'replace';

// ---- the load generator (child process) -------------------------------------------------------

interface RoundReport {
  sessions: number;
  errors: Record<string, number>;
  ms: number;
  latencies: number[];
  roundTrips: number;
  cpuUs: number;
}

/**
 * Child: reads commands on stdin, one JSON per line, answers one JSON line per command:
 *   {"op":"dm", url, devices, concurrency} → sessions of every device once (a round);
 *   {"op":"echo", url, concurrency, ms}    → 2 KB POSTs for `ms`.
 */
async function loadChild(): Promise<void> {
  const { DmClientSession } = await import('../../src/protocol/client-session.ts');
  const { syncmlCodec } = await import('../../src/protocol/default-codec.ts');
  const { HttpTransport } = await import('../../src/binding/http/index.ts');
  const { dataText } = await import('../../src/representation/index.ts');
  const { runClientSession } = await import('../../src/protocol/client-runner.ts');
  type Req = import('../../src/protocol/client-session.ts').ClientRequest;
  type Res = import('../../src/protocol/client-session.ts').ClientResponse;

  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const http1 = new HttpTransport({ httpAgent: agent, retries: 0, timeoutMs: 60_000 });
  let roundTrips = 0;
  const transport = {
    exchange(r: Req): Promise<Res> {
      roundTrips++;
      return http1.exchange(r);
    },
  };
  const nonces = new Map<string, { clientNonce?: string; serverNonce?: string }>();
  const trees = new Map<string, Map<string, string>>();

  async function session(url: string, deviceId: string): Promise<string | undefined> {
    const n = nonces.get(deviceId) ?? {};
    let tree = trees.get(deviceId);
    if (!tree) {
      tree = new Map([['./DevDetail/Ext/Conf', 'initial']]);
      trees.set(deviceId, tree);
    }
    const t = tree;
    const s = new DmClientSession({
      codec: syncmlCodec,
      encoding: 'xml',
      deviceId,
      devInfo: {
        './DevInfo/DevId': deviceId,
        './DevInfo/Man': 'omadm-bench',
        './DevInfo/Mod': 'load-1',
        './DevInfo/DmV': '1.2',
        './DevInfo/Lang': 'en-US',
      },
      account: {
        serverId: SERVER_ID,
        serverUri: url,
        client: { mode: 'md5', name: deviceId, secret: SECRET },
        server: { mode: 'md5', name: SERVER_ID, secret: serverSecretOf(deviceId) },
        ...n,
      },
      accountState: {
        saveNonces: async (x) => {
          const cur = nonces.get(deviceId) ?? {};
          nonces.set(deviceId, {
            ...cur,
            ...(x.clientNonce !== undefined ? { clientNonce: x.clientNonce } : {}),
            ...(x.serverNonce !== undefined ? { serverNonce: x.serverNonce } : {}),
          });
        },
      },
      handler: {
        execute: async (cmd) => {
          const uri = cmd.Item[0]?.Target?.LocURI ?? '';
          if (cmd.type === 'Replace' || cmd.type === 'Add') {
            t.set(uri, dataText(cmd.Item[0]?.Data));
            return { status: 200 };
          }
          if (cmd.type === 'Get') {
            const v = t.get(uri);
            if (v === undefined) return { status: 404 };
            return {
              status: 200,
              results: [
                { Source: { LocURI: uri }, Meta: { Format: 'chr' }, Data: { kind: 'text', text: v } },
              ],
            };
          }
          return { status: 200 };
        },
      },
    });
    const r = await runClientSession(s, transport);
    return r.outcome === 'completed' ? undefined : r.outcome;
  }

  async function round(url: string, devices: number, concurrency: number): Promise<RoundReport> {
    const latencies: number[] = [];
    const errors: Record<string, number> = {};
    let next = 0;
    let sessions = 0;
    const rt0 = roundTrips;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const worker = async () => {
      while (next < devices) {
        const i = next++;
        const s0 = performance.now();
        let err: string | undefined;
        try {
          err = await session(url, deviceIdOf(i));
        } catch (e) {
          err = (e as { code?: string }).code ?? (e as Error).message;
        }
        sessions++;
        if (err) errors[err] = (errors[err] ?? 0) + 1;
        else latencies.push(performance.now() - s0);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    const cpu = process.cpuUsage(cpu0);
    return {
      sessions,
      errors,
      ms: performance.now() - t0,
      latencies,
      roundTrips: roundTrips - rt0,
      cpuUs: cpu.user + cpu.system,
    };
  }

  async function echo(url: string, concurrency: number, ms: number): Promise<RoundReport> {
    const body = new Uint8Array(Buffer.alloc(2048, 'x'));
    const req: Req = { url, body, contentType: 'application/vnd.syncml.dm+xml' };
    const latencies: number[] = [];
    const errors: Record<string, number> = {};
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const end = t0 + ms;
    let n = 0;
    const worker = async () => {
      while (performance.now() < end) {
        const s0 = performance.now();
        try {
          await http1.exchange(req);
          latencies.push(performance.now() - s0);
        } catch (e) {
          const k = (e as Error).message;
          errors[k] = (errors[k] ?? 0) + 1;
        }
        n++;
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    const cpu = process.cpuUsage(cpu0);
    return {
      sessions: n,
      errors,
      ms: performance.now() - t0,
      latencies,
      roundTrips: n,
      cpuUs: cpu.user + cpu.system,
    };
  }

  const rl = createInterface({ input: process.stdin });
  for await (const line of rl) {
    const cmd = JSON.parse(line) as {
      op: 'dm' | 'echo' | 'reset';
      url: string;
      devices: number;
      concurrency: number;
      ms: number;
    };
    let out: RoundReport | { ok: true };
    if (cmd.op === 'dm') out = await round(cmd.url, cmd.devices, cmd.concurrency);
    else if (cmd.op === 'echo') out = await echo(cmd.url, cmd.concurrency, cmd.ms);
    else {
      nonces.clear();
      trees.clear();
      out = { ok: true };
    }
    process.stdout.write(`${JSON.stringify(out)}\n`);
  }
  agent.destroy();
}

function deviceIdOf(i: number): string {
  return `IMEI:35${String(i).padStart(13, '0')}`;
}
function serverSecretOf(deviceId: string): string {
  return `srv-${deviceId}`;
}

/** The child and a request/answer channel over its stdin/stdout. */
class LoadGenerator {
  readonly child: ChildProcess;
  readonly #lines: string[] = [];
  readonly #waiters: { resolve: (line: string) => void; reject: (err: Error) => void }[] = [];

  constructor() {
    this.child = spawn(process.execPath, [SELF, '--child'], { stdio: ['pipe', 'pipe', 'inherit'] });
    const rl = createInterface({ input: this.child.stdout! });
    rl.on('line', (l) => {
      const w = this.#waiters.shift();
      if (w) w.resolve(l);
      else this.#lines.push(l);
    });
    this.child.once('exit', (code) => {
      for (const w of this.#waiters.splice(0)) w.reject(new Error(`load generator exited with ${code}`));
    });
  }

  async ask<T>(cmd: object): Promise<T> {
    this.child.stdin!.write(`${JSON.stringify(cmd)}\n`);
    const line =
      this.#lines.shift() ??
      (await new Promise<string>((resolve, reject) => {
        this.#waiters.push({ resolve, reject });
      }));
    return JSON.parse(line) as T;
  }

  async close(): Promise<void> {
    this.child.stdin!.end();
    if (this.child.exitCode === null) await new Promise((r) => this.child.once('exit', r));
  }
}

// ---- the measures (this process) ---------------------------------------------------------------

export interface Figures {
  name: string;
  sessions: number;
  errors: Record<string, number>;
  perSecond: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  roundTripsPerSession: number;
  /** CPU of this (server) process per session/request, µs. */
  serverCpuUs: number;
  /** CPU of the load generator per session/request, µs. */
  clientCpuUs: number;
}

function percentile(sorted: readonly number[], p: number): number {
  if (!sorted.length) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}
const r2 = (n: number) => Math.round(n * 100) / 100;

function figures(name: string, reports: readonly RoundReport[], serverCpuUs: number): Figures {
  const lat = reports.flatMap((r) => r.latencies).sort((a, b) => a - b);
  const sessions = reports.reduce((s, r) => s + r.sessions, 0);
  const errors: Record<string, number> = {};
  for (const r of reports) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
  const ms = reports.reduce((s, r) => s + r.ms, 0);
  const rt = reports.reduce((s, r) => s + r.roundTrips, 0);
  const ccpu = reports.reduce((s, r) => s + r.cpuUs, 0);
  return {
    name,
    sessions,
    errors,
    perSecond: Math.round(lat.length / (ms / 1000)),
    p50Ms: r2(percentile(lat, 0.5)),
    p95Ms: r2(percentile(lat, 0.95)),
    p99Ms: r2(percentile(lat, 0.99)),
    roundTripsPerSession: r2(rt / Math.max(1, sessions)),
    serverCpuUs: Math.round(serverCpuUs / Math.max(1, sessions)),
    clientCpuUs: Math.round(ccpu / Math.max(1, sessions)),
  };
}

async function measureEcho(gen: LoadGenerator, seconds: number, concurrency: number): Promise<Figures> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      res.writeHead(200, { 'content-type': 'application/vnd.syncml.dm+xml', 'content-length': body.length });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/dm`;
  try {
    await gen.ask({ op: 'echo', url, concurrency, ms: 300 }); // warm-up
    const cpu0 = process.cpuUsage();
    const rep = await gen.ask<RoundReport>({ op: 'echo', url, concurrency, ms: seconds * 1000 });
    const cpu = process.cpuUsage(cpu0);
    return figures('echo', [rep], cpu.user + cpu.system);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}

interface Backend {
  name: 'sqlite' | 'postgres';
  open(): Promise<import('../../src/server/store/index.ts').Store>;
  cleanup(): Promise<void>;
}

async function backendOf(name: 'sqlite' | 'postgres'): Promise<Backend | string> {
  const { openStore } = await import('../../src/server/store/index.ts');
  const secretKey = new Uint8Array(randomBytes(32));
  if (name === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'omadm-bench-server-'));
    return {
      name,
      open: () => openStore(`sqlite:${join(dir, 'omadm.db')}`, { secretKey }),
      cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    };
  }
  const pg = (await import('pg')).default;
  const probe = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2000 });
  try {
    await probe.connect();
    await probe.query('select 1');
  } catch (err) {
    return `PostgreSQL not reachable at ${PG_URL} (${(err as Error).message})`;
  } finally {
    await probe.end().catch(() => undefined);
  }
  const schema = `bench_${randomBytes(5).toString('hex')}`;
  return {
    name,
    open: () => openStore(PG_URL, { secretKey, schema }),
    cleanup: async () => {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      try {
        await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } finally {
        await c.end();
      }
    },
  };
}

/** CPU profile of this (server) process over the measured rounds only (enqueueing included). */
async function startProfile(): Promise<{ stop(file: string): Promise<void> }> {
  const { Session } = await import('node:inspector/promises');
  const { mkdirSync, writeFileSync } = await import('node:fs');
  const { dirname } = await import('node:path');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return {
    async stop(file) {
      const { profile } = await session.post('Profiler.stop');
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, JSON.stringify(profile));
      session.disconnect();
    },
  };
}

interface RunOptions {
  /** Write a CPU profile of the server process per measure here. */
  profileDir?: string;
  seconds: number;
  devices: number;
  concurrency: number;
  variants: readonly Variant[];
}

async function measureBackend(gen: LoadGenerator, backend: Backend, o: RunOptions): Promise<Figures[]> {
  const { createServer } = await import('../../src/server/index.ts');
  const store = await backend.open();
  const server = await createServer({ store, logger: false, serverId: SERVER_ID });
  const out: Figures[] = [];
  try {
    const { url } = await server.listen({ host: '127.0.0.1', port: 0 });
    const dmUrl = `${url}/dm`;
    for (let i = 0; i < o.devices; i++) {
      const id = deviceIdOf(i);
      await store.devices.create({
        id,
        authType: 'md5',
        clientSecret: SECRET,
        serverAuthName: SERVER_ID,
        serverSecret: serverSecretOf(id),
      });
    }
    await gen.ask({ op: 'reset' });
    // Warm-up round: a fresh md5 device is challenged once and learns its nonce.
    const warm = await gen.ask<RoundReport>({
      op: 'dm',
      url: dmUrl,
      devices: o.devices,
      concurrency: o.concurrency,
    });
    if (Object.keys(warm.errors).length)
      throw new Error(`warm-up sessions failed: ${JSON.stringify(warm.errors)}`);
    for (const variant of o.variants) {
      const profiler = o.profileDir ? await startProfile() : undefined;
      const reports: RoundReport[] = [];
      let serverCpu = 0;
      let spent = 0;
      let round = 0;
      do {
        if (variant === 'replace') {
          for (let i = 0; i < o.devices; i++) {
            await store.queue.enqueue(deviceIdOf(i), {
              kind: 'Replace',
              target: './DevDetail/Ext/Conf',
              data: `value-${round}-${i}`,
            });
          }
        }
        const cpu0 = process.cpuUsage();
        const rep = await gen.ask<RoundReport>({
          op: 'dm',
          url: dmUrl,
          devices: o.devices,
          concurrency: o.concurrency,
        });
        const cpu = process.cpuUsage(cpu0);
        serverCpu += cpu.user + cpu.system;
        reports.push(rep);
        spent += rep.ms;
        round++;
      } while (spent < o.seconds * 1000);
      if (variant === 'replace') {
        const counts = await store.queue.counts();
        const left =
          (counts.queued ?? 0) + (counts.claimed ?? 0) + (counts.sent ?? 0) + (counts.unknown ?? 0);
        if (left) throw new Error(`replace variant: commands not delivered: ${JSON.stringify(counts)}`);
      }
      if (profiler && o.profileDir)
        await profiler.stop(join(o.profileDir, `server-${backend.name}-${variant}.cpuprofile`));
      out.push(figures(`${backend.name} ${variant}`, reports, serverCpu));
    }
  } finally {
    await server.close();
    await store.close();
    await backend.cleanup();
  }
  return out;
}

function line(f: Figures, unit: string): string {
  const errs = Object.keys(f.errors).length ? `, errors ${JSON.stringify(f.errors)}` : '';
  return `${f.name.padEnd(16)} ${String(f.perSecond).padStart(6)} ${unit}/s  p50 ${f.p50Ms} ms  p95 ${f.p95Ms} ms  p99 ${f.p99Ms} ms  (${f.sessions} ${unit}s, ${f.roundTripsPerSession} round trips each, CPU/${unit}: server ${f.serverCpuUs} µs, client ${f.clientCpuUs} µs${errs})`;
}

export async function runServerBench(
  ctx: BenchContext,
  o: Partial<RunOptions> & { backends?: readonly ('sqlite' | 'postgres')[] } = {},
): Promise<void> {
  const opts: RunOptions = {
    seconds: o.seconds ?? Math.max(ctx.seconds, 3),
    devices: o.devices ?? DEFAULT_DEVICES,
    concurrency: o.concurrency ?? DEFAULT_CONCURRENCY,
    variants: o.variants ?? ['empty', 'replace'],
    ...(o.profileDir ? { profileDir: o.profileDir } : {}),
  };
  const gen = new LoadGenerator();
  try {
    ctx.log(
      `full server (createServer, md5 both ways, XML) in this process; load generator (client engine over HttpTransport) in a child; ${opts.devices} devices, ${opts.concurrency} in flight, load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );
    const all: Figures[] = [];
    const echo1 = await measureEcho(gen, opts.seconds, opts.concurrency);
    ctx.log(line(echo1, 'req'));
    for (const name of o.backends ?? (['sqlite', 'postgres'] as const)) {
      const b = await backendOf(name);
      if (typeof b === 'string') {
        ctx.log(`${name.padEnd(16)} SKIPPED — ${b}`);
        continue;
      }
      for (const f of await measureBackend(gen, b, opts)) {
        all.push(f);
        ctx.log(line(f, 'session'));
      }
    }
    // Echo again after, so a drifting machine shows in the spread; the limit uses the mean.
    const echo2 = await measureEcho(gen, opts.seconds, opts.concurrency);
    ctx.log(line(echo2, 'req'));
    const echoRate = (echo1.perSecond + echo2.perSecond) / 2;
    const limit = echoRate / 3;
    ctx.log(
      `limit            ${Math.round(limit)} sessions/s (bare node:http echo ${Math.round(echoRate)} req/s ÷ 3 round trips)`,
    );
    for (const f of all) {
      const ratio = f.perSecond / limit;
      const target = f.name.startsWith('sqlite')
        ? ratio >= 0.5
          ? '  target ≥ 0.5: met'
          : '  target ≥ 0.5: NOT met'
        : '';
      ctx.log(`ratio            ${f.name.padEnd(16)} ${ratio.toFixed(2)} of the limit${target}`);
    }
    ctx.log(
      `load average     ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')} (after)`,
    );
    ctx.results.server = {
      devices: opts.devices,
      concurrency: opts.concurrency,
      echo: [echo1, echo2],
      limitSessionsPerSecond: Math.round(limit),
      sessions: all.map((f) => ({ ...f, ratioOfLimit: r2(f.perSecond / limit) })),
    };
  } finally {
    await gen.close();
  }
}

export default async function serverSection(ctx: BenchContext): Promise<void> {
  await runServerBench(ctx);
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '3' },
      child: { type: 'boolean' },
      backend: { type: 'string', multiple: true },
      variant: { type: 'string', multiple: true },
      devices: { type: 'string' },
      concurrency: { type: 'string' },
      profile: { type: 'string' },
    },
  });
  if (values.child) {
    await loadChild();
  } else {
    await runServerBench(
      {
        seconds: Number(values.seconds),
        results: {},
        root: new URL('../../', import.meta.url),
        shared: new URL('../../../shared/', import.meta.url),
        log: (l = '') => process.stdout.write(`${l}\n`),
      },
      {
        seconds: Number(values.seconds),
        ...(values.backend ? { backends: values.backend as ('sqlite' | 'postgres')[] } : {}),
        ...(values.variant ? { variants: values.variant as Variant[] } : {}),
        ...(values.devices ? { devices: Number(values.devices) } : {}),
        ...(values.concurrency ? { concurrency: Number(values.concurrency) } : {}),
        ...(values.profile ? { profileDir: values.profile } : {}),
      },
    );
  }
}
