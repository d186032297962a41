/**
 * Notification end to end, built from the layers (issue 7, protocol.md §5): the server side signs
 * Package 0 with the device's server credential and the nonce it holds (the fallback nonce before
 * the device ever issued one) and pushes it over UDP (WDP/WSP framing) with `UdpBearer`; the device
 * listens with `listenUdpPush`, verifies the trigger against the SRVCRED of the account in its own
 * standard tree (`receivePackage0`, with a `TriggerDeduplicator`), and opens the session: Alert
 * 1200 with the trigger's SessionID, against the server engine behind the HTTP binding. The server
 * must see exactly that SessionID, and the queued command must be answered.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { HttpTransport } from '../../src/binding/http/index.ts';
import { listenUdpPush, UdpBearer } from '../../src/binding/push/index.ts';
import { createClient, DmAgent, type NotificationInfo, simpleAccount } from '../../src/client/index.ts';
import { AAuthLevel, AAuthType } from '../../src/mo/index.ts';
import {
  buildPackage0,
  type ClientSessionResult,
  credentialDigest,
  decodeNonce,
  fallbackNonce,
  Initiator,
  type MemoryCommandSource,
  type MemoryCredentialSource,
  type Package0Decision,
  receivePackage0,
  TriggerDeduplicator,
  UiMode,
} from '../../src/protocol/index.ts';
import { AlertCode } from '../../src/representation/index.ts';
import { getCmd } from '../protocol/helpers.ts';
import { type Device, openDevice, package0AccountOf } from './device-harness.ts';
import { type RunningServer, startMemoryDmServer } from './http-harness.ts';

const SERVER_ID = 'omadm';
const DEV = 'IMEI:490154203237518';

let creds: MemoryCredentialSource;
let queue: MemoryCommandSource;
const transport = new HttpTransport({ retries: 0, timeoutMs: 10_000 });
const bearer = new UdpBearer();
let http: RunningServer;
let device: Device;
let listener: Awaited<ReturnType<typeof listenUdpPush>>;
let target: string;

/** What the device did with each datagram, in arrival order. */
const decisions: Package0Decision[] = [];
const sessions: Promise<ClientSessionResult>[] = [];
let waiters: (() => void)[] = [];
const dedup = new TriggerDeduplicator();
/** Sessions wait for this before they start (a test holds it to look at decisions first). */
let gate: Promise<void> = Promise.resolve();

/** The device's notification handler: verify against its DMAcc, dedupe, start the session. */
async function onPackage0(bytes: Uint8Array): Promise<void> {
  const d = await receivePackage0(bytes, package0AccountOf(device), dedup);
  if (d.action === 'start') {
    const notification = { sessionId: Number.parseInt(d.sessionId, 16) };
    sessions.push(gate.then(() => device.session(d.serverId, transport, notification)));
  }
  decisions.push(d);
  const w = waiters;
  waiters = [];
  for (const f of w) f();
}

/** Waits until `n` datagrams have been handled in total. */
async function handled(n: number): Promise<void> {
  while (decisions.length < n) await new Promise<void>((r) => waiters.push(r));
}

/**
 * The server side of a notification, as a DM server does it: Package 0 signed with the device's
 * SRVCRED digest and the nonce the device issued for the server (fallback nonce when none yet).
 */
async function package0(
  sessionId: number,
  options: { uiMode?: UiMode; serverId?: string; digest?: string; vendor?: Uint8Array; device?: string } = {},
): Promise<{ bytes: Uint8Array; resync: boolean }> {
  const c = await creds.lookup(options.device ?? DEV);
  assert.ok(c?.serverDigest);
  const nonce = c.serverNonce ? decodeNonce(c.serverNonce) : fallbackNonce();
  return {
    bytes: buildPackage0({
      serverId: options.serverId ?? c.serverName,
      sessionId,
      uiMode: options.uiMode ?? UiMode.Background,
      initiator: Initiator.Server,
      credentialDigest: options.digest ?? c.serverDigest,
      nonce,
      ...(options.vendor ? { vendor: options.vendor } : {}),
    }),
    resync: c.serverNonce === undefined,
  };
}

before(async () => {
  ({ creds, queue, http } = await startMemoryDmServer());
  creds.put({ deviceId: DEV, clientSecret: 'dev-secret', serverName: SERVER_ID, serverSecret: 'srv-secret' });
  // A provisioned device: its DMAcc for the server, nothing else (no nonces yet).
  device = await openDevice(DEV);
  await device.accounts.put({
    serverId: SERVER_ID,
    name: 'Operator',
    addresses: [{ addr: http.url, addrType: 'URI' }],
    auth: [
      { level: AAuthLevel.Client, type: AAuthType.Digest, name: DEV, secret: 'dev-secret' },
      { level: AAuthLevel.Server, type: AAuthType.Digest, name: SERVER_ID, secret: 'srv-secret' },
    ],
  });
  listener = await listenUdpPush({ host: '127.0.0.1', port: 0, onPackage0: (b) => void onPackage0(b) });
  target = `127.0.0.1:${listener.port}`;
});
after(async () => {
  await Promise.allSettled(sessions);
  await listener.close();
  await bearer.close();
  transport.close();
  await device.close();
  await http.close();
});

