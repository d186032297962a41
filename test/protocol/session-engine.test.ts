/**
 * Session engine rules without HTTP: MsgID order, retransmissions, unknown and foreign sessions,
 * concurrent handling, JSON state, Sequence/UI alerts, large-object errors (424, 1225), limits,
 * idle expiry and aborts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runClientSession } from '../../src/protocol/client-runner.ts';
import { DmClientSession } from '../../src/protocol/client-session.ts';
import type { UiRequest, UiResponse } from '../../src/protocol/client-types.ts';
import { syncmlCodec } from '../../src/protocol/default-codec.ts';
import { SessionError } from '../../src/protocol/errors.ts';
import { header, message } from '../../src/protocol/message.ts';
import {
  type Alert,
  type Command,
  decodeMessage,
  type Status,
  type SyncML,
} from '../../src/representation/index.ts';
import { getCmd, loopback, MapTree, replaceCmd } from './helpers.ts';
import { DEVICE, makePair } from './session-harness.ts';

const XML = 'application/vnd.syncml.dm+xml';
const enc = (m: SyncML) => syncmlCodec.encode(m, 'xml');

/** Runs package 1 of a client against the server; returns the client, the reply and the token. */
async function openSession(pair: ReturnType<typeof makePair>) {
  if (pair.queue.records.size === 0) pair.queue.enqueue(DEVICE, getCmd('./DevDetail/SwV'));
  const client = pair.client();
  const req1 = await client.start();
  const res = await pair.server.handle({
    body: req1.body,
    contentType: XML,
    hmac: req1.hmac,
    respUri: (t) => `http://h/dm?s=${t}`,
  });
  const token = new URL(decodeMessage(res.body).SyncHdr.RespURI!).searchParams.get('s')!;
  return { client, res, token };
}

function codeOf(e: unknown): string {
  assert.ok(e instanceof SessionError, String(e));
  return e.code;
}

