/**
 * SMPP delivery to an independently written SMSC: test/fixtures/smsc.pl, built
 * on Debian's libnet-smpp-perl (apt: libnet-smpp-perl). The SMSC validates the
 * bind, the submit_sm (UDHI, 8-bit coding) and the UDH (port 2948,
 * concatenation) and reports what it reassembled.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  decodeWspPush,
  PushError,
  SmppBearer,
  SmppSession,
  segmentWdpSms,
} from '../../src/binding/push/index.ts';
import { buildPackage0, parsePackage0 } from '../../src/protocol/notification/index.ts';
import { Smsc } from './push-smsc.ts';

const pkg0 = (vendorBytes = 0) =>
  buildPackage0({
    serverId: 'com.mgmtsrv.manage',
    sessionId: 0x1234,
    uiMode: 'background',
    secret: 'srvSecret',
    nonce: new Uint8Array(4),
    vendor: new Uint8Array(vendorBytes).fill(0xab),
  });

describe('SMPP bearer against a Net::SMPP SMSC', () => {
  const smsc = new Smsc('omadm', 'secret1');
  let bearer: SmppBearer;

  before(async () => {
    await smsc.start();
    bearer = new SmppBearer({
      host: '127.0.0.1',
      port: smsc.port,
      systemId: 'omadm',
      password: 'secret1',
      sourceAddr: '+4930123',
      timeoutMs: 5000,
    });
  });
  after(async () => {
    await bearer.close();
    await smsc.stop();
  });

  test('one-SMS Package 0 arrives intact with port 2948', async () => {
    const from = smsc.events.length;
    const bytes = pkg0();
    const r = await bearer.send('+491701234567', bytes);
    assert.equal(r.accepted, true);
    assert.equal(r.parts, 1);
    assert.equal(r.ids.length, 1);
    const bind = await smsc.next((e) => e.event === 'bind', 0);
    assert.equal(bind.ok, 1);
    const msg = await smsc.next((e) => e.event === 'message', from);
    assert.equal(msg.dest, '491701234567');
    assert.equal(msg.parts, 1);
    assert.equal(msg.srcport, 0xc002);
    const seg = await smsc.next((e) => e.event === 'segment', from);
    assert.equal(seg.ton, 1);
    assert.equal(seg.npi, 1);
    const push = decodeWspPush(Uint8Array.from(Buffer.from(String(msg.payload), 'hex')));
    assert.equal(push.contentType.code, 0x44);
    assert.equal(push.applicationId, 0x07);
    assert.deepEqual(push.body, bytes);
    assert.equal(parsePackage0(push.body).sessionId, 0x1234);
  });

  test('a long trigger is concatenated and reassembled by the SMSC, on the same bound session', async () => {
    const from = smsc.events.length;
    const bytes = pkg0(300);
    const r = await bearer.send('01701234567', bytes);
    assert.equal(r.accepted, true);
    assert.equal(r.parts, 3);
    assert.equal(new Set(r.ids).size, 3);
    const msg = await smsc.next((e) => e.event === 'message', from);
    assert.equal(msg.parts, 3);
    assert.deepEqual(decodeWspPush(Uint8Array.from(Buffer.from(String(msg.payload), 'hex'))).body, bytes);
    assert.equal(smsc.events.slice(from).filter((e) => e.event === 'bind').length, 0);
    assert.equal(smsc.events.filter((e) => e.event === 'reject').length, 0);
  });

  test('an SMSC refusal is an outcome, not an exception', async () => {
    const r = await bearer.send('999', pkg0());
    assert.equal(r.accepted, false);
    assert.equal(r.status, 'SMPP 0x0000000b');
  });

  test('bad target and wrong credentials', async () => {
    await assert.rejects(
      bearer.send('not-a-number', pkg0()),
      (e: unknown) => e instanceof PushError && e.code === 'PUSH_BAD_TARGET',
    );
    const wrong = new SmppBearer({
      host: '127.0.0.1',
      port: smsc.port,
      systemId: 'omadm',
      password: 'nope',
      timeoutMs: 5000,
    });
    try {
      await assert.rejects(
        wrong.send('+1555', pkg0()),
        (e: unknown) => e instanceof PushError && e.code === 'PUSH_PROTOCOL',
      );
    } finally {
      await wrong.close();
    }
  });

  test('the SMSC really checks: no UDHI or a wrong port is rejected', async () => {
    const s = await SmppSession.connect({ host: '127.0.0.1', port: smsc.port, timeoutMs: 5000 });
    try {
      await s.bindTransmitter({ systemId: 'omadm', password: 'secret1' });
      const ud = segmentWdpSms(Uint8Array.of(1, 2, 3))[0]!;
      const base = {
        destAddrTon: 1,
        destAddrNpi: 1,
        destinationAddr: '4917',
        dataCoding: 4,
        shortMessage: ud,
      };
      const from = smsc.events.length;
      assert.equal((await s.submitSm({ ...base, esmClass: 0 })).status, 8);
      const wrongPort = segmentWdpSms(Uint8Array.of(1), { destinationPort: 9200 })[0]!;
      assert.equal((await s.submitSm({ ...base, esmClass: 0x40, shortMessage: wrongPort })).status, 8);
      const ok = await s.submitSm({ ...base, esmClass: 0x40 });
      assert.equal(ok.status, 0);
      assert.match(ok.messageId, /^m\d+$/);
      const rejects = smsc.events.slice(from).filter((e) => e.event === 'reject');
      assert.equal(rejects.length, 2);
      assert.match(String(rejects[0]!.reason), /UDHI/);
      assert.match(String(rejects[1]!.reason), /not 2948/);
      await s.enquireLink();
    } finally {
      await s.unbind();
    }
  });

  test('after the SMSC drops the bind, the next send binds again and is delivered', async () => {
    const b = new SmppBearer({
      host: '127.0.0.1',
      port: smsc.port,
      systemId: 'omadm',
      password: 'secret1',
      timeoutMs: 5000,
    });
    try {
      const from = smsc.events.length;
      assert.equal((await b.send('998', pkg0())).accepted, true);
      await smsc.next((e) => e.event === 'disconnect', from);
      const r = await b.send('+4915', pkg0());
      assert.equal(r.accepted, true);
      assert.equal(smsc.events.slice(from).filter((e) => e.event === 'bind').length, 2);
    } finally {
      await b.close();
    }
  });

  test('enquire_link keeps an idle bind alive', async () => {
    const b = new SmppBearer({
      host: '127.0.0.1',
      port: smsc.port,
      systemId: 'omadm',
      password: 'secret1',
      enquireLinkMs: 20,
    });
    try {
      const from = smsc.events.length;
      await b.send('+4916', pkg0());
      await smsc.next((e) => e.event === 'enquire_link', from);
    } finally {
      await b.close();
    }
  });

  test('close unbinds', async () => {
    const from = smsc.events.length;
    await bearer.close();
    await smsc.next((e) => e.event === 'unbind', from);
    await assert.rejects(
      bearer.send('+1555', pkg0()),
      (e: unknown) => e instanceof PushError && e.code === 'PUSH_CLOSED',
    );
  });
});
