/**
 * The fleet simulator:
 *   memory  — RSS of a child process holding 10,000 and 100,000 idle simulated devices (each with
 *             the nonce pair a device has after a session), total and per device, against the
 *             same child's baseline before the fleet existed;
 *   fleet   — a 1,000-device fleet (md5, XML and WBXML) against `omadm server` on SQLite in a
 *             child process: sessions/s and latency p50/p95/p99 of whole sessions;
 *   echo    — the bare-HTTP limit measured in the same run: a node:http server (child process)
 *             answering POSTs with 2 KB, loaded with the same concurrency; a session is ~3 round
 *             trips (a heartbeat session without commands is 1–2), so limit = echo req/s ÷ 3.
 * Standalone: `./omadm node bench/sections/simulator.ts [--seconds S]`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { BenchContext } from '../run.ts';

const SELF = fileURLToPath(import.meta.url);
const CONCURRENCY = 64;

interface MemoryFigures {
  devices: number;
  baselineRssBytes: number;
  rssBytes: number;
  perDeviceBytes: number;
  marginalPerDeviceBytes: number;
}

/** Child: builds an idle fleet of `n` devices and reports RSS (run with --expose-gc). */
async function memoryChild(n: number): Promise<void> {
  const { Fleet } = await import('../../src/simulator/index.ts');
  const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
  // Load the code paths a fleet uses before the baseline (a 1-device fleet primes them).
  new Fleet({ serverUrl: 'http://127.0.0.1:9/dm', devices: 1, serverSecret: 'x' }).primeNonces();
  for (let i = 0; i < 3; i++) gc();
  const baseline = process.memoryUsage.rss();
  const fleet = new Fleet({ serverUrl: 'http://127.0.0.1:9/dm', devices: n, serverSecret: 'srv' });
  fleet.primeNonces();
  for (let i = 0; i < 3; i++) gc();
  await new Promise((r) => setTimeout(r, 200));
  const rss = process.memoryUsage.rss();
  const out: MemoryFigures = {
    devices: fleet.size,
    baselineRssBytes: baseline,
    rssBytes: rss,
    perDeviceBytes: Math.round(rss / n),
    marginalPerDeviceBytes: Math.round((rss - baseline) / n),
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

/** Child: the echo server; prints its port. */
function echoChild(): void {
  const body = Buffer.alloc(2048, 'x');
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/vnd.syncml.dm+xml', 'content-length': body.length });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 30_000;
  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(`${(server.address() as { port: number }).port}\n`);
  });
}

function runChild(
  args: string[],
  nodeArgs: string[] = [],
): { child: ChildProcess; firstLine: Promise<string> } {
  const child = spawn(process.execPath, [...nodeArgs, SELF, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const firstLine = new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve(buf.slice(0, nl));
    });
    child.on('exit', (code) => reject(new Error(`child ${args.join(' ')} exited with ${code}`)));
  });
  return { child, firstLine };
}

async function measureMemory(n: number): Promise<MemoryFigures> {
  const { child, firstLine } = runChild(['--child', 'memory', String(n)], ['--expose-gc']);
  try {
    return JSON.parse(await firstLine) as MemoryFigures;
  } finally {
    child.kill();
  }
}

/** Requests/s of POSTs with a small body against the echo child, `CONCURRENCY` in flight. */
async function measureEcho(seconds: number): Promise<number> {
  const { child, firstLine } = runChild(['--child', 'echo']);
  try {
    const port = Number(await firstLine);
    const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    const payload = Buffer.alloc(600, 'y');
    const post = () =>
      new Promise<void>((resolve, reject) => {
        const req = http.request(
          {
            host: '127.0.0.1',
            port,
            method: 'POST',
            path: '/dm',
            agent,
            headers: { 'content-type': 'application/vnd.syncml.dm+xml', 'content-length': payload.length },
          },
          (res) => {
            res.resume();
            res.on('end', resolve);
          },
        );
        req.on('error', reject);
        req.end(payload);
      });
    const end = performance.now() + seconds * 1000;
    let n = 0;
    const worker = async () => {
      while (performance.now() < end) {
        await post();
        n++;
      }
    };
    // Warm-up, then the measure.
    const warm = performance.now() + 300;
    while (performance.now() < warm) await post();
    const t0 = performance.now();
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    agent.destroy();
    return n / ((performance.now() - t0) / 1000);
  } finally {
    child.kill();
  }
}

interface FleetFigures {
  encoding: string;
  devices: number;
  sessions: number;
  errors: Record<string, number>;
  sessionsPerSecond: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  roundTripsPerSession: number;
  /** CPU time of the simulating process per session (µs): its own capacity is 1e6 / this per core. */
  simulatorCpuUsPerSession: number;
  /** CPU time of the server process per session (µs), from /proc (undefined elsewhere). */
  serverCpuUsPerSession: number | undefined;
}

/** User + system CPU of a process in µs, from /proc/PID/stat (Linux). */
function procCpuUs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 (utime, stime) in clock ticks; after the comm field they are at 11 and 12.
    return ((Number(f[11]) + Number(f[12])) * 1e6) / 100;
  } catch {
    return undefined;
  }
}