describe('server engine: session identity and ordering', () => {
  test('a retransmitted message gets the identical answer and nothing runs twice', async () => {
    const pair = makePair();
    const id = pair.queue.enqueue(DEVICE, replaceCmd('./Vendor/Poll', '1'));
    let settles = 0;
    const settle = pair.queue.settle.bind(pair.queue);
    pair.queue.settle = async (ref, outcomes) => {
      settles++;
      return settle(ref, outcomes);
    };
    const { client, res, token } = await openSession(pair);
    const req3 = (await client.receive({ body: res.body, contentType: XML }))!;
    const a = await pair.server.handle({ body: req3.body, contentType: XML, sessionToken: token });
    const b = await pair.server.handle({ body: req3.body, contentType: XML, sessionToken: token });
    assert.deepEqual(b.body, a.body);
    assert.equal(pair.queue.records.get(id)!.outcome!.status, 200);
    assert.equal(settles, 1, 'outcomes reported once');
    assert.equal(a.done, true);
  });

  test('a retransmitted package 1 (answer lost) gets the same answer: commands are not handed out again', async () => {
    const pair = makePair();
    pair.queue.enqueue(DEVICE, replaceCmd('./Vendor/Poll', '1'));
    const client = pair.client();
    const req1 = await client.start();
    const a = await pair.server.handle({
      body: req1.body,
      contentType: XML,
      respUri: (t) => `http://h/dm?s=${t}`,
    });
    pair.queue.enqueue(DEVICE, replaceCmd('./Vendor/Poll', '2'));
    const b = await pair.server.handle({
      body: req1.body,
      contentType: XML,
      respUri: (t) => `http://h/dm?s=${t}`,
    });
    assert.deepEqual(b.body, a.body);
    assert.equal(b.token, a.token);
    assert.equal([...pair.queue.records.values()].filter((r) => r.state === 'sent').length, 1);
  });

  test('out-of-order MsgID is rejected', async () => {
    const pair = makePair();
    const { client, res, token } = await openSession(pair);
    const req3 = (await client.receive({ body: res.body, contentType: XML }))!;
    const m = decodeMessage(req3.body);
    const skipped = enc({ ...m, SyncHdr: { ...m.SyncHdr, MsgID: '5' } });
    await assert.rejects(
      pair.server.handle({ body: skipped, contentType: XML, sessionToken: token }),
      (e) => {
        return codeOf(e) === 'OMADM_ERR_SESSION_MSGID';
      },
    );
  });

  test('unknown SessionID / token is rejected; another device cannot use a session token', async () => {
    const pair = makePair();
    const { client, res, token } = await openSession(pair);
    const req3 = (await client.receive({ body: res.body, contentType: XML }))!;
    const m = decodeMessage(req3.body);
    await assert.rejects(
      pair.server.handle({ body: req3.body, contentType: XML, sessionToken: 'nope' }),
      (e) => {
        return codeOf(e) === 'OMADM_ERR_SESSION_UNKNOWN';
      },
    );
    const foreign = enc({ ...m, SyncHdr: { ...m.SyncHdr, Source: { LocURI: 'IMEI:000000000000000' } } });
    await assert.rejects(
      pair.server.handle({ body: foreign, contentType: XML, sessionToken: token }),
      (e) => {
        return codeOf(e) === 'OMADM_ERR_SESSION_HIJACK';
      },
    );
    const otherSession = enc({ ...m, SyncHdr: { ...m.SyncHdr, SessionID: 'FFFF' } });
    await assert.rejects(pair.server.handle({ body: otherSession, contentType: XML }), (e) => {
      return codeOf(e) === 'OMADM_ERR_SESSION_UNKNOWN';
    });
  });

  test('with RespURI in use, a continuation sent elsewhere must carry credentials again', async () => {
    const pair = makePair();
    pair.queue.enqueue(DEVICE, replaceCmd('./Vendor/Poll', 'x'));
    const { client, res } = await openSession(pair);
    const req3 = (await client.receive({ body: res.body, contentType: XML }))!;
    // Same bytes, but not to the RespURI: no Cred in package 3, so it is challenged.
    const r = await pair.server.handle({
      body: req3.body,
      contentType: XML,
      respUri: (t) => `http://h/dm?s=${t}`,
    });
    const hdr = decodeMessage(r.body).SyncBody.commands[0] as Status;
    assert.equal(hdr.Data, 407);
    assert.equal(
      pair.tree.values.get('./Vendor/Poll'),
      'x',
      'the client executed, the server did not take its statuses',
    );
  });

  test('two processes advancing one session at once: exactly one wins (compare-and-set)', async () => {
    const pair = makePair();
    const { client, res, token } = await openSession(pair);
    const req3 = (await client.receive({ body: res.body, contentType: XML }))!;
    const variant = new Uint8Array(Buffer.concat([Buffer.from(req3.body), Buffer.from('\n')]));
    const results = await Promise.allSettled([
      pair.server.handle({ body: req3.body, contentType: XML, sessionToken: token }),
      pair.server.handle({ body: variant, contentType: XML, sessionToken: token }),
    ]);
    const ok = results.filter((r) => r.status === 'fulfilled');
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    assert.equal(ok.length, 1);
    assert.equal(failed.length, 1);
    assert.ok(['OMADM_ERR_SESSION_CONFLICT', 'OMADM_ERR_SESSION_MSGID'].includes(codeOf(failed[0]!.reason)));
  });

  test('state survives JSON (WBXML bytes in the outbox included) across every message', async () => {
    const pair = makePair({ encoding: 'wbxml', clientLimits: { maxMsgSize: 8 * 1024 } });
    pair.tree.values.set('./Vendor/Bin', '');
    const bytes = new Uint8Array(100_000).map((_, i) => (i * 7) & 0xff);
    const cmd: Command = {
      type: 'Replace',
      CmdID: '0',
      Item: [{ Target: { LocURI: './Vendor/Bin' }, Meta: { Format: 'bin' }, Data: { kind: 'bytes', bytes } }],
    };
    const seen: Uint8Array[] = [];
    const tree = pair.tree;
    const handler = {
      execute: async (c: Parameters<typeof tree.execute>[0], ctx: Parameters<typeof tree.execute>[1]) => {
        const d = c.Item[0]?.Data;
        if (c.type === 'Replace' && d?.kind === 'bytes') seen.push(d.bytes);
        return tree.execute(c, ctx);
      },
    };
    const id = pair.queue.enqueue(DEVICE, cmd);
    const result = await runClientSession(pair.client({ handler }), loopback(pair.server));
    assert.equal(result.outcome, 'completed');
    assert.equal(pair.queue.records.get(id)!.outcome!.status, 200);
    assert.deepEqual(seen[0], bytes);
  });
});

