/**
 * BackoffGuard on a fake clock: the free allowance, doubling delays with their caps, leaking
 * buckets, success clearing only the device's own bucket, 429 for a source with too many waiting,
 * and bounded memory.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AuthFailureReason, BackoffGuard, type BackoffPolicy } from '../../src/protocol/auth-guard.ts';
import { SessionError } from '../../src/protocol/errors.ts';

function guard(policy: Partial<BackoffPolicy> = {}) {
  let now = 1_000_000;
  const slept: number[] = [];
  const failures: string[] = [];
  let release: (() => void)[] = [];
  const g = new BackoffGuard({
    policy,
    now: () => now,
    sleep: (ms) => {
      slept.push(ms);
      return new Promise<void>((resolve) => release.push(resolve));
    },
    onFailure: (f) => failures.push(f.reason),
  });
  const fail = (deviceId: string, source?: string) =>
    g.failed({ deviceId, source, reason: AuthFailureReason.BadCredentials, detail: 'test' });
  return {
    g,
    slept,
    failures,
    fail,
    tick: (ms: number) => {
      now += ms;
    },
    wake: () => {
      for (const r of release) r();
      release = [];
    },
  };
}

test('past the free allowance the delay doubles up to its cap; the device cap is low, the source cap high', () => {
  const t = guard({
    deviceFreeFailures: 2,
    sourceFreeFailures: 100,
    baseDelayMs: 100,
    maxDeviceDelayMs: 350,
    maxSourceDelayMs: 10_000,
  });
  const seen: number[] = [];
  for (let i = 0; i < 6; i++) {
    seen.push(t.g.delayOf('d', 's'));
    t.fail('d', 's');
  }
  assert.deepEqual(seen, [0, 0, 0, 100, 200, 350]);
  const src = guard({
    deviceFreeFailures: 100,
    sourceFreeFailures: 1,
    baseDelayMs: 1000,
    maxSourceDelayMs: 30_000,
  });
  // The first failure of each DevId is free for the source (stale nonces); repeats count.
  for (let i = 0; i < 8; i++) src.fail(`dev-${i}`, 's');
  assert.equal(src.g.delayOf('another', 's'), 0, 'one refusal per device: a fleet behind one address');
  for (let i = 0; i < 8; i++) src.fail('dev-0', 's');
  assert.equal(src.g.delayOf('another', 's'), 30_000, 'the source is slowed for any device');
  assert.equal(src.g.delayOf('another', 'elsewhere'), 0);
});

test('buckets leak; success empties the device bucket only', () => {
  const t = guard({ deviceFreeFailures: 1, sourceFreeFailures: 1, baseDelayMs: 100, leakMs: 1000 });
  for (let i = 0; i < 3; i++) t.fail('d', 's');
  assert.ok(t.g.delayOf('d', undefined) > 0);
  t.tick(2500);
  assert.equal(t.g.delayOf('d', undefined), 0, 'two and a half failures leaked out');
  t.fail('d', 's');
  t.fail('d', 's');
  t.g.succeeded('d', 's');
  assert.equal(t.g.delayOf('d', undefined), 0);
  assert.ok(t.g.delayOf('x', 's') > 0, 'the source keeps its failures');
});

test('admit waits out the delay; a source with too many waiting gets RateLimited, a device never does', async () => {
  const t = guard({ deviceFreeFailures: 0, sourceFreeFailures: 0, baseDelayMs: 50, maxWaitingPerSource: 2 });
  t.fail('d', 's');
  t.fail('d', 's');
  const a = t.g.admit('d', 's');
  const b = t.g.admit('d', 's');
  await assert.rejects(t.g.admit('d', 's'), (e: unknown) => {
    assert.ok(e instanceof SessionError);
    assert.equal(e.code, 'OMADM_ERR_SESSION_RATE_LIMITED');
    assert.ok((e.retryAfterMs ?? 0) >= 50);
    return true;
  });
  assert.deepEqual(t.failures.at(-1), 'rate_limited');
  // The same device from other sources only waits.
  const c = t.g.admit('d', 'other-1');
  const d = t.g.admit('d', 'other-2');
  const e = t.g.admit('d', 'other-3');
  t.wake();
  await Promise.all([a, b, c, d, e]);
  assert.equal(t.slept.length, 5);
  // A refusal for waiting does not grow the buckets.
  assert.equal(t.g.delayOf('fresh', 's'), 50);
});

test('memory stays bounded whatever the number of DevIds and sources', () => {
  const t = guard({ maxTracked: 100 });
  for (let i = 0; i < 10_000; i++) {
    t.fail(`dev-${i}`, `src-${i}`);
    t.fail(`dev-${i}`, `src-${i}`);
  }
  assert.deepEqual(t.g.tracked, { devices: 100, sources: 100, pairs: 100 });
});
