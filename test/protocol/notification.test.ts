import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { credentialDigest, fallbackNonce } from '../../src/protocol/auth/index.ts';
import {
  buildPackage0,
  encodeTrigger,
  Initiator,
  NotificationError,
  notificationDigest,
  parsePackage0,
  receivePackage0,
  sessionIdHex,
  TriggerDeduplicator,
  UiMode,
  verifyPackage0,
  verifyPackage0WithFallback,
} from '../../src/protocol/notification/index.ts';

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');

// protocol.md §5.3
const SPEC = {
  serverId: 'com.mgmtsrv.manage',
  secret: 'srvSecret',
  trigger: hex('02 D0 00 00 00 12 34 12 63 6F 6D 2E 6D 67 6D 74 73 72 76 2E 6D 61 6E 61 67 65'),
  digest: hex('ae c1 7a e9 c5 31 eb ad b7 e1 04 a8 05 2b 4d 37'),
};

const isCode = (code: string) => (e: unknown) => e instanceof NotificationError && e.code === code;

describe('Package 0 build', () => {
  test('byte-exact against the spec example (trigger) and digest vector', () => {
    const fields = {
      serverId: SPEC.serverId,
      sessionId: 0x1234,
      uiMode: UiMode.Background,
      initiator: Initiator.Client,
      version: 11,
    };
    assert.equal(toHex(encodeTrigger(fields)), toHex(SPEC.trigger));
    const pkg0 = buildPackage0({ ...fields, secret: SPEC.secret, nonce: fallbackNonce() });
    assert.equal(pkg0.byteLength, 42);
    assert.equal(toHex(pkg0), toHex(SPEC.digest) + toHex(SPEC.trigger));
    // same bytes from the stored credential digest instead of the secret
    const viaDigest = buildPackage0({
      ...fields,
      credentialDigest: credentialDigest(SPEC.serverId, SPEC.secret),
      nonce: new Uint8Array(4),
    });
    assert.deepEqual(viaDigest, pkg0);
    assert.equal(sessionIdHex(0x1234), '1234');
  });

  test('defaults: version 11, not-specified ui, server initiator, no vendor data', () => {
    const t = encodeTrigger({ serverId: 'x', sessionId: 0xab });
    assert.equal(toHex(t), '02c8' + '000000' + '00ab' + '01' + '78');
  });

  test('each ui-mode and initiator lands in its bits', () => {
    const modes = [UiMode.NotSpecified, UiMode.Background, UiMode.Informative, UiMode.UserInteraction];
    modes.forEach((uiMode, bits) => {
      const t = encodeTrigger({ serverId: 's', sessionId: 1, uiMode, initiator: Initiator.Server });
      assert.equal(t[1], 0xc0 | (bits << 4) | 0x08);
    });
  });

  test('vendor data follows the server identifier', () => {
    const t = encodeTrigger({ serverId: 'ab', sessionId: 2, vendor: Uint8Array.of(0xde, 0xad) });
    assert.equal(toHex(t.subarray(7)), '026162dead');
  });

  test('out-of-range fields are refused with typed errors', () => {
    const ok = { serverId: 's', sessionId: 1 };
    assert.throws(() => encodeTrigger({ ...ok, sessionId: 0x10000 }), isCode('PKG0_BAD_FIELD'));
    assert.throws(() => encodeTrigger({ ...ok, sessionId: -1 }), isCode('PKG0_BAD_FIELD'));
    assert.throws(() => encodeTrigger({ ...ok, sessionId: 1.5 }), isCode('PKG0_BAD_FIELD'));
    assert.throws(() => encodeTrigger({ ...ok, version: 1024 }), isCode('PKG0_BAD_FIELD'));
    assert.throws(() => encodeTrigger({ ...ok, uiMode: 'loud' as UiMode }), isCode('PKG0_BAD_FIELD'));
    assert.throws(() => encodeTrigger({ ...ok, initiator: 'x' as Initiator }), isCode('PKG0_BAD_FIELD'));
    assert.throws(() => encodeTrigger({ ...ok, serverId: '' }), isCode('PKG0_BAD_SERVER_ID'));
    assert.throws(() => encodeTrigger({ ...ok, serverId: 'x'.repeat(256) }), isCode('PKG0_BAD_SERVER_ID'));
    assert.throws(() => encodeTrigger({ ...ok, vendor: new Uint8Array(4000) }), isCode('PKG0_TOO_LARGE'));
  });
});

