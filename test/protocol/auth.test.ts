import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  AAuthLevel,
  AAuthType,
  AuthError,
  AuthScheme,
  aauthTypeForScheme,
  b64decode,
  basicCredential,
  bodyHash,
  buildChal,
  buildHmacHeader,
  constantTimeEqual,
  credentialDigest,
  decodeNonce,
  encodeNonce,
  fallbackNonce,
  formatHmacHeader,
  hmacMac,
  md5Credential,
  md5CredentialFromDigest,
  newNonce,
  notificationNonceCandidates,
  parseAAuthLevel,
  parseAAuthType,
  parseAuthScheme,
  parseBasicCredential,
  parseChal,
  parseHmacHeader,
  schemeForAAuthType,
  verifyBasic,
  verifyHmac,
  verifyMd5,
} from '../../src/protocol/auth/index.ts';

const te = new TextEncoder();
const bytes = (s: string) => te.encode(s);

// protocol.md §4.2 verified test vector (DM 1.2 spec example, recomputed).
const USER = 'Bruce2';
const PASS = 'OhBehave';
const NONCE = bytes('Nonce');

describe('syncml:auth-md5', () => {
  test('spec vector Bruce2/OhBehave/Nonce', () => {
    assert.equal(md5Credential(USER, PASS, NONCE), 'Zz6EivR3yeaaENcRN6lpAQ==');
  });

  test('the known-wrong variants of protocol.md §4.2 are not what we compute', () => {
    const v = md5Credential(USER, PASS, NONCE);
    assert.notEqual(v, 'rsHCZ5DWrfjZfxvC+nPnFg==');
    assert.notEqual(v, 'UmkqAAZhiQvXXhfaf/u+OQ==');
  });

  test('formula cross-checked with an independent computation', () => {
    const h = (b: string | Buffer) => createHash('md5').update(b).digest();
    const inner = h(`${USER}:${PASS}`).toString('base64');
    assert.equal(credentialDigest(USER, PASS), inner);
    const want = h(Buffer.concat([Buffer.from(`${inner}:`), Buffer.from(NONCE)])).toString('base64');
    assert.equal(md5Credential(USER, PASS, NONCE), want);
  });

  test('server verifies from the stored digest only', () => {
    const digest = credentialDigest(USER, PASS);
    assert.equal(digest.length, 24);
    assert.equal(md5CredentialFromDigest(digest, NONCE), 'Zz6EivR3yeaaENcRN6lpAQ==');
    assert.equal(verifyMd5(digest, NONCE, 'Zz6EivR3yeaaENcRN6lpAQ=='), true);
    // liberal: missing padding and a line break are accepted
    assert.equal(verifyMd5(digest, NONCE, 'Zz6EivR3yeaa\nENcRN6lpAQ'), true);
  });

  test('wrong secret, wrong nonce, tampered or garbage credentials are refused', () => {
    const digest = credentialDigest(USER, PASS);
    assert.equal(verifyMd5(credentialDigest(USER, 'other'), NONCE, 'Zz6EivR3yeaaENcRN6lpAQ=='), false);
    assert.equal(verifyMd5(digest, bytes('Nonce2'), 'Zz6EivR3yeaaENcRN6lpAQ=='), false);
    assert.equal(verifyMd5(digest, NONCE, 'Zz6EivR3yeaaENcRN6lpAA=='), false);
    assert.equal(verifyMd5(digest, NONCE, 'not base64!'), false);
    assert.equal(verifyMd5(digest, NONCE, ''), false);
    assert.equal(verifyMd5(digest, NONCE, 'QUJD'), false); // 3 bytes
  });

  test('binary nonces are used as decoded octets; encoded-nonce tolerance is opt-in', () => {
    const nonce = Uint8Array.of(0, 255, 1, 128, 10, 13);
    const digest = credentialDigest(USER, PASS);
    const good = md5Credential(USER, PASS, nonce);
    assert.equal(verifyMd5(digest, decodeNonce(encodeNonce(nonce)), good), true);
    const wrongForm = md5Credential(USER, PASS, bytes(encodeNonce(nonce)));
    assert.equal(verifyMd5(digest, nonce, wrongForm), false);
    assert.equal(verifyMd5(digest, nonce, wrongForm, { acceptEncodedNonce: true }), true);
    assert.equal(verifyMd5(digest, nonce, good, { acceptEncodedNonce: true }), true);
  });

  test('property: build then verify succeeds; another nonce fails', () => {
    fc.assert(
      fc.property(
        fc.string(),
        fc.string(),
        fc.uint8Array({ minLength: 1, maxLength: 40 }),
        fc.uint8Array({ minLength: 1, maxLength: 40 }),
        (name, secret, n1, n2) => {
          const digest = credentialDigest(name, secret);
          const cred = md5Credential(name, secret, n1);
          assert.equal(verifyMd5(digest, n1, cred), true);
          if (!constantTimeEqual(n1, n2)) assert.equal(verifyMd5(digest, n2, cred), false);
        },
      ),
    );
  });
});

