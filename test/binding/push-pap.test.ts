/**
 * PAP bearer. End to end through Debian's Kannel as the Push Proxy Gateway
 * (apt: kannel; bearerbox + wapbox with a `ppg` group) which delivers over
 * SMPP to test/fixtures/smsc.pl — so the PAP request, Kannel's WSP encoding
 * and the SMS on the wire are all checked. A local HTTP server stands in for
 * the PPG only for the refusal/garbage cases Kannel cannot be made to produce.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  decodeWspPush,
  PapBearer,
  PushError,
  papControlEntity,
  parsePapResponse,
} from '../../src/binding/push/index.ts';
import { buildPackage0, parsePackage0 } from '../../src/protocol/notification/index.ts';
import { Smsc } from './push-smsc.ts';

const PKG0 = buildPackage0({
  serverId: 'com.mgmtsrv.manage',
  sessionId: 0x1234,
  uiMode: 'background',
  initiator: 'server',
  secret: 'srvSecret',
  nonce: new Uint8Array(4),
});

async function freeTcpPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

async function waitForPort(port: number, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`port ${port} did not open within ${ms} ms`);
}

function stop(child: ChildProcess | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

describe('PAP bearer through Kannel PPG → SMPP → SMSC', () => {
  const smsc = new Smsc('kannel', 'kpw');
  const dir = mkdtempSync(join(tmpdir(), 'omadm-kannel-'));
  let bearerbox: ChildProcess | undefined;
  let wapbox: ChildProcess | undefined;
  let ppgPort = 0;

  before(async () => {
    await smsc.start();
    const [admin, wapboxPort, smsboxPort] = [await freeTcpPort(), await freeTcpPort(), await freeTcpPort()];
    ppgPort = await freeTcpPort();
    const conf = join(dir, 'kannel.conf');
    writeFileSync(
      conf,
      `group = core
admin-port = ${admin}
admin-password = omadm-test
wapbox-port = ${wapboxPort}
smsbox-port = ${smsboxPort}
box-allow-ip = 127.0.0.1
log-file = "${join(dir, 'bearerbox.log')}"
log-level = 1

group = smsbox
bearerbox-host = 127.0.0.1

group = smsc
smsc = smpp
smsc-id = perl
host = 127.0.0.1
port = ${smsc.port}
receive-port = 0
smsc-username = kannel
smsc-password = kpw
system-type = ""
transceiver-mode = false

group = wapbox
bearerbox-host = 127.0.0.1
log-file = "${join(dir, 'wapbox.log')}"
log-level = 1

group = ppg
ppg-url = /wappush
ppg-port = ${ppgPort}
concurrent-pushes = 10
users = 10
trusted-pi = true
ppg-allow-ip = 127.0.0.1
service-name = ppg
`,
    );
    bearerbox = spawn('bearerbox', [conf], { cwd: dir, stdio: 'ignore' });
    await smsc.next((e) => e.event === 'bind');
    await waitForPort(wapboxPort, 15_000);
    wapbox = spawn('wapbox', [conf], { cwd: dir, stdio: 'ignore' });
    await waitForPort(ppgPort, 15_000);
  });

  after(async () => {
    await stop(wapbox);
    await stop(bearerbox);
    await smsc.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('Package 0 arrives at the SMSC as one WAP push SMS to port 2948', async () => {
    const from = smsc.events.length;
    const bearer = new PapBearer({ url: `http://127.0.0.1:${ppgPort}/wappush`, ppgDomain: 'ppg.example' });
    const r = await bearer.send('+491701234567', PKG0);
    assert.equal(r.accepted, true);
    assert.equal(r.status, 'PAP 1001');
    assert.equal(r.bearer, 'pap');
    const msg = await smsc.next((e) => e.event === 'message', from);
    assert.equal(msg.dest, '491701234567');
    assert.equal(msg.parts, 1);
    const push = decodeWspPush(Uint8Array.from(Buffer.from(String(msg.payload), 'hex')));
    assert.equal(push.pduType, 0x06);
    // Kannel writes this content type as text (its table lacks 0x44); receivers must accept both forms.
    assert.equal(push.contentType.media, 'application/vnd.syncml.notification');
    assert.equal(push.applicationId, 0x07);
    assert.deepEqual(new Uint8Array(push.body), PKG0);
    assert.equal(parsePackage0(push.body).sessionId, 0x1234);
    assert.equal(smsc.events.filter((e) => e.event === 'reject').length, 0);
    await bearer.close();
  });

  test('a PAP address Kannel cannot route is refused with a PAP code, not thrown', async () => {
    const bearer = new PapBearer({
      url: `http://127.0.0.1:${ppgPort}/wappush`,
      address: () => 'WAPPUSH=bogus',
    });
    const r = await bearer.send('+1', PKG0);
    assert.equal(r.accepted, false);
    assert.match(r.status ?? '', /^PAP [2-4]\d{3}$/);
  });
});

describe('PAP bearer against a stand-in PPG', () => {
  let server: Server;
  let port = 0;
  let lastRequest: { headers: Record<string, string | string[] | undefined>; body: Buffer } | undefined;
  let reply = '';

  before(async () => {
    server = createHttpServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        lastRequest = { headers: req.headers, body: Buffer.concat(chunks) };
        res.writeHead(202, { 'content-type': 'application/xml' }).end(reply);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    port = (server.address() as { port: number }).port;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  test('request: multipart/related with control entity first, then the binary Package 0; minimal HTTP headers', async () => {
    reply =
      '<?xml version="1.0"?><pap><push-response push-id="x"><response-result code="1000" desc="OK"/></push-response></pap>';
    const bearer = new PapBearer({
      url: `http://127.0.0.1:${port}/ppg`,
      headers: { authorization: 'Basic eDp5' },
    });
    const r = await bearer.send('+4930123', PKG0);
    assert.deepEqual([r.accepted, r.status, r.detail], [true, 'PAP 1000', 'OK']);
    const h = lastRequest!.headers;
    const ct = String(h['content-type']);
    const boundary = /boundary=([^;]+)/.exec(ct)![1]!;
    assert.match(ct, /^multipart\/related; boundary=omadm-[0-9a-f]+; type="application\/xml"$/);
    assert.equal(h.authorization, 'Basic eDp5');
    assert.equal(h['user-agent'], undefined);
    const body = lastRequest!.body;
    const text = body.toString('latin1');
    const parts = text.split(`--${boundary}`);
    assert.equal(parts.length, 4); // preamble '', control, content, '--\r\n'
    assert.match(parts[1]!, /Content-Type: application\/xml\r\n\r\n<\?xml/);
    assert.match(parts[1]!, /address-value="WAPPUSH=\+4930123\/TYPE=PLMN@127\.0\.0\.1"/);
    assert.match(parts[1]!, new RegExp(`push-id="${r.ids[0]!.replace(/[.]/g, '\\.')}"`));
    assert.match(
      parts[2]!,
      /Content-Type: application\/vnd\.syncml\.notification\r\nX-Wap-Application-Id: x-wap-application:syncml\.dm\r\n\r\n/,
    );
    const start = body.indexOf('\r\n\r\n', body.indexOf('vnd.syncml.notification')) + 4;
    assert.deepEqual(new Uint8Array(body.subarray(start, start + PKG0.byteLength)), PKG0);
    assert.equal(body.subarray(start + PKG0.byteLength).toString(), `\r\n--${boundary}--\r\n`);
  });

  test('refusal codes and non-PAP answers', async () => {
    const bearer = new PapBearer({ url: `http://127.0.0.1:${port}/ppg` });
    reply =
      '<pap><push-response push-id="x"><response-result code="2002" desc="Address Error"/></push-response></pap>';
    const r = await bearer.send('+1', PKG0);
    assert.deepEqual([r.accepted, r.status], [false, 'PAP 2002']);
    reply = '<pap><badmessage-response code="2000" desc="Bad Request"/></pap>';
    assert.equal((await bearer.send('+1', PKG0)).status, 'PAP 2000');
    reply = '<html>oops</html>';
    await assert.rejects(
      bearer.send('+1', PKG0),
      (e: unknown) => e instanceof PushError && e.code === 'PUSH_PROTOCOL',
    );
    await assert.rejects(
      bearer.send('x y', PKG0),
      (e: unknown) => e instanceof PushError && e.code === 'PUSH_BAD_TARGET',
    );
  });

  test('unreachable PPG is a connection error', async () => {
    const closed = await freeTcpPort();
    const bearer = new PapBearer({ url: `http://127.0.0.1:${closed}/ppg`, timeoutMs: 2000 });
    await assert.rejects(
      bearer.send('+1', PKG0),
      (e: unknown) => e instanceof PushError && e.code === 'PUSH_CONNECTION',
    );
  });

  test('control entity escaping and response parsing', () => {
    assert.match(
      papControlEntity('a"<b', 'WAPPUSH=+1/TYPE=PLMN@x&y'),
      /push-id="a&quot;&lt;b".*address-value="WAPPUSH=\+1\/TYPE=PLMN@x&amp;y"/,
    );
    assert.deepEqual(parsePapResponse('<response-result desc="d" code="1001"/>'), { code: 1001, desc: 'd' });
    assert.equal(parsePapResponse('<response-result code="x"/>'), undefined);
  });
});
