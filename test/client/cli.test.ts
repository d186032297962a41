import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer as netServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { main } from '../../src/cli/main.ts';
import { spawnOmadm, startTestServer, type TestServer } from './helpers.ts';

const execFileP = promisify(execFile);

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

  test('--once prints its one-line summary and no JSON log lines (unless --log-level asks)', async () => {
    const data = join(srv.dir, 'agent-quiet');
    const bin = new URL('../../bin/omadm.js', import.meta.url).pathname;
    const args = [
      'client',
      '--data',
      data,
      '--server',
      srv.dm,
      '--device-id',
      'cli-dev',
      '--secret',
      'cli-secret',
    ];
    const r = await execFileP(process.execPath, [bin, ...args, '--server-secret', 'cli-srv', '--once']);
    assert.match(
      r.stdout,
      /^session \S+ with omadm completed: \d+ message\(s\), \d+ command\(s\), \d+ ms\n$/,
    );
    assert.equal(r.stderr, '');
    const loud = await execFileP(process.execPath, [
      bin,
      'client',
      '--data',
      data,
      '--once',
      '--log-level',
      'info',
    ]);
    assert.match(loud.stderr, /^\{"level":30/m);
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
    const agent = spawnOmadm(t, [
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
    ]);
    await agent.until(
      () =>
        agent.count('session completed') === 1 &&
        agent.count('agent running (SIGUSR1: session now; SIGINT/SIGTERM: stop)') === 1,
      'the first session',
    );
    agent.child.kill('SIGUSR1');
    await agent.until(() => agent.count('session completed') === 2, 'the SIGUSR1 session');
    agent.child.kill('SIGTERM');
    assert.equal(await agent.exited, 0);
    assert.ok(
      agent.logs.some((l) => l.msg === 'stopping: waiting for the running session' && l.signal === 'SIGTERM'),
    );
    assert.equal(agent.logs.at(-1)?.msg, 'stopped');
  });
});

describe('omadm client --listen-udp: bootstrap pushes', () => {
  const PIN = '24680135';
  const IMSI = '262011234567890';
  const DEV = 'push-dev';
  /** `omadm bootstrap … --send udp --to 127.0.0.1:PORT`, as the operator runs it. */
  async function pushBootstrap(port: number, args: string[]): Promise<void> {
    const bin = new URL('../../bin/omadm.js', import.meta.url).pathname;
    const r = await execFileP(
      process.execPath,
      [
        bin,
        'bootstrap',
        ...args,
        '--server-id',
        'omadm',
        '--addr',
        srv.dm,
        '--device',
        DEV,
        '--client-secret',
        'push-secret',
        '--server-secret',
        'push-srv',
        '--send',
        'udp',
        '--to',
        `127.0.0.1:${port}`,
      ],
      { env: { ...process.env, NODE_TEST_CONTEXT: undefined }, timeout: 15_000 },
    );
    assert.match(r.stdout, /^sent udp 127\.0\.0\.1:\d+ parts=1$/m);
  }

  test('a fresh agent waits; a push with a wrong MAC installs nothing; the right one (DM profile) installs, configures and runs the first session; a CP re-bootstrap (allowed by the operator) replaces the account', {
    timeout: 30_000,
  }, async (t) => {
    const created = await srv.api('POST', '/devices', {
      id: DEV,
      secret: 'push-secret',
      authType: 'md5',
      serverSecret: 'push-srv',
    });
    assert.equal(created.status, 201);
    const data = join(srv.dir, 'agent-push');
    const agent = spawnOmadm(t, [
      'client',
      '--data',
      data,
      '--device-id',
      DEV,
      '--listen-udp',
      '0',
      '--interval',
      '0',
      '--pin',
      PIN,
      '--imsi',
      IMSI,
      // The operator re-bootstraps by push below, over CP with the IMSI alone: both allowed here.
      '--bootstrap-min-sec',
      'netwpin',
      '--allow-push-rebootstrap',
    ]);
    await agent.until(() => agent.count('no DM account yet: waiting for a bootstrap') === 1, 'waiting');
    await agent.until(() => agent.logs.some((l) => String(l.msg).startsWith('agent running')), 'running');
    const port = agent.logs.find((l) => String(l.msg).startsWith('agent running'))?.udp as number;
    assert.ok(port > 0);
    assert.equal(existsSync(join(data, 'agent.json')), false, 'not configured before a bootstrap');

    // Signed with another PIN: the MAC does not verify with the agent's PIN.
    await pushBootstrap(port, ['--profile', 'dm', '--security', 'userpin', '--pin', '13579246']);
    await agent.until(() => agent.count('bootstrap push refused: nothing installed') === 1, 'the refusal');
    const refusal = agent.logs.find((l) => l.msg === 'bootstrap push refused: nothing installed');
    assert.equal(refusal?.code, 'OMADM_ERR_CLIENT_BOOTSTRAP');
    assert.equal(refusal?.profile, 'dm');
    assert.equal(existsSync(join(data, 'agent.json')), false, 'a refused push configures nothing');
    assert.equal(agent.count('bootstrap push installed'), 0);

    await pushBootstrap(port, ['--profile', 'dm', '--security', 'userpin', '--pin', PIN]);
    await agent.until(() => agent.count('session completed') === 1, 'the first session');
    const installed = agent.logs.find((l) => l.msg === 'bootstrap push installed');
    assert.deepEqual(installed?.servers, ['omadm']);
    const config = JSON.parse(readFileSync(join(data, 'agent.json'), 'utf8'));
    assert.equal(config.server, srv.dm);
    assert.equal(config.serverId, 'omadm');
    assert.equal(config.deviceId, DEV);
    assert.equal(JSON.stringify(config).includes('push-secret'), false, 'no secret in the config file');
    assert.equal((await srv.api('GET', `/devices/${DEV}`)).body.sessionCount, 1);

    // The operator re-bootstraps over CP (NETWPIN: the IMSI): still one account, a new session.
    await pushBootstrap(port, ['--profile', 'cp', '--security', 'netwpin', '--imsi', IMSI]);
    await agent.until(() => agent.count('session completed') === 2, 'the session after the CP bootstrap');
    assert.equal(agent.count('bootstrap push installed'), 2);
    agent.child.kill('SIGTERM');
    assert.equal(await agent.exited, 0);
    assert.equal(agent.logs.at(-1)?.msg, 'stopped');

    // A restart finds the configuration and the (single) account the pushes left.
    assert.equal(await run('client', '--data', data, '--once'), 0);
    assert.equal((await srv.api('GET', `/devices/${DEV}`)).body.sessionCount, 3);
  });
});
