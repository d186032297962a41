import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { describe, test } from 'node:test';
import {
  decodeWspPush,
  encodeNotificationPush,
  listenUdpPush,
  PushError,
  package0FromDatagram,
  parseHostPort,
  UdpBearer,
} from '../../src/binding/push/index.ts';
import {
  buildPackage0,
  parsePackage0,
  sessionIdHex,
  verifyPackage0,
} from '../../src/protocol/notification/index.ts';
import { credentialDigest } from '../../src/protocol/auth/index.ts';

const nonce = Uint8Array.of(5, 6, 7, 8);
const PKG0 = buildPackage0({
  serverId: 'srv.example',
  sessionId: 0xab,
  uiMode: 'informative',
  secret: 's3',
  nonce,
});

describe('UDP bearer', () => {
  test('server → UDP (WSP framing) → device listener → verified Package 0 with the right SessionID', async () => {
    const got: Uint8Array[] = [];
    let resolveGot!: () => void;
    const arrived = new Promise<void>((r) => {
      resolveGot = r;
    });
    const listener = await listenUdpPush({
      host: '127.0.0.1',
      port: 0,
      onPackage0: (p0) => {
        got.push(p0);
        resolveGot();
      },
    });
    const bearer = new UdpBearer();
    try {
      const r = await bearer.send(`127.0.0.1:${listener.port}`, PKG0);
      assert.equal(r.accepted, true);
      assert.equal(r.bearer, 'udp');
      await arrived;
      const p = parsePackage0(got[0]!);
      assert.equal(verifyPackage0(p, credentialDigest('srv.example', 's3'), nonce), true);
      assert.equal(sessionIdHex(p.sessionId), 'AB');
      assert.equal(p.uiMode, 'informative');
    } finally {
      await bearer.close();
      await listener.close();
    }
  });

  test('wire bytes: WSP push by default, bare Package 0 with framing raw', async () => {
    const sink = createSocket('udp4');
    await new Promise<void>((r) => sink.bind(0, '127.0.0.1', () => r()));
    const datagrams: Uint8Array[] = [];
    const two = new Promise<void>((r) =>
      sink.on('message', (m) => {
        datagrams.push(new Uint8Array(m));
        if (datagrams.length === 2) r();
      }),
    );
    const wsp = new UdpBearer();
    const raw = new UdpBearer({ framing: 'raw' });
    try {
      await wsp.send(`127.0.0.1:${sink.address().port}`, PKG0);
      await raw.send(`127.0.0.1:${sink.address().port}`, PKG0);
      await two;
      const framed = datagrams.find((d) => d.byteLength !== PKG0.byteLength)!;
      const bare = datagrams.find((d) => d.byteLength === PKG0.byteLength)!;
      const push = decodeWspPush(framed);
      assert.equal(push.contentType.code, 0x44);
      assert.equal(push.applicationId, 7);
      assert.deepEqual(new Uint8Array(push.body), PKG0);
      assert.deepEqual(bare, PKG0);
    } finally {
      await wsp.close();
      await raw.close();
      sink.close();
    }
  });

  test('device-side filtering: other push applications are ignored', () => {
    assert.deepEqual(package0FromDatagram(encodeNotificationPush(PKG0)), PKG0);
    const other = Uint8Array.of(1, 6, 3, 0xc4, 0xaf, 0x82, ...PKG0); // app id wml.ua
    assert.equal(package0FromDatagram(other), undefined);
    assert.deepEqual(package0FromDatagram(PKG0, 'raw'), PKG0);
    assert.equal(package0FromDatagram(Uint8Array.of(1, 2, 3), 'wsp'), undefined);
  });

  test('targets', async () => {
    assert.deepEqual(parseHostPort('10.1.2.3'), { host: '10.1.2.3', port: 2948 });
    assert.deepEqual(parseHostPort('[2001:db8::1]:4000'), { host: '2001:db8::1', port: 4000 });
    assert.deepEqual(parseHostPort('::1'), { host: '::1', port: 2948 });
    assert.deepEqual(parseHostPort('dev.example:9'), { host: 'dev.example', port: 9 });
    const b = new UdpBearer();
    await assert.rejects(
      b.send('a b', PKG0),
      (e: unknown) => e instanceof PushError && e.code === 'PUSH_BAD_TARGET',
    );
    await assert.rejects(
      b.send('host:70000', PKG0),
      (e: unknown) => e instanceof PushError && e.code === 'PUSH_BAD_TARGET',
    );
    await b.close();
  });
});
