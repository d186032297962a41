/**
 * The DM engine over the store's sessions (dm-adapters.ts), on both backends: the last answer
 * lives in its own column (not base64 in the state), a package 1 reads the session head, and
 * rows written before the head columns (the answer inside the state) still work.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sql } from 'kysely';
import { decodeMessage } from '../../../src/representation/index.ts';
import { syncmlCodec } from '../../../src/protocol/default-codec.ts';
import { DmServerEngine, type ServerResponse } from '../../../src/protocol/server-session.ts';
import {
  commandSource,
  credentialSource,
  type DmContext,
  sessionStore,
} from '../../../src/server/dm-adapters.ts';
import { createServerMetrics } from '../../../src/server/metrics.ts';
import type { SqlStore, Store } from '../../../src/server/store/index.ts';
import { DEVICE, makePair } from '../../protocol/session-harness.ts';
import {
  type Fixture,
  postgresBackend,
  postgresUnavailable,
  sqliteBackend,
  type TestBackend,
} from './backends.ts';

const XML = 'application/vnd.syncml.dm+xml';
const respUri = (t: string) => `http://h/dm?s=${t}`;

async function setup(f: Fixture) {
  await f.store.devices.create({
    id: DEVICE,
    authType: 'hmac',
    clientAuthName: 'dev1',
    clientSecret: 'devpass',
    serverAuthName: 'srv1',
    serverSecret: 'srvpass',
  });
  const ctx: DmContext = { store: f.store, metrics: createServerMetrics(), onlineTtlMs: 60_000 };
  const sessions = sessionStore(ctx);
  const server = new DmServerEngine({
    codec: syncmlCodec,
    credentials: credentialSource(ctx),
    commands: commandSource(ctx),
    sessions,
  });
  // Only its client is used: it talks to `server`.
  const pair = makePair({ auth: 'hmac', serverAuth: 'hmac' });
  return { server, pair };
}

interface Stored {
  readonly lastReply?: {
    requestHash: string;
    body?: string;
    mediaType: string;
    hmac?: string;
    done: boolean;
  };
}

/** Rewrites a session row as releases before the head columns wrote it: the answer in the state. */
async function toOldFormat(store: Store, token: string): Promise<void> {
  const rec = await store.sessions.getByKey<Stored>(token);
  const bytes = await store.sessions.reply(DEVICE, token);
  const r = rec?.state.lastReply;
  assert.ok(r && bytes && r.body === undefined);
  const state = {
    ...rec.state,
    lastReply: {
      requestHash: r.requestHash,
      body: Buffer.from(bytes).toString('base64'),
      mediaType: r.mediaType,
      ...(r.hmac === undefined ? {} : { hmac: r.hmac }),
      done: r.done,
    },
  };
  await sql`update omadm_session set state = ${JSON.stringify(state)}, dm_session_id = null, phase = null,
    client_msg_id = null, request_hash = null, reply = null where session_id = ${token}`.execute(
    (store as SqlStore).kysely,
  );
  const old = await store.sessions.latestHead(DEVICE);
  assert.equal(old?.head, undefined);
}

function same(a: ServerResponse, b: ServerResponse): void {
  assert.deepEqual(Buffer.from(b.body), Buffer.from(a.body));
  assert.equal(b.hmac, a.hmac);
  assert.equal(b.mediaType, a.mediaType);
  assert.equal(b.done, a.done);
  assert.equal(b.token, a.token);
}

/** Counts the calls of `obj[name]` from now on (still calling through); `restore` puts it back. */
function countCalls<T extends object, K extends keyof T>(
  obj: T,
  name: K,
): { readonly count: number; restore(): void } {
  const original = obj[name] as (...args: unknown[]) => unknown;
  let count = 0;
  (obj as Record<K, unknown>)[name] = (...args: unknown[]) => {
    count++;
    return original.apply(obj, args);
  };
  return {
    get count() {
      return count;
    },
    restore() {
      (obj as Record<K, unknown>)[name] = original;
    },
  };
}

