/**
 * Server-initiated sessions: queuing a command pushes Package 0 over UDP to the device's
 * notification address; the package is signed with the device's server credential (fallback nonce
 * first, the device-issued nonce once there is one), and the device opens the session it names.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { listenUdpPush, UdpBearer } from '../../src/binding/push/index.ts';
import { credentialDigest, decodeNonce } from '../../src/protocol/auth/index.ts';
import { parsePackage0, verifyPackage0WithFallback } from '../../src/protocol/notification/index.ts';
import type { Store } from '../../src/server/store/index.ts';
import { DeviceSim } from './device-sim.ts';
import { api, type Backend, freshBackend, type Running, startServer } from './helpers.ts';

const enc = encodeURIComponent;

describe('Package 0 notifications', () => {
  let backend: Backend;
  let store: Store;
  let srv: Running;
  let listener: Awaited<ReturnType<typeof listenUdpPush>>;
  const received: Uint8Array[] = [];
  let waiters: (() => void)[] = [];
  const A = (method: string, path: string, body?: unknown) => api(srv.url, srv.admin, method, path, body);
  /** The next Package 0 that reaches the device's UDP port. */
  const nextPackage0 = async (): Promise<Uint8Array> => {
    while (received.length === 0) await new Promise<void>((r) => waiters.push(r));
    return received.shift() as Uint8Array;
  };

  before(async () => {
    listener = await listenUdpPush({
      host: '127.0.0.1',
      port: 0,
      onPackage0: (p) => {
        received.push(p);
        const w = waiters;
        waiters = [];
        for (const f of w) f();
      },
    });
    backend = await freshBackend('sqlite');
    store = await backend.open();
    srv = await startServer(store, {
      notify: { bearers: [new UdpBearer()], policy: { recentlySeenMs: 0, sweepIntervalMs: 50 } },
    });
  });
  after(async () => {
    await srv?.close();
    await store?.close();
    await backend?.cleanup();
    await listener?.close();
  });

  test('notify now, then a command queued notifies; the device opens the session it was asked to', async () => {
    const id = 'IMEI:push-1';
    const created = await A('POST', '/devices', {
      id,
      secret: 'dev',
      serverSecret: 'srv-secret',
      notify: { bearer: 'udp', target: `127.0.0.1:${listener.port}` },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.deepEqual(created.body.notify, { bearer: 'udp', target: `127.0.0.1:${listener.port}` });

    const r = await A('POST', `/devices/${enc(id)}/notify`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.bearer, 'udp');
    assert.equal(r.body.accepted, true);
    const first = parsePackage0(await nextPackage0());
    assert.equal(first.serverId, 'omadm');
    assert.equal(first.sessionId.toString(16).toUpperCase(), r.body.sessionId);
    // Never had a session: signed with the fallback nonce.
    const v1 = verifyPackage0WithFallback(first, credentialDigest('omadm', 'srv-secret'), undefined);
    assert.equal(v1.ok, true);
    assert.equal(verifyPackage0WithFallback(first, credentialDigest('omadm', 'wrong'), undefined).ok, false);

    // The device answers the notification: a server-initiated session with that SessionID.
    const sim = new DeviceSim({
      deviceId: id,
      secret: 'dev',
      serverSecret: 'srv-secret',
      tree: { './A': '1' },
    });
    const s1 = await sim.session(`${srv.url}/dm`, undefined, undefined, { sessionId: first.sessionId });
    assert.equal(s1.result?.outcome, 'completed');
    assert.equal(s1.result?.sessionId, r.body.sessionId);

    // Queuing a command pushes Package 0 by itself, signed with the nonce the device issued for the
    // server when it did (SRVCRED AAuthData), else again with the fallback nonce.
    const c = await A('POST', `/devices/${enc(id)}/commands`, { type: 'Replace', uri: './A', value: '2' });
    assert.equal(c.status, 201);
    const second = parsePackage0(await nextPackage0());
    const stored = (await store.devices.credentials(id))?.serverNonce;
    const v2 = verifyPackage0WithFallback(
      second,
      credentialDigest('omadm', 'srv-secret'),
      stored ? decodeNonce(stored) : undefined,
    );
    assert.equal(v2.ok, true);
    if (stored && v2.ok) assert.equal(v2.fallback, false);
    const s2 = await sim.session(`${srv.url}/dm`, undefined, undefined, { sessionId: second.sessionId });
    assert.equal(s2.result?.outcome, 'completed');
    assert.equal(sim.tree.get('./A')?.value, '2');
    assert.equal((await A('GET', `/commands/${c.body.id}?wait=5`)).body.state, 'succeeded');

    const audit = await A('GET', `/audit?action=device.notify`);
    assert.ok(audit.body.items.length >= 2);
    assert.equal(audit.body.items[0].target, id);
  });

  test('422 when the device has no address, no server secret, or the server lacks the bearer', async () => {
    await A('POST', '/devices', { id: 'IMEI:no-addr', secret: 'x', serverSecret: 'y' });
    const noAddr = await A('POST', `/devices/${enc('IMEI:no-addr')}/notify`);
    assert.equal(noAddr.status, 422);
    assert.match(noAddr.body.error.message, /no notification address/);

    await A('POST', '/devices', {
      id: 'IMEI:no-srv',
      secret: 'x',
      notify: { bearer: 'udp', target: '127.0.0.1:9' },
    });
    const noSecret = await A('POST', `/devices/${enc('IMEI:no-srv')}/notify`);
    assert.equal(noSecret.status, 422);
    assert.match(noSecret.body.error.message, /no server secret/);

    const patched = await A('PATCH', `/devices/${enc('IMEI:no-addr')}`, {
      notify: { bearer: 'sms-smpp', target: '+4915112345678' },
    });
    assert.equal(patched.status, 200);
    const noBearer = await A('POST', `/devices/${enc('IMEI:no-addr')}/notify`);
    assert.equal(noBearer.status, 422);
    assert.match(noBearer.body.error.message, /no sms-smpp bearer \(configured: udp\)/);
    // Queuing still works when the notification cannot be sent.
    assert.equal(
      (await A('POST', `/devices/${enc('IMEI:no-addr')}/commands`, { type: 'Get', uri: '.' })).status,
      201,
    );

    const cleared = await A('PATCH', `/devices/${enc('IMEI:no-addr')}`, { notify: null });
    assert.equal(cleared.body.notify, null);
    assert.equal((await A('POST', `/devices/${enc('IMEI:nobody')}/notify`)).status, 404);
  });
});
