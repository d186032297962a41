/**
 * End to end: omadm server with a UDP bearer → Package 0 → the agent's UDP listener → a
 * server-initiated session (Alert 1200) with the SessionID the server announced → the queued
 * command is executed. Also for a simulated fleet device.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, type TestContext, test } from 'node:test';
import { listenUdpPush, UdpBearer } from '../../src/binding/index.ts';
import { createClient, DmAgent, type SessionReport, simpleAccount } from '../../src/client/index.ts';
import { createServer, type OmadmServer } from '../../src/server/index.ts';
import { openStore, type Store } from '../../src/server/store/index.ts';
import { api as apiAt } from '../server/helpers.ts';
import { Fleet, provisionFleet } from '../../src/simulator/index.ts';

let dir: string;
let store: Store;
let server: OmadmServer;
let url: string;
const token = `admin-${randomBytes(12).toString('hex')}`;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'omadm-notify-e2e-'));
  store = await openStore(`sqlite:${join(dir, 'omadm.db')}`, { secretKey: new Uint8Array(randomBytes(32)) });
  server = await createServer({
    store,
    logger: false,
    sweepIntervalMs: 0,
    notify: { bearers: [new UdpBearer()] },
  });
  await store.tokens.create({ name: 'admin', role: 'admin', secret: token });
  ({ url } = await server.listen({ host: '127.0.0.1', port: 0 }));
});
after(async () => {
  await server.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The operator API of this file's server, as the admin. */
const api = (method: string, path: string, body?: unknown) => apiAt(url, token, method, path, body);

/** Resolves once `check()` holds; stops polling (and rejects) when the test ends, so it never hangs. */
const until = (t: TestContext, check: () => boolean) =>
  new Promise<void>((resolve, reject) => {
    const poll = () => {
      if (t.signal.aborted) return reject(new Error('test ended while waiting'));
      if (check()) return resolve();
      setTimeout(poll, 5);
    };
    poll();
  });

for (const auth of ['md5', 'hmac'] as const) {
  test(`${auth}: a queued command reaches an idle agent through a UDP notification`, {
    timeout: 60_000,
  }, async (t) => {
    const id = `udp-agent-${auth}`;
    const client = await createClient({
      devInfo: { devId: id },
      accounts: [simpleAccount({ serverUrl: `${url}/dm`, name: id, secret: 's', auth, serverSecret: 'srv' })],
    });
    const agent = new DmAgent({ client, intervalSeconds: 0, udp: { host: '127.0.0.1', port: 0 } });
    t.after(async () => {
      await agent.stop();
      await client.close();
    });
    const reports: SessionReport[] = [];
    client.on('sessionEnd', (r) => reports.push(r));
    const created = await api('POST', '/devices', {
      id,
      secret: 's',
      authType: auth,
      serverSecret: 'srv',
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    await agent.start();
    await api('PATCH', `/devices/${id}`, {
      notify: { bearer: 'udp', target: `127.0.0.1:${agent.udpAddress?.port}` },
    });
    await until(t, () => reports.length === 1);
    assert.equal(reports[0]?.initiator, 'client');
    assert.equal(reports[0]?.ok, true);

    // Idle (no interval): only a notification can bring it back.
    const pushed = await api('POST', `/devices/${id}/notify`);
    assert.equal(pushed.status, 200, JSON.stringify(pushed.body));
    assert.equal(pushed.body.accepted, true);
    await until(t, () => reports.length === 2);
    assert.equal(reports[1]?.initiator, 'server');
    assert.equal(reports[1]?.sessionId, pushed.body.sessionId, 'the SessionID the server announced');
    assert.equal(reports[1]?.ok, true, JSON.stringify(reports[1]));

    // Queuing a command notifies by itself.
    const cmd = await api('POST', `/devices/${id}/commands`, { type: 'Get', uri: './DevInfo/DevId' });
    const done = await api('GET', `/commands/${cmd.body.id}?wait=20`);
    assert.equal(done.body.state, 'succeeded');
    assert.equal(done.body.results[0].value, id);
    assert.equal(reports.at(-1)?.initiator, 'server');
  });
}

test('a simulated device answers the server notification', { timeout: 60_000 }, async (t) => {
  const fleet = new Fleet({
    serverUrl: `${url}/dm`,
    devices: 2,
    prefix: 'udp-sim-',
    serverSecret: 'srv',
    timing: 'none',
  });
  const ports: number[] = [];
  const results: unknown[] = [];
  for (let i = 0; i < fleet.size; i++) {
    const s = await listenUdpPush({
      host: '127.0.0.1',
      port: 0,
      onPackage0: (bytes) => void fleet.notify(i, bytes).then((r) => results.push(r)),
    });
    t.after(() => s.close());
    ports.push(s.port);
  }
  t.after(() => fleet.close());
  await provisionFleet(fleet, {
    url,
    token,
    auth: 'md5',
    serverSecret: 'srv',
    notify: (i) => ({ bearer: 'udp', target: `127.0.0.1:${ports[i]}` }),
  });
  // Before any session the server signs with the fallback nonce; the device accepts it.
  const cmd = await api('POST', `/devices/${fleet.deviceId(1)}/commands`, {
    type: 'Get',
    uri: './DevDetail/SwV',
  });
  const done = await api('GET', `/commands/${cmd.body.id}?wait=20`);
  assert.equal(done.body.state, 'succeeded', JSON.stringify(done.body));
  assert.equal(fleet.stats.notifications, 1);
  // After a session the device's nonce is used.
  const cmd2 = await api('POST', `/devices/${fleet.deviceId(1)}/commands`, {
    type: 'Get',
    uri: './DevDetail/HwV',
  });
  assert.equal((await api('GET', `/commands/${cmd2.body.id}?wait=20`)).body.state, 'succeeded');
  assert.equal(fleet.stats.notifications, 2);
  assert.equal(fleet.sessionsOf(0), 0, 'the other device was not woken');
  assert.deepEqual(Object.fromEntries(fleet.stats.errors), {});
});