function suite(backend: TestBackend) {
  describe(`${backend.name}: DM sessions in the store`, () => {
    test('the answer is kept as bytes beside the state; a retransmitted package 1 gets it again', async () => {
      await using f = await backend.fresh();
      const { server, pair } = await setup(f);
      const cmd = await f.store.queue.enqueue(DEVICE, {
        kind: 'Replace',
        target: './Vendor/Poll',
        data: '1',
      });
      const req1 = await pair.client().start();
      const a = await server.handle({ body: req1.body, contentType: XML, hmac: req1.hmac, respUri });
      assert.ok(a.hmac, 'the server signs its answers');
      const rec = await f.store.sessions.getByKey<Stored>(a.token);
      assert.ok(rec?.state.lastReply);
      assert.equal(rec.state.lastReply.body, undefined, 'no answer in the state JSON');
      assert.equal(rec.state.lastReply.hmac, a.hmac);
      assert.deepEqual(Buffer.from((await f.store.sessions.reply(DEVICE, a.token))!), Buffer.from(a.body));
      const { rows } = await sql<{ state: string }>`select state from omadm_session`.execute(
        (f.store as SqlStore).kysely,
      );
      assert.ok(!rows[0]!.state.includes(Buffer.from(a.body).toString('base64').slice(0, 40)));
      const head = await f.store.sessions.latestHead(DEVICE);
      assert.equal(head?.state, undefined);
      assert.equal(head?.head?.phase, 'managing');
      assert.equal(head?.head?.clientMsgId, 1);
      await f.store.queue.enqueue(DEVICE, { kind: 'Replace', target: './Vendor/Poll', data: '2' });
      const b = await server.handle({ body: req1.body, contentType: XML, hmac: req1.hmac, respUri });
      same(a, b);
      const sent = (await f.store.queue.list({})).items.filter((c) => c.state === 'sent');
      assert.deepEqual(
        sent.map((c) => c.id),
        [cmd.id],
      );
    });

    test('a heartbeat: its head is kept in the device row; the next package 1 reads no session row', async () => {
      await using f = await backend.fresh();
      const { server, pair } = await setup(f);
      const client = pair.client();
      const req1 = await client.start();
      const a = await server.handle({ body: req1.body, contentType: XML, hmac: req1.hmac, respUri });
      assert.equal(a.done, true, 'nothing queued: the session ends in its first message');
      const closed = (await f.store.devices.credentials(DEVICE))?.closedSession;
      assert.equal(closed?.token, a.token);
      assert.ok(closed && closed.expiresAt > Date.now());
      // Count the session-table head reads from here on.
      const tableReads = countCalls(f.store.sessions, 'latestHead');
      // Retransmitted (the answer was lost): the identical answer, from the session row.
      const b = await server.handle({ body: req1.body, contentType: XML, hmac: req1.hmac, respUri });
      same(a, b);
      // The device takes the answer (and the next nonce in it).
      assert.equal(await client.receive({ body: b.body, contentType: XML, hmac: b.hmac }), undefined);
      // A new heartbeat: found through the device row, answered, and its head replaces the first.
      const credentialReads = countCalls(f.store.devices, 'credentials');
      // (Client-initiated: a session a trigger started waits for the device's new nonce.)
      const req2 = await pair.client({ sessionId: 'C2' }).start();
      const c = await server.handle({ body: req2.body, contentType: XML, hmac: req2.hmac, respUri });
      credentialReads.restore();
      assert.equal(credentialReads.count, 1, 'the head and the credentials come from one read');
      assert.equal(c.done, true);
      assert.notEqual(c.token, a.token);
      assert.equal((await f.store.devices.credentials(DEVICE))?.closedSession?.token, c.token);
      assert.equal(tableReads.count, 0, 'a package 1 after a heartbeat read the session table');
    });

    test('an expired device-row head means no live session: a new one starts without reading the session table', async () => {
      await using f = await backend.fresh();
      const { server, pair } = await setup(f);
      const client = pair.client();
      const req1 = await client.start();
      const a = await server.handle({ body: req1.body, contentType: XML, hmac: req1.hmac, respUri });
      await client.receive({ body: a.body, contentType: XML, hmac: a.hmac });
      await sql`update omadm_device set latest_expires_at = ${Date.now() - 1}`.execute(
        (f.store as SqlStore).kysely,
      );
      const tableReads = countCalls(f.store.sessions, 'latestHead');
      // Even the same bytes again: the old session is over, so this is a new session.
      const b = await server.handle({ body: req1.body, contentType: XML, hmac: req1.hmac, respUri });
      assert.notEqual(b.token, a.token);
      assert.equal(tableReads.count, 0);
    });

    test('a session that goes on clears the device-row head: the next package 1 reads the session table', async () => {
      await using f = await backend.fresh();
      const { server, pair } = await setup(f);
      const heartbeat = pair.client();
      const first = await heartbeat.start();
      const answer = await server.handle({ body: first.body, contentType: XML, hmac: first.hmac, respUri });
      await heartbeat.receive({ body: answer.body, contentType: XML, hmac: answer.hmac });
      assert.ok((await f.store.devices.credentials(DEVICE))?.closedSession);
      await f.store.queue.enqueue(DEVICE, { kind: 'Replace', target: './Vendor/Poll', data: '3' });
      const req = await pair.client({ notification: { sessionId: 0x0d3 } }).start();
      const a = await server.handle({ body: req.body, contentType: XML, hmac: req.hmac, respUri });
      assert.equal(a.done, false);
      assert.equal((await f.store.devices.credentials(DEVICE))?.closedSession, undefined);
      // Its retransmission is recognized through the session table and answered identically.
      const b = await server.handle({ body: req.body, contentType: XML, hmac: req.hmac, respUri });
      same(a, b);
    });

    test('a row written before the head columns: a retransmission is answered identically, the session goes on', async () => {
      await using f = await backend.fresh();
      const { server, pair } = await setup(f);
      const cmd = await f.store.queue.enqueue(DEVICE, {
        kind: 'Replace',
        target: './Vendor/Poll',
        data: '7',
      });
      const client = pair.client();
      const req1 = await client.start();
      const a = await server.handle({ body: req1.body, contentType: XML, hmac: req1.hmac, respUri });
      await toOldFormat(f.store, a.token);
      const b = await server.handle({ body: req1.body, contentType: XML, hmac: req1.hmac, respUri });
      same(a, b);
      // The next message, to the RespURI, continues the old row.
      const req3 = (await client.receive({ body: a.body, contentType: XML, hmac: a.hmac }))!;
      const c = await server.handle({
        body: req3.body,
        contentType: XML,
        hmac: req3.hmac,
        sessionToken: a.token,
        respUri,
      });
      assert.equal(c.done, true);
      assert.equal((await f.store.queue.get(cmd.id))?.state, 'succeeded');
      // Written back with its head and the answer in its column.
      assert.equal((await f.store.sessions.latestHead(DEVICE))?.head?.phase, 'closed');
      assert.deepEqual(Buffer.from((await f.store.sessions.reply(DEVICE, a.token))!), Buffer.from(c.body));
      const again = await server.handle({
        body: req3.body,
        contentType: XML,
        hmac: req3.hmac,
        sessionToken: a.token,
        respUri,
      });
      same(c, again);
    });

    test('an open session in a row written before the head columns is superseded by a new one', async () => {
      await using f = await backend.fresh();
      const { server, pair } = await setup(f);
      const cmd = await f.store.queue.enqueue(DEVICE, { kind: 'Get', target: './DevDetail/SwV' });
      const a = pair.client({ notification: { sessionId: 0x00a1 } });
      const reqA = await a.start();
      const resA = await server.handle({ body: reqA.body, contentType: XML, hmac: reqA.hmac, respUri });
      assert.equal(resA.done, false);
      await toOldFormat(f.store, resA.token);
      // The device takes the answer (its next nonce), never answers it and starts another session.
      await a.receive({ body: resA.body, contentType: XML, hmac: resA.hmac });
      const reqB = await pair.client({ notification: { sessionId: 0x00b2 } }).start();
      const resB = await server.handle({ body: reqB.body, contentType: XML, hmac: reqB.hmac, respUri });
      assert.equal(await f.store.sessions.getByKey(resA.token), undefined, 'the old session is gone');
      // Its Get was sent and never answered; a Get is safe to send again, in the new session.
      assert.ok(decodeMessage(resB.body).SyncBody.commands.some((c) => c.type === 'Get'));
      const again = await f.store.queue.get(cmd.id);
      assert.equal(again?.state, 'sent');
      assert.equal(again?.sessionId, 'B2');
      assert.equal(again?.attempts, 2);
    });
  });
}

suite(sqliteBackend);
const unavailable = await postgresUnavailable();
if (unavailable) test('DM sessions in the store on PostgreSQL', { skip: unavailable }, () => {});
else suite(postgresBackend);