describe('server-initiated sessions', () => {
  test('answering Package 0: Alert 1200 and the notification session id in upper-case hex', async () => {
    const pair = makePair();
    pair.queue.enqueue(DEVICE, getCmd('./DevDetail/SwV'));
    const client = pair.client({ notification: { sessionId: 0x00a1 } });
    const req1 = await client.start();
    const m = decodeMessage(req1.body);
    assert.equal(m.SyncHdr.SessionID, 'A1');
    assert.ok(m.SyncBody.commands.some((c) => c.type === 'Alert' && c.Data === 1200));
    const result = await runClientSession(
      pair.client({ notification: { sessionId: 0x1234 } }),
      loopback(pair.server),
    );
    assert.equal(result.sessionId, '1234');
    assert.ok(pair.queue.sessions.some((s) => s.ref.initiator === 1200 && s.ref.sessionId === '1234'));
  });
});

describe('server engine: limits and expiry', () => {
  test('too many commands in one message: SyncHdr 413, Alert 1223, session over', async () => {
    const pair = makePair({ serverLimits: { maxCommandsPerMessage: 3 } });
    const client = pair.client();
    const req1 = await client.start();
    const m = decodeMessage(req1.body);
    const many = enc({
      ...m,
      SyncBody: {
        ...m.SyncBody,
        commands: [
          ...m.SyncBody.commands,
          ...[3, 4, 5].map((n) => ({ type: 'Alert', CmdID: String(n), Data: 1224, Item: [] }) as Alert),
        ],
      },
    });
    const r = await pair.server.handle({ body: many, contentType: XML });
    const cmds = decodeMessage(r.body).SyncBody.commands;
    assert.equal((cmds[0] as Status).Data, 413);
    assert.ok(cmds.some((c) => c.type === 'Alert' && c.Data === 1223));
    assert.equal(r.done, true);
  });

  test('an idle session expires: its unsent commands go back to the queue', async () => {
    let now = 1_000_000;
    const pair = makePair({ serverLimits: { idleTimeoutMs: 60_000, maxMsgSize: 4096 } });
    const server = new (
      pair.server.constructor as typeof import('../../src/protocol/server-session.ts').DmServerEngine
    )({
      codec: syncmlCodec,
      credentials: pair.creds,
      commands: pair.queue,
      sessions: pair.sessions,
      limits: { idleTimeoutMs: 60_000 },
      now: () => now,
    });
    const ids = Array.from({ length: 30 }, (_, i) =>
      pair.queue.enqueue(DEVICE, replaceCmd(`./N${i}`, 'v'.repeat(50))),
    );
    const client = pair.client({ limits: { maxMsgSize: 2048 } });
    const req1 = await client.start();
    const res = await server.handle({
      body: req1.body,
      contentType: XML,
      respUri: (t) => `http://h/dm?s=${t}`,
    });
    const token = new URL(decodeMessage(res.body).SyncHdr.RespURI!).searchParams.get('s')!;
    const req3 = (await client.receive({ body: res.body, contentType: XML }))!;
    now += 61_000;
    await assert.rejects(server.handle({ body: req3.body, contentType: XML, sessionToken: token }), (e) => {
      return codeOf(e) === 'OMADM_ERR_SESSION_UNKNOWN';
    });
    const states = ids.map((id) => pair.queue.records.get(id)!.state);
    assert.ok(states.includes('queued'), 'unsent commands were released');
    assert.ok(states.includes('done'), 'sent ones settled (delivery unknown)');
    assert.ok(pair.queue.sessions.some((s) => s.outcome === 'expired'));
  });
});

