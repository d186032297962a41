/**
 * Issue 22, items 1, 2, 5 and 7, written as the attacks an attacker next to a device runs against
 * a running `omadm client` agent over real UDP on loopback: a PIN brute force with bootstrap
 * pushes, a push in a weaker security mode than the device wants, an unsolicited re-bootstrap of
 * a device that has an account, a flood of forged triggers (the log must not grow with it), and
 * the agent's files read by another local user (modes).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, type TestContext, test } from 'node:test';
import { encodeBootstrapPush, UdpBearer } from '../../src/binding/push/index.ts';
import { dmBootstrapMessage } from '../../src/cli/commands/bootstrap.ts';
import { type BootstrapSecurity, signBootstrap } from '../../src/protocol/bootstrap/index.ts';
import { buildPackage0 } from '../../src/protocol/index.ts';
import { type OmadmChild, spawnOmadm, startTestServer, type TestServer } from './helpers.ts';

const PIN = '31415926';
const IMSI = '262011234567890';

let srv: TestServer;
let bearer: UdpBearer;
before(async () => {
  srv = await startTestServer();
  bearer = new UdpBearer();
});
after(async () => {
  await bearer.close();
  await srv.close();
});

/** A DM-profile bootstrap push for `device`, pointing it at `addr`, signed as told. */
function push(
  device: string,
  addr: string,
  sec: BootstrapSecurity,
  keys: { pin?: string; imsi?: string },
): Uint8Array {
  const body = dmBootstrapMessage(
    {
      serverId: 'omadm',
      addresses: [{ addr, addrType: 'URI' }],
      auth: [
        { level: 'CLCRED', type: 'DIGEST', name: device, secret: `s-${device}` },
        { level: 'SRVCRED', type: 'DIGEST', name: 'omadm', secret: `srv-${device}` },
      ],
    },
    device,
  );
  const signed = signBootstrap(body, { profile: 'dm', sec, ...keys });
  return encodeBootstrapPush({ profile: 'dm', sec, ...(signed.mac ? { mac: signed.mac } : {}), body });
}

