/**
 * The HTTP notification channel, end to end on loopback: a device behind NAT keeps
 * `GET /dm/channel` open; the server's http-channel bearer answers it with Package 0; the agent
 * hands it to `client.notify` → a server-initiated session with the announced SessionID.
 * Also the channel's authentication (wrong MAC, stale or replayed header, unknown device → 401),
 * a trigger kept for the next poll, and a prompt close.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, type TestContext, test } from 'node:test';
import fc from 'fast-check';
import {
  buildChannelHeader,
  CHANNEL_HEADER,
  NOTIFICATION_MEDIA_TYPE,
  parseChannelHeader,
  verifyChannelMac,
} from '../../src/binding/push/index.ts';
import {
  createClient,
  DmAgent,
  HttpNotificationChannel,
  type SessionReport,
  simpleAccount,
} from '../../src/client/index.ts';
import { credentialDigest, parsePackage0, sessionIdHex } from '../../src/protocol/index.ts';
import { createServer, HttpChannelBearer, type OmadmServer } from '../../src/server/index.ts';
import { openStore, type Store } from '../../src/server/store/index.ts';
import { api as apiAt } from './helpers.ts';

let dir: string;
let store: Store;
let server: OmadmServer;
let bearer: HttpChannelBearer;
let url: string;
const token = `admin-${randomBytes(12).toString('hex')}`;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'omadm-http-channel-'));
  store = await openStore(`sqlite:${join(dir, 'omadm.db')}`, { secretKey: new Uint8Array(randomBytes(32)) });
  // As a process that has run for a while: the restart limit (`notBefore`) is tested on its own.
  bearer = new HttpChannelBearer({ startedAt: Date.now() - 3_600_000 });
  server = await createServer({
    store,
    logger: false,
    sweepIntervalMs: 0,
    // No minimum interval: the queued command's notification follows the operator's at once.
    notify: { bearers: [bearer], policy: { minIntervalMs: 0 } },
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

const until = (t: TestContext, check: () => boolean) =>
  new Promise<void>((resolve, reject) => {
    const poll = () => {
      if (t.signal.aborted) return reject(new Error('test ended while waiting'));
      if (check()) return resolve();
      setTimeout(poll, 5);
    };
    poll();
  });

async function device(id: string): Promise<void> {
  const created = await api('POST', '/devices', { id, secret: 's', authType: 'md5', serverSecret: 'srv' });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const patched = await api('PATCH', `/devices/${id}`, { notify: { bearer: 'http-channel', target: id } });
  assert.equal(patched.status, 200, JSON.stringify(patched.body));
}

/** One raw poll; `wait` 0 answers at once when nothing is queued. */
async function poll(header: string | undefined, wait = 0) {
  const res = await fetch(`${url}/dm/channel?wait=${wait}`, {
    headers: header === undefined ? {} : { [CHANNEL_HEADER]: header },
  });
  return {
    status: res.status,
    type: res.headers.get('content-type'),
    body: new Uint8Array(await res.arrayBuffer()),
  };
}

test('a queued command reaches an agent behind NAT over the HTTP channel', { timeout: 60_000 }, async (t) => {
  const id = 'chan-agent-1';
  await device(id);
  const client = await createClient({
    devInfo: { devId: id },
    accounts: [
      simpleAccount({ serverUrl: `${url}/dm`, name: id, secret: 's', auth: 'md5', serverSecret: 'srv' }),
    ],
  });
  const agent = new DmAgent({ client, intervalSeconds: 0, channel: {} });
  t.after(async () => {
    await agent.stop();
    await client.close();
  });
  const reports: SessionReport[] = [];
  client.on('sessionEnd', (r) => reports.push(r));
  await agent.start();
  await until(t, () => reports.length === 1 && bearer.connected === 1);
  assert.equal(reports[0]?.initiator, 'client');
  assert.equal(reports[0]?.ok, true);

  // Idle (no interval, no UDP): only the channel can bring it back.
  const pushed = await api('POST', `/devices/${id}/notify`);
  assert.equal(pushed.status, 200, JSON.stringify(pushed.body));
  assert.equal(pushed.body.bearer, 'http-channel');
  assert.equal(pushed.body.status, 'delivered', 'a poll was open: handed over at once');
  await until(t, () => reports.length === 2);
  assert.equal(reports[1]?.initiator, 'server');
  assert.equal(reports[1]?.sessionId, pushed.body.sessionId, 'the SessionID the server announced');
  assert.equal(reports[1]?.ok, true, JSON.stringify(reports[1]));

  // Queuing a command notifies by itself, through the channel the agent re-opened.
  await until(t, () => bearer.connected === 1);
  const cmd = await api('POST', `/devices/${id}/commands`, { type: 'Get', uri: './DevInfo/DevId' });
  assert.equal(cmd.status, 201, JSON.stringify(cmd.body));
  const done = await api('GET', `/commands/${cmd.body.id}?wait=20`);
  assert.equal(done.body.state, 'succeeded', JSON.stringify(done.body));
  assert.equal(done.body.results[0].value, id);
  assert.equal(reports.at(-1)?.initiator, 'server');

  // stop() ends the held poll at once; the server sees the connection go.
  await agent.stop();
  await until(t, () => bearer.connected === 0);
});

