/** The client HTTP transport against small node:http servers: retries with backoff, bounds, redirects, limits. */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { HttpTransport } from '../../src/binding/http/index.ts';
import { SessionError } from '../../src/protocol/errors.ts';

async function serve(handler: http.RequestListener): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const request = (url: string) => ({
  url,
  body: new TextEncoder().encode('<SyncML/>'),
  contentType: 'application/vnd.syncml.dm+xml',
  hmac: 'algorithm=MD5, username="u", mac=AAAA',
});

test('retries 5xx with growing backoff, then succeeds; sends Content-Length and x-syncml-hmac', async () => {
  let n = 0;
  const seen: http.IncomingHttpHeaders[] = [];
  const srv = await serve((req, res) => {
    seen.push(req.headers);
    req.resume();
    if (++n < 3) {
      res.writeHead(503).end();
      return;
    }
    res.writeHead(200, {
      'content-type': 'application/vnd.syncml.dm+xml',
      'x-syncml-hmac': 'algorithm=MD5, username="s", mac=BBBB',
    });
    res.end('<ok/>');
  });
  const sleeps: number[] = [];
  const t = new HttpTransport({
    retries: 3,
    backoffMs: 100,
    random: () => 1,
    sleep: async (ms) => void sleeps.push(ms),
  });
  try {
    const res = await t.exchange(request(`${srv.url}/dm`));
    assert.equal(Buffer.from(res.body).toString(), '<ok/>');
    assert.equal(res.hmac, 'algorithm=MD5, username="s", mac=BBBB');
    assert.deepEqual(sleeps, [100, 200]);
    assert.equal(seen[0]!['content-length'], '9');
    assert.equal(seen[0]!['x-syncml-hmac'], 'algorithm=MD5, username="u", mac=AAAA');
  } finally {
    t.close();
    await srv.close();
  }
});

test('gives up after the bounded retries; 4xx is not retried', async () => {
  let n = 0;
  const srv = await serve((req, res) => {
    n++;
    req.resume();
    res.writeHead(req.url === '/bad' ? 404 : 500).end('nope');
  });
  const t = new HttpTransport({ retries: 2, backoffMs: 1, sleep: async () => {} });
  try {
    await assert.rejects(t.exchange(request(`${srv.url}/dm?s=secret-token`)), (e: unknown) => {
      assert.ok(e instanceof SessionError);
      assert.equal(e.status, 500);
      assert.ok(!e.message.includes('secret-token'), 'session token kept out of messages');
      return true;
    });
    assert.equal(n, 3);
    n = 0;
    await assert.rejects(t.exchange(request(`${srv.url}/bad`)));
    assert.equal(n, 1);
  } finally {
    t.close();
    await srv.close();
  }
});

test('follows redirects (bounded) and times out a silent server', async () => {
  const srv = await serve((req, res) => {
    req.resume();
    if (req.url === '/old') res.writeHead(307, { location: '/new' }).end();
    else if (req.url === '/loop') res.writeHead(307, { location: '/loop' }).end();
    else if (req.url === '/silent')
      return; // never answers
    else res.writeHead(200, { 'content-type': 'application/vnd.syncml.dm+xml' }).end('<moved/>');
  });
  const t = new HttpTransport({ retries: 0, timeoutMs: 200 });
  try {
    assert.equal(Buffer.from((await t.exchange(request(`${srv.url}/old`))).body).toString(), '<moved/>');
    await assert.rejects(t.exchange(request(`${srv.url}/loop`)), /redirects/);
    await assert.rejects(t.exchange(request(`${srv.url}/silent`)), /timeout/);
  } finally {
    t.close();
    await srv.close();
  }
});

test('refuses responses above maxResponseBytes', async () => {
  const srv = await serve((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/vnd.syncml.dm+xml' }).end('x'.repeat(10_000));
  });
  const t = new HttpTransport({ retries: 0, maxResponseBytes: 1000 });
  try {
    await assert.rejects(t.exchange(request(`${srv.url}/dm`)), /larger than 1000/);
  } finally {
    t.close();
    await srv.close();
  }
});
