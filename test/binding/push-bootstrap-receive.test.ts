/**
 * Device side of pushed bootstraps: `bootstrapFromPush` recognises DM (0x42) and CP (0x36)
 * bootstrap pushes, by code or by text, with SEC/MAC parameters; `listenUdpPush` hands Package 0
 * to `onPackage0` and every other decodable push to `onPush`, and ignores garbage.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  bootstrapFromPush,
  decodeWspPush,
  encodeBootstrapPush,
  encodeNotificationPush,
  encodeWspPush,
  listenUdpPush,
  WspParam,
  type WspPush,
} from '../../src/binding/push/index.ts';
import { buildPackage0, UiMode } from '../../src/protocol/notification/index.ts';

const body = new Uint8Array([0x02, 0xa4, 0x01, 0x6a, 0x00, 0x6d, 0x01]);
const MAC = 'A1B2C3D4E5F60718293A4B5C6D7E8F9012345678';

test('DM and CP bootstrap pushes: profile, SEC (CP integer), MAC, body', () => {
  for (const [profile, sec, code] of [
    ['dm', 'userpin', 1],
    ['cp', 'usernetwpin', 2],
    ['cp', 'netwpin', 0],
  ] as const) {
    const got = bootstrapFromPush(decodeWspPush(encodeBootstrapPush({ profile, sec, mac: MAC, body })));
    assert.deepEqual(got, { profile, sec: code, mac: MAC, body });
  }
  const userPinMac = bootstrapFromPush(
    decodeWspPush(encodeBootstrapPush({ profile: 'cp', sec: 'userpinmac', body })),
  );
  assert.deepEqual(userPinMac, { profile: 'cp', sec: 3, body }, 'USERPINMAC carries no MAC');
  const bare = bootstrapFromPush(decodeWspPush(encodeBootstrapPush({ profile: 'dm', body })));
  assert.deepEqual(bare, { profile: 'dm', body }, 'unprotected: no SEC (the installer refuses it)');
});

test('content types sent as text (as PPGs do) with SEC/MAC as text parameters', () => {
  const push = decodeWspPush(
    encodeWspPush({
      contentType: 'application/vnd.wap.connectivity-wbxml',
      contentTypeParams: [
        ['SEC', 'USERPIN'],
        ['MAC', MAC],
      ],
      body,
    }),
  );
  const got = bootstrapFromPush(push);
  assert.equal(got?.profile, 'cp');
  assert.equal(got?.mac, MAC);
  assert.equal(got?.sec, 'USERPIN', 'verifyBootstrap takes the SEC name as well');
  const dm = bootstrapFromPush(
    decodeWspPush(
      encodeWspPush({
        contentType: 'application/vnd.syncml.dm+wbxml',
        contentTypeParams: [[WspParam.Sec, 1]],
        body,
      }),
    ),
  );
  assert.equal(dm?.profile, 'dm');
  assert.equal(dm?.sec, 1);
});

test('other pushes are not bootstraps', () => {
  const pkg0 = buildPackage0({
    serverId: 'omadm',
    sessionId: 1,
    uiMode: UiMode.Background,
    secret: 's',
    nonce: new Uint8Array(4),
  });
  assert.equal(bootstrapFromPush(decodeWspPush(encodeNotificationPush(pkg0))), undefined);
  assert.equal(
    bootstrapFromPush(decodeWspPush(encodeWspPush({ contentType: 'text/plain', body }))),
    undefined,
  );
  assert.equal(
    bootstrapFromPush(decodeWspPush(encodeWspPush({ contentType: 0x43, body }))),
    undefined,
    'DM XML (0x43): a bootstrap must be WBXML',
  );
});

test('listenUdpPush: Package 0 to onPackage0, bootstrap pushes to onPush, garbage dropped', async (t) => {
  const package0s: Uint8Array[] = [];
  const pushes: WspPush[] = [];
  let arrived = 0;
  let wake: (() => void) | undefined;
  const listener = await listenUdpPush({
    host: '127.0.0.1',
    port: 0,
    framing: 'wsp',
    onPackage0: (p) => {
      package0s.push(p);
      arrived++;
      wake?.();
    },
    onPush: (p) => {
      pushes.push(p);
      arrived++;
      wake?.();
    },
  });
  const sock = createSocket('udp4');
  t.after(async () => {
    sock.close();
    await listener.close();
  });
  const send = (b: Uint8Array) =>
    new Promise<void>((r, j) => sock.send(b, listener.port, '127.0.0.1', (e) => (e ? j(e) : r())));
  // Hostile datagrams first (none may crash the listener or reach a callback), then a marker.
  const junk = fc.sample(fc.uint8Array({ minLength: 0, maxLength: 64 }), { numRuns: 50, seed: 7 });
  for (const j of junk) {
    // Random bytes that happen to be a valid push would be delivered: keep only the non-decodable.
    try {
      decodeWspPush(j);
    } catch {
      await send(j);
    }
  }
  const pkg0 = buildPackage0({
    serverId: 'omadm',
    sessionId: 2,
    uiMode: UiMode.Background,
    secret: 's',
    nonce: new Uint8Array(4),
  });
  const until = (n: number) =>
    new Promise<void>((r) => {
      wake = () => arrived >= n && r();
      wake();
    });
  await send(encodeNotificationPush(pkg0));
  await send(encodeBootstrapPush({ profile: 'dm', sec: 'userpin', mac: MAC, body }));
  await until(2);
  assert.equal(package0s.length, 1);
  assert.deepEqual(package0s[0], pkg0);
  assert.equal(pushes.length, 1);
  assert.equal(bootstrapFromPush(pushes[0]!)?.profile, 'dm');
});