test('the channel refuses wrong, stale, replayed and unknown credentials with 401', async () => {
  const id = 'chan-auth-1';
  await device(id);
  const digest = credentialDigest(id, 's');

  const ok = buildChannelHeader(id, digest);
  assert.equal((await poll(ok)).status, 204, 'valid header, nothing queued');
  assert.equal((await poll(ok)).status, 401, 'the same nonce again is a replay');
  const unpadded = ok.replace(/nonce=([^,]*?)=*,/, 'nonce=$1,');
  assert.notEqual(unpadded, ok);
  assert.equal((await poll(unpadded)).status, 401, 'the same nonce bytes in other base64 text');

  assert.equal((await poll(undefined)).status, 401, 'no header');
  assert.equal((await poll('device=x')).status, 401, 'malformed header');
  assert.equal((await poll(buildChannelHeader(id, credentialDigest(id, 'wrong')))).status, 401, 'wrong MAC');
  const stale = buildChannelHeader(id, digest, Date.now() - 10 * 60_000);
  assert.equal((await poll(stale)).status, 401, 'timestamp 10 min old');
  const future = buildChannelHeader(id, digest, Date.now() + 10 * 60_000);
  assert.equal((await poll(future)).status, 401, 'timestamp 10 min ahead');
  const unknown = await poll(buildChannelHeader('no-such-device', credentialDigest('no-such-device', 's')));
  assert.equal(unknown.status, 401, 'unknown device: same answer, no enumeration');

  // A header with another device's name but this device's MAC does not pass either.
  const parsed = parseChannelHeader(buildChannelHeader(id, digest));
  assert.ok(parsed);
  const swapped = `device="chan-agent-1", ts=${parsed.ts}, nonce=${parsed.nonce}, mac=${parsed.mac}`;
  assert.equal((await poll(swapped)).status, 401);
});

test('a trigger sent while no channel is open is delivered on the next poll', async () => {
  const id = 'chan-queue-1';
  await device(id);
  const digest = credentialDigest(id, 's');
  const pushed = await api('POST', `/devices/${id}/notify`);
  assert.equal(pushed.status, 200, JSON.stringify(pushed.body));
  assert.equal(pushed.body.status, 'queued');
  assert.equal(pushed.body.accepted, true);

  const got = await poll(buildChannelHeader(id, digest));
  assert.equal(got.status, 200);
  assert.equal(got.type, NOTIFICATION_MEDIA_TYPE);
  const p0 = parsePackage0(got.body);
  assert.equal(sessionIdHex(p0.sessionId), pushed.body.sessionId, 'the trigger the server announced');
  // Handed over once: the next poll finds nothing.
  assert.equal((await poll(buildChannelHeader(id, digest))).status, 204);
});

test('bearer: a stale trigger is dropped, a newer poll replaces the older, close answers polls', async () => {
  let now = 1_000_000;
  const b = new HttpChannelBearer({ queueTtlMs: 60_000, now: () => now });
  const first = await b.send('dev', Uint8Array.of(1));
  assert.equal(first.status, 'queued');
  now += 60_001;
  assert.equal(await b.wait('dev', 0), undefined, 'kept 60 s, not longer');

  await b.send('dev', Uint8Array.of(1));
  await b.send('dev', Uint8Array.of(2));
  assert.deepEqual(await b.wait('dev', 0), Uint8Array.of(2), 'the newest trigger supersedes older ones');

  const older = b.wait('dev', 30);
  const newer = b.wait('dev', 30);
  assert.equal(await older, undefined, 'replaced by the newer poll');
  assert.equal(b.connected, 1);
  const sent = await b.send('dev', Uint8Array.of(3));
  assert.equal(sent.status, 'delivered');
  assert.deepEqual(await newer, Uint8Array.of(3));

  const open = b.wait('dev', 30);
  await b.close();
  assert.equal(await open, undefined);
  await assert.rejects(b.send('dev', Uint8Array.of(4)), { code: 'PUSH_CLOSED' });
});

test('server.close() answers an open poll instead of waiting for it', async (t) => {
  const b = new HttpChannelBearer({ startedAt: Date.now() - 3_600_000 });
  const s = await createServer({ store, logger: false, sweepIntervalMs: 0, notify: { bearers: [b] } });
  const { url: u } = await s.listen({ host: '127.0.0.1', port: 0 });
  const id = 'chan-auth-1';
  const res = fetch(`${u}/dm/channel?wait=50`, {
    headers: { [CHANNEL_HEADER]: buildChannelHeader(id, credentialDigest(id, 's')) },
  });
  await until(t, () => b.connected === 1);
  await s.close();
  assert.equal((await res).status, 204);
  assert.equal(b.connected, 0);
});

