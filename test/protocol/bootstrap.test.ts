import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { DmAccount } from '../../src/mo/index.ts';
import {
  BootstrapError,
  bootstrapKey,
  bootstrapMac,
  type CpDocument,
  cpDocumentFromDmAccounts,
  cpToXml,
  DirectorySmartCardSource,
  decodeCpWbxml,
  dmAccountsFromCp,
  encodeCpWbxml,
  imsiKey,
  parseBootstrapContentType,
  parseCpXml,
  parseSec,
  signBootstrap,
  userPinMacDigits,
  verifyBootstrap,
} from '../../src/protocol/bootstrap/index.ts';

const fixture = (name: string) => new URL(`../fixtures/bootstrap/${name}`, import.meta.url);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex').toUpperCase();
const BODY = Uint8Array.from(Buffer.from('030b6a00c54601c6000155018736000006037737000101', 'hex'));
const IMSI = '262011234567890';

/** HMAC-SHA1 by openssl, an implementation independent of ours. */
function opensslHmac(key: Uint8Array, body: Uint8Array): string {
  const dir = mkdtempSync(join(tmpdir(), 'omadm-hmac-'));
  try {
    const f = join(dir, 'body');
    writeFileSync(f, body);
    const out = execFileSync(
      'openssl',
      ['dgst', '-sha1', '-mac', 'HMAC', '-macopt', `hexkey:${hex(key)}`, f],
      {
        encoding: 'utf8',
      },
    );
    return out.trim().split(/\s+/).pop()!.toUpperCase();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('bootstrap security keys and MAC', () => {
  test('IMSI semi-octet key (objects.md §7.5 vector) and even-length IMSIs', () => {
    assert.equal(hex(imsiKey(IMSI)), '2926102143658709');
    // even: prefix 1, append F → "126201123456789F" → 21 26 10 21 43 65 87 F9
    assert.equal(hex(imsiKey('26201123456789')), '21261021436587F9');
    assert.throws(() => imsiKey('12a4'), BootstrapError);
  });

  test('key derivation per profile', () => {
    const m = { imsi: IMSI, pin: '1234' };
    assert.equal(hex(bootstrapKey('cp', 'netwpin', m)), '2926102143658709');
    assert.equal(hex(bootstrapKey('dm', 'netwpin', m)), '2926102143658709');
    assert.equal(Buffer.from(bootstrapKey('cp', 'userpin', m)).toString(), '1234');
    assert.equal(hex(bootstrapKey('cp', 'usernetwpin', m)), `2926102143658709${hex(Buffer.from('1234'))}`);
    assert.equal(hex(bootstrapKey('dm', 'usernetwpin', m)), `${hex(Buffer.from('1234:'))}2926102143658709`);
    assert.equal(hex(bootstrapKey('dm', 'netwpin', { networkSecret: Uint8Array.of(1, 2) })), '0102');
    assert.throws(() => bootstrapKey('cp', 'userpin', { imsi: IMSI }), BootstrapError);
    assert.throws(() => bootstrapKey('dm', 'netwpin', { pin: '1' }), BootstrapError);
    assert.throws(() => bootstrapKey('dm', 'userpinmac', m), BootstrapError);
  });

  test('HMAC-SHA1 equals openssl for every key form', () => {
    for (const [profile, sec] of [
      ['cp', 'netwpin'],
      ['cp', 'userpin'],
      ['cp', 'usernetwpin'],
      ['dm', 'usernetwpin'],
    ] as const) {
      const key = bootstrapKey(profile, sec, { imsi: IMSI, pin: '98765' });
      assert.equal(bootstrapMac(key, BODY), opensslHmac(key, BODY), `${profile}/${sec}`);
    }
  });

  test('RFC 2202 HMAC-SHA1 test case 2', () => {
    assert.equal(
      bootstrapMac(Buffer.from('Jefe'), Buffer.from('what do ya want for nothing?')),
      'EFFCDF6AE5EB2FA2D27416D5F184DF9C259A7C79',
    );
  });
});

describe('sign and verify', () => {
  const material = { imsi: IMSI, pin: '48151' };
  for (const profile of ['dm', 'cp'] as const) {
    for (const sec of ['netwpin', 'userpin', 'usernetwpin'] as const) {
      test(`${profile} ${sec}: verifies; tampered body, wrong key or MAC refused`, () => {
        const s = signBootstrap(BODY, { profile, sec, ...material });
        assert.match(s.mac!, /^[0-9A-F]{40}$/);
        const ct = parseBootstrapContentType(s.contentType);
        assert.equal(ct.profile, profile);
        assert.equal(ct.sec, sec);
        assert.equal(ct.mac, s.mac);
        assert.equal(verifyBootstrap(BODY, { profile, sec: ct.sec!, mac: ct.mac, ...material }), true);
        assert.equal(
          verifyBootstrap(BODY, { profile, sec: s.secName, mac: s.mac!.toLowerCase(), ...material }),
          true,
        );
        const tampered = BODY.slice();
        tampered[tampered.length - 2] ^= 1;
        assert.equal(verifyBootstrap(tampered, { profile, sec, mac: s.mac, ...material }), false);
        assert.equal(
          verifyBootstrap(BODY, { profile, sec, mac: s.mac, imsi: '262011234567891', pin: '48152' }),
          false,
        );
        assert.equal(verifyBootstrap(BODY, { profile, sec, ...material }), false); // no MAC
        assert.equal(verifyBootstrap(BODY, { profile, sec, mac: 'zz', ...material }), false);
        assert.equal(verifyBootstrap(BODY, { profile, sec, mac: s.mac }), false); // no key material
      });
    }
  }

  test('content types as sent', () => {
    const dm = signBootstrap(BODY, { profile: 'dm', sec: 'netwpin', imsi: IMSI });
    assert.equal(dm.contentType, `application/vnd.syncml.dm+wbxml; SEC=NETWORKID; MAC=${dm.mac}`);
    assert.equal(dm.secValue, undefined);
    const cp = signBootstrap(BODY, { profile: 'cp', sec: 'usernetwpin', imsi: IMSI, pin: '1234' });
    assert.equal(cp.contentType, `application/vnd.wap.connectivity-wbxml; SEC=USERNETWPIN; MAC=${cp.mac}`);
    assert.equal(cp.secValue, 2);
    assert.throws(
      () => signBootstrap(BODY, { profile: 'dm', sec: 'userpinmac', pin: '12345' }),
      BootstrapError,
    );
  });

  test('liberal content-type and SEC parsing', () => {
    const mac = 'a'.repeat(40);
    assert.deepEqual(
      parseBootstrapContentType(`Application/Vnd.SyncML.DM+WBXML;sec="userpin_networkid" ; mac=${mac}; x=1`),
      {
        media: 'application/vnd.syncml.dm+wbxml',
        profile: 'dm',
        sec: 'usernetwpin',
        mac: mac.toUpperCase(),
      },
    );
    assert.equal(parseSec(0), 'netwpin');
    assert.equal(parseSec('3'), 'userpinmac');
    assert.equal(parseSec('NetworkId'), 'netwpin');
    assert.throws(() => parseSec('9'), BootstrapError);
    assert.throws(() => parseBootstrapContentType('nonsense'), BootstrapError);
    assert.throws(() => parseBootstrapContentType(`application/vnd.syncml.dm+wbxml; MAC=12`), BootstrapError);
    assert.throws(() => parseBootstrapContentType('application/x; SEC=WHAT'), BootstrapError);
  });

  test('USERPINMAC: the user types PIN + MAC digits; a wrong digit is refused', () => {
    const s = signBootstrap(BODY, { profile: 'cp', sec: 'userpinmac', pin: '13579' });
    assert.equal(s.mac, undefined);
    assert.equal(s.contentType, 'application/vnd.wap.connectivity-wbxml; SEC=USERPINMAC');
    const typed = s.userPinWithMac!;
    assert.equal(typed.length, 10);
    assert.equal(typed.slice(5), userPinMacDigits('13579', BODY));
    assert.equal(verifyBootstrap(BODY, { profile: 'cp', sec: 3, userInput: typed }), true);
    const wrong = typed.slice(0, 9) + String((Number(typed[9]) + 1) % 10);
    assert.equal(verifyBootstrap(BODY, { profile: 'cp', sec: 3, userInput: wrong }), false);
    assert.equal(verifyBootstrap(BODY, { profile: 'cp', sec: 3, userInput: '12345678' }), false); // < 10 digits
    assert.equal(verifyBootstrap(BODY, { profile: 'dm', sec: 3, userInput: typed }), false);
    // digits are HMAC-SHA1(PIN, body)[i] mod 10, checked against openssl
    const mac = Buffer.from(opensslHmac(Buffer.from('13579'), BODY), 'hex');
    assert.equal(userPinMacDigits('13579', BODY), [...mac.subarray(0, 5)].map((b) => b % 10).join(''));
  });
});

describe('CP documents', () => {
  const xml = readFileSync(fixture('cp-w7.xml'), 'utf8');

  test('decodes libwbxml-encoded WBXML (xml2wbxml) to the same document as the XML', () => {
    const doc = parseCpXml(xml);
    const fromLibwbxml = decodeCpWbxml(new Uint8Array(readFileSync(fixture('cp-w7.libwbxml.wbxml'))));
    assert.deepEqual(fromLibwbxml, doc);
  });

  test('our WBXML decodes with libwbxml (wbxml2xml) to the same document', () => {
    const doc = parseCpXml(xml);
    const dir = mkdtempSync(join(tmpdir(), 'omadm-cp-'));
    try {
      writeFileSync(join(dir, 'in.wbxml'), encodeCpWbxml(doc));
      execFileSync('wbxml2xml', ['-o', join(dir, 'out.xml'), join(dir, 'in.wbxml')], { stdio: 'ignore' });
      assert.deepEqual(parseCpXml(readFileSync(join(dir, 'out.xml'), 'utf8')), doc);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('encoding uses the code-page-1 tokens for w7 parameters', () => {
    const bytes = encodeCpWbxml({
      characteristics: [
        { type: 'APPLICATION', parms: [{ name: 'APPID', value: 'w7' }], characteristics: [] },
      ],
    });
    // header, <wap-provisioningdoc version=1.0>, <characteristic SWITCH_PAGE 1 type=APPLICATION>, <parm name=APPID value="w7">
    assert.equal(hex(bytes), '030B6A00C54601C6000155018736060377370001' + '0101');
  });

  test('w7 APPLICATION → DMAcc fields (objects.md §7.3 example)', () => {
    const [acc, ...rest] = dmAccountsFromCp(parseCpXml(xml));
    assert.equal(rest.length, 0);
    const installable: DmAccount = acc!; // same shape as omadm/mo's DmAccount (checked by tsc)
    assert.equal(installable.serverId, 'acme-dms');
    assert.deepEqual(acc, {
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
          data: new TextEncoder().encode('nonce123'),
        },
      ],
    });
  });

  test('DMAcc → CP → DMAcc round trip, through WBXML', () => {
    const acc = dmAccountsFromCp(parseCpXml(xml))[0]!;
    const doc = cpDocumentFromDmAccounts([acc, { ...acc, serverId: 'second', init: false, auth: [] }]);
    const back = dmAccountsFromCp(decodeCpWbxml(encodeCpWbxml(doc)));
    assert.deepEqual(back[0], acc);
    assert.equal(back[1]!.serverId, 'second');
    assert.equal(back[1]!.init, undefined);
    assert.deepEqual(parseCpXml(cpToXml(doc)), doc);
  });

  test('non-w7 applications are ignored; a w7 without ServerID or address is an error', () => {
    const doc = (parms: { name: string; value?: string }[]): CpDocument => ({
      characteristics: [
        { type: 'NAPDEF', parms: [{ name: 'NAME', value: 'x' }], characteristics: [] },
        { type: 'APPLICATION', parms, characteristics: [] },
      ],
    });
    assert.deepEqual(dmAccountsFromCp(doc([{ name: 'APPID', value: 'w2' }])), []);
    assert.throws(
      () =>
        dmAccountsFromCp(
          doc([
            { name: 'APPID', value: 'w7' },
            { name: 'ADDR', value: 'http://x' },
          ]),
        ),
      (e: unknown) => e instanceof BootstrapError && e.code === 'BOOTSTRAP_NO_DM_ACCOUNT',
    );
    assert.throws(
      () =>
        dmAccountsFromCp(
          doc([
            { name: 'APPID', value: 'w7' },
            { name: 'PROVIDER-ID', value: 's' },
          ]),
        ),
      (e: unknown) => e instanceof BootstrapError && e.code === 'BOOTSTRAP_NO_DM_ACCOUNT',
    );
    const plain = dmAccountsFromCp(
      doc([
        { name: 'APPID', value: 'w7' },
        { name: 'PROVIDER-ID', value: 's' },
        { name: 'ADDR', value: 'http://x' },
      ]),
    );
    assert.deepEqual(plain[0]!.addresses, [{ addr: 'http://x', addrType: 'URI' }]);
  });

  test('hostile input: truncations, random bytes and entity tricks give typed errors', () => {
    const good = encodeCpWbxml(parseCpXml(xml));
    for (let len = 0; len < good.byteLength; len++) {
      assert.throws(() => decodeCpWbxml(good.subarray(0, len)), BootstrapError, `len ${len}`);
    }
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (tail) => {
        try {
          decodeCpWbxml(Uint8Array.of(0x03, 0x0b, 0x6a, 0x00, ...tail));
        } catch (e) {
          assert.ok(e instanceof BootstrapError);
        }
      }),
      { numRuns: 2000 },
    );
    const deep = [0x03, 0x0b, 0x6a, 0x00, 0x45, ...new Array(50).fill(0x46)];
    assert.throws(() => decodeCpWbxml(Uint8Array.from(deep)), BootstrapError);
    const bomb = `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><wap-provisioningdoc version="&b;"/>`;
    assert.throws(() => parseCpXml(bomb), BootstrapError);
    assert.throws(() => parseCpXml('<other/>'), BootstrapError);
    assert.throws(
      () => parseCpXml('<wap-provisioningdoc><characteristic/></wap-provisioningdoc>'),
      BootstrapError,
    );
  });
});

describe('smart-card bootstrap source', () => {
  test('directory layout: card-id, dm-N and cp-N files in order; absent card → undefined', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'omadm-card-'));
    try {
      const card = join(dir, 'card');
      assert.equal(await new DirectorySmartCardSource(card).read(), undefined);
      mkdirSync(card);
      writeFileSync(join(card, 'card-id'), '8949000000000000001\n');
      writeFileSync(join(card, 'cp-1.wbxml'), Uint8Array.of(3));
      writeFileSync(join(card, 'dm-10.wbxml'), Uint8Array.of(2));
      writeFileSync(join(card, 'dm-2.wbxml'), Uint8Array.of(1));
      writeFileSync(join(card, 'notes.txt'), 'ignored');
      const got = await new DirectorySmartCardSource(card).read();
      assert.equal(got!.cardId, '8949000000000000001');
      assert.deepEqual(
        got!.documents.map((d) => [d.profile, d.origin, d.bytes[0]]),
        [
          ['dm', 'dm-2.wbxml', 1],
          ['dm', 'dm-10.wbxml', 2],
          ['cp', 'cp-1.wbxml', 3],
        ],
      );
      writeFileSync(join(card, 'cp-2.wbxml'), new Uint8Array(70 * 1024));
      await assert.rejects(new DirectorySmartCardSource(card).read(), BootstrapError);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