/** Hand-made server messages for the client engine (server auth off, client auth none). */
function clientFor(
  tree: MapTree,
  ui?: (r: UiRequest) => Promise<UiResponse>,
  sleep?: (ms: number, s: AbortSignal) => Promise<void>,
) {
  return new DmClientSession({
    codec: syncmlCodec,
    deviceId: DEVICE,
    sessionId: '42',
    devInfo: { './DevInfo/DevId': DEVICE },
    account: { serverId: 's', serverUri: 'http://h/dm', client: { mode: 'none', name: 'd', secret: '' } },
    handler: tree,
    ...(ui ? { ui } : {}),
    ...(sleep ? { sleep } : {}),
  });
}
function serverMsg(msgId: number, commands: Command[], final = true): Uint8Array {
  const hdr = header({
    VerDTD: '1.2',
    VerProto: 'DM/1.2',
    SessionID: '42',
    MsgID: msgId,
    target: DEVICE,
    source: 'http://h/dm',
  });
  const st: Status = {
    type: 'Status',
    CmdID: '1',
    MsgRef: String(msgId),
    CmdRef: '0',
    Cmd: 'SyncHdr',
    TargetRef: [],
    SourceRef: [],
    Data: 212,
    Item: [],
  };
  return enc(message(hdr, [st, ...commands], final));
}
function ui(code: number, text: string, options = '', choices: string[] = []): Alert {
  return {
    type: 'Alert',
    CmdID: '9',
    Data: code,
    Item: [
      { Data: { kind: 'text', text: options } },
      { Data: { kind: 'text', text } },
      ...choices.map((c) => ({ Data: { kind: 'text' as const, text: c } })),
    ],
  };
}
async function answer(client: DmClientSession, body: Uint8Array): Promise<SyncML> {
  const req = await client.receive({ body, contentType: XML });
  assert.ok(req, 'the client answers');
  return decodeMessage(req.body);
}
const statusesOf = (m: SyncML) =>
  m.SyncBody.commands.filter((c): c is Status => c.type === 'Status').slice(1);

