/**
 * A real omadm server (createServer on SQLite in a temp dir) on 127.0.0.1:0 with an admin token,
 * for the client and simulator tests.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { TestContext } from 'node:test';
import { createServer, type OmadmServer } from '../../src/server/index.ts';
import { openStore, type Store } from '../../src/server/store/index.ts';

export interface TestServer {
  readonly url: string;
  readonly dm: string;
  readonly token: string;
  readonly store: Store;
  readonly server: OmadmServer;
  /** A scratch directory removed by close(). */
  readonly dir: string;
  // biome-ignore lint/suspicious/noExplicitAny: tests read JSON answers freely.
  api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

export async function startTestServer(): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'omadm-client-test-'));
  const store = await openStore(`sqlite:${join(dir, 'omadm.db')}`, {
    secretKey: new Uint8Array(randomBytes(32)),
  });
  const server = await createServer({ store, logger: false, sweepIntervalMs: 0 });
  const token = `admin-${randomBytes(12).toString('hex')}`;
  await store.tokens.create({ name: 'admin', role: 'admin', secret: token });
  const { url } = await server.listen({ host: '127.0.0.1', port: 0 });
  return {
    url,
    dm: `${url}/dm`,
    token,
    store,
    server,
    dir,
    async api(method, path, body) {
      const res = await fetch(`${url}/api/v1${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined };
    },
    async close() {
      await server.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A long-running `omadm` child process of a test, with its JSON log lines (stderr). */
export interface OmadmChild {
  readonly child: ChildProcess;
  /** Parsed JSON log lines, in order. */
  readonly logs: Record<string, unknown>[];
  /** Every stderr line (also those that are not JSON, e.g. runtime warnings). */
  readonly stderr: string[];
  /** The exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  /** How many log lines have this `msg`. */
  count(msg: string): number;
  /**
   * Resolves once `check()` holds; rejects when the process exits first or the test ends
   * (timeout, failure): a waiting test can never hang the run.
   */
  until(check: () => boolean, what?: string): Promise<void>;
}

/**
 * Spawns `omadm ARGS` as a plain process (not a test-runner child). It is SIGKILLed and awaited
 * when the test ends, whatever happened (t.after), so no child outlives a failed assertion.
 */
export function spawnOmadm(t: TestContext, args: readonly string[]): OmadmChild {
  const bin = new URL('../../bin/omadm.js', import.meta.url).pathname;
  const child = spawn(process.execPath, [bin, ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, NODE_TEST_CONTEXT: undefined },
  });
  // 'close': after the exit AND the end of stderr, so the last log lines are in.
  const exited = new Promise<number | null>((r) => child.once('close', (code) => r(code)));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  const logs: Record<string, unknown>[] = [];
  const stderr: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (line) => {
    stderr.push(line);
    if (!line.startsWith('{')) return;
    try {
      logs.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // Not a log line of ours (it is still in `stderr`).
    }
  });
  const until = (check: () => boolean, what = 'condition') =>
    new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (err?: Error) => {
        clearTimeout(timer);
        child.off('exit', onExit);
        t.signal.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve();
      };
      const onExit = (code: number | null) =>
        done(new Error(`omadm ${args[0]} exited (${code}) before ${what}:\n${stderr.join('\n')}`));
      const onAbort = () => done(new Error(`test ended before ${what}:\n${stderr.join('\n')}`));
      if (child.exitCode !== null || child.signalCode !== null) return onExit(child.exitCode);
      child.once('exit', onExit);
      t.signal.addEventListener('abort', onAbort, { once: true });
      const poll = () => {
        if (check()) return done();
        timer = setTimeout(poll, 10);
      };
      poll();
    });
  return {
    child,
    logs,
    stderr,
    exited,
    count: (msg) => logs.filter((l) => l.msg === msg).length,
    until,
  };
}
