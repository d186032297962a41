import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { UdpBearer } from '../../src/binding/index.ts';
import { createClient, DmAgent, type SessionReport, simpleAccount } from '../../src/client/index.ts';
import { AAuthLevel } from '../../src/mo/index.ts';
import { buildPackage0, Initiator, UiMode } from '../../src/protocol/index.ts';
import { startTestServer, type TestServer } from './helpers.ts';

let srv: TestServer;
before(async () => {
  srv = await startTestServer();
});
after(async () => {
  await srv.close();
});

async function provision(id: string, auth: string, serverSecret = `srv-${id}`) {
  const r = await srv.api('POST', '/devices', { id, secret: `s-${id}`, authType: auth, serverSecret });
  assert.equal(r.status, 201, JSON.stringify(r.body));
}

async function queue(id: string, command: unknown): Promise<string> {
  const r = await srv.api('POST', `/devices/${encodeURIComponent(id)}/commands`, command);
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.id;
}

describe('client against the omadm server', () => {
  for (const encoding of ['xml', 'wbxml'] as const) {
    for (const auth of ['basic', 'md5', 'hmac'] as const) {
      test(`${encoding} / ${auth}: sessions, commands on the real tree, mutual auth`, async () => {
        const id = `dev-${encoding}-${auth}`;
        await provision(id, auth);
        const client = await createClient({
          devInfo: { devId: id, man: 'TestCorp', mod: 'T1' },
          encoding,
          accounts: [
            simpleAccount({
              serverUrl: srv.dm,
              name: id,
              secret: `s-${id}`,
              auth,
              serverSecret: `srv-${id}`,
            }),
          ],
        });
        try {
          const ends: SessionReport[] = [];
          client.on('sessionEnd', (r) => ends.push(r));
          const first = await client.session();
          assert.equal(first.ok, true, JSON.stringify(first));
          assert.equal(first.serverAuthenticated, true);
          assert.equal(first.initiator, 'client');

          const getId = await queue(id, { type: 'Get', uri: './DevDetail/Ext/Host/MemTotal' });
          const addId = await queue(id, { type: 'Add', uri: './Vendor/Test/Value', value: 'v1' });
          const badId = await queue(id, { type: 'Replace', uri: './DevInfo/Mod', value: 'hacked' });
          const changes: string[] = [];
          client.on('change', (e) => changes.push(`${e.op} ${e.uri} ${e.serverId}`));
          const second = await client.session();
          assert.equal(second.ok, true, JSON.stringify(second));
          assert.equal(second.commands, 3);
          assert.equal(ends.length, 2);

          const get = (await srv.api('GET', `/commands/${getId}`)).body;
          assert.equal(get.state, 'succeeded');
          assert.match(get.results[0].value, /^\d+$/);
          assert.equal(get.results[0].format, 'int');
          assert.equal((await srv.api('GET', `/commands/${addId}`)).body.state, 'succeeded');
          const bad = (await srv.api('GET', `/commands/${badId}`)).body;
          assert.equal(bad.state, 'failed');
          assert.equal(bad.status, 405, 'DevInfo is read-only for servers');
          const v = await client.tree.get('./Vendor/Test/Value');
          assert.equal(v.items[0]?.data, 'v1');
          assert.equal((await client.tree.get('./DevInfo/Mod')).items[0]?.data, 'T1');
          assert.ok(
            changes.some((c) => c.startsWith('Add ./Vendor/Test/Value omadm')),
            changes.join(),
          );
          const dev = (await srv.api('GET', `/devices/${id}`)).body;
          assert.equal(dev.devInfo.Man, 'TestCorp');
        } finally {
          await client.close();
        }
      });
    }
  }

  test('no account: a failed report, not an exception', async () => {
    const client = await createClient({ devInfo: { devId: 'nobody' } });
    try {
      const r = await client.session();
      assert.equal(r.ok, false);
      assert.equal(r.error?.code, 'OMADM_ERR_CLIENT_NO_ACCOUNT');
      assert.equal(
        (await client.session({ serverId: 'elsewhere' })).error?.code,
        'OMADM_ERR_CLIENT_NO_ACCOUNT',
      );
    } finally {
      await client.close();
    }
  });

  test('wrong secret: the session fails with authFailed, not an exception', async () => {
    await provision('dev-wrong', 'md5');
    const client = await createClient({
      devInfo: { devId: 'dev-wrong' },
      accounts: [simpleAccount({ serverUrl: srv.dm, name: 'dev-wrong', secret: 'nope', auth: 'md5' })],
    });
    try {
      const r = await client.session();
      assert.equal(r.ok, false);
      assert.equal(r.outcome, 'authFailed');
      assert.equal(r.error?.code, 'OMADM_ERR_SESSION_AUTH_FAILED');
    } finally {
      await client.close();
    }
  });
});