describe('syncml:auth-basic', () => {
  test('spec vector', () => {
    assert.equal(basicCredential(USER, PASS), 'QnJ1Y2UyOk9oQmVoYXZl');
  });

  test('verify from the digest, with and without the expected name', () => {
    const digest = credentialDigest(USER, PASS);
    assert.equal(verifyBasic(digest, 'QnJ1Y2UyOk9oQmVoYXZl'), true);
    assert.equal(verifyBasic(digest, 'QnJ1Y2UyOk9oQmVoYXZl', 'Bruce2'), true);
    assert.equal(verifyBasic(digest, 'QnJ1Y2UyOk9oQmVoYXZl', 'Bruce'), false);
    assert.equal(verifyBasic(digest, basicCredential(USER, 'OhBehavf')), false);
    assert.equal(verifyBasic(digest, '%%%'), false);
  });

  test('names with ":" (IMEI:…) verify as a whole; parse splits at the first ":"', () => {
    const name = 'IMEI:351234567890123';
    const cred = basicCredential(name, 'pa:ss');
    assert.equal(verifyBasic(credentialDigest(name, 'pa:ss'), cred, name), true);
    assert.deepEqual(parseBasicCredential(basicCredential('u', 'a:b')), { name: 'u', secret: 'a:b' });
    assert.throws(() => parseBasicCredential('bm9jb2xvbg=='), AuthError);
  });
});

describe('x-syncml-hmac', () => {
  const body = bytes('<SyncML xmlns="SYNCML:SYNCML1.2"></SyncML>');

  test('protocol.md §4.2 own vector', () => {
    assert.equal(body.byteLength, 42);
    assert.equal(bodyHash(body), 'V2pUFyVNkvBtkcuf1/uj0A==');
    assert.equal(hmacMac(credentialDigest(USER, PASS), NONCE, body), 'aSBvnDHzBa7JhdjeEEUR2g==');
  });

  test('strict on send', () => {
    const h = buildHmacHeader({ username: USER, digest: credentialDigest(USER, PASS), nonce: NONCE, body });
    assert.equal(h, 'algorithm=MD5, username="Bruce2", mac=aSBvnDHzBa7JhdjeEEUR2g==');
    assert.equal(
      formatHmacHeader({ algorithm: 'MD5', username: 'a "q" \\ b', mac: 'AA==' }),
      'algorithm=MD5, username="a \\"q\\" \\\\ b", mac=AA==',
    );
    assert.throws(
      () => formatHmacHeader({ algorithm: 'MD5', username: 'x\r\nSet-Cookie: y', mac: 'AA==' }),
      (e: unknown) => e instanceof AuthError && e.code === 'AUTH_BAD_ARGUMENT',
    );
  });

  test('liberal on receive: order, spaces, quotes, case', () => {
    const want = {
      algorithm: 'MD5',
      username: 'Robert Jordan',
      mac: 'NTI2OTJhMDAwNjYxODkwYmQ3NWUxN2RhN2ZmYmJlMzk',
    };
    assert.deepEqual(
      parseHmacHeader(
        'algorithm=MD5, username="Robert Jordan", mac=NTI2OTJhMDAwNjYxODkwYmQ3NWUxN2RhN2ZmYmJlMzk',
      ),
      want,
    );
    assert.deepEqual(
      parseHmacHeader(
        ' mac = "NTI2OTJhMDAwNjYxODkwYmQ3NWUxN2RhN2ZmYmJlMzk" ,USERNAME=Robert Jordan,algorithm=md5 ',
      ),
      want,
    );
    // algorithm is optional (default MD5), unknown parameters are ignored, empty list elements allowed
    assert.deepEqual(parseHmacHeader('username="u", ,x-extra=1, mac=AA=='), {
      algorithm: 'MD5',
      username: 'u',
      mac: 'AA==',
    });
    assert.equal(parseHmacHeader('username="a \\"q\\"", mac=AA==').username, 'a "q"');
  });

  test('malformed headers give typed errors', () => {
    const bad = [
      'algorithm=MD5, mac=AA==',
      'algorithm=MD5, username="u"',
      'username="u", mac=',
      'username="u, mac=AA==',
      'username="u"x, mac=AA==',
      'username=u, username=v, mac=AA==',
      'username u, mac=AA==',
      '=u',
      '',
      `username="${'a'.repeat(9000)}", mac=AA==`,
    ];
    for (const h of bad) {
      assert.throws(
        () => parseHmacHeader(h),
        (e: unknown) => e instanceof AuthError && e.code === 'AUTH_BAD_HMAC_HEADER',
        h,
      );
    }
  });

  test('verify: good, tampered body, wrong nonce, wrong user, other algorithm', () => {
    const digest = credentialDigest(USER, PASS);
    const h = buildHmacHeader({ username: USER, digest, nonce: NONCE, body });
    assert.equal(verifyHmac(digest, NONCE, body, h), true);
    assert.equal(verifyHmac(digest, NONCE, body, parseHmacHeader(h), { expectedUsername: USER }), true);
    const tampered = body.slice();
    tampered[10] ^= 1;
    assert.equal(verifyHmac(digest, NONCE, tampered, h), false);
    assert.equal(verifyHmac(digest, bytes('Nonce2'), body, h), false);
    assert.equal(verifyHmac(digest, NONCE, body, h, { expectedUsername: 'Mallory' }), false);
    assert.equal(verifyHmac(digest, NONCE, body, h.replace('MD5', 'SHA1')), false);
    assert.equal(verifyHmac(digest, NONCE, body, 'garbage'), false);
    assert.equal(verifyHmac(credentialDigest(USER, 'x'), NONCE, body, h), false);
  });

  test('property: format/parse round trip for any printable username', () => {
    fc.assert(
      fc.property(
        fc.string().filter((s) => !/[\u0000-\u001f\u007f]/.test(s)),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        (username, mac) => {
          const h = { algorithm: 'MD5', username, mac: Buffer.from(mac).toString('base64') };
          assert.deepEqual(parseHmacHeader(formatHmacHeader(h)), h);
        },
      ),
    );
  });
});

