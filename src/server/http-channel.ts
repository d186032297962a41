/**
 * The HTTP notification channel: a device behind NAT (no address the server can reach) keeps a
 * long-poll `GET /dm/channel` open; Package 0 for it is the answer to that request.
 *
 * `HttpChannelBearer` is an ordinary `NotificationBearer` (name `http-channel`, target = the
 * DevId): `send` hands the trigger to the device's waiting request (`delivered`), or keeps it
 * for the device's next poll for `queueTtlMs` (`queued`). Only the newest trigger is kept: one
 * session serves every queued command, and an older trigger is stale. One waiting request per
 * device: a new one replaces (answers 204) the old.
 *
 * The route authenticates with the device's DM credential digest (`x-omadm-channel`, see
 * binding/push/http-channel.ts): a bad or missing header, a timestamp outside the window, a
 * replayed nonce, an unknown device and a device without a client secret all get the same 401.
 *
 * Seen nonces live in memory, so a restarted process does not know what the previous one
 * accepted: for that, a header is accepted only with `ts` at or after `notBefore` (the start plus
 * the clock window, later than any `ts` the previous process can have accepted). A 401 says so
 * (`x-omadm-channel-not-before`) and the device's next header carries that `ts`; after one clock
 * window the limit is below the window anyway. With several server processes on one database,
 * each keeps its own nonces: a device's polls should reach one process (docs/security.md).
 */
import type { FastifyInstance } from 'fastify';
import {
  CHANNEL_HEADER,
  CHANNEL_NOT_BEFORE_HEADER,
  type DeliveryResult,
  NOTIFICATION_MEDIA_TYPE,
  type NotificationBearer,
  PushError,
  PushErrorCode,
  parseChannelHeader,
  type SendOptions,
  verifyChannelMac,
} from '../binding/push/index.ts';
import { b64decode, b64encode } from '../protocol/auth/index.ts';
import type { Store } from './store/index.ts';

export const HTTP_CHANNEL_BEARER = 'http-channel';
export const HTTP_CHANNEL_PATH = '/dm/channel';

export interface HttpChannelBearerOptions {
  readonly name?: string;
  /** Longest a poll is held before a 204 (seconds, default 55; a poll may ask for less with `?wait=`). */
  readonly holdSeconds?: number;
  /** How long a trigger waits for the device's next poll when none is open (ms, default 60 000). */
  readonly queueTtlMs?: number;
  /** Accepted clock difference for the header's `ts` (seconds, default 300). */
  readonly skewSeconds?: number;
  /** Clock (ms), for tests. */
  readonly now?: () => number;
  /**
   * When this process started accepting headers (ms; default: construction). A header must be
   * newer than any the previous process can have accepted (`notBefore`).
   */
  readonly startedAt?: number;
}

interface Waiter {
  readonly deliver: (package0: Uint8Array | undefined) => void;
}

export class HttpChannelBearer implements NotificationBearer {
  readonly name: string;
  readonly holdSeconds: number;
  readonly skewSeconds: number;
  /** Smallest `ts` accepted (Unix seconds): later than anything the previous process accepted. */
  readonly notBefore: number;
  readonly #queueTtlMs: number;
  readonly #now: () => number;
  readonly #waiters = new Map<string, Waiter>();
  readonly #queued = new Map<string, { bytes: Uint8Array; expires: number }>();
  readonly #seenNonces = new Map<string, number>();
  #closed = false;