describe('persistence', () => {
  test('an agent restarted between sessions keeps its tree, account and nonces', async (t) => {
    const id = 'dev-restart';
    await provision(id, 'md5');
    const dataDir = join(srv.dir, 'restart');
    const account = simpleAccount({
      serverUrl: srv.dm,
      name: id,
      secret: `s-${id}`,
      auth: 'md5',
      serverSecret: `srv-${id}`,
    });
    let c = await createClient({ dataDir, devInfo: { devId: id }, accounts: [account] });
    const first = await c.session();
    assert.equal(first.ok, true);
    await queue(id, { type: 'Add', uri: './Vendor/Kept', value: 'across restarts' });
    assert.equal((await c.session()).ok, true);
    const before = await c.accounts.find('omadm');
    const nonce = (level: string) =>
      Buffer.from(before?.auth.find((a) => a.level === level)?.data ?? []).toString('base64');
    const clientNonce = nonce(AAuthLevel.Client);
    const serverNonce = nonce(AAuthLevel.Server);
    assert.ok(clientNonce.length > 0 && serverNonce.length > 0, 'both nonces stored');
    await c.close();

    // Reopened without accounts: everything comes from the data directory.
    c = await createClient({ dataDir, devInfo: { devId: id } });
    t.after(() => c.close());
    const again = await c.accounts.find('omadm');
    assert.equal(
      Buffer.from(again?.auth.find((a) => a.level === AAuthLevel.Client)?.data ?? []).toString('base64'),
      clientNonce,
    );
    assert.equal(
      Buffer.from(again?.auth.find((a) => a.level === AAuthLevel.Server)?.data ?? []).toString('base64'),
      serverNonce,
    );
    assert.equal((await c.tree.get('./Vendor/Kept')).items[0]?.data, 'across restarts');
    const third = await c.session();
    assert.equal(third.ok, true);
    // The stored nonce was the right one: accepted at once, no 401 + challenge round trip.
    assert.equal(third.messages, 1);
    assert.equal(third.serverAuthenticated, true);

    // The same account given again (a restart with the same flags) keeps the nonces.
    await c.close();
    c = await createClient({ dataDir, devInfo: { devId: id }, accounts: [account] });
    const kept = await c.accounts.find('omadm');
    assert.notEqual(
      Buffer.from(kept?.auth.find((a) => a.level === AAuthLevel.Client)?.data ?? []).toString('base64'),
      '',
    );
    assert.equal((await c.session()).messages, 1);
  });
});