/** Sends over UDP and waits until the device handled it; returns the device's decision. */
async function push(bytes: Uint8Array): Promise<Package0Decision> {
  const n = decisions.length;
  const r = await bearer.send(target, bytes);
  assert.equal(r.accepted, true);
  await handled(n + 1);
  return decisions[n]!;
}

/** The session the last decision started; asserts what the server engine saw. */
async function sessionSeenByServer(sessionIdHex: string, commandId: string): Promise<void> {
  const before = queue.sessions.length;
  const r = await sessions.at(-1)!;
  assert.equal(r.outcome, 'completed');
  assert.equal(r.sessionId, sessionIdHex);
  assert.equal(r.serverAuthenticated, true);
  const seen = queue.sessions.slice(before - 1).at(-1)!;
  assert.deepEqual(seen.ref, {
    deviceId: DEV,
    sessionId: sessionIdHex,
    initiator: AlertCode.ServerInitiatedMgmt,
    // It ended with its command answered: nothing left for the queue to release.
    heldNothing: true,
  });
  assert.equal(seen.outcome, 'completed');
  const out = queue.records.get(commandId)?.outcome;
  assert.equal(out?.status, 200, JSON.stringify(out));
}

describe('server → UDP Package 0 → device → Alert 1200 session', () => {
  test('first trigger (fallback nonce), then one with the nonce the device issued: both start the named session', async () => {
    const get = queue.enqueue(DEV, getCmd('./DevDetail/SwV'));
    const first = await package0(0x1a2b);
    assert.equal(first.resync, true, 'no session yet: the server signs with the fallback nonce');
    const d1 = await push(first.bytes);
    assert.equal(d1.action, 'start', JSON.stringify(d1));
    assert.equal(d1.action === 'start' && d1.resync, true);
    assert.equal(d1.action === 'start' && d1.sessionId, '1A2B');
    await sessionSeenByServer('1A2B', get);
    assert.equal(queue.sessions.length, 1);

    // The session left the device and the server holding the same server nonce (SRVCRED AAuthData).
    const c = await creds.lookup(DEV);
    const sr = (await device.accounts.find(SERVER_ID))?.auth.find((a) => a.level === AAuthLevel.Server);
    assert.ok(c?.serverNonce);
    assert.deepEqual(new Uint8Array(sr?.data ?? []), decodeNonce(c.serverNonce));

    const acc = await device.accounts.find(SERVER_ID);
    const replace = queue.enqueue(DEV, {
      type: 'Replace',
      CmdID: '1',
      Item: [{ Target: { LocURI: `./DMAcc/${acc?.id}/Name` }, Data: { kind: 'text', text: 'Renamed' } }],
    });
    const second = await package0(0x00ff, { uiMode: UiMode.Informative });
    assert.equal(second.resync, false);
    const d2 = await push(second.bytes);
    assert.equal(d2.action === 'start' && d2.resync, false, 'verified with the stored nonce');
    assert.equal(d2.action === 'start' && d2.uiMode, UiMode.Informative);
    await sessionSeenByServer('FF', replace);
    assert.equal((await device.accounts.find(SERVER_ID))?.name, 'Renamed');
  });

  test('a repeated trigger starts one session', async () => {
    const get = queue.enqueue(DEV, getCmd('./DevInfo/DevId'));
    const { bytes } = await package0(0x4242);
    const before = queue.sessions.length;
    const started = sessions.length;
    const n = decisions.length;
    // Three copies (an SMSC retry, a PPG and an SMS for the same session…), all taken in before the
    // session starts.
    let open = () => {};
    gate = new Promise<void>((r) => {
      open = r;
    });
    await Promise.all([bearer.send(target, bytes), bearer.send(target, bytes), bearer.send(target, bytes)]);
    await handled(n + 3);
    open();
    const got = decisions.slice(n);
    assert.equal(got.filter((d) => d.action === 'start').length, 1, JSON.stringify(got));
    assert.equal(got.filter((d) => d.action === 'ignore' && d.reason === 'duplicate').length, 2);
    assert.equal(sessions.length, started + 1);
    await sessionSeenByServer('4242', get);
    assert.equal(queue.sessions.length, before + 1);
    // Replayed after the session: the session rotated the server nonce, so the old trigger no
    // longer even verifies (a replayed trigger is worthless to an attacker).
    const late = await push(bytes);
    assert.deepEqual(late, { action: 'ignore', reason: 'bad-digest', serverId: SERVER_ID });
    assert.equal(sessions.length, started + 1);
  });

  test('tampered triggers start nothing; a forged one does not suppress the real one', async () => {
    const started = sessions.length;
    const before = queue.sessions.length;
    const wrongSecret = await package0(0x5151, { digest: credentialDigest(SERVER_ID, 'guess') });
    assert.deepEqual(await push(wrongSecret.bytes), {
      action: 'ignore',
      reason: 'bad-digest',
      serverId: SERVER_ID,
    });
    const unknown = await package0(0x5151, { serverId: 'rogue-server' });
    assert.deepEqual(await push(unknown.bytes), {
      action: 'ignore',
      reason: 'unknown-server',
      serverId: 'rogue-server',
    });
    const real = await package0(0x5151, { uiMode: UiMode.Background });
    // Every bit after the digest is covered: session id, ui-mode, initiator, server id, vendor data.
    for (const at of [17, 21, 22, 24, real.bytes.length - 1]) {
      const flipped = new Uint8Array(real.bytes);
      flipped[at]! ^= 0x01;
      const d = await push(flipped);
      assert.equal(d.action, 'ignore', `byte ${at}`);
      assert.ok(d.action === 'ignore' && ['bad-digest', 'unknown-server', 'malformed'].includes(d.reason));
    }
    const digestFlipped = new Uint8Array(real.bytes);
    digestFlipped[3]! ^= 0x80;
    assert.equal((await push(digestFlipped)).action, 'ignore');
    const truncated = await push(real.bytes.subarray(0, 20));
    assert.equal(truncated.action === 'ignore' && truncated.reason, 'malformed');
    const withVendor = await package0(0x5151, { vendor: new Uint8Array([1, 2, 3]) });
    const stripped = withVendor.bytes.subarray(0, withVendor.bytes.length - 3);
    assert.equal((await push(stripped)).action, 'ignore', 'vendor data cut off');
    assert.equal(sessions.length, started, 'no session from a tampered trigger');
    assert.equal(queue.sessions.length, before);

    // The genuine trigger for the same SessionID still gets through.
    const get = queue.enqueue(DEV, getCmd('./DevDetail/SwV'));
    const d = await push(real.bytes);
    assert.equal(d.action, 'start');
    await sessionSeenByServer('5151', get);
  });

  test('raw framing (bare Package 0 in the datagram) is accepted as well', async () => {
    const raw = new UdpBearer({ framing: 'raw' });
    try {
      const get = queue.enqueue(DEV, getCmd('./DevInfo/Man'));
      const { bytes } = await package0(0x0007);
      const n = decisions.length;
      await raw.send(target, bytes);
      await handled(n + 1);
      assert.equal(decisions[n]?.action, 'start');
      await sessionSeenByServer('7', get);
    } finally {
      await raw.close();
    }
  });
});

