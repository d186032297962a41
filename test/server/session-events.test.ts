/**
 * The operator's session log lines (docs/operations.md), over real HTTP on loopback: a completed
 * session logs dm.session.start and dm.session.end with device, source, auth outcome, messages,
 * commands answered and duration; a failed authentication ends warn-level with outcome
 * authFailed; a session its device abandoned is ended by the sweep (outcome expired) and the
 * sweep's line names the devices and command ids it touched.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import type { Store } from '../../src/server/store/index.ts';
import { DeviceSim } from './device-sim.ts';
import { api, type Backend, freshBackend, startServer } from './helpers.ts';
import { publicSessionKey } from '../../src/server/redact.ts';

const enc = encodeURIComponent;

// biome-ignore lint/suspicious/noExplicitAny: tests inspect JSON log lines freely.
type Line = Record<string, any>;

function capture(): { logger: pino.Logger; lines: Line[] } {
  const lines: Line[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const l of String(chunk).split('\n')) if (l.trim()) lines.push(JSON.parse(l));
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), lines };
}

async function until<T>(check: () => T | undefined | Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 500; i++) {
    const v = await check();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('timed out');
}

describe('session log events', () => {
  let backend: Backend;
  let store: Store;
  before(async () => {
    backend = await freshBackend('sqlite');
    store = await backend.open();
  });
  after(async () => {
    await store?.close();
    await backend?.cleanup();
  });

  test('a completed session: dm.session.start (debug) and dm.session.end (info) with stable fields', async (t) => {
    const { logger, lines } = capture();
    const srv = await startServer(store, { logger });
    t.after(() => srv.close());
    const id = 'IMEI:events-ok';
    assert.equal(
      (await api(srv.url, srv.admin, 'POST', '/devices', { id, secret: 'c', serverSecret: 's' })).status,
      201,
    );
    for (const uri of ['./A', './B'])
      await api(srv.url, srv.admin, 'POST', `/devices/${enc(id)}/commands`, { type: 'Get', uri });
    const sim = new DeviceSim({
      deviceId: id,
      secret: 'c',
      serverSecret: 's',
      tree: { './A': '1', './B': '2' },
    });
    const { result } = await sim.session(`${srv.url}/dm`);
    assert.equal(result?.outcome, 'completed');

    const start = lines.filter((l) => l.event === 'dm.session.start' && l.deviceId === id);
    assert.equal(start.length, 1, JSON.stringify(lines));
    assert.equal(start[0]?.level, 20); // debug
    assert.equal(start[0]?.source, '127.0.0.1');
    assert.equal(typeof start[0]?.sessionId, 'string');
    const end = await until(() => lines.find((l) => l.event === 'dm.session.end' && l.deviceId === id));
    assert.equal(end.level, 30); // info
    assert.equal(end.outcome, 'completed');
    assert.equal(end.auth, 'ok');
    assert.equal(end.source, '127.0.0.1');
    assert.equal(end.sessionId, start[0]?.sessionId);
    assert.equal(end.token, start[0]?.token);
    assert.equal(end.commands, 2);
    assert.ok(end.messages >= 2, `messages ${end.messages}`);
    assert.equal(typeof end.durationMs, 'number');
    // The API (and `omadm trace`) shows how it ended.
    const listed = await api(srv.url, srv.admin, 'GET', `/devices/${enc(id)}/sessions`);
    assert.equal(listed.body.items[0].outcome, 'completed');
    assert.equal(listed.body.items[0].reason, 'the session ran to its end');
    assert.notEqual(listed.body.items[0].endedAt, null);
    // No secret of the device or of the session's URL in any line.
    const text = JSON.stringify(lines);
    assert.doesNotMatch(text, /"c"|serverSecret|clientSecret/);
  });

  test('behind a trusted proxy the source is the address it forwarded for; otherwise the header is ignored', async (t) => {
    for (const trustProxy of ['loopback', undefined]) {
      const { logger, lines } = capture();
      const srv = await startServer(store, { logger, ...(trustProxy ? { trustProxy } : {}) });
      t.after(() => srv.close());
      const id = `IMEI:events-proxy-${trustProxy ?? 'none'}`;
      await api(srv.url, srv.admin, 'POST', '/devices', { id, secret: 'c', serverSecret: 's' });
      const sim = new DeviceSim({ deviceId: id, secret: 'c', serverSecret: 's' });
      await sim.session(`${srv.url}/dm`, undefined, async (url, body, headers) => {
        const res = await fetch(url, {
          method: 'POST',
          headers: { ...headers, 'x-forwarded-for': '203.0.113.9' },
          body,
        });
        return { status: res.status, body: new Uint8Array(await res.arrayBuffer()), headers: res.headers };
      });
      const end = await until(() => lines.find((l) => l.event === 'dm.session.end' && l.deviceId === id));
      assert.equal(end.source, trustProxy ? '203.0.113.9' : '127.0.0.1');
    }
  });

  test('a refused package 1 is a dm.auth.failure at warn level, not a session (nothing stored)', async (t) => {
    const { logger, lines } = capture();
    const srv = await startServer(store, { logger });
    t.after(() => srv.close());
    const id = 'IMEI:events-bad';
    await api(srv.url, srv.admin, 'POST', '/devices', { id, secret: 'right', serverSecret: 's' });
    const sim = new DeviceSim({ deviceId: id, secret: 'wrong', serverSecret: 's' });
    await assert.rejects(sim.session(`${srv.url}/dm`));
    const failure = await until(() => lines.find((l) => l.event === 'dm.auth.failure' && l.deviceId === id));
    assert.equal(failure.level, 40); // warn
    assert.equal(failure.reason, 'bad_credentials');
    // An unauthenticated sender gets no session (issue 11): no session line, no stored session.
    assert.equal(
      lines.find((l) => l.event === 'dm.session.end' && l.deviceId === id),
      undefined,
    );
    const listed = await api(srv.url, srv.admin, 'GET', `/devices/${enc(id)}/sessions`);
    assert.equal(listed.body.items.length, 0);
  });

  test('a session its device abandons and replaces with a new one ends superseded', async (t) => {
    const { logger, lines } = capture();
    const srv = await startServer(store, { logger });
    t.after(() => srv.close());
    const id = 'IMEI:events-again';
    await api(srv.url, srv.admin, 'POST', '/devices', { id, secret: 'c', serverSecret: 's' });
    await api(srv.url, srv.admin, 'POST', `/devices/${enc(id)}/commands`, { type: 'Get', uri: './A' });
    const sim = new DeviceSim({ deviceId: id, secret: 'c', serverSecret: 's', tree: { './A': '1' } });
    // The device goes away after its first exchange (its second message never leaves).
    await assert.rejects(
      sim.session(`${srv.url}/dm`, (req, i) => {
        if (i > 0) throw new Error('connection lost');
        return req.url;
      }),
    );
    const { result } = await sim.session(`${srv.url}/dm`);
    assert.equal(result?.outcome, 'completed');
    const ends = await until(() => {
      const e = lines.filter((l) => l.event === 'dm.session.end' && l.deviceId === id);
      return e.length === 2 ? e : undefined;
    });
    assert.deepEqual(ends.map((e) => e.outcome).sort(), ['completed', 'superseded']);
    const listed = await api(srv.url, srv.admin, 'GET', `/devices/${enc(id)}/sessions`);
    assert.deepEqual(
      listed.body.items.map((x: Line) => x.outcome),
      ['completed', 'superseded'],
    );
  });

  test('an abandoned session is ended by the sweep (expired), which names devices and command ids', async (t) => {
    const { logger, lines } = capture();
    const srv = await startServer(store, { logger, sweepIntervalMs: 30 });
    t.after(() => srv.close());
    const id = 'IMEI:events-gone';
    await api(srv.url, srv.admin, 'POST', '/devices', { id, secret: 'c', serverSecret: 's' });
    // An open session whose device went away after a Replace was sent to it.
    const c = await store.queue.enqueue(id, { kind: 'Replace', target: './A', data: '1' });
    const now = Date.now();
    await store.sessions.create({
      deviceId: id,
      sessionId: 'tok-gone',
      state: { phase: 'managing' },
      expiresAt: now + 50,
      head: { dmSessionId: '7', phase: 'managing', clientMsgId: 2 },
    });
    // Traced as the server traces it: under the public hash of the session's token.
    await store.traces.append({
      deviceId: id,
      sessionId: publicSessionKey('tok-gone'),
      direction: 'in',
      contentType: 'application/vnd.syncml.dm+xml',
      body: new TextEncoder().encode('<SyncML/>'),
      at: now,
    });
    await store.queue.claim(id, '7', { limit: 1, leaseUntil: now + 600_000 });
    await store.queue.markSent(c.id, '7', { msgId: 2, cmdId: '3' });
    const end = await until(() => lines.find((l) => l.event === 'dm.session.end' && l.deviceId === id));
    assert.equal(end.outcome, 'expired');
    assert.equal(end.sessionId, '7');
    assert.match(end.reason, /idle/);
    const sweep = await until(() => lines.find((l) => l.event === 'dm.sweep' && l.sessions));
    assert.deepEqual(sweep.sessions, [{ deviceId: id, sessionId: '7' }]);
    assert.deepEqual(sweep.commandIds, { unknown: [c.id] });
    // `omadm trace` calls it expired, not "still going".
    const listed = await until(async () => {
      const r = await api(srv.url, srv.admin, 'GET', `/devices/${enc(id)}/sessions`);
      return r.body.items[0]?.outcome === 'expired' ? r.body.items[0] : undefined;
    });
    assert.match(listed.reason, /stopped answering/);
    // The sweep released the session's commands under its DM SessionID: the Replace is unknown now.
    assert.equal((await store.queue.get(c.id))?.state, 'unknown');
    const metrics = await api(srv.url, undefined, 'GET', '/metrics');
    assert.match(String(metrics.body), /omadm_dm_sessions_total\{outcome="expired"\} 1/);
    assert.match(String(metrics.body), /omadm_commands_completed_total\{state="unknown"\} 1/);
    // Nothing queued: the queue is empty and its oldest command has no age.
    assert.match(String(metrics.body), /^omadm_queue_depth 0$/m);
    assert.match(String(metrics.body), /^omadm_queue_oldest_age_seconds 0$/m);
    await store.queue.enqueue(id, { kind: 'Get', target: './B' });
    await new Promise((r) => setTimeout(r, 1100));
    const later = String((await api(srv.url, undefined, 'GET', '/metrics')).body);
    assert.match(later, /^omadm_queue_depth 1$/m);
    const age = Number(/^omadm_queue_oldest_age_seconds (\S+)$/m.exec(later)?.[1]);
    assert.ok(age >= 1 && age < 60, `oldest age ${age}`);
  });
});
