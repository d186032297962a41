/**
 * Client engine ↔ server engine over real HTTP on 127.0.0.1: complete sessions in XML and WBXML
 * with every auth type, server challenges, refused credentials, large objects, multi-message
 * packages, Atomic rollback, asynchronous Exec reported by Generic Alert.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { HttpTransport } from '../../src/binding/http/index.ts';
import { runClientSession } from '../../src/protocol/client-runner.ts';
import { channels } from '../../src/protocol/diagnostics.ts';
import { SessionError } from '../../src/protocol/errors.ts';
import { genericAlert } from '../../src/protocol/generic-alert.ts';
import type { Command } from '../../src/representation/index.ts';
import { ManagementTree, treeCommandHandler } from '../../src/tree/index.ts';
import { getCmd, replaceCmd } from '../protocol/helpers.ts';
import { DEVICE, makePair, type Pair } from '../protocol/session-harness.ts';
import { type RunningServer, startDmServer } from './http-harness.ts';

const transport = new HttpTransport({ retries: 0, timeoutMs: 10_000 });
after(() => transport.close());

async function withServer(
  pair: Pair,
  fn: (srv: RunningServer) => Promise<void>,
  bodyLimit?: number,
): Promise<void> {
  const srv = await startDmServer({ engine: pair.server, ...(bodyLimit ? { bodyLimit } : {}) });
  pair.setServerUri(srv.url);
  try {
    await fn(srv);
  } finally {
    await srv.close();
  }
}

for (const encoding of ['xml', 'wbxml'] as const) {
  for (const auth of ['basic', 'md5', 'hmac'] as const) {
    test(`complete ${encoding} session with ${auth} auth both ways, then a second session on rotated nonces`, async () => {
      const pair = makePair({ auth, serverAuth: auth, encoding });
      await withServer(pair, async (srv) => {
        const get = pair.queue.enqueue(DEVICE, getCmd('./DevDetail/SwV'));
        const rep = pair.queue.enqueue(DEVICE, replaceCmd('./Vendor/Poll', '3600'));
        const result = await runClientSession(pair.client(), transport);
        assert.equal(result.outcome, 'completed');
        assert.equal(result.serverAuthenticated, true);
        const g = pair.queue.records.get(get)!.outcome!;
        assert.equal(g.status, 200);
        assert.equal(g.results?.[0]?.Data?.kind === 'text' && g.results[0].Data.text, '4.2.1');
        assert.equal(pair.queue.records.get(rep)!.outcome!.status, 200);
        assert.equal(pair.tree.values.get('./Vendor/Poll'), '3600');
        assert.deepEqual(pair.queue.devInfos.get(DEVICE)?.['./DevInfo/Mod'], 'EX-100');
        // Package 1, 3 (and nothing after package 4): two POSTs.
        assert.equal(srv.requests.length, 2);
        assert.ok(srv.requests[1]!.url.includes('?s='), 'second message goes to the RespURI');

        const again = pair.queue.enqueue(DEVICE, getCmd('./Vendor/Poll'));
        const second = await runClientSession(pair.client(), transport);
        assert.equal(second.outcome, 'completed');
        assert.equal(pair.queue.records.get(again)!.outcome!.status, 200);
        assert.equal(srv.requests.length, 4, 'no extra round trip: nonces were carried over');
      });
    });
  }
}

test('server challenge: a stale client nonce gets 401 + Chal, the client retries package 1 and succeeds', async () => {
  const pair = makePair({ auth: 'md5', serverAuth: 'md5' });
  await pair.creds.updateNonces(DEVICE, {
    clientNonce: Buffer.from('nonce-the-client-never-saw').toString('base64'),
  });
  await withServer(pair, async (srv) => {
    const id = pair.queue.enqueue(DEVICE, getCmd('./DevDetail/SwV'));
    const result = await runClientSession(pair.client(), transport);
    assert.equal(result.outcome, 'completed');
    assert.equal(pair.queue.records.get(id)!.outcome!.status, 200);
    assert.equal(srv.requests.length, 3, 'package 1, package 1 again, package 3');
  });
});

test('client challenge: a stale server nonce gets 401 + Chal from the device, the server resends with a fresh Cred', async () => {
  const pair = makePair({ auth: 'md5', serverAuth: 'md5' });
  await pair.creds.updateNonces(DEVICE, { serverNonce: Buffer.from('stale').toString('base64') });
  await withServer(pair, async (srv) => {
    const id = pair.queue.enqueue(DEVICE, replaceCmd('./Vendor/Poll', '42'));
    const result = await runClientSession(pair.client(), transport);
    assert.equal(result.outcome, 'completed');
    assert.equal(result.serverAuthenticated, true);
    assert.equal(pair.queue.records.get(id)!.outcome!.status, 200);
    assert.equal(pair.tree.values.get('./Vendor/Poll'), '42');
    assert.equal(srv.requests.length, 3, 'package 1, the refusal (401 + Chal), package 3');
    assert.equal(
      (await pair.creds.lookup(DEVICE))!.serverNonce,
      pair.nonces.serverNonce,
      'both sides agree on the next nonce',
    );
  });
});

test('the client answers a challenge with exactly the requested scheme (basic → md5)', async () => {
  const pair = makePair({ auth: 'md5', serverAuth: 'md5' });
  await withServer(pair, async (srv) => {
    const result = await runClientSession(
      pair.client({
        account: {
          serverId: 'srv1',
          serverUri: srv.url,
          client: { mode: 'basic', name: 'dev1', secret: 'devpass' },
          server: { mode: 'md5', name: 'srv1', secret: 'srvpass' },
        },
      }),
      transport,
    );
    assert.equal(result.outcome, 'completed');
    assert.equal(
      srv.requests.length,
      2,
      'package 1 (basic, refused with an md5 Chal), package 1 again (md5)',
    );
  });
});

for (const auth of ['basic', 'md5', 'hmac'] as const) {
  test(`wrong ${auth} client credentials are refused, with a bounded number of attempts`, async () => {
    const pair = makePair({ auth, serverAuth: 'none', clientSecret: 'wrong' });
    const fails: unknown[] = [];
    const sub = (m: unknown) => fails.push(m);
    channels.authFail.subscribe(sub);
    try {
      await withServer(pair, async (srv) => {
        const id = pair.queue.enqueue(DEVICE, replaceCmd('./Vendor/Poll', 'evil'));
        await assert.rejects(runClientSession(pair.client(), transport), (e: unknown) => {
          assert.ok(e instanceof SessionError);
          assert.equal(e.code, 'OMADM_ERR_SESSION_AUTH_FAILED');
          return true;
        });
        assert.ok(srv.requests.length <= 3, `bounded: ${srv.requests.length} requests`);
        assert.equal(pair.queue.records.get(id)!.state, 'queued', 'nothing was handed out');
        assert.equal(pair.tree.values.get('./Vendor/Poll'), '60');
      });
    } finally {
      channels.authFail.unsubscribe(sub);
    }
  });
}

test("the server's last refusal ends the session (Alert 1223): the client does not post again into a 404", async () => {
  // The server allows fewer attempts than the client would make.
  const pair = makePair({
    auth: 'md5',
    serverAuth: 'none',
    clientSecret: 'wrong',
    serverLimits: { maxAuthAttempts: 2 },
  });
  await withServer(pair, async (srv) => {
    await assert.rejects(runClientSession(pair.client(), transport), (e: unknown) => {
      assert.ok(e instanceof SessionError);
      assert.equal(e.code, 'OMADM_ERR_SESSION_AUTH_FAILED', String(e));
      return true;
    });
    assert.equal(srv.requests.length, 2, 'two attempts, no post after the last refusal');
  });
});

test('a server with wrong credentials is refused by the client; nothing is executed', async () => {
  const pair = makePair({ auth: 'md5', serverAuth: 'md5', serverSecretOnClient: 'not-the-server-secret' });
  await withServer(pair, async () => {
    pair.queue.enqueue(DEVICE, replaceCmd('./Vendor/Poll', 'evil'));
    await assert.rejects(runClientSession(pair.client(), transport), (e: unknown) => {
      assert.ok(e instanceof SessionError);
      assert.equal(e.code, 'OMADM_ERR_SESSION_PEER_AUTH_FAILED');
      return true;
    });
    assert.equal(pair.tree.values.get('./Vendor/Poll'), '60');
  });
});

test('a 1 MB object in both directions through 64 KB messages (large objects, MoreData, Meta Size)', async () => {
  const big = 'x'.repeat(1024 * 1024 - 7) + 'é-end'; // multi-byte character near the end
  const pair = makePair({
    auth: 'md5',
    serverAuth: 'md5',
    clientLimits: { maxMsgSize: 64 * 1024, maxObjSize: 2 * 1024 * 1024 },
    serverLimits: { maxMsgSize: 64 * 1024 },
    tree: { './Vendor/Blob': '', './Vendor/Big': big },
  });
  const sizes: number[] = [];
  const sub = (m: unknown) => sizes.push((m as { bytes: number }).bytes);
  channels.messageOut.subscribe(sub);
  try {
    await withServer(
      pair,
      async () => {
        const down = pair.queue.enqueue(DEVICE, replaceCmd('./Vendor/Blob', big));
        const up = pair.queue.enqueue(DEVICE, getCmd('./Vendor/Big'));
        const result = await runClientSession(pair.client(), transport);
        assert.equal(result.outcome, 'completed');
        assert.equal(pair.queue.records.get(down)!.outcome!.status, 200);
        assert.equal(pair.tree.values.get('./Vendor/Blob'), big, 'server → client object reassembled');
        const got = pair.queue.records.get(up)!.outcome!;
        assert.equal(got.status, 200);
        const d = got.results?.[0]?.Data;
        assert.equal(d?.kind === 'text' ? d.text : '', big, 'client → server object reassembled');
        assert.ok(sizes.length > 30, `chunked into many messages (${sizes.length})`);
        assert.ok(Math.max(...sizes) <= 64 * 1024, `every message within 64 KB (max ${Math.max(...sizes)})`);
      },
      256 * 1024,
    );
  } finally {
    channels.messageOut.unsubscribe(sub);
  }
});

test('an object above the client MaxObjSize is not sent (413, notSent)', async () => {
  const pair = makePair({
    auth: 'md5',
    serverAuth: 'md5',
    clientLimits: { maxObjSize: 64 * 1024 },
    tree: { './Vendor/Blob': '' },
  });
  await withServer(pair, async () => {
    const id = pair.queue.enqueue(DEVICE, replaceCmd('./Vendor/Blob', 'y'.repeat(1024 * 1024)));
    const result = await runClientSession(pair.client(), transport);
    assert.equal(result.outcome, 'completed');
    const o = pair.queue.records.get(id)!.outcome!;
    assert.equal(o.status, 413);
    assert.equal(o.notSent, true);
    assert.equal(pair.tree.values.get('./Vendor/Blob'), '');
  });
});

test('a 40-command package with MaxMsgSize 2 KB: split messages, Alert 1222, Final only on the last', async () => {
  const tree: Record<string, string> = {};
  for (let i = 0; i < 40; i++) tree[`./Vendor/Set/N${i}`] = 'old';
  const pair = makePair({ auth: 'md5', serverAuth: 'md5', clientLimits: { maxMsgSize: 2048 }, tree });
  const out: { role: string; bytes: number }[] = [];
  const sub = (m: unknown) => out.push(m as { role: string; bytes: number });
  channels.messageOut.subscribe(sub);
  try {
    await withServer(pair, async () => {
      const ids = Array.from({ length: 40 }, (_, i) =>
        pair.queue.enqueue(DEVICE, replaceCmd(`./Vendor/Set/N${i}`, `value-${i}`)),
      );
      const result = await runClientSession(pair.client(), transport);
      assert.equal(result.outcome, 'completed');
      for (const [i, id] of ids.entries()) {
        assert.equal(pair.queue.records.get(id)!.outcome!.status, 200);
        assert.equal(pair.tree.values.get(`./Vendor/Set/N${i}`), `value-${i}`);
      }
      const server = out.filter((m) => m.role === 'server').map((m) => m.bytes);
      assert.ok(server.length >= 4, `split into ${server.length} server messages`);
      assert.ok(Math.max(...server) <= 2048, `each ≤ 2048 bytes (max ${Math.max(...server)})`);
    });
  } finally {
    channels.messageOut.unsubscribe(sub);
  }
});

test('the device package split too: 40 Gets answered through a server MaxMsgSize of 2 KB', async () => {
  const tree: Record<string, string> = {};
  for (let i = 0; i < 40; i++) tree[`./Vendor/Get/N${i}`] = `value-${i}-${'z'.repeat(40)}`;
  const pair = makePair({ auth: 'md5', serverAuth: 'md5', serverLimits: { maxMsgSize: 2048 }, tree });
  const out: { role: string; bytes: number }[] = [];
  const sub = (m: unknown) => out.push(m as { role: string; bytes: number });
  channels.messageOut.subscribe(sub);
  try {
    await withServer(pair, async () => {
      const ids = Array.from({ length: 40 }, (_, i) =>
        pair.queue.enqueue(DEVICE, getCmd(`./Vendor/Get/N${i}`)),
      );
      const result = await runClientSession(pair.client(), transport);
      assert.equal(result.outcome, 'completed');
      for (const [i, id] of ids.entries()) {
        const o = pair.queue.records.get(id)!.outcome!;
        assert.equal(o.status, 200);
        const d = o.results?.[0]?.Data;
        assert.equal(d?.kind === 'text' ? d.text : '', tree[`./Vendor/Get/N${i}`]);
      }
      const client = out.filter((m) => m.role === 'client').map((m) => m.bytes);
      assert.ok(client.length >= 4, `device package split into ${client.length} messages`);
      assert.ok(
        Math.max(...client.slice(1)) <= 2048,
        `each ≤ 2048 bytes (max ${Math.max(...client.slice(1))})`,
      );
    });
  } finally {
    channels.messageOut.unsubscribe(sub);
  }
});

test('Atomic: a failing member rolls everything back (507, 216, own code, 215)', async () => {
  const pair = makePair({ auth: 'md5', serverAuth: 'md5', tree: { './A': '1', './B': '2', './C': '3' } });
  pair.tree.failOn.set('./B', 425);
  await withServer(pair, async () => {
    const atomic: Command = {
      type: 'Atomic',
      CmdID: '0',
      commands: [replaceCmd('./A', 'new'), replaceCmd('./B', 'new'), replaceCmd('./C', 'new')],
    };
    const id = pair.queue.enqueue(DEVICE, atomic);
    await runClientSession(pair.client(), transport);
    const o = pair.queue.records.get(id)!.outcome!;
    assert.equal(o.status, 507);
    assert.deepEqual(
      o.members?.map((m) => m.status),
      [216, 425, 215],
    );
    assert.deepEqual([...pair.tree.values.entries()].sort(), [
      ['./A', '1'],
      ['./B', '2'],
      ['./C', '3'],
    ]);
  });
});

test('Atomic over HTTP against the real management tree: rolled back as a whole', async () => {
  const tree = await ManagementTree.open();
  await tree.replace('.?prop=ACL', { data: 'Add=*&Get=*&Replace=*&Delete=*' });
  await tree.add('./Vendor/A', { data: '1' });
  await tree.add('./Vendor/B', { data: '2' });
  const pair = makePair({ auth: 'md5', serverAuth: 'md5' });
  await withServer(pair, async () => {
    const atomic: Command = {
      type: 'Atomic',
      CmdID: '0',
      commands: [
        replaceCmd('./Vendor/A', 'changed'),
        { type: 'Delete', CmdID: '0', Item: [{ Target: { LocURI: './Vendor/B' } }] },
        replaceCmd('./Vendor/Missing', 'x'),
      ],
    };
    const bad = pair.queue.enqueue(DEVICE, atomic);
    const good = pair.queue.enqueue(DEVICE, {
      type: 'Atomic',
      CmdID: '0',
      commands: [replaceCmd('./Vendor/A', 'ok'), replaceCmd('./Vendor/B', 'ok')],
    });
    const result = await runClientSession(pair.client({ handler: treeCommandHandler(tree) }), transport);
    assert.equal(result.outcome, 'completed');
    const o = pair.queue.records.get(bad)!.outcome!;
    assert.equal(o.status, 507);
    assert.deepEqual(
      o.members?.map((m) => m.status),
      [216, 216, 404],
    );
    // The second Atomic replaces ./Vendor/B: it only succeeds because the first one's Delete was undone.
    assert.equal(pair.queue.records.get(good)!.outcome!.status, 200);
    assert.match(JSON.stringify(await tree.get('./Vendor/B')), /"ok"/);
  });
});

test('Exec with a Correlator answered 202, result delivered by Generic Alert 1226 in a later session', async () => {
  const pair = makePair({ auth: 'md5', serverAuth: 'md5' });
  pair.tree.asyncExec.add('./FwUpdate/Pkg1/DownloadAndUpdate');
  await withServer(pair, async () => {
    const exec: Command = {
      type: 'Exec',
      CmdID: '0',
      Correlator: 'job-42',
      Item: [{ Target: { LocURI: './FwUpdate/Pkg1/DownloadAndUpdate' } }],
    };
    const id = pair.queue.enqueue(DEVICE, exec);
    await runClientSession(pair.client(), transport);
    const rec = pair.queue.records.get(id)!;
    assert.equal(rec.outcome!.status, 202);
    assert.equal(rec.state, 'pending');
    assert.deepEqual(pair.tree.execs, [
      { uri: './FwUpdate/Pkg1/DownloadAndUpdate', data: '', correlator: 'job-42' },
    ]);
    // The job finishes on the device; it reports in its next session.
    pair.outbox.items.push({
      id: 'a1',
      alert: genericAlert({
        correlator: 'job-42',
        source: './FwUpdate/Pkg1/DownloadAndUpdate',
        type: 'org.openmobilealliance.dm.firmwareupdate.downloadandupdate',
        mark: 'critical',
        data: '200',
      }),
    });
    const settled = pair.queue.settled(id);
    await runClientSession(pair.client(), transport);
    const done = await settled;
    assert.equal(done.state, 'done');
    assert.equal(done.asyncResult?.data, '200');
    assert.deepEqual(pair.outbox.statuses, [{ id: 'a1', status: 200 }]);
    assert.equal(pair.outbox.items.length, 0);
  });
});

test('Exec completing during the session is reported by Generic Alert in package 3 of the same session', async () => {
  const pair = makePair({ auth: 'md5', serverAuth: 'md5' });
  const tree = pair.tree;
  const handler = {
    execute: async (cmd: Parameters<typeof tree.execute>[0], ctx: Parameters<typeof tree.execute>[1]) => {
      if (cmd.type === 'Exec' && cmd.Correlator) {
        pair.outbox.items.push({
          id: 'now',
          alert: genericAlert({ correlator: cmd.Correlator, type: 'x.example.job', data: '0' }),
        });
        return { status: 202 };
      }
      return tree.execute(cmd, ctx);
    },
  };
  await withServer(pair, async () => {
    const id = pair.queue.enqueue(DEVICE, {
      type: 'Exec',
      CmdID: '0',
      Correlator: 'c-1',
      Item: [{ Target: { LocURI: './Job' } }],
    });
    const settled = pair.queue.settled(id);
    const result = await runClientSession(pair.client({ handler }), transport);
    assert.equal(result.outcome, 'completed');
    assert.equal((await settled).asyncResult?.data, '0');
  });
});

describe('HTTP server endpoint', () => {
  let pair: Pair;
  let srv: RunningServer;
  before(async () => {
    pair = makePair();
    srv = await startDmServer({ engine: pair.server, bodyLimit: 4096 });
  });
  after(() => srv.close());

  test('answers only POST (405 with Allow)', async () => {
    const res = await fetch(srv.url);
    assert.equal(res.status, 405);
    assert.equal(res.headers.get('allow'), 'POST');
  });
  test('refuses other media types (415)', async () => {
    const res = await fetch(srv.url, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'x',
    });
    assert.equal(res.status, 415);
  });
  test('refuses bodies over the limit (413), chunked ones too', async () => {
    const big = new Uint8Array(8192).fill(0x20);
    const res = await fetch(srv.url, {
      method: 'POST',
      headers: { 'content-type': 'application/vnd.syncml.dm+xml' },
      body: big,
    });
    assert.equal(res.status, 413);
    const stream = new ReadableStream({
      start(c) {
        for (let i = 0; i < 4; i++) c.enqueue(new Uint8Array(2048).fill(0x20));
        c.close();
      },
    });
    const res2 = await fetch(srv.url, {
      method: 'POST',
      headers: { 'content-type': 'application/vnd.syncml.dm+xml' },
      body: stream,
      duplex: 'half',
    } as RequestInit);
    assert.equal(res2.status, 413);
  });
  test('accepts a chunked request body and answers in its encoding', async () => {
    const { readFileSync } = await import('node:fs');
    const pkg1 = readFileSync(new URL('../../../shared/vectors/packages/pkg1.wbxml', import.meta.url));
    const stream = new ReadableStream({
      start(c) {
        for (let i = 0; i < pkg1.length; i += 100) c.enqueue(new Uint8Array(pkg1.subarray(i, i + 100)));
        c.close();
      },
    });
    const res = await fetch(srv.url, {
      method: 'POST',
      headers: { 'content-type': 'application/vnd.syncml.dm+wbxml' },
      body: stream,
      duplex: 'half',
    } as RequestInit);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/vnd.syncml.dm+wbxml');
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const body = new Uint8Array(await res.arrayBuffer());
    assert.ok(body[0]! <= 0x03, 'WBXML answer');
  });

  test('refuses undecodable bodies (400)', async () => {
    const res = await fetch(srv.url, {
      method: 'POST',
      headers: { 'content-type': 'application/vnd.syncml.dm+xml' },
      body: '<SyncML>',
    });
    assert.equal(res.status, 400);
  });
});
