import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  decodeWspPush,
  encodeNotificationPush,
  encodeUintvar,
  encodeWspPush,
  PushError,
  parseUserDataHeader,
  SmsReassembler,
  segmentWdpSms,
  WspParam,
} from '../../src/binding/push/index.ts';

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex').toUpperCase();

// protocol.md §5.3: the spec's Package 0 (digest || trigger), 42 bytes.
const PKG0 = hex('aec17ae9c531ebadb7e104a8052b4d37 02D0000000123412 636F6D2E6D676D74737276 2E6D616E616765');

describe('WSP push PDU', () => {
  test('Package 0 push: byte-exact against the spec example header (protocol.md §5.4)', () => {
    const pdu = encodeNotificationPush(PKG0, 1);
    assert.equal(toHex(pdu.subarray(0, 6)), '010603C4AF87');
    assert.deepEqual(pdu.subarray(6), PKG0);
  });

  test('WAP Push over one SMS: UDH with port 2948, originator C002', () => {
    const parts = segmentWdpSms(encodeNotificationPush(PKG0, 1));
    assert.equal(parts.length, 1);
    assert.equal(toHex(parts[0]!.subarray(0, 13)), '0605040B84C002' + '010603C4AF87');
    assert.deepEqual(parts[0]!.subarray(13), PKG0);
    assert.equal(parts[0]!.byteLength, 55);
  });

  test('decode round trip of the notification push', () => {
    const p = decodeWspPush(encodeNotificationPush(PKG0, 0x42));
    assert.equal(p.transactionId, 0x42);
    assert.equal(p.pduType, 0x06);
    assert.equal(p.contentType.code, 0x44);
    assert.equal(p.contentType.media, 'application/vnd.syncml.notification');
    assert.equal(p.applicationId, 0x07);
    assert.deepEqual(p.body, PKG0);
  });

  test('content type with SEC/MAC parameters (CP bootstrap framing)', () => {
    const mac = '9A4E4CAB1F2B7A6F1A0A3F6E0C8D2B1A0F9E8D7C';
    const pdu = encodeWspPush({
      transactionId: 1,
      contentType: 0x36,
      contentTypeParams: [
        [WspParam.Sec, 0],
        [WspParam.Mac, mac],
      ],
      applicationId: 'x-wap-application:wml.ua',
      body: Uint8Array.of(1, 2, 3),
    });
    // general form: value-length, 0xB6, 0x91 0x80 (SEC=0), 0x92 "<hex>" 00
    assert.equal(4 + mac.length + 1, 45); // > 30, so the value length is 0x1F + uintvar
    assert.equal(toHex(pdu.subarray(3, 9)), '1F2DB6918092');
    const p = decodeWspPush(pdu);
    assert.equal(p.contentType.media, 'application/vnd.wap.connectivity-wbxml');
    assert.equal(p.contentType.params.get(WspParam.Sec), 0);
    assert.equal(p.contentType.params.get(WspParam.Mac), mac);
    assert.equal(p.applicationId, 'x-wap-application:wml.ua');
    assert.deepEqual(p.body, Uint8Array.of(1, 2, 3));
  });

  test('uintvar encoding', () => {
    assert.deepEqual(encodeUintvar(0), [0]);
    assert.deepEqual(encodeUintvar(127), [0x7f]);
    assert.deepEqual(encodeUintvar(128), [0x81, 0x00]);
    assert.deepEqual(encodeUintvar(0x3fff), [0xff, 0x7f]);
  });

  test('hostile input: typed errors, never a crash', () => {
    for (const bad of ['', '01', '0105', '0106', '010605C4', '0106FFFFFFFFFF']) {
      assert.throws(
        () => decodeWspPush(hex(bad)),
        (e: unknown) => e instanceof PushError && e.code === 'PUSH_BAD_ENCODING',
        bad,
      );
    }
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (b) => {
        try {
          decodeWspPush(Uint8Array.of(1, 6, ...b));
        } catch (e) {
          assert.ok(e instanceof PushError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('WDP over SMS segmentation', () => {
  test('long payload is concatenated: every part ≤ 140 octets, port IE in each, reassembles', () => {
    const payload = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff);
    const parts = segmentWdpSms(payload, { reference: 0x5a });
    assert.equal(parts.length, 3);
    parts.forEach((ud, i) => {
      assert.ok(ud.byteLength <= 140);
      assert.equal(toHex(ud.subarray(0, 12)), `0B05040B84C00200035A03${String(i + 1).padStart(2, '0')}`);
      const h = parseUserDataHeader(ud);
      assert.deepEqual(h.ports, { destination: 2948, source: 0xc002 });
      assert.deepEqual(h.concat, { reference: 0x5a, total: 3, sequence: i + 1 });
    });
    assert.equal(parts[0]!.byteLength, 140);
    const r = new SmsReassembler();
    assert.equal(r.push('+1', parts[2]!), undefined);
    assert.equal(r.push('+1', parts[0]!), undefined);
    const done = r.push('+1', parts[1]!);
    assert.deepEqual(done?.payload, payload);
    assert.deepEqual(done?.ports, { destination: 2948, source: 0xc002 });
  });

  test('16-bit reference IE and the one-SMS boundary', () => {
    assert.equal(segmentWdpSms(new Uint8Array(133)).length, 1);
    assert.equal(segmentWdpSms(new Uint8Array(134)).length, 2);
    const parts = segmentWdpSms(new Uint8Array(200), { reference: 0x1234, concat16: true });
    assert.equal(toHex(parts[1]!.subarray(0, 13)), '0C05040B84C002' + '0804123402' + '02');
  });

  test('too large and malformed', () => {
    assert.throws(
      () => segmentWdpSms(new Uint8Array(128 * 256)),
      (e: unknown) => e instanceof PushError && e.code === 'PUSH_TOO_LARGE',
    );
    for (const bad of ['', '05', '0305', '050003010405', '0500030100']) {
      assert.throws(() => parseUserDataHeader(hex(bad)), PushError, bad);
    }
  });

  test('property: segment → reassemble is the identity', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 2000 }),
        fc.integer({ min: 0, max: 255 }),
        (payload, reference) => {
          const parts = segmentWdpSms(payload, { reference });
          const r = new SmsReassembler();
          let out: Uint8Array | undefined;
          for (const p of [...parts].reverse()) out = r.push('x', p)?.payload ?? out;
          assert.deepEqual(out, payload);
          for (const p of parts) assert.ok(p.byteLength <= 140);
        },
      ),
      { numRuns: 200 },
    );
  });
});
