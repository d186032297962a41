/**
 * The notification policy over real UDP on 127.0.0.1, on SQLite and PostgreSQL: many queued
 * commands → one Package 0; a device in a session → none now (deferred); an unanswered
 * notification is retried with the same SessionID, then given up; the server-wide rate limit
 * defers; two Notifiers (two "processes") on one database send once; every attempt is recorded,
 * bearer failures included, and operator-triggered ones are audited.
 */
import assert from 'node:assert/strict';
import { after, before, describe, type TestContext, test } from 'node:test';
import {
  listenUdpPush,
  type NotificationBearer,
  PushError,
  PushErrorCode,
  UdpBearer,
} from '../../src/binding/push/index.ts';
import { parsePackage0, UiMode } from '../../src/protocol/notification/index.ts';
import { Notifier, type NotifyPolicy } from '../../src/server/notify.ts';
import type { Store } from '../../src/server/store/index.ts';
import { withNotifyAddress } from '../../src/server/notify.ts';
import { api, type Backend, backends, freshBackend, type Running, startServer } from './helpers.ts';

const enc = encodeURIComponent;

/** A UDP listener that hands out Package 0s as they arrive. */
async function udpDevice() {
  const received: Uint8Array[] = [];
  let waiters: (() => void)[] = [];
  const listener = await listenUdpPush({
    host: '127.0.0.1',
    port: 0,
    onPackage0: (p) => {
      received.push(p);
      const w = waiters;
      waiters = [];
      for (const f of w) f();
    },
  });
  return {
    target: `127.0.0.1:${listener.port}`,
    received,
    async next(): Promise<ReturnType<typeof parsePackage0>> {
      while (received.length === 0) await new Promise<void>((r) => waiters.push(r));
      return parsePackage0(received.shift() as Uint8Array);
    },
    close: () => listener.close(),
  };
}

/** A bearer whose next hop is unreachable. */
const failing: NotificationBearer = {
  name: 'flaky',
  async send() {
    throw new PushError(PushErrorCode.Timeout, 'no answer from the SMSC within 10 s');
  },
  async close() {},
};

async function addDevice(store: Store, id: string, address: { bearer: string; target: string }) {
  await store.devices.create({
    id,
    clientSecret: 'dev',
    serverAuthName: 'omadm',
    serverSecret: `srv-${id}`,
    attributes: withNotifyAddress({}, address),
  });
}

/** Audit entries of one action on one target, newest first. */
// biome-ignore lint/suspicious/noExplicitAny: tests inspect JSON answers freely.
async function auditOf(srv: Running, action: string, target: string): Promise<any[]> {
  const r = await api(srv.url, srv.admin, 'GET', `/audit?action=${action}&limit=500`);
  // biome-ignore lint/suspicious/noExplicitAny: see above.
  return r.body.items.filter((e: any) => e.target === target);
}

/** Polls until `check` returns a value (the enqueue path notifies in the background). */
async function eventually<T>(check: () => Promise<T | undefined | null | false>): Promise<T> {
  for (;;) {
    const v = await check();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 10));
  }
}