  constructor(options: HttpChannelBearerOptions = {}) {
    this.name = options.name ?? HTTP_CHANNEL_BEARER;
    this.holdSeconds = options.holdSeconds ?? 55;
    this.skewSeconds = options.skewSeconds ?? 300;
    this.#queueTtlMs = options.queueTtlMs ?? 60_000;
    this.#now = options.now ?? Date.now;
    this.notBefore = Math.ceil((options.startedAt ?? this.#now()) / 1000) + this.skewSeconds + 1;
  }

  /** Devices with a poll open now. */
  get connected(): number {
    return this.#waiters.size;
  }

  async send(target: string, package0: Uint8Array, options: SendOptions = {}): Promise<DeliveryResult> {
    if (this.#closed) throw new PushError(PushErrorCode.Closed, `${this.name} bearer closed`);
    options.signal?.throwIfAborted();
    if (target === '') throw new PushError(PushErrorCode.BadTarget, 'http-channel target is the DevId');
    const base = { bearer: this.name, target, accepted: true, ids: [], parts: 1 };
    const waiter = this.#waiters.get(target);
    if (waiter) {
      this.#waiters.delete(target);
      this.#queued.delete(target);
      waiter.deliver(package0);
      return { ...base, status: 'delivered', detail: 'answered the open channel request' };
    }
    this.#prune();
    this.#queued.set(target, { bytes: package0, expires: this.#now() + this.#queueTtlMs });
    return {
      ...base,
      status: 'queued',
      detail: `no channel open: kept ${Math.round(this.#queueTtlMs / 1000)} s for the next poll`,
    };
  }

  /**
   * The device's poll: resolves with Package 0 (queued, or sent while waiting) or undefined after
   * `seconds` / on abort / when a newer poll of the same device replaces this one.
   */
  wait(deviceId: string, seconds: number, signal?: AbortSignal): Promise<Uint8Array | undefined> {
    const queued = this.#queued.get(deviceId);
    this.#queued.delete(deviceId);
    if (queued && queued.expires > this.#now()) return Promise.resolve(queued.bytes);
    if (this.#closed || signal?.aborted) return Promise.resolve(undefined);
    this.#waiters.get(deviceId)?.deliver(undefined);
    return new Promise((resolve) => {
      const done = (bytes: Uint8Array | undefined): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (this.#waiters.get(deviceId) === waiter) this.#waiters.delete(deviceId);
        resolve(bytes);
      };
      const waiter: Waiter = { deliver: done };
      const onAbort = (): void => done(undefined);
      const timer = setTimeout(onAbort, Math.max(0, seconds) * 1000);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.set(deviceId, waiter);
    });
  }

  /** Whether `ts` (Unix seconds) is inside the window and `nonce` is new; records the nonce. */
  fresh(ts: number, nonce: string): boolean {
    const now = this.#now();
    const nowS = now / 1000;
    if (nowS - ts > this.skewSeconds || ts < this.notBefore) return false;
    // Ahead of the clock by more than the window only as far as `notBefore` asks.
    if (ts - nowS > this.skewSeconds && ts > this.notBefore) return false;
    this.#prune();
    if (this.#seenNonces.has(nonce)) return false;
    this.#seenNonces.set(nonce, now + 2 * this.skewSeconds * 1000);
    return true;
  }

  #prune(): void {
    const now = this.#now();
    for (const [k, v] of this.#queued) if (v.expires <= now) this.#queued.delete(k);
    for (const [k, exp] of this.#seenNonces) if (exp <= now) this.#seenNonces.delete(k);
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const w of [...this.#waiters.values()]) w.deliver(undefined);
    this.#waiters.clear();
    this.#queued.clear();
  }
}

export interface HttpChannelRouteOptions {
  readonly store: Store;
  readonly bearer: HttpChannelBearer;
  /** Aborted when the server closes: open polls answer 204 at once. */
  readonly closing: AbortSignal;
}

/** Registers `GET /dm/channel` (see the file comment). */
export function registerHttpChannel(app: FastifyInstance, options: HttpChannelRouteOptions): void {
  const { store, bearer, closing } = options;
  app.get(HTTP_CHANNEL_PATH, { schema: { hide: true } }, async (req, reply) => {
    const raw = req.headers[CHANNEL_HEADER];
    const auth = parseChannelHeader(typeof raw === 'string' ? raw : undefined);
    const creds = auth ? await store.devices.credentials(auth.device) : undefined;
    if (
      !auth ||
      !creds?.clientDigest ||
      !verifyChannelMac(auth, creds.clientDigest) ||
      // Keyed on the bytes, not the text: a re-encoded nonce is the same nonce.
      !bearer.fresh(auth.ts, b64encode(b64decode(auth.nonce, 256)))
    ) {
      reply.code(401).header('cache-control', 'no-store');
      // Only while it matters (the first clock window after the start).
      if (bearer.notBefore > Date.now() / 1000 - bearer.skewSeconds)
        reply.header(CHANNEL_NOT_BEFORE_HEADER, String(bearer.notBefore));
      return { code: 'CHANNEL_UNAUTHORIZED', message: `a valid ${CHANNEL_HEADER} header is required` };
    }
    const asked = Number((req.query as { wait?: string } | undefined)?.wait);
    const seconds =
      Number.isFinite(asked) && asked >= 0 ? Math.min(asked, bearer.holdSeconds) : bearer.holdSeconds;
    // The poll ends when the device goes away, or the server closes.
    const gone = new AbortController();
    const onClose = (): void => gone.abort();
    reply.raw.once('close', onClose);
    try {
      const bytes = await bearer.wait(auth.device, seconds, AbortSignal.any([gone.signal, closing]));
      reply.header('cache-control', 'no-store');
      if (!bytes) return reply.code(204).send();
      req.log.info({ deviceId: auth.device, bytes: bytes.byteLength }, 'package 0 over the HTTP channel');
      return reply.code(200).header('content-type', NOTIFICATION_MEDIA_TYPE).send(Buffer.from(bytes));
    } finally {
      reply.raw.off('close', onClose);
    }
  });
}