describe('client engine: package execution', () => {
  test('Sequence: a "No" to a confirm skips the rest (304, then 215)', async () => {
    const tree = new MapTree({ './A': '1', './B': '2' });
    const client = clientFor(tree, async (r) => (r.code === 1101 ? { kind: 'no' } : { kind: 'ok' }));
    await client.start();
    const seq: Command = {
      type: 'Sequence',
      CmdID: '2',
      commands: [
        { ...replaceCmd('./A', 'x'), CmdID: '3' },
        { ...ui(1101, 'Sure?'), CmdID: '4' },
        { ...replaceCmd('./B', 'y'), CmdID: '5' },
      ],
    };
    const reply = await answer(client, serverMsg(1, [seq]));
    assert.deepEqual(
      statusesOf(reply).map((s) => [s.Cmd, s.Data]),
      [
        ['Sequence', 200],
        ['Replace', 200],
        ['Alert', 304],
        ['Replace', 215],
      ],
    );
    assert.equal(tree.values.get('./B'), '2');
  });

  test('UI alerts: text input answer in Status/Item, choices, MAXDT timeout (408), no UI (406)', async () => {
    const tree = new MapTree();
    const never = () => new Promise<UiResponse>(() => {});
    let i = 0;
    const client = clientFor(
      tree,
      async (r) => {
        i++;
        if (r.code === 1102) return { kind: 'text', text: 'hello' };
        if (r.code === 1104) return { kind: 'choice', selected: [1, 3] };
        return never();
      },
      async (ms) => {
        assert.equal(ms, 15_000, 'MAXDT=15 seconds');
      },
    );
    await client.start();
    const reply = await answer(
      client,
      serverMsg(1, [
        { ...ui(1102, 'Name?', 'MAXLEN=10'), CmdID: '2' },
        { ...ui(1104, 'Pick', '', ['a', 'b', 'c']), CmdID: '3' },
        { ...ui(1100, 'Hi', 'MAXDT=15&DR=1'), CmdID: '4' },
      ]),
    );
    const st = statusesOf(reply);
    assert.equal(st[0]!.Data, 200);
    assert.deepEqual(
      st[0]!.Item.map((it) => (it.Data?.kind === 'text' ? it.Data.text : '')),
      ['hello'],
    );
    assert.deepEqual(
      st[1]!.Item.map((it) => (it.Data?.kind === 'text' ? it.Data.text : '')),
      ['1', '3'],
    );
    assert.equal(st[2]!.Data, 408);
    assert.equal(i, 3);

    const noUi = clientFor(new MapTree());
    await noUi.start();
    assert.equal(
      statusesOf(await answer(noUi, serverMsg(1, [{ ...ui(1101, 'x'), CmdID: '2' }])))[0]!.Data,
      406,
    );
  });

  test('UI alert answered before MAXDT with the real timer: no stray timer or rejection is left behind', async () => {
    const client = clientFor(new MapTree(), async () => ({ kind: 'yes' }));
    await client.start();
    const reply = await answer(client, serverMsg(1, [{ ...ui(1101, 'Go?', 'MAXDT=30'), CmdID: '2' }]));
    assert.equal(statusesOf(reply)[0]!.Data, 200);
  });

  test('large object: 213 per chunk with Alert 1222, 424 when the size does not match', async () => {
    const tree = new MapTree({ './Blob': '' });
    const client = clientFor(tree);
    await client.start();
    const chunk = (text: string, more: boolean, size?: number): Command => ({
      type: 'Replace',
      CmdID: '2',
      Item: [
        {
          Target: { LocURI: './Blob' },
          ...(size === undefined ? {} : { Meta: { Size: size } }),
          Data: { kind: 'text', text },
          ...(more ? { MoreData: true } : {}),
        },
      ],
    });
    const r1 = await answer(client, serverMsg(1, [chunk('abc', true, 10)], false));
    assert.equal(statusesOf(r1)[0]!.Data, 213);
    assert.ok(r1.SyncBody.commands.some((c) => c.type === 'Alert' && c.Data === 1222));
    assert.equal(r1.SyncBody.Final, false);
    const r2 = await answer(client, serverMsg(2, [chunk('de', false)]));
    assert.equal(statusesOf(r2)[0]!.Data, 424);
    assert.equal(tree.values.get('./Blob'), '', 'not committed');
  });

  test('large object interrupted by another command: Alert 1225 and nothing committed', async () => {
    const tree = new MapTree({ './Blob': '', './A': '1' });
    const client = clientFor(tree);
    await client.start();
    const first: Command = {
      type: 'Replace',
      CmdID: '2',
      Item: [
        {
          Target: { LocURI: './Blob' },
          Meta: { Size: 6 },
          Data: { kind: 'text', text: 'abc' },
          MoreData: true,
        },
      ],
    };
    await answer(client, serverMsg(1, [first], false));
    const r = await answer(client, serverMsg(2, [{ ...replaceCmd('./A', '2'), CmdID: '2' }]));
    const alert1225 = r.SyncBody.commands.find((c): c is Alert => c.type === 'Alert' && c.Data === 1225);
    assert.ok(alert1225);
    assert.equal(alert1225.Item[0]?.Target?.LocURI, './Blob');
    assert.equal(tree.values.get('./Blob'), '');
    assert.equal(tree.values.get('./A'), '2');
  });

  test('a server message over the client command limit: Alert 1223, commands 215, session over', async () => {
    const tree = new MapTree({ './A': '1' });
    const client = new DmClientSession({
      codec: syncmlCodec,
      deviceId: DEVICE,
      sessionId: '42',
      devInfo: {},
      account: { serverId: 's', serverUri: 'http://h/dm', client: { mode: 'none', name: 'd', secret: '' } },
      handler: tree,
      limits: { maxCommandsPerMessage: 2 },
    });
    await client.start();
    const req = await client.receive({
      body: serverMsg(1, [
        { ...replaceCmd('./A', '2'), CmdID: '2' },
        { ...replaceCmd('./A', '3'), CmdID: '3' },
      ]),
      contentType: XML,
    });
    assert.ok(req);
    const m = decodeMessage(req.body);
    assert.ok(m.SyncBody.commands.some((c) => c.type === 'Alert' && c.Data === 1223));
    assert.deepEqual(
      statusesOf(m).map((s) => s.Data),
      [215, 215],
    );
    assert.equal(client.result?.outcome, 'limit');
    assert.equal(tree.values.get('./A'), '1');
  });

  test('server Alert 1223 ends the session without an answer', async () => {
    const client = clientFor(new MapTree());
    await client.start();
    const r = await client.receive({
      body: serverMsg(1, [{ type: 'Alert', CmdID: '2', Data: 1223, Item: [] }]),
      contentType: XML,
    });
    assert.equal(r, undefined);
    assert.equal(client.result?.outcome, 'aborted');
  });

  test('Get inside Atomic fails the Atomic (500, 507) without touching the tree', async () => {
    const tree = new MapTree({ './A': '1' });
    const client = clientFor(tree);
    await client.start();
    const atomic: Command = {
      type: 'Atomic',
      CmdID: '2',
      commands: [
        { ...replaceCmd('./A', '2'), CmdID: '3' },
        { ...getCmd('./A'), CmdID: '4' },
      ],
    };
    const reply = await answer(client, serverMsg(1, [atomic]));
    assert.deepEqual(
      statusesOf(reply).map((s) => s.Data),
      [507, 216, 500],
    );
    assert.equal(tree.values.get('./A'), '1');
  });
});

