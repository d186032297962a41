/**
 * Bootstrap over WAP Push: a signed CP document and a signed DM-profile body
 * go out as WSP pushes (SEC/MAC content-type parameters) over SMS to the
 * Perl SMSC and over UDP; the receiving side decodes, verifies and maps the
 * account — or refuses a tampered one.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { after, before, describe, test } from 'node:test';
import {
  decodeWspPush,
  encodeBootstrapPush,
  SmppBearer,
  UdpBearer,
  WspParam,
} from '../../src/binding/push/index.ts';
import {
  cpDocumentFromDmAccounts,
  decodeCpWbxml,
  dmAccountsFromCp,
  encodeCpWbxml,
  parseSec,
  signBootstrap,
  verifyBootstrap,
} from '../../src/protocol/bootstrap/index.ts';
import { Smsc } from './push-smsc.ts';

const IMSI = '262011234567890';
const account = {
  serverId: 'acme-dms',
  name: 'Acme DM',
  init: true,
  addresses: [{ addr: 'https://dm.acme.example/dm', addrType: 'URI', ports: [443] }],
  auth: [
    { level: 'CLCRED', type: 'DIGEST', name: 'IMEI:351234567890123', secret: 'c1ientSecret' },
    {
      level: 'SRVCRED',
      type: 'DIGEST',
      name: 'acme-dms',
      secret: 'serv3rSecret',
      data: Uint8Array.of(1, 2, 3, 4),
    },
  ],
};

/** What a device does with a received bootstrap push: verify, then (only then) map. */
function receive(pduBytes: Uint8Array, material: { imsi?: string; pin?: string }) {
  const push = decodeWspPush(pduBytes);
  const profile = push.contentType.code === 0x42 ? 'dm' : 'cp';
  const sec = push.contentType.params.get(WspParam.Sec);
  const mac = push.contentType.params.get(WspParam.Mac);
  assert.ok(sec !== undefined && typeof mac === 'string');
  const ok = verifyBootstrap(push.body, { profile, sec: parseSec(sec), mac, ...material });
  return {
    ok,
    profile,
    push,
    accounts: ok && profile === 'cp' ? dmAccountsFromCp(decodeCpWbxml(push.body)) : [],
  };
}

describe('bootstrap push over SMS (SMPP → Perl SMSC)', () => {
  const smsc = new Smsc('boot', 'bootpw');
  let bearer: SmppBearer;
  before(async () => {
    await smsc.start();
    bearer = new SmppBearer({ host: '127.0.0.1', port: smsc.port, systemId: 'boot', password: 'bootpw' });
  });
  after(async () => {
    await bearer.close();
    await smsc.stop();
  });

  test('CP document with NETWPIN: concatenated SMS, verified and mapped to the account', async () => {
    const body = encodeCpWbxml(cpDocumentFromDmAccounts([account]));
    const signed = signBootstrap(body, { profile: 'cp', sec: 'netwpin', imsi: IMSI });
    const from = smsc.events.length;
    const r = await bearer.sendPush('+491701234567', (tid) =>
      encodeBootstrapPush({ profile: 'cp', sec: 'netwpin', mac: signed.mac, body, transactionId: tid }),
    );
    assert.equal(r.accepted, true);
    assert.ok(r.parts >= 2, `${r.parts} SMS`);
    const msg = await smsc.next((e) => e.event === 'message', from);
    const got = receive(Uint8Array.from(Buffer.from(String(msg.payload), 'hex')), { imsi: IMSI });
    assert.equal(got.ok, true);
    assert.equal(got.push.contentType.code, 0x36);
    assert.equal(got.push.applicationId, 0x02);
    assert.deepEqual(got.accounts, [account]);
    // a device with another IMSI refuses it and installs nothing
    const other = receive(Uint8Array.from(Buffer.from(String(msg.payload), 'hex')), {
      imsi: '262011234567891',
    });
    assert.equal(other.ok, false);
    assert.deepEqual(other.accounts, []);
  });
});

describe('bootstrap push over UDP', () => {
  test('DM profile USERPIN: verified; one flipped bit is refused', async () => {
    const sink = createSocket('udp4');
    await new Promise<void>((r) => sink.bind(0, '127.0.0.1', () => r()));
    const got = new Promise<Uint8Array>((r) => sink.once('message', (m) => r(new Uint8Array(m))));
    const body = Uint8Array.from({ length: 300 }, (_, i) => (i * 7) & 0xff); // stands in for a WBXML DM message
    const signed = signBootstrap(body, { profile: 'dm', sec: 'userpin', pin: '2468' });
    const udp = new UdpBearer();
    try {
      await udp.sendPush(
        `127.0.0.1:${sink.address().port}`,
        encodeBootstrapPush({ profile: 'dm', sec: 'userpin', mac: signed.mac, body }),
      );
      const bytes = await got;
      const ok = receive(bytes, { pin: '2468' });
      assert.equal(ok.ok, true);
      assert.equal(ok.profile, 'dm');
      assert.equal(ok.push.applicationId, 0x07);
      assert.equal(ok.push.contentType.params.get(WspParam.Sec), 1);
      const tampered = bytes.slice();
      tampered[tampered.length - 1] ^= 0x80;
      assert.equal(receive(tampered, { pin: '2468' }).ok, false);
      assert.equal(receive(bytes, { pin: '2469' }).ok, false);
    } finally {
      await udp.close();
      sink.close();
    }
  });
});