for (const { name, skip } of await backends()) {
  describe(`notification policy (${name})`, { skip }, () => {
    let backend: Backend;
    let store: Store;
    const open: { close(): Promise<void> }[] = [];

    before(async () => {
      backend = await freshBackend(name);
      store = await backend.open();
    });
    after(async () => {
      for (const o of open.reverse()) await o.close();
      await store?.close();
      await backend?.cleanup();
    });

    /** A server for one test (closed when it ends: its sweep would apply its policy to the next test's devices). */
    const server = async (t: TestContext, policy: NotifyPolicy): Promise<Running> => {
      const s = await startServer(store, {
        notify: { bearers: [new UdpBearer(), failing], policy: { sweepIntervalMs: 20, ...policy } },
      });
      t.after(() => s.close());
      return s;
    };

    test('many queued commands → one notification, recorded and audited; explicit notify keeps its SessionID and ui-mode per request', async (t) => {
      const device = await udpDevice();
      t.after(() => device.close());
      const srv = await server(t, { retryDelaysMs: [600_000] });
      const A = (m: string, p: string, b?: unknown) => api(srv.url, srv.admin, m, p, b);
      const id = 'IMEI:coalesce';
      await addDevice(store, id, { bearer: 'udp', target: device.target });
      const queued = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          A('POST', `/devices/${enc(id)}/commands`, { type: 'Get', uri: `./N${i}` }),
        ),
      );
      for (const q of queued) assert.equal(q.status, 201);
      const first = await device.next();
      const list = await eventually(async () => {
        const r = await A('GET', `/devices/${enc(id)}/notifications`);
        return r.body.items.length > 0 && r.body;
      });
      // Each enqueue's policy call has finished once the later ones see the outstanding state; wait
      // for the audit of all 8 enqueues, then count.
      await eventually(async () => (await auditOf(srv, 'command.create', id)).length === 8);
      const again = await A('GET', `/devices/${enc(id)}/notifications`);
      assert.equal(again.body.items.length, 1, JSON.stringify(again.body));
      const a = again.body.items[0];
      assert.equal(a.trigger, 'enqueue');
      assert.equal(a.result, 'accepted');
      assert.equal(a.attempt, 1);
      assert.equal(a.bearer, 'udp');
      assert.equal(a.target, device.target);
      assert.equal(a.sessionId, first.sessionId.toString(16).toUpperCase());
      assert.equal(list.state.outstanding, true);
      assert.equal(device.received.length, 0);

      // An operator's explicit notify sends now, with the same SessionID, in the ui-mode asked for.
      const n = await A('POST', `/devices/${enc(id)}/notify`, { uiMode: 'interactive' });
      assert.equal(n.status, 200, JSON.stringify(n.body));
      assert.equal(n.body.sessionId, a.sessionId);
      const second = await device.next();
      assert.equal(second.sessionId, first.sessionId);
      assert.equal(second.uiMode, 'user-interaction');
      const after2 = await A('GET', `/devices/${enc(id)}/notifications`);
      assert.equal(after2.body.items.length, 2);
      assert.equal(after2.body.items[0].trigger, 'request');
      assert.equal(after2.body.items[0].uiMode, 'user-interaction');
      const audit = { body: { items: await auditOf(srv, 'device.notify', id) } };
      assert.equal(audit.body.items.length, 2);
      assert.equal(audit.body.items[0].details.trigger, 'request');
      assert.equal(audit.body.items[1].details.trigger, 'enqueue');
      // Both attempts are counted by bearer and result.
      const metrics = await api(srv.url, undefined, 'GET', '/metrics');
      assert.match(String(metrics.body), /omadm_notifications_total\{bearer="udp",result="accepted"\} 2/);
      assert.equal((await A('POST', `/devices/${enc(id)}/notify`, { uiMode: 'loud' })).status, 400);
      assert.equal((await A('GET', `/devices/${enc('IMEI:none')}/notifications`)).status, 404);
    });

    test('a device in a session is not notified: deferred until it is idle, then dropped when its commands were delivered', async (t) => {
      const device = await udpDevice();
      t.after(() => device.close());
      const n = new Notifier(store, { bearers: [new UdpBearer()], policy: { recentlySeenMs: 1000 } });
      open.push(n);
      const id = 'IMEI:busy';
      await addDevice(store, id, { bearer: 'udp', target: device.target });
      const now = Date.now();
      await store.devices.recordSessionStart(id, { sessionId: 'S1', at: now, onlineUntil: now + 60_000 });
      await store.queue.enqueue(id, { kind: 'Get', target: './A' });
      const d = await n.requestNotification(id, { actor: 'op' });
      assert.equal(d.action, 'deferred');
      assert.equal(d.action === 'deferred' && d.reason, 'in-session');
      // While the session lasts, due checks only push the time on.
      const state = await store.notifications.get(id);
      assert.ok(state?.nextAt);
      assert.equal(await n.runDue(state.nextAt + 1), 0);
      // The session took the command and ended: nothing left, so nothing is sent.
      const [c] = await store.queue.claim(id, 'S1', { limit: 10, leaseUntil: Date.now() + 60_000 });
      assert.ok(c);
      await store.devices.noteSessionEnd(id, 'S1', Date.now());
      await store.notifications.defer(id, state.sessionId, 0);
      assert.equal(await n.runDue(Date.now() + 5000), 0);
      assert.equal((await store.notifications.get(id))?.outstanding, false);
      assert.equal((await store.notifications.attempts(id)).length, 0);
      assert.equal(device.received.length, 0);
    });

    test('a notification deferred because the device was just seen goes out when that pause ends, not a sweep period later', async (t) => {
      const device = await udpDevice();
      t.after(() => device.close());
      // A sweep period far longer than the test: only the deferral's own wake-up can send it.
      const n = new Notifier(store, {
        bearers: [new UdpBearer()],
        policy: { recentlySeenMs: 300, sweepIntervalMs: 600_000 },
      });
      open.push(n);
      n.start();
      const id = 'IMEI:just-seen';
      await addDevice(store, id, { bearer: 'udp', target: device.target });
      // Its last session has just ended (what `omadm start`'s Get then Replace --wait ran into).
      const now = Date.now();
      await store.devices.recordSessionStart(id, { sessionId: 'S1', at: now, onlineUntil: now });
      await store.queue.enqueue(id, { kind: 'Replace', target: './A', data: 'x' });
      const d = await n.requestNotification(id);
      assert.equal(d.action, 'deferred');
      const sent = await Promise.race([
        device.next().then(() => Date.now()),
        new Promise<undefined>((r) => setTimeout(() => r(undefined), 10_000).unref()),
      ]);
      assert.ok(sent !== undefined, 'the deferred notification was not sent within 10 s');
      assert.ok(sent - now >= 300, `sent ${sent - now} ms after the session, before the pause ended`);
    });

    test("a notification deferred by a live session is sent by the sweep once the device is idle, audited as the operator's", async (t) => {
      const device = await udpDevice();
      t.after(() => device.close());
      const n = new Notifier(store, { bearers: [new UdpBearer()], policy: { recentlySeenMs: 1000 } });
      open.push(n);
      const id = 'IMEI:busy-then-idle';
      await addDevice(store, id, { bearer: 'udp', target: device.target });
      const now = Date.now();
      await store.devices.recordSessionStart(id, { sessionId: 'S1', at: now, onlineUntil: now + 60_000 });
      await store.queue.enqueue(id, { kind: 'Get', target: './A' });
      const d = await n.requestNotification(id, { actor: 'op', uiMode: UiMode.Background });
      assert.equal(d.action, 'deferred');
      // The session ends without taking the command: the sweep sends the deferred notification.
      await store.devices.noteSessionEnd(id, 'S1', now);
      const state = await store.notifications.get(id);
      assert.ok(state);
      await store.notifications.defer(id, state.sessionId, 0);
      assert.equal(await n.runDue(now + 2000), 1);
      const p = await device.next();
      assert.equal(p.sessionId.toString(16).toUpperCase(), state.sessionId);
      assert.equal(p.uiMode, 'background');
      const [a] = await store.notifications.attempts(id);
      assert.equal(a?.trigger, 'deferred');
      assert.equal(a?.actor, 'op');
      const audit = await store.audit.list({ action: 'device.notify', target: id });
      assert.equal(audit.items.length, 1);
      assert.equal(audit.items[0]?.actor, 'op');
    });

    test('an unanswered notification is retried per backoff with the same SessionID, then given up', async (t) => {
      const device = await udpDevice();
      t.after(() => device.close());
      const srv = await server(t, { retryDelaysMs: [30, 30, 30], minIntervalMs: 0 });
      const A = (m: string, p: string, b?: unknown) => api(srv.url, srv.admin, m, p, b);
      const id = 'IMEI:silent';
      await addDevice(store, id, { bearer: 'udp', target: device.target });
      assert.equal(
        (await A('POST', `/devices/${enc(id)}/commands`, { type: 'Get', uri: './A' })).status,
        201,
      );
      const p1 = await device.next();
      const p2 = await device.next();
      const p3 = await device.next();
      assert.equal(p2.sessionId, p1.sessionId);
      assert.equal(p3.sessionId, p1.sessionId);
      const done = await eventually(async () => {
        const r = await A('GET', `/devices/${enc(id)}/notifications`);
        return r.body.state && !r.body.state.outstanding && r.body;
      });
      assert.deepEqual(
        done.items.map((a: { attempt: number; trigger: string }) => [a.attempt, a.trigger]),
        [
          [3, 'retry'],
          [2, 'retry'],
          [1, 'enqueue'],
        ],
      );
      assert.equal(device.received.length, 0);
      // Retries are not operator actions: one audit entry, the first attempt.
      assert.equal((await auditOf(srv, 'device.notify', id)).length, 1);
    });

    test('bearer failures are recorded, audited and answered 502', async (t) => {
      const device = await udpDevice();
      t.after(() => device.close());
      const srv = await server(t, { retryDelaysMs: [600_000] });
      const A = (m: string, p: string, b?: unknown) => api(srv.url, srv.admin, m, p, b);
      const id = 'IMEI:flaky';
      await addDevice(store, id, { bearer: 'flaky', target: '+4915112345678' });
      const r = await A('POST', `/devices/${enc(id)}/notify`);
      assert.equal(r.status, 502, JSON.stringify(r.body));
      assert.equal(r.body.error.code, 'notify_failed');
      assert.match(r.body.error.message, /PUSH_TIMEOUT/);
      const list = await A('GET', `/devices/${enc(id)}/notifications`);
      assert.equal(list.body.items.length, 1);
      assert.equal(list.body.items[0].result, 'error');
      assert.equal(list.body.items[0].status, 'PUSH_TIMEOUT');
      assert.match(list.body.items[0].detail, /no answer/);
      const audit = { body: { items: await auditOf(srv, 'device.notify', id) } };
      assert.equal(audit.body.items[0].details.result, 'error');
      assert.equal(audit.body.items[0].details.status, 'PUSH_TIMEOUT');
    });

    test('server-wide rate limit defers the over-limit device; two notifiers on one database send once', async (t) => {
      const device = await udpDevice();
      t.after(() => device.close());
      const n = new Notifier(store, {
        bearers: [new UdpBearer()],
        policy: { rate: { perSecond: 0.001, burst: 1 } },
      });
      open.push(n);
      const ids = ['IMEI:rate-1', 'IMEI:rate-2'];
      for (const id of ids) {
        await addDevice(store, id, { bearer: 'udp', target: device.target });
        await store.queue.enqueue(id, { kind: 'Get', target: './A' });
      }
      const d1 = await n.requestNotification(ids[0] as string);
      const d2 = await n.requestNotification(ids[1] as string);
      assert.equal(d1.action, 'sent');
      assert.equal(d2.action, 'deferred');
      assert.equal(d2.action === 'deferred' && d2.reason, 'rate-limit');
      await device.next();
      // Due, but the bucket is still empty: pushed on again, nothing sent.
      assert.equal(await n.runDue(Date.now() + 10_000), 0);
      assert.equal((await store.notifications.attempts(ids[1] as string)).length, 0);

      // Two processes: two stores and notifiers on the same database race for one device.
      const store2 = await backend.open();
      open.push(store2);
      const a = new Notifier(store, { bearers: [new UdpBearer()] });
      const b = new Notifier(store2, { bearers: [new UdpBearer()] });
      open.push(a, b);
      const id = 'IMEI:two-procs';
      await addDevice(store, id, { bearer: 'udp', target: device.target });
      await store.queue.enqueue(id, { kind: 'Get', target: './A' });
      const decisions = await Promise.all([
        ...Array.from({ length: 4 }, () => a.requestNotification(id)),
        ...Array.from({ length: 4 }, () => b.requestNotification(id)),
      ]);
      assert.equal(decisions.filter((d) => d.action === 'sent').length, 1, JSON.stringify(decisions));
      await device.next();
      assert.equal((await store2.notifications.attempts(id)).length, 1);
      assert.equal(device.received.length, 0);
    });

    test('the sweep prunes attempts past their retention', async (t) => {
      const device = await udpDevice();
      t.after(() => device.close());
      const n = new Notifier(store, { bearers: [new UdpBearer()], policy: { attemptRetentionMs: 1000 } });
      open.push(n);
      const id = 'IMEI:prune';
      await addDevice(store, id, { bearer: 'udp', target: device.target });
      await n.notify(id);
      await device.next();
      assert.equal((await store.notifications.attempts(id)).length, 1);
      await n.runDue(Date.now() - 10_000);
      assert.equal((await store.notifications.attempts(id)).length, 1, 'within retention: kept');
      const m = new Notifier(store, { bearers: [], policy: { attemptRetentionMs: 1000 } });
      open.push(m);
      await m.runDue(Date.now() + 5000);
      assert.equal((await store.notifications.attempts(id)).length, 0);
    });
  });
}
