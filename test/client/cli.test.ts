import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer as netServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { main } from '../../src/cli/main.ts';
import { startTestServer, type TestServer } from './helpers.ts';

let srv: TestServer;
before(async () => {
  srv = await startTestServer();
  const r = await srv.api('POST', '/devices', {
    id: 'cli-dev',
    secret: 'cli-secret',
    authType: 'md5',
    serverSecret: 'cli-srv',
  });
  assert.equal(r.status, 201);
});
after(async () => {
  await srv.close();
});

/** Runs the CLI in-process and returns its exit code (process.exitCode is reset around it). */
async function run(...argv: string[]): Promise<number> {
  process.exitCode = undefined;
  try {
    return await main([...argv, '--log-level', 'silent']);
  } finally {
    process.exitCode = undefined;
  }
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const s = netServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as { port: number };
  await new Promise((r) => s.close(r));
  return port;
}

describe('omadm client --once', () => {
  test('first start writes agent.json and the account; exit 0 when the session completed', async () => {
    const data = join(srv.dir, 'agent-ok');
    const code = await run(
      'client',
      '--data',
      data,
      '--server',
      srv.dm,
      '--device-id',
      'cli-dev',
      '--secret',
      'cli-secret',
      '--server-secret',
      'cli-srv',
      '--wbxml',
      '--once',
    );
    assert.equal(code, 0);
    const config = JSON.parse(readFileSync(join(data, 'agent.json'), 'utf8'));
    assert.equal(config.server, srv.dm);
    assert.equal(config.encoding, 'wbxml');
    assert.equal(JSON.stringify(config).includes('cli-secret'), false, 'no secret in the config file');
    // A restart with only the data directory: account and nonces from the tree.
    assert.equal(await run('client', '--data', data, '--once'), 0);
    assert.equal(await run('client', '--config', join(data, 'agent.json'), '--once'), 0);
    const dev = (await srv.api('GET', '/devices/cli-dev')).body;
    assert.equal(dev.sessionCount, 3);
  });

  test('exit 1 when the server refuses the credentials', async () => {
    const data = join(srv.dir, 'agent-bad');
    assert.equal(
      await run(
        'client',
        '--data',
        data,
        '--server',
        srv.dm,
        '--device-id',
        'cli-dev',
        '--secret',
        'wrong',
        '--once',
      ),
      1,
    );
  });

  test('exit 69 when the server cannot be reached', async () => {
    const data = join(srv.dir, 'agent-down');
    const port = await closedPort();
    assert.equal(
      await run(
        'client',
        '--data',
        data,
        '--server',
        `http://127.0.0.1:${port}/dm`,
        '--device-id',
        'x',
        '--secret',
        'y',
        '--once',
      ),
      69,
    );
  });

  test('exit 2 without configuration or with bad flags', async () => {
    const data = join(srv.dir, 'agent-none');
    assert.equal(await run('client', '--data', data, '--once'), 2);
    assert.equal(existsSync(join(data, 'agent.json')), false);
    assert.equal(await run('client', '--data', data, '--server', srv.dm, '--once'), 2);
    assert.equal(
      await run(
        'client',
        '--data',
        data,
        '--server',
        'ftp://x/dm',
        '--device-id',
        'a',
        '--secret',
        'b',
        '--once',
      ),
      2,
    );
    assert.equal(await run('client', '--data', data, '--interval', '-1', '--once'), 2);
  });
});

describe('omadm client as a long-running agent', () => {
  test('session at start, SIGUSR1 runs one on demand, SIGTERM stops cleanly with exit 0', {
    timeout: 20_000,
  }, async (t) => {
    const data = join(srv.dir, 'agent-long');
    const bin = new URL('../../bin/omadm.js', import.meta.url).pathname;
    const child = spawn(
      process.execPath,
      [
        bin,
        'client',
        '--data',
        data,
        '--server',
        srv.dm,
        '--device-id',
        'cli-dev',
        '--secret',
        'cli-secret',
        '--interval',
        '0',
      ],
      // Not a test-runner child: without NODE_TEST_CONTEXT it runs as a plain process.
      { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NODE_TEST_CONTEXT: undefined } },
    );
    t.after(() => child.kill('SIGKILL'));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const lines: { msg: string; initiator?: string; signal?: string }[] = [];
    let buf = '';
    child.stderr.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl = buf.indexOf('\n');
      while (nl >= 0) {
        const line = buf.slice(0, nl);
        // Log lines are JSON; anything else (a runtime warning) is not ours to parse.
        if (line.startsWith('{')) lines.push(JSON.parse(line));
        buf = buf.slice(nl + 1);
        nl = buf.indexOf('\n');
      }
    });
    const count = (msg: string) => lines.filter((l) => l.msg === msg).length;
    const until = (check: () => boolean) =>
      new Promise<void>((resolve, reject) => {
        let gone = false;
        const onExit = () => {
          gone = true;
          reject(new Error(`agent exited: ${JSON.stringify(lines)}`));
        };
        child.once('exit', onExit);
        const poll = () => {
          if (gone) return;
          if (!check()) return void setTimeout(poll, 10);
          child.off('exit', onExit);
          resolve();
        };
        poll();
      });
    await until(
      () =>
        count('session completed') === 1 &&
        count('agent running (SIGUSR1: session now; SIGINT/SIGTERM: stop)') === 1,
    );
    child.kill('SIGUSR1');
    await until(() => count('session completed') === 2);
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.ok(
      lines.some((l) => l.msg === 'stopping: waiting for the running session' && l.signal === 'SIGTERM'),
    );
    assert.equal(lines.at(-1)?.msg, 'stopped');
  });
});