describe('notifications (Package 0)', () => {
  async function nonceOf(client: Awaited<ReturnType<typeof createClient>>): Promise<Uint8Array> {
    const acc = await client.accounts.find('omadm');
    return acc?.auth.find((a) => a.level === AAuthLevel.Server)?.data ?? new Uint8Array(4);
  }

  test('a verified trigger starts a server-initiated session with its SessionID; duplicates and forgeries are ignored', async (t) => {
    const id = 'dev-pkg0';
    await provision(id, 'md5');
    const client = await createClient({
      devInfo: { devId: id },
      accounts: [
        simpleAccount({
          serverUrl: srv.dm,
          name: id,
          secret: `s-${id}`,
          auth: 'md5',
          serverSecret: `srv-${id}`,
        }),
      ],
      onNotification: (n) => n.uiMode !== UiMode.UserInteraction,
    });
    t.after(() => client.close());
    assert.equal((await client.session()).ok, true);
    const seen: string[] = [];
    client.on('notification', (n) => seen.push(`${n.uiMode}:${n.accepted}`));
    const pkg0 = buildPackage0({
      serverId: 'omadm',
      sessionId: 0x1a2b,
      uiMode: UiMode.Background,
      initiator: Initiator.Server,
      secret: `srv-${id}`,
      nonce: await nonceOf(client),
    });
    const r = await client.notify(pkg0);
    assert.equal(r.action, 'session');
    if (r.action === 'session') {
      assert.equal(r.report.sessionId, '1A2B');
      assert.equal(r.report.initiator, 'server');
      assert.equal(r.report.ok, true, JSON.stringify(r.report));
    }
    // Every session leaves a compact record (heartbeats keep no raw trace: issue 21).
    const sessions = (await srv.api('GET', `/devices/${id}/session-records`)).body.items;
    assert.ok(sessions.length >= 2);
    // Its session gave the server a new nonce: the trigger no longer verifies.
    assert.deepEqual(await client.notify(pkg0), { action: 'ignored', reason: 'bad-digest', detail: 'omadm' });

    const forged = buildPackage0({
      serverId: 'omadm',
      sessionId: 0x77,
      uiMode: UiMode.Background,
      secret: 'not-the-secret',
      nonce: await nonceOf(client),
    });
    assert.equal((await client.notify(forged)).action, 'ignored');
    const ask = buildPackage0({
      serverId: 'omadm',
      sessionId: 0x78,
      uiMode: UiMode.UserInteraction,
      secret: `srv-${id}`,
      nonce: await nonceOf(client),
    });
    assert.deepEqual(await client.notify(ask), { action: 'declined', serverId: 'omadm' });
    assert.deepEqual(seen, ['background:true', 'user-interaction:false']);
  });

  test('DmAgent: Package 0 over UDP (WSP push) starts a session', { timeout: 30_000 }, async (t) => {
    const id = 'dev-udp';
    await provision(id, 'hmac');
    const client = await createClient({
      devInfo: { devId: id },
      accounts: [
        simpleAccount({
          serverUrl: srv.dm,
          name: id,
          secret: `s-${id}`,
          auth: 'hmac',
          serverSecret: `srv-${id}`,
        }),
      ],
    });
    const agent = new DmAgent({ client, intervalSeconds: 0, udp: { host: '127.0.0.1', port: 0 } });
    t.after(async () => {
      await agent.stop();
      await client.close();
    });
    const ends: SessionReport[] = [];
    // Stops polling when the test ends (timeout, failure), so a missing session cannot hang the file.
    const ended = (n: number) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (t.signal.aborted) return reject(new Error('test ended while waiting'));
          if (ends.length >= n) return resolve();
          setTimeout(check, 10);
        };
        check();
      });
    client.on('sessionEnd', (r) => ends.push(r));
    await agent.start();
    await ended(1);
    assert.equal(ends[0]?.initiator, 'client');
    assert.equal(ends[0]?.ok, true);
    const bearer = new UdpBearer();
    t.after(() => bearer.close());
    const pkg0 = buildPackage0({
      serverId: 'omadm',
      sessionId: 0xbeef,
      uiMode: UiMode.Informative,
      secret: `srv-${id}`,
      nonce: await nonceOf(client),
    });
    await bearer.send(`127.0.0.1:${agent.udpAddress?.port}`, pkg0);
    await ended(2);
    assert.equal(ends[1]?.initiator, 'server');
    assert.equal(ends[1]?.sessionId, 'BEEF');
    assert.equal(ends[1]?.ok, true);
  });
});
