/**
 * The engine over a session store with `loadHeadByDevice`: a package 1 reads only the head of the
 * device's current session, and its full state only to answer a retransmission or to close the
 * session it supersedes. Everything else behaves as over a store without heads.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runClientSession } from '../../src/protocol/client-runner.ts';
import { syncmlCodec } from '../../src/protocol/default-codec.ts';
import { MemorySessionStore } from '../../src/protocol/memory-sources.ts';
import type { SessionHead, SessionStore } from '../../src/protocol/server-sources.ts';
import { DmServerEngine } from '../../src/protocol/server-session.ts';
import type { ServerSessionState } from '../../src/protocol/server-state.ts';
import { decodeMessage } from '../../src/representation/index.ts';
import { getCmd, loopback, replaceCmd } from './helpers.ts';
import { DEVICE, makePair } from './session-harness.ts';

const XML = 'application/vnd.syncml.dm+xml';
const respUri = (t: string) => `http://loopback/dm?s=${t}`;

/** The memory store plus heads and answers kept apart, counting full reads. */
class HeadStore implements SessionStore {
  readonly inner = new MemorySessionStore();
  fullReads = 0;
  headReads = 0;
  async load(token: string): Promise<ServerSessionState | undefined> {
    this.fullReads++;
    return this.inner.load(token);
  }
  async loadByDevice(deviceId: string): Promise<ServerSessionState | undefined> {
    this.fullReads++;
    return this.inner.loadByDevice(deviceId);
  }
  async loadHeadByDevice(deviceId: string): Promise<SessionHead | undefined> {
    this.headReads++;
    const s = await this.inner.loadByDevice(deviceId);
    if (!s) return undefined;
    return {
      token: s.token,
      revision: s.revision,
      deviceId: s.deviceId,
      sessionId: s.sessionId,
      phase: s.phase,
      clientMsgId: s.clientMsgId,
      ...(s.lastReply ? { requestHash: s.lastReply.requestHash } : {}),
    };
  }
  /** The answers, kept apart from the states (`loadReply`). */
  readonly replies = new Map<string, Uint8Array>();
  replyReads = 0;
  async loadReply(state: ServerSessionState): Promise<Uint8Array | undefined> {
    this.replyReads++;
    return this.replies.get(state.token);
  }
  async save(state: ServerSessionState, expectedRevision: number, reply?: Uint8Array): Promise<boolean> {
    assert.ok(reply, 'the answer comes beside the state');
    assert.equal(state.lastReply?.body, undefined, 'and not in it');
    const saved = await this.inner.save(state, expectedRevision);
    if (saved) this.replies.set(state.token, reply);
    return saved;
  }
  delete(token: string): Promise<void> {
    return this.inner.delete(token);
  }
}

/**
 * In a session a Package 0 started, a package 2 that challenges the device is not the last
 * (protocol.md §3.1): the device answers with its Status and a new nonce for the server's
 * credential and Package 0; then it is over.
 */
async function answerNonce(
  client: ReturnType<ReturnType<typeof makePair>['client']>,
  server: DmServerEngine,
  res: { body: Uint8Array; hmac?: string | undefined; token: string },
): Promise<void> {
  const answer = await client.receive({ body: res.body, contentType: XML, hmac: res.hmac });
  assert.ok(answer, 'the device answers with a new nonce');
  const end = await server.handle({
    body: answer.body,
    contentType: XML,
    hmac: answer.hmac,
    sessionToken: res.token,
    respUri,
  });
  assert.equal(end.done, true);
  assert.equal(await client.receive({ body: end.body, contentType: XML, hmac: end.hmac }), undefined);
}

function withHeads(pair: ReturnType<typeof makePair>) {
  const sessions = new HeadStore();
  const server = new DmServerEngine({
    codec: syncmlCodec,
    credentials: pair.creds,
    commands: pair.queue,
    sessions,
  });
  return { sessions, server };
}

