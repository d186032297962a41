/**
 * SIP push bearer: message encoding, and delivery to Debian's SIPp
 * (apt: sip-tester) acting as the UAS with test/fixtures/sipp-message-*.xml.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  buildSipMessage,
  PushError,
  parseSipMessage,
  parseSipUri,
  SipBearer,
} from '../../src/binding/push/index.ts';
import { buildPackage0 } from '../../src/protocol/notification/index.ts';

const PKG0 = buildPackage0({
  serverId: 'com.mgmtsrv.manage',
  sessionId: 0x1234,
  uiMode: 'background',
  initiator: 'client',
  secret: 'srvSecret',
  nonce: new Uint8Array(4),
});

async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const { port } = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const work = mkdtempSync(join(tmpdir(), 'omadm-sipp-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** Runs sipp as a one-call UAS; resolves with its exit code and the error log. */
function sipp(scenario: string, port: number): Promise<{ code: number | null; log: string }> {
  const errorFile = join(work, `${scenario}-${port}.log`);
  const child = spawn(
    'sipp',
    [
      '-sf',
      new URL(`../fixtures/${scenario}`, import.meta.url).pathname,
      '-i',
      '127.0.0.1',
      '-p',
      String(port),
      '-m',
      '1',
      '-nostdin',
      '-timeout',
      '20s',
      '-timeout_error',
      '-trace_err',
      '-error_file',
      errorFile,
    ],
    { cwd: work, stdio: 'ignore' },
  );
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => {
      resolve({ code, log: existsSync(errorFile) ? readFileSync(errorFile, 'utf8') : '' });
    });
  });
}

describe('SIP MESSAGE encoding', () => {
  test('request carries the binary Package 0 intact with the notification content type', () => {
    const bytes = buildSipMessage({
      requestUri: 'sip:device@192.0.2.1:5060',
      from: 'sip:omadm@192.0.2.9',
      fromTag: 'abc',
      callId: 'c1@omadm',
      cseq: 7,
      branch: 'z9hG4bKx',
      via: '192.0.2.9:5070',
      pushApplication: 'syncml.dm',
      body: PKG0,
    });
    const m = parseSipMessage(bytes);
    assert.equal(m.method, 'MESSAGE');
    assert.equal(m.startLine, 'MESSAGE sip:device@192.0.2.1:5060 SIP/2.0');
    assert.deepEqual(m.headers.get('content-type'), ['application/vnd.syncml.notification']);
    assert.deepEqual(m.headers.get('content-length'), ['42']);
    assert.deepEqual(m.headers.get('cseq'), ['7 MESSAGE']);
    assert.deepEqual(m.headers.get('via'), ['SIP/2.0/UDP 192.0.2.9:5070;branch=z9hG4bKx;rport']);
    assert.deepEqual(m.headers.get('accept-contact'), ['*;+g.oma.pusheventapp="syncml.dm";require;explicit']);
    assert.deepEqual(m.body, PKG0);
  });

  test('header injection is refused; URIs parsed', () => {
    assert.throws(
      () =>
        buildSipMessage({
          requestUri: 'sip:a@b',
          from: 'sip:x@y\r\nEvil: 1',
          fromTag: 't',
          callId: 'c',
          cseq: 1,
          branch: 'z9hG4bK1',
          via: 'h:1',
          body: new Uint8Array(0),
        }),
      PushError,
    );
    assert.deepEqual(parseSipUri('sip:dev@10.0.0.1:5070;transport=udp'), {
      user: 'dev',
      host: '10.0.0.1',
      port: 5070,
    });
    assert.deepEqual(parseSipUri('sip:[2001:db8::1]'), { host: '2001:db8::1', port: 5060 });
    assert.throws(
      () => parseSipUri('tel:+123'),
      (e: unknown) => e instanceof PushError && e.code === 'PUSH_BAD_TARGET',
    );
  });

  test('responses: compact headers and status line', () => {
    const r = parseSipMessage(
      new TextEncoder().encode('SIP/2.0 202 Accepted\r\nv: SIP/2.0/UDP h;branch=z9hG4bKq\r\nl: 0\r\n\r\n'),
    );
    assert.equal(r.status, 202);
    assert.equal(r.reason, 'Accepted');
    assert.deepEqual(r.headers.get('via'), ['SIP/2.0/UDP h;branch=z9hG4bKq']);
    assert.throws(() => parseSipMessage(new TextEncoder().encode('garbage')), PushError);
  });
});

describe('SIP bearer against SIPp', () => {
  test('SIPp UAS checks the MESSAGE and answers 200: accepted', async () => {
    const port = await freeUdpPort();
    const run = sipp('sipp-message-uas.xml', port);
    const bearer = new SipBearer({ t1Ms: 100, timeoutMs: 15_000 });
    try {
      const r = await bearer.send(`sip:device@127.0.0.1:${port}`, PKG0);
      assert.equal(r.accepted, true);
      assert.equal(r.status, 'SIP 200');
      assert.equal(r.bearer, 'sip');
      assert.match(r.ids[0]!, /@omadm$/);
    } finally {
      await bearer.close();
    }
    const { code, log } = await run;
    assert.equal(code, 0, log);
  });

  test('SIPp answers 100 then 415: refused with the status', async () => {
    const port = await freeUdpPort();
    const run = sipp('sipp-message-reject.xml', port);
    const bearer = new SipBearer({ t1Ms: 100, timeoutMs: 15_000 });
    try {
      const r = await bearer.send(`sip:device@127.0.0.1:${port}`, PKG0);
      assert.equal(r.accepted, false);
      assert.equal(r.status, 'SIP 415');
    } finally {
      await bearer.close();
    }
    assert.equal((await run).code, 0);
  });

  test('a silent peer times out with a typed error', async () => {
    const silent = createSocket('udp4');
    await new Promise<void>((r) => silent.bind(0, '127.0.0.1', () => r()));
    let received = 0;
    silent.on('message', () => received++);
    const bearer = new SipBearer({ t1Ms: 20, timeoutMs: 300 });
    try {
      await assert.rejects(
        bearer.send(`sip:device@127.0.0.1:${silent.address().port}`, PKG0),
        (e: unknown) => e instanceof PushError && e.code === 'PUSH_TIMEOUT',
      );
      assert.ok(received >= 2, `retransmitted (${received} copies)`);
    } finally {
      await bearer.close();
      silent.close();
    }
  });
});