describe('server engine: what a finished session leaves to the command source', () => {
  test('every command answered: sessionEnded says nothing is held (no release needed)', async () => {
    const pair = makePair({ tree: { './A': '1' } });
    pair.queue.enqueue(DEVICE, replaceCmd('./A', '2'));
    const result = await runClientSession(pair.client(), loopback(pair.server));
    assert.equal(result.outcome, 'completed');
    const ended = pair.queue.sessions.at(-1)!;
    assert.equal(ended.ref.heldNothing, true);
    assert.equal(ended.ref.firstMessage, undefined);
  });

  test('a command sent and never answered: sessionEnded must release (heldNothing unset)', async () => {
    const pair = makePair({ tree: { './A': '1' } });
    const id = pair.queue.enqueue(DEVICE, replaceCmd('./A', '2'));
    const { client, res, token } = await openSession(pair);
    const req3 = (await client.receive({ body: res.body, contentType: XML }))!;
    // The device's answer loses the Replace's Status.
    const m = decodeMessage(req3.body);
    const dropped = enc({
      ...m,
      SyncBody: {
        ...m.SyncBody,
        commands: m.SyncBody.commands.filter((c) => !(c.type === 'Status' && c.Cmd === 'Replace')),
      },
    });
    const res4 = await pair.server.handle({ body: dropped, contentType: XML, sessionToken: token });
    assert.equal(res4.done, true);
    const ended = pair.queue.sessions.at(-1)!;
    assert.equal(ended.ref.heldNothing, undefined);
    assert.notEqual(pair.queue.records.get(id)?.state, 'queued');
  });
});