describe('Package 0 parse and verify', () => {
  const pkg0 = new Uint8Array([...SPEC.digest, ...SPEC.trigger]);

  test('parses the spec example', () => {
    const p = parsePackage0(pkg0);
    assert.deepEqual(p.digest, SPEC.digest);
    assert.equal(p.version, 11);
    assert.equal(p.uiMode, 'background');
    assert.equal(p.initiator, 'client');
    assert.equal(p.futureUse, 0);
    assert.equal(p.sessionId, 0x1234);
    assert.equal(sessionIdHex(p.sessionId), '1234');
    assert.equal(p.serverId, SPEC.serverId);
    assert.equal(p.vendor.byteLength, 0);
    assert.deepEqual(p.trigger, SPEC.trigger);
  });

  test('verifies with the right credentials and nonce only', () => {
    const p = parsePackage0(pkg0);
    const cd = credentialDigest(SPEC.serverId, SPEC.secret);
    assert.equal(verifyPackage0(p, cd, new Uint8Array(4)), true);
    assert.equal(verifyPackage0(p, cd, new Uint8Array(5)), false);
    assert.equal(verifyPackage0(p, credentialDigest(SPEC.serverId, 'srvSecreT'), new Uint8Array(4)), false);
    assert.deepEqual(notificationDigest(cd, new Uint8Array(4), SPEC.trigger), SPEC.digest);
  });

  test('tampering with any byte is detected', () => {
    const cd = credentialDigest(SPEC.serverId, SPEC.secret);
    for (let i = 0; i < pkg0.byteLength; i++) {
      const t = pkg0.slice();
      t[i] ^= 0x01;
      let verified = false;
      try {
        verified = verifyPackage0(parsePackage0(t), cd, new Uint8Array(4));
      } catch (e) {
        assert.ok(e instanceof NotificationError, `byte ${i}`);
      }
      assert.equal(verified, false, `byte ${i}`);
    }
  });

  test('fallback nonce re-synchronisation', () => {
    const cd = credentialDigest(SPEC.serverId, SPEC.secret);
    const p = parsePackage0(pkg0);
    const r = verifyPackage0WithFallback(p, cd, Uint8Array.of(7, 7, 7));
    assert.deepEqual(r, { ok: true, nonce: new Uint8Array(4), fallback: true });
    const stored = Uint8Array.of(1, 2, 3, 4);
    const fresh = parsePackage0(
      buildPackage0({ serverId: 'srv', sessionId: 9, secret: 'pw', nonce: stored }),
    );
    assert.deepEqual(verifyPackage0WithFallback(fresh, credentialDigest('srv', 'pw'), stored), {
      ok: true,
      nonce: stored,
      fallback: false,
    });
    assert.deepEqual(verifyPackage0WithFallback(fresh, credentialDigest('srv', 'px'), stored), { ok: false });
    // libdmclient's literal "0x00000000" text form is also recognised
    const lib = parsePackage0(
      buildPackage0({
        serverId: 'srv',
        sessionId: 9,
        secret: 'pw',
        nonce: new TextEncoder().encode('0x00000000'),
      }),
    );
    const rl = verifyPackage0WithFallback(lib, credentialDigest('srv', 'pw'), stored);
    assert.equal(rl.ok && rl.fallback, true);
  });

  test('truncated and malformed input gives typed errors', () => {
    for (let len = 0; len < pkg0.byteLength; len++) {
      assert.throws(() => parsePackage0(pkg0.subarray(0, len)), isCode('PKG0_TRUNCATED'), `len ${len}`);
    }
    const empty = pkg0.slice(0, 24);
    empty[23] = 0;
    assert.throws(() => parsePackage0(empty), isCode('PKG0_BAD_SERVER_ID'));
    const badUtf8 = new Uint8Array([...pkg0.subarray(0, 23), 2, 0xc3, 0x28]);
    assert.throws(() => parsePackage0(badUtf8), isCode('PKG0_BAD_SERVER_ID'));
    assert.throws(() => parsePackage0(new Uint8Array(5000)), isCode('PKG0_TOO_LARGE'));
  });

  test('liberal on receive: other versions and set future-use bits are reported, not refused', () => {
    const t = pkg0.slice();
    t[16] = 0x03; // version 12..15 range
    t[17] = 0x3f; // ui 3, initiator 1, future bits 111
    t[20] = 0x01;
    const p = parsePackage0(t);
    assert.equal(p.version, 12);
    assert.equal(p.uiMode, 'user-interaction');
    assert.equal(p.initiator, 'server');
    assert.equal(p.futureUse, (7 << 24) | 1);
  });

  test('property: build → parse round trip and verification', () => {
    fc.assert(
      fc.property(
        fc.record({
          serverId: fc.string({ minLength: 1, maxLength: 60 }).filter((s) => {
            const n = Buffer.byteLength(s);
            return n > 0 && n < 256 && Buffer.from(s).toString() === s;
          }),
          sessionId: fc.integer({ min: 0, max: 0xffff }),
          uiMode: fc.constantFrom(...Object.values(UiMode)),
          initiator: fc.constantFrom(...Object.values(Initiator)),
          version: fc.integer({ min: 0, max: 1023 }),
          vendor: fc.uint8Array({ maxLength: 100 }),
        }),
        fc.string(),
        fc.uint8Array({ maxLength: 32 }),
        (fields, secret, nonce) => {
          const bytes = buildPackage0({ ...fields, secret, nonce });
          const p = parsePackage0(bytes);
          assert.equal(p.serverId, fields.serverId);
          assert.equal(p.sessionId, fields.sessionId);
          assert.equal(p.uiMode, fields.uiMode);
          assert.equal(p.initiator, fields.initiator);
          assert.equal(p.version, fields.version);
          assert.equal(p.futureUse, 0);
          assert.deepEqual(p.vendor, fields.vendor);
          assert.equal(verifyPackage0(p, credentialDigest(fields.serverId, secret), nonce), true);
          assert.equal(verifyPackage0(p, credentialDigest(fields.serverId, `${secret}x`), nonce), false);
        },
      ),
      { numRuns: 300 },
    );
  });

  test('property: arbitrary bytes never crash the parser', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        try {
          parsePackage0(b);
        } catch (e) {
          assert.ok(e instanceof NotificationError);
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe('duplicate suppression', () => {
  test('a repeated trigger starts one session within the window', () => {
    let now = 1_000_000;
    const d = new TriggerDeduplicator({ windowMs: 60_000, now: () => now });
    const p = { serverId: 'srv', sessionId: 0x1234 };
    assert.equal(d.accept(p), true);
    assert.equal(d.accept(p), false);
    assert.equal(d.accept({ serverId: 'srv', sessionId: 0x1235 }), true);
    assert.equal(d.accept({ serverId: 'other', sessionId: 0x1234 }), true);
    now += 59_999;
    assert.equal(d.accept(p), false);
    now += 1;
    assert.equal(d.accept(p), true);
  });

  test('forget and bounded size', () => {
    const d = new TriggerDeduplicator({ maxEntries: 3, now: () => 0 });
    for (let i = 0; i < 5; i++) assert.equal(d.accept({ serverId: 's', sessionId: i }), true);
    assert.equal(d.size, 3);
    assert.equal(d.accept({ serverId: 's', sessionId: 0 }), true); // evicted, so new again
    assert.equal(d.accept({ serverId: 's', sessionId: 4 }), false);
    d.forget({ serverId: 's', sessionId: 4 });
    assert.equal(d.accept({ serverId: 's', sessionId: 4 }), true);
  });
});

describe('receivePackage0 (device side in one call)', () => {
  const nonce = Uint8Array.of(9, 8, 7, 6);
  const accounts = new Map([['srv', { credentialDigest: credentialDigest('srv', 'pw'), nonce }]]);
  const lookup = (id: string) => accounts.get(id);

  test('start with SessionID and ui-mode; a repeat is a duplicate', async () => {
    const dedup = new TriggerDeduplicator();
    const bytes = buildPackage0({
      serverId: 'srv',
      sessionId: 0xab,
      uiMode: 'informative',
      secret: 'pw',
      nonce,
    });
    const d = await receivePackage0(bytes, lookup, dedup);
    assert.deepEqual(d, {
      action: 'start',
      serverId: 'srv',
      sessionId: 'AB',
      uiMode: 'informative',
      initiator: 'server',
      vendor: new Uint8Array(0),
      nonce,
      resync: false,
    });
    assert.deepEqual(await receivePackage0(bytes, lookup, dedup), {
      action: 'ignore',
      reason: 'duplicate',
      serverId: 'srv',
    });
  });

  test('fallback nonce → resync; unknown server, forged digest and garbage are ignored', async () => {
    const resync = buildPackage0({ serverId: 'srv', sessionId: 1, secret: 'pw', nonce: fallbackNonce() });
    // Only while the stored nonce is known to be out of step, or when none is stored.
    const d = await receivePackage0(resync, async (id) => {
      const a = lookup(id);
      return a && { ...a, fallback: true };
    });
    assert.equal(d.action === 'start' && d.resync, true);
    assert.deepEqual(await receivePackage0(resync, async (id) => lookup(id)), {
      action: 'ignore',
      reason: 'bad-digest',
      serverId: 'srv',
    });
    const none = await receivePackage0(resync, async (id) => {
      const a = lookup(id);
      return a && { credentialDigest: a.credentialDigest };
    });
    assert.equal(none.action === 'start' && none.resync, true);
    const other = buildPackage0({ serverId: 'nobody', sessionId: 1, secret: 'pw', nonce });
    assert.deepEqual(await receivePackage0(other, lookup), {
      action: 'ignore',
      reason: 'unknown-server',
      serverId: 'nobody',
    });
    const forged = buildPackage0({ serverId: 'srv', sessionId: 2, secret: 'guess', nonce });
    const dedup = new TriggerDeduplicator();
    assert.deepEqual(await receivePackage0(forged, lookup, dedup), {
      action: 'ignore',
      reason: 'bad-digest',
      serverId: 'srv',
    });
    assert.equal(dedup.size, 0, 'a forged trigger does not occupy the session id');
    const bad = await receivePackage0(Uint8Array.of(1, 2, 3), lookup);
    assert.equal(bad.action === 'ignore' && bad.reason === 'malformed' && bad.code, 'PKG0_TRUNCATED');
  });
});