/** Starts `omadm server` on SQLite in a temp dir (child process); resolves with its URL. */
async function startServer(dir: string, token: string): Promise<{ url: string; child: ChildProcess }> {
  const bin = fileURLToPath(new URL('../../bin/omadm.js', import.meta.url));
  const child = spawn(
    process.execPath,
    [
      bin,
      'server',
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--data',
      dir,
      '--token',
      token,
      '--log-level',
      'error',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const url = await new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /listening on (http:\/\/[^\s]+)/.exec(buf);
      if (m) resolve(m[1]!);
    });
    child.on('exit', (code) => reject(new Error(`omadm server exited with ${code}`)));
  });
  return { url, child };
}

async function measureFleet(seconds: number, encoding: 'xml' | 'wbxml'): Promise<FleetFigures> {
  const { Fleet, FleetStats, provisionFleet } = await import('../../src/simulator/index.ts');
  const dir = mkdtempSync(join(tmpdir(), 'omadm-bench-sim-'));
  const token = `bench-${randomBytes(12).toString('hex')}`;
  const { url, child } = await startServer(dir, token);
  let messages = 0;
  const { channels } = await import('../../src/protocol/index.ts');
  const count = () => {
    messages++;
  };
  try {
    const fleet = new Fleet({
      serverUrl: `${url}/dm`,
      devices: 1000,
      auth: 'md5',
      encoding,
      timing: 'none',
      concurrency: CONCURRENCY,
    });
    await provisionFleet(fleet, { url, token, auth: 'md5', parallel: 32 });
    // First round: every device gets its nonce (a fresh md5 device is challenged once).
    await fleet.round();
    channels.messageOut.subscribe(count);
    // Measured rounds: the steady state of an attached fleet (heartbeat sessions).
    const measured = new FleetStats();
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const srv0 = procCpuUs(child.pid);
    const end = t0 + seconds * 1000;
    do {
      await fleet.round({
        onSession: (_i, r) => {
          measured.sessions++;
          if (r.ok) {
            measured.ok++;
            measured.latency.record(r.ms);
          } else measured.error(r.error ?? 'unknown');
        },
      });
    } while (performance.now() < end);
    const secs = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const srv1 = procCpuUs(child.pid);
    channels.messageOut.unsubscribe(count);
    fleet.close();
    return {
      encoding,
      devices: 1000,
      sessions: measured.sessions,
      errors: Object.fromEntries(measured.errors),
      sessionsPerSecond: Math.round(measured.ok / secs),
      p50Ms: round2(measured.latency.percentile(0.5)),
      p95Ms: round2(measured.latency.percentile(0.95)),
      p99Ms: round2(measured.latency.percentile(0.99)),
      roundTripsPerSession: round2(messages / Math.max(1, measured.sessions)),
      simulatorCpuUsPerSession: Math.round((cpu.user + cpu.system) / Math.max(1, measured.sessions)),
      serverCpuUsPerSession:
        srv0 === undefined || srv1 === undefined
          ? undefined
          : Math.round((srv1 - srv0) / Math.max(1, measured.sessions)),
    };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}

const round2 = (n: number) => Math.round(n * 100) / 100;
const kib = (b: number) => `${(b / 1024).toFixed(2)} KiB`;

export default async function simulatorSection(ctx: BenchContext): Promise<void> {
  const memory: MemoryFigures[] = [];
  for (const n of [10_000, 100_000]) {
    const m = await measureMemory(n);
    memory.push(m);
    ctx.log(
      `memory   ${String(n).padStart(7)} idle devices: RSS ${(m.rssBytes / 1048576).toFixed(1)} MiB = ${kib(m.perDeviceBytes)}/device (marginal ${kib(m.marginalPerDeviceBytes)}/device over a ${(m.baselineRssBytes / 1048576).toFixed(1)} MiB baseline)`,
    );
  }
  const fleet: FleetFigures[] = [];
  for (const enc of ['xml', 'wbxml'] as const) {
    const f = await measureFleet(Math.max(ctx.seconds, 3), enc);
    fleet.push(f);
    ctx.log(
      `fleet    1000 devices md5 ${enc.padEnd(5)}: ${f.sessionsPerSecond} sessions/s, p50 ${f.p50Ms} ms, p95 ${f.p95Ms} ms, p99 ${f.p99Ms} ms, ${f.sessions} sessions, errors ${JSON.stringify(f.errors)}, ${f.roundTripsPerSession} round trips/session, CPU per session: simulator ${f.simulatorCpuUsPerSession} µs, server ${f.serverCpuUsPerSession ?? '?'} µs`,
    );
  }
  const echo = await measureEcho(ctx.seconds);
  const limit = echo / 3;
  ctx.log(
    `echo     node:http 2 KB answers, ${CONCURRENCY} in flight: ${Math.round(echo)} req/s → limit ${Math.round(limit)} sessions/s (÷3)`,
  );
  for (const f of fleet)
    ctx.log(`ratio    ${f.encoding}: ${(f.sessionsPerSecond / limit).toFixed(2)} of the bare-HTTP limit`);
  ctx.results.simulator = {
    memory,
    fleet,
    echoRequestsPerSecond: Math.round(echo),
    limitSessionsPerSecond: Math.round(limit),
  };
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: { seconds: { type: 'string', default: '2' }, child: { type: 'string' } },
    allowPositionals: true,
  });
  if (values.child === 'memory') {
    await memoryChild(Number(process.argv.at(-1)));
  } else if (values.child === 'echo') {
    echoChild();
  } else {
    await simulatorSection({
      seconds: Number(values.seconds),
      results: {},
      root: new URL('../../', import.meta.url),
      shared: new URL('../../../shared/', import.meta.url),
      log: (l = '') => process.stdout.write(`${l}\n`),
    });
  }
}