describe('server engine over a store with session heads', () => {
  test('a package 1 after a finished session reads only the head', async () => {
    const pair = makePair();
    const { sessions, server } = withHeads(pair);
    const first = await runClientSession(pair.client(), loopback(server));
    assert.equal(first.outcome, 'completed');
    sessions.fullReads = 0;
    sessions.headReads = 0;
    const client = pair.client();
    const req1 = await client.start();
    const res = await server.handle({ body: req1.body, contentType: XML, hmac: req1.hmac, respUri });
    assert.equal(res.done, true, 'nothing queued: answered and closed');
    assert.equal(sessions.headReads, 1);
    assert.equal(sessions.fullReads, 0);
    assert.equal(pair.queue.sessions.at(-1)?.outcome, 'completed');
  });

  test('a retransmitted package 1 is answered identically from the full state; nothing is handed out twice', async () => {
    const pair = makePair({ auth: 'hmac', serverAuth: 'hmac' });
    const { sessions, server } = withHeads(pair);
    pair.queue.enqueue(DEVICE, replaceCmd('./Vendor/Poll', '1'));
    const client = pair.client();
    const req1 = await client.start();
    const a = await server.handle({ body: req1.body, contentType: XML, hmac: req1.hmac, respUri });
    pair.queue.enqueue(DEVICE, replaceCmd('./Vendor/Poll', '2'));
    sessions.fullReads = 0;
    const b = await server.handle({ body: req1.body, contentType: XML, hmac: req1.hmac, respUri });
    assert.deepEqual(b.body, a.body);
    assert.ok(a.hmac);
    assert.equal(b.hmac, a.hmac);
    assert.equal(b.token, a.token);
    assert.equal(sessions.fullReads, 1);
    assert.equal(sessions.replyReads, 1);
    assert.equal([...pair.queue.records.values()].filter((r) => r.state === 'sent').length, 1);
  });

  test('a new session reusing the SessionID starts afresh', async () => {
    const pair = makePair();
    const { sessions, server } = withHeads(pair);
    const one = await runClientSession(
      pair.client({ notification: { sessionId: 0x1234 } }),
      loopback(server),
    );
    const client = pair.client({ notification: { sessionId: 0x1234 } });
    const req1 = await client.start();
    sessions.fullReads = 0;
    const res = await server.handle({ body: req1.body, contentType: XML, hmac: req1.hmac, respUri });
    assert.equal(res.sessionId, '1234');
    assert.equal(one.sessionId, '1234');
    assert.equal(sessions.fullReads, 0);
    await answerNonce(client, server, res);
    assert.equal(pair.queue.sessions.length, 2);
    assert.ok(pair.queue.sessions.every((s) => s.outcome === 'completed'));
    assert.equal(sessions.inner.size, 2, 'stored under a token of its own');
    assert.equal(decodeMessage(res.body).SyncHdr.SessionID, '1234');
  });

  test('an open session is superseded: its full state is read and closed', async () => {
    const pair = makePair();
    const { sessions, server } = withHeads(pair);
    const id = pair.queue.enqueue(DEVICE, getCmd('./DevDetail/SwV'));
    const a = pair.client({ notification: { sessionId: 0x00a1 } });
    const reqA = await a.start();
    const resA = await server.handle({ body: reqA.body, contentType: XML, hmac: reqA.hmac, respUri });
    assert.equal(resA.done, false, 'the Get went out');
    // The device takes the answer (and the nonce for its next session), never answers it and
    // starts another session.
    await a.receive({ body: resA.body, contentType: XML, hmac: resA.hmac });
    const b = pair.client({ notification: { sessionId: 0x00b2 } });
    const reqB = await b.start();
    sessions.fullReads = 0;
    const resB = await server.handle({ body: reqB.body, contentType: XML, hmac: reqB.hmac, respUri });
    assert.equal(sessions.fullReads, 1, 'the superseded session, to close it');
    assert.equal(resB.done, false, "answered; the device's new nonce comes next");
    const ended = pair.queue.sessions.map((s) => [s.ref.sessionId, s.outcome]);
    assert.deepEqual(ended, [['A1', 'superseded']]);
    // The Get was sent and never answered: delivery unknown.
    assert.equal(pair.queue.records.get(id)!.outcome?.status, undefined);
    assert.equal(await sessions.inner.load(resA.token), undefined);
  });
});