describe('ui-mode reaches the application', () => {
  test('the agent (UDP) hands each ui-mode and the vendor data to onNotification; a declined one opens no session', async (t) => {
    const id = 'IMEI:490154203237519';
    creds.put({ deviceId: id, clientSecret: 'dev-2', serverName: SERVER_ID, serverSecret: 'srv-2' });
    const asked: NotificationInfo[] = [];
    const client = await createClient({
      devInfo: { devId: id },
      hostObject: false,
      accounts: [simpleAccount({ serverUrl: http.url, name: id, secret: 'dev-2', serverSecret: 'srv-2' })],
      // The application: asks the user for user-interaction, who says no here.
      onNotification: (n) => {
        asked.push(n);
        return n.uiMode !== UiMode.UserInteraction;
      },
    });
    const agent = new DmAgent({ client, intervalSeconds: 0, udp: { host: '127.0.0.1', port: 0 } });
    const ended: string[] = [];
    client.on('sessionEnd', (r) => ended.push(`${r.initiator}:${r.sessionId}:${r.outcome}`));
    const idle = () =>
      new Promise<void>((resolve) => {
        const poll = () => (client.busy ? setTimeout(poll, 5) : resolve());
        poll();
      });
    await agent.start(); // runs the first, client-initiated session
    t.after(async () => {
      await agent.stop();
      await client.close();
    });
    await idle();
    assert.equal(ended.length, 1);
    const to = `127.0.0.1:${agent.udpAddress?.port}`;
    const modes = [UiMode.NotSpecified, UiMode.Background, UiMode.Informative, UiMode.UserInteraction];
    for (const [i, uiMode] of modes.entries()) {
      const before = asked.length;
      const { bytes } = await package0(0x600 + i, { uiMode, device: id, vendor: new Uint8Array([i, 0xee]) });
      await bearer.send(to, bytes);
      while (asked.length === before) await new Promise((r) => setTimeout(r, 5));
      await idle();
    }
    assert.deepEqual(
      asked.map((n) => [n.uiMode, n.sessionId, [...n.vendor]]),
      modes.map((m, i) => [m, (0x600 + i).toString(16).toUpperCase(), [i, 0xee]]),
    );
    assert.deepEqual(ended.slice(1), [
      'server:600:completed',
      'server:601:completed',
      'server:602:completed',
    ]);
    const seen = queue.sessions.filter((s) => s.ref.deviceId === id).map((s) => s.ref.sessionId);
    assert.ok(!seen.includes('603'), 'the declined notification opened no session');
  });
});