describe('nonces and base64', () => {
  test('newNonce is 16 random octets by default and varies', () => {
    const a = newNonce();
    const b = newNonce();
    assert.equal(a.byteLength, 16);
    assert.equal(constantTimeEqual(a, b), false);
    assert.equal(newNonce(32).byteLength, 32);
    assert.throws(() => newNonce(4), AuthError);
  });

  test('encode/decode round trip, liberal padding, strict alphabet', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (n) => {
        assert.deepEqual(decodeNonce(encodeNonce(n)), n);
        assert.deepEqual(decodeNonce(encodeNonce(n).replace(/=+$/, '')), n);
      }),
    );
    assert.deepEqual(b64decode('AAAAAA=='), new Uint8Array(4));
    for (const bad of ['A', 'AA=A', 'AB$=', 'AA===', 'QUJD-_', 'A=']) {
      assert.throws(
        () => b64decode(bad),
        (e: unknown) => e instanceof AuthError && e.code === 'AUTH_BAD_BASE64',
        bad,
      );
    }
    assert.throws(() => b64decode('A'.repeat(100), 50), AuthError);
  });

  test('Package 0 fallback nonce candidates', () => {
    assert.deepEqual(fallbackNonce(), new Uint8Array(4));
    const stored = Uint8Array.of(9, 9);
    const c = notificationNonceCandidates(stored);
    assert.deepEqual(c[0], stored);
    assert.deepEqual(c[1], new Uint8Array(4));
    assert.deepEqual(c.slice(2), [bytes('AAAAAA=='), bytes('0x00000000')]);
    assert.equal(notificationNonceCandidates(undefined).length, 3);
  });
});

describe('types and Chal', () => {
  test('AAuthType ↔ Meta/Type mapping', () => {
    assert.equal(schemeForAAuthType(AAuthType.Basic), 'syncml:auth-basic');
    assert.equal(schemeForAAuthType(AAuthType.Digest), 'syncml:auth-md5');
    assert.equal(schemeForAAuthType(AAuthType.Hmac), 'syncml:auth-MAC');
    assert.equal(schemeForAAuthType(AAuthType.HttpBasic), undefined);
    assert.equal(aauthTypeForScheme(AuthScheme.Md5), 'DIGEST');
    assert.equal(aauthTypeForScheme(AuthScheme.Hmac), 'HMAC');
    assert.equal(parseAuthScheme(' SYNCML:AUTH-mac '), 'syncml:auth-MAC');
    assert.equal(parseAuthScheme('syncml:auth-clear'), undefined);
    assert.equal(parseAAuthType('digest'), 'DIGEST');
    assert.equal(parseAAuthType('SECUREID'), 'SECURID');
    assert.equal(parseAAuthLevel('srvcred'), AAuthLevel.Server);
    assert.equal(parseAAuthLevel('APPSRV'), undefined);
  });

  test('Chal build and liberal parse', () => {
    const chal = buildChal(AuthScheme.Md5, Uint8Array.of(1, 2, 3));
    assert.deepEqual(chal, { Type: 'syncml:auth-md5', Format: 'b64', NextNonce: 'AQID' });
    assert.deepEqual(buildChal(AuthScheme.Basic), { Type: 'syncml:auth-basic', Format: 'b64' });
    assert.deepEqual(parseChal({ Type: 'SYNCML:AUTH-MD5', NextNonce: 'AQID' }), {
      type: 'syncml:auth-md5',
      nonce: Uint8Array.of(1, 2, 3),
    });
    assert.deepEqual(
      parseChal({ Type: 'syncml:auth-md5', Format: 'chr', NextNonce: 'abc' }).nonce,
      bytes('abc'),
    );
    assert.throws(() => parseChal({ Type: 'syncml:auth-foo' }), AuthError);
    assert.throws(() => parseChal({ Type: 'syncml:auth-md5', NextNonce: '!!' }), AuthError);
  });
});
