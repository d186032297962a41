/**
 * Issue 22, items 3 and 4, written as the attacks: a captured Package 0 replayed after its
 * session ran (after a device restart, too), and a trigger signed with the re-sync (fallback)
 * nonce sent to a device that holds a fresh nonce. Real server over HTTP on loopback; the
 * trigger is what the server's notify would build from its stored credentials.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createClient, type DmClient, simpleAccount } from '../../src/client/index.ts';
import { decodeNonce, fallbackNonce } from '../../src/protocol/auth/index.ts';
import { buildPackage0 } from '../../src/protocol/index.ts';
import { startTestServer, type TestServer } from './helpers.ts';

let srv: TestServer;
let dir: string;
before(async () => {
  srv = await startTestServer();
  dir = mkdtempSync(join(tmpdir(), 'omadm-replay-'));
});
after(async () => {
  await srv.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Basic: no nonces at all, on either side. */
async function provision(id: string, serverAuth: 'md5' | 'basic'): Promise<void> {
  const r = await srv.api('POST', '/devices', {
    id,
    secret: `s-${id}`,
    authType: serverAuth,
    serverSecret: `srv-${id}`,
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
}

function open(id: string, serverAuth: 'md5' | 'basic'): Promise<DmClient> {
  return createClient({
    dataDir: join(dir, id),
    devInfo: { devId: id },
    accounts: [
      simpleAccount({
        serverUrl: srv.dm,
        name: id,
        secret: `s-${id}`,
        auth: serverAuth,
        serverSecret: `srv-${id}`,
      }),
    ],
    hostObject: false,
  });
}

/** The trigger the server would send now: its stored SRVCRED digest and device-issued nonce. */
async function serverTrigger(id: string, sessionId: number): Promise<Uint8Array> {
  const c = await srv.store.devices.credentials(id);
  assert.ok(c?.serverDigest && c.serverAuthName);
  return buildPackage0({
    serverId: c.serverAuthName,
    sessionId,
    credentialDigest: c.serverDigest,
    nonce: c.serverNonce ? decodeNonce(c.serverNonce) : fallbackNonce(),
  });
}

describe('a trigger does not outlive its session', () => {
  test('a session a trigger started rotates the server nonce, even without commands: the trigger replayed after a restart starts nothing', async () => {
    const id = 'replay-md5';
    await provision(id, 'md5');
    let client = await open(id, 'md5');
    try {
      assert.equal((await client.session()).ok, true);
      // The first trigger: no nonce issued yet (heartbeats do not rotate), so the re-sync nonce.
      const first = await client.notify(await serverTrigger(id, 0x50));
      assert.equal(first.action === 'session' && first.report.ok, true, JSON.stringify(first));
      const before = (await srv.store.devices.credentials(id))?.serverNonce;
      assert.ok(before, 'the triggered session gave the server a nonce');
      const trigger = await serverTrigger(id, 0x51);
      const second = await client.notify(trigger);
      assert.equal(second.action === 'session' && second.report.ok, true, JSON.stringify(second));
      assert.equal(second.action === 'session' && second.report.commands, 0, 'a session without commands');
      const afterNonce = (await srv.store.devices.credentials(id))?.serverNonce;
      assert.notEqual(afterNonce, before, 'the server holds a new nonce after a session without commands');
      // At once: a duplicate (or stale nonce); after a restart, too.
      assert.equal((await client.notify(trigger)).action, 'ignored');
      await client.close();
      client = await open(id, 'md5');
      const again = await client.notify(trigger);
      assert.equal(again.action, 'ignored', JSON.stringify(again));
      // The next genuine trigger still works.
      const next = await client.notify(await serverTrigger(id, 0x52));
      assert.equal(next.action === 'session' && next.report.ok, true, JSON.stringify(next));
    } finally {
      await client.close();
    }
  });

  test('without a nonce to rotate (basic auth), seen triggers survive a restart', async () => {
    const id = 'replay-basic';
    await provision(id, 'basic');
    let client = await open(id, 'basic');
    try {
      const trigger = await serverTrigger(id, 0x61);
      const first = await client.notify(trigger);
      assert.equal(first.action === 'session' && first.report.ok, true, JSON.stringify(first));
      await client.close();
      client = await open(id, 'basic');
      assert.deepEqual(await client.notify(trigger), {
        action: 'ignored',
        reason: 'duplicate',
        detail: 'omadm',
      });
    } finally {
      await client.close();
    }
  });
});

describe('the re-sync nonce', () => {
  test('a trigger signed with the fallback nonce is refused while the device holds a nonce, before and after a restart', async () => {
    const id = 'resync-md5';
    await provision(id, 'md5');
    let client = await open(id, 'md5');
    try {
      assert.equal((await client.session()).ok, true);
      // A triggered session leaves the device with a stored nonce.
      const first = await client.notify(await serverTrigger(id, 0x70));
      assert.equal(first.action === 'session' && first.report.ok, true, JSON.stringify(first));
      const c = await srv.store.devices.credentials(id);
      assert.ok(c?.serverNonce);
      const forgedResync = buildPackage0({
        serverId: 'omadm',
        sessionId: 0x71,
        credentialDigest: c!.serverDigest!,
        nonce: fallbackNonce(),
      });
      assert.deepEqual(await client.notify(forgedResync), {
        action: 'ignored',
        reason: 'bad-digest',
        detail: 'omadm',
      });
      await client.close();
      client = await open(id, 'md5');
      assert.equal((await client.notify(forgedResync)).action, 'ignored');
    } finally {
      await client.close();
    }
  });

  test('right after the server failed to authenticate with the stored nonce, one re-sync trigger is accepted', async () => {
    const id = 'resync-armed';
    await provision(id, 'md5');
    const client = await open(id, 'md5');
    try {
      assert.equal((await client.session()).ok, true);
      // The server loses the device's nonce (e.g. a restored database): its credential fails.
      await srv.store.devices.putNonces(id, { serverNonce: 'AAAAAAAAAAAAAAAAAAAAAA==' });
      const failed = await client.session();
      assert.equal(failed.outcome, 'serverAuthFailed', JSON.stringify(failed));
      const resync = buildPackage0({
        serverId: 'omadm',
        sessionId: 0x81,
        credentialDigest: (await srv.store.devices.credentials(id))!.serverDigest!,
        nonce: fallbackNonce(),
      });
      const got = await client.notify(resync);
      assert.equal(got.action, 'session', JSON.stringify(got));
      // Used once: the same kind of trigger is not accepted again.
      const replay = buildPackage0({
        serverId: 'omadm',
        sessionId: 0x82,
        credentialDigest: (await srv.store.devices.credentials(id))!.serverDigest!,
        nonce: fallbackNonce(),
      });
      assert.equal((await client.notify(replay)).action, 'ignored');
    } finally {
      await client.close();
    }
  });
});
