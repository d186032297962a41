/**
 * Brute-force protection for the server engine (docs/security.md, "Limits and backoff"): failed
 * client authentications are counted per device and per source address in leaky buckets; a
 * request for a device or from a source over its free allowance waits before it is checked.
 *
 * Delays, not locks: a device that has its credentials always gets in. Its own bucket's delay is
 * capped low (an attacker guessing its secret slows its sessions, never stops them); the source's
 * cap is high, and a source with too many requests already waiting is refused (429) — that limit
 * applies to the attacker's address, never to a device id.
 *
 * The first failure of a DevId from a source is free for the source: a stale nonce is normal
 * (each device's first contact after a nonce loss is refused once, then succeeds), and a fleet
 * behind one NAT or a load test from one host must not be throttled by it. Guessing one device's
 * secret costs from the second failure on.
 */
import { SessionError, SessionErrorCode } from './errors.ts';

/** Why a client authentication failed (the `reason` label of `omadm_auth_failures_total`). */
export const AuthFailureReason = {
  /** No such device (and auto-enrollment does not apply). */
  UnknownDevice: 'unknown_device',
  /** The message carried no credential where one was needed. */
  MissingCredentials: 'missing_credentials',
  /** A credential that does not verify (wrong secret, stale nonce, wrong name). */
  BadCredentials: 'bad_credentials',
  /** A credential of another scheme than the device's. */
  WrongScheme: 'wrong_scheme',
  /** No (matching) TLS client certificate for a `transport` device. */
  NoCertificate: 'no_certificate',
  /** A session's message or retransmission over another TLS client certificate than the session's. */
  TransportMismatch: 'transport_mismatch',
  /** Refused without checking: too many requests of this source wait out their backoff. */
  RateLimited: 'rate_limited',
  /** A device with auth mode `none` over plain HTTP: only server-authenticated TLS may carry it. */
  NoAuthWithoutTls: 'no_auth_without_tls',
} as const;
export type AuthFailureReason = (typeof AuthFailureReason)[keyof typeof AuthFailureReason];

/** One failed authentication, as the engine reports it. */
export interface AuthFailure {
  readonly deviceId: string;
  /** Remote address, when the binding knows it. */
  readonly source: string | undefined;
  readonly reason: AuthFailureReason;
  /** Human-readable detail for logs (never a credential). */
  readonly detail: string;
}

/** What the engine asks of a brute-force guard. */
export interface AuthGuard {
  /**
   * Called before a message's sender is checked (credentials or cache): resolves when the device's
   * and the source's backoff has passed; throws SessionError `RateLimited` (HTTP 429) when the
   * source already has too many requests waiting.
   */
  admit(deviceId: string, source: string | undefined): Promise<void>;
  failed(failure: AuthFailure): void;
  /** The device authenticated: its own bucket empties (the source's does not). */
  succeeded(deviceId: string, source: string | undefined): void;
}

/** The backoff policy; every field has a documented default (docs/security.md). */
export interface BackoffPolicy {
  /** Failures a device may have in its bucket before its requests are delayed. Default 5. */
  readonly deviceFreeFailures: number;
  /** Failures a source may have before its requests are delayed. Default 20. */
  readonly sourceFreeFailures: number;
  /** First delay past the allowance; doubles with each further failure. Default 250 ms. */
  readonly baseDelayMs: number;
  /** Most a device's own bucket delays a request (kept low: never a lockout). Default 2 s. */
  readonly maxDeviceDelayMs: number;
  /** Most a source's bucket delays a request. Default 30 s. */
  readonly maxSourceDelayMs: number;
  /** One failure leaks out of a bucket per this time. Default 30 s. */
  readonly leakMs: number;
  /** Requests of one source waiting out a delay at once; more get 429. Default 16. */
  readonly maxWaitingPerSource: number;
  /** Buckets kept per kind (devices, sources); the least recently failed go first. Default 10 000. */
  readonly maxTracked: number;
}

export const defaultBackoffPolicy: BackoffPolicy = Object.freeze({
  deviceFreeFailures: 5,
  sourceFreeFailures: 20,
  baseDelayMs: 250,
  maxDeviceDelayMs: 2000,
  maxSourceDelayMs: 30_000,
  leakMs: 30_000,
  maxWaitingPerSource: 16,
  maxTracked: 10_000,
});

interface Bucket {
  level: number;
  at: number;
}