async function provision(id: string): Promise<void> {
  const r = await srv.api('POST', '/devices', {
    id,
    secret: `s-${id}`,
    authType: 'md5',
    serverSecret: `srv-${id}`,
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
}

async function running(agent: OmadmChild): Promise<number> {
  await agent.until(() => agent.logs.some((l) => String(l.msg).startsWith('agent running')), 'running');
  const port = agent.logs.find((l) => String(l.msg).startsWith('agent running'))?.udp as number;
  assert.ok(port > 0);
  return port;
}

const refusals = (agent: OmadmChild, reason: string) =>
  agent.logs.filter((l) => l.event === 'client.bootstrap.refused' && l.reason === reason).length;

describe('bootstrap pushes against a running agent', () => {
  test('a PIN brute force: failures are counted (persisted) and backed off, so the right PIN arriving in the flood installs nothing', {
    timeout: 60_000,
  }, async (t) => {
    const dev = 'brute-dev';
    await provision(dev);
    const data = join(srv.dir, 'brute');
    const agent = spawnOmadm(t, [
      'client',
      '--data',
      data,
      '--device-id',
      dev,
      '--listen-udp',
      '0',
      '--interval',
      '0',
      '--pin',
      PIN,
    ]);
    const to = `127.0.0.1:${await running(agent)}`;
    // The attacker: 400 pushes with guessed 8-digit PINs, bounded to ~4 s, then the right one.
    const started = Date.now();
    for (let i = 0; i < 400 && Date.now() - started < 4000; i++) {
      await bearer.sendPush(
        to,
        push(dev, 'http://127.0.0.1:9/evil', 'userpin', { pin: String(10_000_000 + i) }),
      );
      if (i % 50 === 49) await new Promise((r) => setTimeout(r, 20));
    }
    await bearer.sendPush(to, push(dev, srv.dm, 'userpin', { pin: PIN }));
    const installed = () => agent.count('bootstrap push installed');
    await agent.until(() => refusals(agent, 'back-off') >= 1 || installed() > 0, 'the back-off');
    // Let the agent drain what it queued.
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(agent.count('bootstrap push installed'), 0, 'nothing installed: not even the right PIN');
    assert.equal(agent.count('session starting'), 0);
    const guard = JSON.parse(readFileSync(join(data, 'bootstrap-guard.json'), 'utf8'));
    assert.ok(guard.failures >= 4 && guard.failures <= 8, `failed MACs verified: ${guard.failures} of 400`);
    assert.equal(statSync(join(data, 'bootstrap-guard.json')).mode & 0o777, 0o600);
    // A flood of refusals is aggregated: a handful of lines, not one per push.
    const lines = agent.logs.filter((l) => l.event === 'client.bootstrap.refused').length;
    assert.ok(lines <= 20, `${lines} refusal lines for 401 pushes`);
  });

  test('a PIN shorter than 8 characters is refused at start', { timeout: 30_000 }, async (t) => {
    const agent = spawnOmadm(t, [
      'client',
      '--data',
      join(srv.dir, 'short-pin'),
      '--device-id',
      'short',
      '--listen-udp',
      '0',
      '--pin',
      '1234',
    ]);
    // (An agent that starts is the failure: it would wait for pushes with a guessable PIN.)
    await agent
      .until(
        () =>
          agent.child.exitCode !== null || agent.logs.some((l) => String(l.msg).startsWith('agent running')),
        'exit or start',
      )
      .catch(() => undefined);
    assert.equal(
      await Promise.race([agent.exited, new Promise((r) => setTimeout(() => r('running'), 100))]),
      2,
    );
    assert.ok(
      agent.stderr.some((l) => l.includes('at least 8 characters')),
      agent.stderr.join('\n'),
    );
  });

  test('with a PIN and an IMSI the device wants USERNETWPIN: a push signed with the IMSI alone (NETWPIN) is refused', {
    timeout: 30_000,
  }, async (t) => {
    const dev = 'minsec-dev';
    await provision(dev);
    const data = join(srv.dir, 'minsec');
    const agent = spawnOmadm(t, [
      'client',
      '--data',
      data,
      '--device-id',
      dev,
      '--listen-udp',
      '0',
      '--interval',
      '0',
      '--pin',
      PIN,
      '--imsi',
      IMSI,
    ]);
    const to = `127.0.0.1:${await running(agent)}`;
    await bearer.sendPush(to, push(dev, 'http://127.0.0.1:9/evil', 'netwpin', { imsi: IMSI }));
    const installed = () => agent.count('bootstrap push installed');
    await agent.until(
      () => refusals(agent, 'security mode too weak') === 1 || installed() > 0,
      'the refusal',
    );
    assert.equal(installed(), 0);
    const line = agent.logs.find((l) => l.reason === 'security mode too weak');
    assert.equal(line?.sec, 'netwpin');
    assert.equal(line?.minimum, 'usernetwpin');
    // USERPIN alone is weaker too; USERNETWPIN installs.
    await bearer.sendPush(to, push(dev, 'http://127.0.0.1:9/evil', 'userpin', { pin: PIN }));
    await agent.until(() => refusals(agent, 'security mode too weak') === 2, 'the second refusal');
    await bearer.sendPush(to, push(dev, srv.dm, 'usernetwpin', { pin: PIN, imsi: IMSI }));
    await agent.until(() => agent.count('session completed') === 1, 'the first session');
    assert.equal(agent.count('bootstrap push installed'), 1);
  });

  test('a device with an account takes no unsolicited push, even with the right PIN', {
    timeout: 30_000,
  }, async (t) => {
    const dev = 'owned-dev';
    await provision(dev);
    const data = join(srv.dir, 'owned');
    const agent = spawnOmadm(t, [
      'client',
      '--data',
      data,
      '--server',
      srv.dm,
      '--device-id',
      dev,
      '--secret',
      `s-${dev}`,
      '--server-secret',
      `srv-${dev}`,
      '--listen-udp',
      '0',
      '--interval',
      '0',
      '--pin',
      PIN,
    ]);
    const to = `127.0.0.1:${await running(agent)}`;
    await agent.until(() => agent.count('session completed') === 1, 'the first session');
    await bearer.sendPush(to, push(dev, 'http://127.0.0.1:9/evil', 'userpin', { pin: PIN }));
    await agent.until(
      () =>
        refusals(agent, 'the device has an account (re-bootstrap through a DM session)') === 1 ||
        agent.count('bootstrap push installed') > 0,
      'the refusal',
    );
    assert.equal(agent.count('bootstrap push installed'), 0);
    const config = JSON.parse(readFileSync(join(data, 'agent.json'), 'utf8'));
    assert.equal(config.server, srv.dm, 'still pointed at its own server');
  });
});

describe('a configured agent', () => {
  /** An agent with its account (first start with --server), listening for pushes and triggers. */
  async function configured(t: TestContext, dev: string, umask?: number) {
    await provision(dev);
    const data = join(srv.dir, dev);
    // The child inherits the umask: 000 would make files world-writable unless the agent says.
    const old = umask === undefined ? undefined : process.umask(umask);
    let agent: OmadmChild;
    try {
      agent = spawnOmadm(t, [
        'client',
        '--data',
        data,
        '--server',
        srv.dm,
        '--device-id',
        dev,
        '--secret',
        `s-${dev}`,
        '--server-secret',
        `srv-${dev}`,
        '--listen-udp',
        '0',
        '--interval',
        '0',
        '--pin',
        PIN,
      ]);
    } finally {
      if (old !== undefined) process.umask(old);
    }
    const to = `127.0.0.1:${await running(agent)}`;
    await agent.until(() => agent.count('session completed') === 1, 'the first session');
    return { agent, data, to };
  }

  test('its data directory is 0700 and every file 0600, whatever the umask', {
    timeout: 30_000,
  }, async (t) => {
    const { data } = await configured(t, 'modes-dev', 0o000);
    const mode = (p: string) => statSync(join(data, p)).mode & 0o777;
    assert.equal(mode('.'), 0o700);
    assert.equal(mode('agent.json'), 0o600);
    assert.equal(mode('tree'), 0o700);
    for (const f of readdirSync(join(data, 'tree'))) assert.equal(mode(`tree/${f}`), 0o600, f);
    for (const f of readdirSync(data)) if (f !== 'tree') assert.equal(mode(f), 0o600, f);
  });

  test('a flood of forged triggers does not grow its log, nor start a session', {
    timeout: 30_000,
  }, async (t) => {
    const { agent, to } = await configured(t, 'flood-dev');
    const before = agent.stderr.length;
    for (let i = 0; i < 2000; i++) {
      const forged = buildPackage0({
        serverId: 'omadm',
        sessionId: i,
        secret: 'guess',
        nonce: new Uint8Array(4),
      });
      await bearer.sendPush(to, forged);
    }
    // The last one handled: the agent answers on (a genuine trigger would start a session).
    await new Promise((r) => setTimeout(r, 1000));
    const lines = agent.stderr.length - before;
    assert.ok(lines <= 10, `${lines} log lines for 2000 forged triggers`);
    assert.ok(
      agent.logs.some((l) => l.event === 'client.notification.bad-digest' && l.reason === 'bad-digest'),
      'the first ones are logged as they come',
    );
    assert.equal(agent.count('session completed'), 1, 'no session from a forged trigger');
  });
});
