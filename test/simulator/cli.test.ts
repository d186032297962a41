import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { startTestServer, type TestServer } from '../client/helpers.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin/omadm.js');
const run = promisify(execFile);

/** Runs `omadm ARGS` as a child process; resolves with its exit code and output. */
async function omadm(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      timeout: 60_000,
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

describe('omadm simulate', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer();
  });
  after(async () => {
    await srv.close();
  });

  test('--provision then a round; --json prints one summary object; exit 0 with zero errors', async () => {
    const r = await omadm(
      [
        'simulate',
        '--server',
        srv.url,
        '--devices',
        '40',
        '--provision',
        '--auth',
        'hmac',
        '--wbxml',
        '--json',
        '--prefix',
        'cli-',
      ],
      { OMADM_URL: srv.url, OMADM_TOKEN: srv.token },
    );
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout);
    assert.equal(s.devices, 40);
    assert.equal(s.sessions, 40);
    assert.equal(s.ok, 40);
    assert.deepEqual(s.errors, {});
    assert.equal(s.encoding, 'wbxml');
    assert.ok(s.latencyMs.p99 >= s.latencyMs.p50);
    assert.ok(s.rssBytes > 0 && s.sessionsPerSecond > 0);
    const dev = (await srv.api('GET', '/devices/cli-000001')).body;
    assert.equal(dev.authType, 'hmac');
    assert.deepEqual(dev.tags, ['simulated']);
  });

  test('--duration keeps running rounds until the time is up', async () => {
    const r = await omadm([
      'simulate',
      '--server',
      srv.url,
      '--devices',
      '5',
      '--prefix',
      'cli-',
      '--duration',
      '1',
      '--rate',
      '50',
      '--json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout);
    assert.ok(s.sessions > 5, `more than one round: ${s.sessions}`);
    assert.equal(s.ok, s.sessions);
  });

  test('errors are counted by kind and the exit code is 1', async () => {
    // Not provisioned under this prefix: every session is refused.
    const r = await omadm([
      'simulate',
      '--server',
      `${srv.url}/dm`,
      '--devices',
      '5',
      '--json',
      '--prefix',
      'nobody-',
    ]);
    assert.equal(r.code, 1);
    const s = JSON.parse(r.stdout);
    assert.equal(s.failed, 5);
    assert.deepEqual(Object.keys(s.errors), ['auth_failed']);
  });

  test('bad input exits 2', async () => {
    assert.equal((await omadm(['simulate', '--server', srv.url, '--devices', 'many'])).code, 2);
    assert.equal((await omadm(['simulate', '--server', 'ftp://x', '--devices', '3'])).code, 2);
    assert.equal(
      (await omadm(['simulate', '--server', srv.url, '--devices', '3', '--fumo-fail-rate', '1.5'])).code,
      2,
    );
    assert.equal(
      (await omadm(['simulate', '--server', srv.url, '--devices', '3', '--fumo-update-ms', '-4'])).code,
      2,
    );
    assert.equal(
      (await omadm(['simulate', '--server', srv.url, '--devices', '3', '--provision'], { OMADM_TOKEN: '' }))
        .code,
      2,
    );
  });
});

describe('omadm start', () => {
  // The timeout cancels a run that stalls (the child never prints or never exits); t.after then
  // kills the child and waits for it, so a failure cannot hang the file.
  test('server + five demo devices; the three printed commands work as printed; Ctrl-C stops cleanly', {
    timeout: 120_000,
  }, async (t) => {
    const data = mkdtempSync(join(tmpdir(), 'omadm-start-test-'));
    const child = spawn(process.execPath, [BIN, 'start', '--port', '0', '--data', data], {
      cwd: ROOT,
      // As the checkout's wrapper runs it: the banner's commands start with ./omadm.
      env: { ...process.env, OMADM_SELF: './omadm' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    t.after(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
      rmSync(data, { recursive: true, force: true });
    });
    let out = '';
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('Ctrl-C stops.')) resolve();
      });
      child.once('exit', () => reject(new Error(`omadm start exited early:\n${out}`)));
    });
    assert.match(out, /demo-1, demo-2, demo-3, demo-4, demo-5 \(simulated; 5\/5 first sessions completed/);
    const commands = out
      .split('\n')
      .filter((l) => l.startsWith('  ./omadm '))
      .map((l) => l.trim().split(/\s+/).slice(1));
    assert.equal(commands.length, 3, out);
    // Where URL and token are kept, for another shell.
    assert.match(out, /export OMADM_URL=\$\(cat (\S+)\/start-url\) OMADM_TOKEN=\$\(cat \1\/start-token\)/);
    const [list, get, replace] = commands as [string[], string[], string[]];
    const l = await omadm(list);
    assert.equal(l.code, 0, l.stderr);
    for (let i = 1; i <= 5; i++) assert.match(l.stdout, new RegExp(`demo-${i}\\s+md5`));
    const g = await omadm(get);
    assert.equal(g.code, 0, g.stderr);
    assert.match(g.stdout, /succeeded/);
    assert.match(g.stdout, /SimDevice-1/);
    const r = await omadm(replace);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /succeeded/);
    child.kill('SIGINT');
    assert.equal(await exited, 0);
  });
});