/** Leaky buckets of failures, bounded in number (insertion order = least recently failed first). */
class Buckets {
  readonly #map = new Map<string, Bucket>();
  readonly #leakMs: number;
  readonly #max: number;
  constructor(leakMs: number, max: number) {
    this.#leakMs = leakMs;
    this.#max = max;
  }
  level(key: string, now: number): number {
    const b = this.#map.get(key);
    if (!b) return 0;
    const level = b.level - (now - b.at) / this.#leakMs;
    if (level <= 0) {
      this.#map.delete(key);
      return 0;
    }
    return level;
  }
  add(key: string, now: number): void {
    const level = this.level(key, now) + 1;
    this.#map.delete(key); // re-insert: most recently failed last
    this.#map.set(key, { level, at: now });
    if (this.#map.size > this.#max) {
      const oldest = this.#map.keys().next().value;
      if (oldest !== undefined) this.#map.delete(oldest);
    }
  }
  clear(key: string): void {
    this.#map.delete(key);
  }
  get size(): number {
    return this.#map.size;
  }
}

function delayFor(level: number, free: number, base: number, cap: number): number {
  // A failure leaks out over leakMs: a burst of n failures counts as n, not n minus a sliver.
  const over = Math.round(level) - free;
  if (over <= 0) return 0;
  return Math.min(cap, base * 2 ** Math.min(over - 1, 30));
}

/** The in-process guard (per server node; each node counts what it sees). */
export class BackoffGuard implements AuthGuard {
  readonly policy: BackoffPolicy;
  readonly #devices: Buckets;
  readonly #sources: Buckets;
  /** Failures per (source, DevId): only repeats count for the source. */
  readonly #pairs: Buckets;
  readonly #waiting = new Map<string, number>();
  readonly #now: () => number;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #onFailure: ((f: AuthFailure) => void) | undefined;

  constructor(
    options: {
      readonly policy?: Partial<BackoffPolicy>;
      /** Called for every failure (metrics, logs). */
      readonly onFailure?: (f: AuthFailure) => void;
      readonly now?: () => number;
      readonly sleep?: (ms: number) => Promise<void>;
    } = {},
  ) {
    this.policy = Object.freeze({ ...defaultBackoffPolicy, ...(options.policy ?? {}) });
    this.#devices = new Buckets(this.policy.leakMs, this.policy.maxTracked);
    this.#sources = new Buckets(this.policy.leakMs, this.policy.maxTracked);
    this.#pairs = new Buckets(this.policy.leakMs, this.policy.maxTracked);
    this.#now = options.now ?? Date.now;
    this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.#onFailure = options.onFailure;
  }

  /** The delay a request for this device from this source would wait now (ms). */
  delayOf(deviceId: string, source: string | undefined): number {
    const p = this.policy;
    const now = this.#now();
    const d = delayFor(
      this.#devices.level(deviceId, now),
      p.deviceFreeFailures,
      p.baseDelayMs,
      p.maxDeviceDelayMs,
    );
    const s =
      source === undefined
        ? 0
        : delayFor(this.#sources.level(source, now), p.sourceFreeFailures, p.baseDelayMs, p.maxSourceDelayMs);
    return Math.max(d, s);
  }

  async admit(deviceId: string, source: string | undefined): Promise<void> {
    const ms = this.delayOf(deviceId, source);
    if (ms <= 0) return;
    const key = source ?? '';
    const waiting = this.#waiting.get(key) ?? 0;
    if (waiting >= this.policy.maxWaitingPerSource) {
      this.failed({
        deviceId,
        source,
        reason: AuthFailureReason.RateLimited,
        detail: `${waiting} requests of this source already wait`,
      });
      throw new SessionError(SessionErrorCode.RateLimited, 'too many failed authentications; retry later', {
        retryAfterMs: ms,
      });
    }
    this.#waiting.set(key, waiting + 1);
    try {
      await this.#sleep(ms);
    } finally {
      const left = (this.#waiting.get(key) ?? 1) - 1;
      if (left <= 0) this.#waiting.delete(key);
      else this.#waiting.set(key, left);
    }
  }

  failed(failure: AuthFailure): void {
    const now = this.#now();
    // A refusal for waiting too long is not a guess: it does not grow the buckets.
    if (failure.reason !== AuthFailureReason.RateLimited) {
      this.#devices.add(failure.deviceId, now);
      if (failure.source !== undefined) {
        const pair = `${failure.source}\n${failure.deviceId}`;
        const repeat = this.#pairs.level(pair, now) > 0;
        this.#pairs.add(pair, now);
        if (repeat) this.#sources.add(failure.source, now);
      }
    }
    this.#onFailure?.(failure);
  }

  succeeded(deviceId: string, source: string | undefined): void {
    this.#devices.clear(deviceId);
    if (source !== undefined) this.#pairs.clear(`${source}\n${deviceId}`);
  }

  /** Buckets held (for tests and the bounded-memory claim). */
  get tracked(): { readonly devices: number; readonly sources: number; readonly pairs: number } {
    return { devices: this.#devices.size, sources: this.#sources.size, pairs: this.#pairs.size };
  }
}