test('header: any DevId round-trips; hostile values parse to undefined, never throw', () => {
  fc.assert(
    fc.property(fc.string({ minLength: 1, maxLength: 80 }), fc.integer({ min: 0, max: 4e12 }), (id, now) => {
      const digest = credentialDigest(id, 's');
      const parsed = parseChannelHeader(buildChannelHeader(id, digest, now));
      assert.ok(parsed);
      assert.equal(parsed.device, id);
      assert.equal(parsed.ts, Math.floor(now / 1000));
      assert.ok(verifyChannelMac(parsed, digest));
      assert.ok(!verifyChannelMac(parsed, credentialDigest(id, 't')));
    }),
  );
  fc.assert(
    fc.property(fc.string({ maxLength: 300 }), (text) => {
      const parsed = parseChannelHeader(text);
      if (parsed) assert.equal(verifyChannelMac(parsed, credentialDigest('x', 's')), false);
    }),
  );
  assert.equal(
    parseChannelHeader(`device="a", ts=1, nonce=AAAAAAAAAAA=, mac=x, ts=2`),
    undefined,
    'repeated',
  );
  assert.equal(parseChannelHeader(`device="a", ts=-1, nonce=AAAAAAAAAAA=, mac=x`), undefined);
  assert.equal(parseChannelHeader('x'.repeat(5000)), undefined);
});

test('client channel: refused credentials back off and retry; close() returns during the wait', async (t) => {
  const id = 'chan-client-1';
  await device(id);
  let asked = 0;
  const got: Uint8Array[] = [];
  const channel = new HttpNotificationChannel({
    identity: async () => {
      asked++;
      // First a wrong secret (401), then the right one.
      return {
        url: `${url}/dm/channel`,
        deviceId: id,
        digest: credentialDigest(id, asked === 1 ? 'bad' : 's'),
      };
    },
    onPackage0: (bytes) => got.push(bytes),
    waitSeconds: 30,
    minBackoffMs: 1,
    maxBackoffMs: 1,
  });
  t.after(() => channel.close());
  channel.start();
  await until(t, () => asked >= 2 && bearer.connected === 1);
  const sent = await bearer.send(id, Uint8Array.of(9, 9));
  assert.equal(sent.status, 'delivered');
  await until(t, () => got.length === 1);
  assert.deepEqual(got[0], Uint8Array.of(9, 9));
  assert.equal(channel.received, 1);
  await until(t, () => bearer.connected === 1);
  await channel.close();
  await until(t, () => bearer.connected === 0);

  // Nobody listening: the loop backs off (long) and close() still returns at once.
  let retries = 0;
  const quiet = () => {};
  const dead = new HttpNotificationChannel({
    identity: async () => ({ url: 'http://127.0.0.1:1/dm/channel', deviceId: id, digest: 'x' }),
    onPackage0: () => {},
    minBackoffMs: 3_600_000,
    logger: { info: quiet, debug: quiet, error: quiet, warn: () => void retries++ },
  });
  dead.start();
  await until(t, () => retries === 1); // now sleeping an hour before the next try
  await dead.close();
});

test('a header the server accepted before a restart is refused after it; the device reconnects at once', {
  timeout: 30_000,
}, async (t) => {
  const id = 'chan-restart-1';
  await device(id);
  const digest = credentialDigest(id, 's');
  // A server process that has run for a while accepts a poll; the attacker keeps its header.
  const before = new HttpChannelBearer({ startedAt: Date.now() - 3_600_000 });
  const s1 = await createServer({ store, logger: false, sweepIntervalMs: 0, notify: { bearers: [before] } });
  const { url: u1 } = await s1.listen({ host: '127.0.0.1', port: 0 });
  const captured = buildChannelHeader(id, digest);
  const get = (u: string, header: string) =>
    fetch(`${u}/dm/channel?wait=0`, { headers: { [CHANNEL_HEADER]: header } });
  assert.equal((await get(u1, captured)).status, 204);
  assert.equal((await get(u1, captured)).status, 401, 'a replay to the same process');
  await s1.close();

  // The restarted process does not know that nonce: the window alone must refuse the header.
  const after = new HttpChannelBearer();
  const s2 = await createServer({ store, logger: false, sweepIntervalMs: 0, notify: { bearers: [after] } });
  t.after(() => s2.close());
  const { url: u2 } = await s2.listen({ host: '127.0.0.1', port: 0 });
  const replay = await get(u2, captured);
  assert.equal(replay.status, 401, 'the replay after the restart');
  assert.equal(replay.headers.get('x-omadm-channel-not-before'), String(after.notBefore));
  // A header as old as the start, forged forward by nobody: fresh ones before notBefore are
  // refused too, whatever their nonce.
  assert.equal((await get(u2, buildChannelHeader(id, digest))).status, 401);

  // The device follows the hint at once (its back-off alone would wait a minute).
  const channel = new HttpNotificationChannel({
    identity: async () => ({ url: `${u2}/dm/channel`, deviceId: id, digest }),
    onPackage0: () => {},
    minBackoffMs: 60_000,
    maxBackoffMs: 60_000,
    waitSeconds: 20,
  });
  t.after(() => channel.close());
  channel.start();
  await until(t, () => after.connected === 1);
});
