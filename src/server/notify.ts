/**
 * Server-initiated sessions: Package 0 (General Notification Initiated Session Alert) built from
 * the device's server credential and pushed through a notification bearer (SMS/SMPP, WAP PAP, SIP,
 * UDP — binding/push). Devices carry their push address as `{ bearer, target }`; queuing a command
 * notifies the device when the server has that bearer, so it connects now instead of at its next
 * scheduled session.
 */
import { randomInt } from 'node:crypto';
import { PushError } from '../binding/push/index.ts';
import type { DeliveryResult, NotificationBearer } from '../binding/push/index.ts';
import { decodeNonce, fallbackNonce } from '../protocol/auth/index.ts';
import { buildPackage0, sessionIdHex, UiMode } from '../protocol/notification/index.ts';
import { ApiError, ApiErrorCode } from './errors.ts';
import type { NotificationAttempt, NotificationState, Store } from './store/index.ts';

/** Where a device listens for Package 0, as kept with the device. */
export interface NotifyAddress {
  /** Name of a configured bearer (`udp`, `sms-smpp`, `pap`, `sip`, …). */
  readonly bearer: string;
  /** Address in the bearer's form: `host:port`, an MSISDN, a `sip:` URI. */
  readonly target: string;
}

/** When and how often the server notifies on its own (queued commands). */
export interface NotifyPolicy {
  /**
   * Waits after each attempt for the device to open a session; their count is the number of
   * attempts (default 30 s, 60 s, 120 s: three attempts, given up 210 s after the first).
   */
  readonly retryDelaysMs?: readonly number[];
  /** Minimum time between two notifications of one device (default 60 s). */
  readonly minIntervalMs?: number;
  /** A device in a session, or seen this recently, is not notified (default 5 s). */
  readonly recentlySeenMs?: number;
  /** Server-wide token bucket, per process (default 10 per second, burst 20). */
  readonly rate?: { readonly perSecond: number; readonly burst: number };
  /** How often due retries are looked for (default 5 s). */
  readonly sweepIntervalMs?: number;
  /** How long recorded attempts are kept (default 90 days; pruned by the sweep about hourly). */
  readonly attemptRetentionMs?: number;
}

export interface NotifyOptions {
  /** The bearers this server can push with, by their `name`. */
  readonly bearers: readonly NotificationBearer[];
  /** Notify a device when a command is queued for it (default true). */
  readonly onEnqueue?: boolean;
  /** UI mode requested from the device when a request names none (default not-specified). */
  readonly uiMode?: UiMode;
  readonly policy?: NotifyPolicy;
  /** Clock (ms), for tests. */
  readonly now?: () => number;
  /** Where background failures go (default: nowhere; the attempt log has them). */
  readonly log?: (message: string, details: Readonly<Record<string, unknown>>) => void;
  /** Told of every attempt once recorded (the server counts them: omadm_notifications_total). */
  readonly onAttempt?: (attempt: NotificationAttempt) => void;
}

/** What the policy did with a request to notify a device. */
export type NotifyDecision =
  | { readonly action: 'sent'; readonly attempt: NotificationAttempt }
  | { readonly action: 'deferred'; readonly nextAt: number; readonly reason: 'rate-limit' | 'in-session' }
  | {
      readonly action: 'skipped';
      readonly reason: 'no-address' | 'no-bearer' | 'no-credential' | 'outstanding' | 'min-interval';
    };

/** What a notification attempt did. */
export interface NotifyResult extends DeliveryResult {
  /** The SessionID (hex) the device will use for the session it opens. */
  readonly sessionId: string;
}

const ATTR_BEARER = 'notifyBearer';
const ATTR_TARGET = 'notifyTarget';

/** The push address stored in a device's attributes, if any. */
export function notifyAddressOf(attributes: Readonly<Record<string, string>>): NotifyAddress | null {
  const bearer = attributes[ATTR_BEARER];
  const target = attributes[ATTR_TARGET];
  return bearer && target ? { bearer, target } : null;
}

/** Device attributes with the push address set (or removed with `null`). */
export function withNotifyAddress(
  attributes: Readonly<Record<string, string>>,
  address: NotifyAddress | null,
): Record<string, string> {
  const { [ATTR_BEARER]: _b, [ATTR_TARGET]: _t, ...rest } = attributes;
  return address ? { ...rest, [ATTR_BEARER]: address.bearer, [ATTR_TARGET]: address.target } : rest;
}

/** A token bucket: `take` answers 0 when a token was taken, else the ms until one is there. */
class TokenBucket {
  readonly #perMs: number;
  readonly #burst: number;
  #tokens: number;
  #at: number;
  constructor(perSecond: number, burst: number, now: number) {
    this.#perMs = perSecond / 1000;
    this.#burst = Math.max(1, burst);
    this.#tokens = this.#burst;
    this.#at = now;
  }
  take(now: number): number {
    this.#tokens = Math.min(this.#burst, this.#tokens + Math.max(0, now - this.#at) * this.#perMs);
    this.#at = now;
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return 0;
    }
    return Math.ceil((1 - this.#tokens) / this.#perMs);
  }
}

/** Everything needed to sign and push Package 0 to one device. */
interface Prepared {
  readonly address: NotifyAddress;
  readonly bearer: NotificationBearer;
  readonly serverId: string;
  readonly digest: string;
  readonly nonce: Uint8Array;
}

/** How long a process holds a due retry it took before another may take it (bearer timeouts are ~10 s). */
const CLAIM_LEASE_MS = 60_000;

/**
 * Sends Package 0 and applies the notification policy: idle devices only, one outstanding
 * notification per device (same SessionID on every retry), retries with backoff until the device
 * opens a session or its queued commands are gone, a per-device minimum interval and a server-wide
 * rate limit. State lives in the store, so several server processes share it and a restarted
 * process's sweep picks up due retries. Every attempt is recorded (`store.notifications`).
 */
export class Notifier {
  readonly #store: Store;
  readonly #bearers: ReadonlyMap<string, NotificationBearer>;
  readonly #uiMode: UiMode;
  readonly #now: () => number;
  readonly #delays: readonly number[];
  readonly #minInterval: number;
  readonly #recent: number;
  readonly #sweepEvery: number;
  readonly #retention: number;
  #lastPrune = Number.NEGATIVE_INFINITY;
  readonly #bucket: TokenBucket;
  readonly #log: NonNullable<NotifyOptions['log']>;
  readonly #onAttempt: NotifyOptions['onAttempt'];
  #timer: NodeJS.Timeout | undefined;
  /** A one-shot wake-up for the earliest deferral this process made (see #wakeAt). */
  #wake: { at: number; timer: NodeJS.Timeout } | undefined;
  #sweeping: Promise<number> | undefined;
  #closed = false;
  readonly onEnqueue: boolean;

  constructor(store: Store, options: NotifyOptions) {
    this.#store = store;
    this.#bearers = new Map(options.bearers.map((b) => [b.name, b]));
    this.#uiMode = options.uiMode ?? UiMode.NotSpecified;
    this.onEnqueue = options.onEnqueue ?? true;
    this.#now = options.now ?? Date.now;
    const p = options.policy ?? {};
    this.#delays = p.retryDelaysMs ?? [30_000, 60_000, 120_000];
    if (this.#delays.length === 0 || this.#delays.some((d) => !(d >= 0)))
      throw new RangeError('retryDelaysMs needs at least one delay, none negative');
    this.#minInterval = p.minIntervalMs ?? 60_000;
    this.#recent = p.recentlySeenMs ?? 5_000;
    this.#sweepEvery = p.sweepIntervalMs ?? 5_000;
    this.#retention = p.attemptRetentionMs ?? 90 * 24 * 3600 * 1000;
    const rate = p.rate ?? { perSecond: 10, burst: 20 };
    if (!(rate.perSecond > 0)) throw new RangeError('rate.perSecond must be positive');
    this.#bucket = new TokenBucket(rate.perSecond, rate.burst, this.#now());
    this.#log = options.log ?? (() => undefined);
    this.#onAttempt = options.onAttempt;
  }

  get bearerNames(): readonly string[] {
    return [...this.#bearers.keys()];
  }

  /** Starts the retry sweep timer (the server does this; unref'd). */
  start(): void {
    if (this.#timer || this.#closed) return;
    this.#timer = setInterval(() => this.#sweep(), this.#sweepEvery);
    this.#timer.unref();
  }

  #sweep(): void {
    this.#sweeping ??= this.runDue()
      .catch((err: unknown) => {
        this.#log('notification sweep failed', { err });
        return 0;
      })
      .finally(() => {
        this.#sweeping = undefined;
      });
  }

  /**
   * A notification this process deferred to `at` is sent then, not at the next sweep tick after
   * it: with the 5 s sweep, a command queued just after the device's last session (deferred by
   * `recentlySeenMs`) used to wait up to a whole extra period. Only once started (the sweep runs).
   */
  #wakeAt(at: number): void {
    if (!this.#timer || this.#closed) return;
    if (this.#wake && this.#wake.at <= at) return;
    if (this.#wake) clearTimeout(this.#wake.timer);
    const delay = Math.min(Math.max(0, at - this.#now()), this.#sweepEvery) + 5;
    const timer = setTimeout(() => {
      this.#wake = undefined;
      this.#sweep();
    }, delay);
    timer.unref();
    this.#wake = { at, timer };
  }

  /**
   * An operator's explicit request: push Package 0 now, whatever the policy (the rate limit is still
   * charged). An outstanding notification keeps its SessionID. Throws ApiError when it cannot be
   * built; a bearer failure is recorded and audited, then thrown.
   */
  async notify(
    deviceId: string,
    options: { readonly uiMode?: UiMode; readonly actor?: string; readonly signal?: AbortSignal } = {},
  ): Promise<NotifyResult> {
    const prepared = await this.#prepare(deviceId);
    const now = this.#now();
    this.#bucket.take(now);
    const uiMode = options.uiMode ?? this.#uiMode;
    const state = await this.#store.notifications.begin({
      deviceId,
      sessionId: newSessionId(),
      uiMode,
      actor: options.actor ?? null,
      now,
      minIntervalMs: 0,
      nextAt: now + CLAIM_LEASE_MS,
      force: true,
    });
    if (!state) throw new ApiError(ApiErrorCode.NotFound, `no device ${deviceId}`);
    const attempt = await this.#attempt(state, prepared, {
      uiMode,
      trigger: 'request',
      actor: options.actor ?? null,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if (attempt.result === 'error') throw attempt.error;
    const a = attempt.record;
    return {
      bearer: a.bearer,
      target: a.target,
      accepted: a.result === 'accepted',
      ids: [...a.ids],
      parts: a.parts,
      ...(a.status ? { status: a.status } : {}),
      ...(a.detail ? { detail: a.detail } : {}),
      sessionId: a.sessionId,
    };
  }

  /**
   * The policy's answer to "a command was queued for this device": send now, defer (rate limit,
   * device in a session) or skip (nothing to send with, or a notification is already on its way).
   */
  async requestNotification(
    deviceId: string,
    options: { readonly actor?: string | null; readonly uiMode?: UiMode } = {},
  ): Promise<NotifyDecision> {
    const device = await this.#store.devices.get(deviceId);
    if (!device) throw new ApiError(ApiErrorCode.NotFound, `no device ${deviceId}`);
    let prepared: Prepared;
    try {
      prepared = await this.#prepare(deviceId);
    } catch (e) {
      const m = e instanceof Error ? e.message : '';
      const reason = /address/.test(m) ? 'no-address' : /bearer/.test(m) ? 'no-bearer' : 'no-credential';
      return { action: 'skipped', reason };
    }
    const now = this.#now();
    const existing = await this.#store.notifications.get(deviceId);
    if (existing && existing.attempts > 0 && answered(device, existing)) {
      await this.#store.notifications.finish(deviceId, existing.sessionId, { answered: true });
    }
    const busy = this.#busyUntil(device, now);
    const uiMode = options.uiMode ?? this.#uiMode;
    // Until this process has sent it, the row carries a lease: should the process die first, the
    // sweep of another one sends it.
    const state = await this.#store.notifications.begin({
      deviceId,
      sessionId: newSessionId(),
      uiMode,
      actor: options.actor ?? null,
      now,
      minIntervalMs: this.#minInterval,
      nextAt: busy > now ? busy : now + CLAIM_LEASE_MS,
    });
    if (!state) {
      const current = await this.#store.notifications.get(deviceId);
      return { action: 'skipped', reason: current?.outstanding ? 'outstanding' : 'min-interval' };
    }
    if (busy > now) {
      this.#wakeAt(busy);
      return { action: 'deferred', nextAt: busy, reason: 'in-session' };
    }
    const wait = this.#bucket.take(now);
    if (wait > 0) {
      await this.#store.notifications.defer(deviceId, state.sessionId, now + wait);
      this.#wakeAt(now + wait);
      return { action: 'deferred', nextAt: now + wait, reason: 'rate-limit' };
    }
    const r = await this.#attempt(state, prepared, {
      uiMode,
      trigger: 'enqueue',
      actor: options.actor ?? null,
    });
    return { action: 'sent', attempt: r.record };
  }

  /**
   * Handles due notifications (retries, deferred first attempts, give-up checks); safe to run in
   * several processes at once. Returns how many attempts it sent.
   */
  async runDue(now = this.#now(), limit = 100): Promise<number> {
    if (now - this.#lastPrune >= 3_600_000) {
      this.#lastPrune = now;
      await this.#store.notifications.prune(now - this.#retention);
    }
    const due = await this.#store.notifications.claimDue(now, now + CLAIM_LEASE_MS, limit);
    let sent = 0;
    for (const state of due) {
      try {
        if (await this.#handleDue(state, now)) sent++;
      } catch (err) {
        this.#log('notification retry failed', { err, deviceId: state.deviceId });
      }
    }
    return sent;
  }

  async #handleDue(state: NotificationState, now: number): Promise<boolean> {
    const n = this.#store.notifications;
    const device = await this.#store.devices.get(state.deviceId);
    const queued = device ? ((await this.#store.queue.counts(state.deviceId)).queued ?? 0) : 0;
    // Nothing left to deliver (taken by a session, expired, cancelled): the notification is done.
    if (!device || queued === 0) {
      await n.finish(state.deviceId, state.sessionId, {
        answered: device !== undefined && answered(device, state),
      });
      return false;
    }
    const busy = this.#busyUntil(device, now);
    if (busy > now) {
      await n.defer(state.deviceId, state.sessionId, busy);
      this.#wakeAt(busy);
      return false;
    }
    if (state.attempts > 0 && answered(device, state)) {
      // The device came but commands are still queued: a new notification, with a new SessionID
      // (a repeated one would be suppressed as a duplicate), subject to the minimum interval.
      await n.finish(state.deviceId, state.sessionId, { answered: true });
      const d = await this.requestNotification(state.deviceId, { uiMode: state.uiMode as UiMode });
      return d.action === 'sent';
    }
    if (state.attempts >= this.#delays.length) {
      await n.finish(state.deviceId, state.sessionId);
      this.#log('device did not answer its notification', {
        deviceId: state.deviceId,
        sessionId: state.sessionId,
        attempts: state.attempts,
      });
      return false;
    }
    const wait = this.#bucket.take(now);
    if (wait > 0) {
      await n.defer(state.deviceId, state.sessionId, now + wait);
      this.#wakeAt(now + wait);
      return false;
    }
    let prepared: Prepared;
    try {
      prepared = await this.#prepare(state.deviceId);
    } catch {
      await n.finish(state.deviceId, state.sessionId);
      return false;
    }
    await this.#attempt(state, prepared, {
      uiMode: state.uiMode as UiMode,
      trigger: state.attempts === 0 ? 'deferred' : 'retry',
      // A deferred first attempt is still the operator's: audited like one sent at once.
      actor: state.attempts === 0 ? state.actor : null,
    });
    return true;
  }

  /** When a device in (or just out of) a session may be notified; `0` when it may now. */
  #busyUntil(device: { online: boolean; lastSeenAt: number | null }, now: number): number {
    if (device.online) return now + Math.max(this.#recent, 1000);
    if (device.lastSeenAt !== null && now - device.lastSeenAt < this.#recent)
      return device.lastSeenAt + this.#recent;
    return 0;
  }

  /** One send: Package 0 built, pushed, recorded, audited when an operator asked, next retry set. */
  async #attempt(
    state: NotificationState,
    p: Prepared,
    how: { uiMode: UiMode; trigger: string; actor: string | null; signal?: AbortSignal },
  ): Promise<
    | { readonly result: 'sent'; readonly record: NotificationAttempt }
    | { readonly result: 'error'; readonly record: NotificationAttempt; readonly error: unknown }
  > {
    const pkg0 = buildPackage0({
      serverId: p.serverId,
      sessionId: Number.parseInt(state.sessionId, 16),
      uiMode: how.uiMode,
      credentialDigest: p.digest,
      nonce: p.nonce,
    });
    const at = this.#now();
    const number = state.attempts + 1;
    let delivery: DeliveryResult | undefined;
    let error: unknown;
    try {
      delivery = await p.bearer.send(p.address.target, pkg0, how.signal ? { signal: how.signal } : {});
    } catch (e) {
      error = e;
    }
    // Past the last delay (an operator's extra sends): the last wait, then the give-up check.
    const nextAt = at + (this.#delays[number - 1] ?? (this.#delays.at(-1) as number));
    await this.#store.notifications.sent(state.deviceId, state.sessionId, at, nextAt);
    const record = await this.#store.notifications.record({
      deviceId: state.deviceId,
      at,
      bearer: p.bearer.name,
      target: p.address.target,
      sessionId: state.sessionId,
      uiMode: how.uiMode,
      attempt: number,
      trigger: how.trigger,
      actor: how.actor,
      result: delivery ? (delivery.accepted ? 'accepted' : 'refused') : 'error',
      status: delivery ? (delivery.status ?? null) : errorCode(error),
      detail: delivery ? (delivery.detail ?? null) : error instanceof Error ? error.message : String(error),
      parts: delivery?.parts ?? 0,
      ids: delivery?.ids ?? [],
    });
    this.#onAttempt?.(record);
    if (how.actor !== null) {
      await this.#store.audit.append({
        actor: how.actor,
        action: 'device.notify',
        target: state.deviceId,
        details: {
          trigger: how.trigger,
          bearer: record.bearer,
          target: record.target,
          sessionId: record.sessionId,
          uiMode: record.uiMode,
          attempt: record.attempt,
          result: record.result,
          accepted: record.result === 'accepted',
          ...(record.status ? { status: record.status } : {}),
          ...(record.result === 'error' && record.detail ? { error: record.detail } : {}),
        },
      });
    }
    if (!delivery) {
      this.#log('notification attempt failed', { err: error, deviceId: state.deviceId });
      return { result: 'error', record, error };
    }
    return { result: 'sent', record };
  }

  async #prepare(deviceId: string): Promise<Prepared> {
    const device = await this.#store.devices.get(deviceId);
    if (!device) throw new ApiError(ApiErrorCode.NotFound, `no device ${deviceId}`);
    const address = notifyAddressOf(device.attributes);
    if (!address)
      throw new ApiError(ApiErrorCode.Unprocessable, `device ${deviceId} has no notification address`);
    const bearer = this.#bearers.get(address.bearer);
    if (!bearer) {
      throw new ApiError(
        ApiErrorCode.Unprocessable,
        `the server has no ${address.bearer} bearer (configured: ${this.bearerNames.join(', ') || 'none'})`,
      );
    }
    const creds = await this.#store.devices.credentials(deviceId);
    if (!creds?.serverDigest || !creds.serverAuthName) {
      throw new ApiError(
        ApiErrorCode.Unprocessable,
        `device ${deviceId} has no server secret: Package 0 is signed with it (set serverSecret)`,
      );
    }
    // The nonce the device issued for our next credential; the fallback nonce when it never did.
    let nonce = fallbackNonce();
    if (creds.serverNonce) {
      try {
        nonce = decodeNonce(creds.serverNonce);
      } catch {
        // A stored nonce that does not decode: the device will also try the fallback.
      }
    }
    return { address, bearer, serverId: creds.serverAuthName, digest: creds.serverDigest, nonce };
  }

  /** A device's recorded attempts (newest first) and its notification state. */
  async history(
    deviceId: string,
    options: { readonly limit?: number; readonly before?: string } = {},
  ): Promise<{ readonly items: readonly NotificationAttempt[]; readonly state: NotificationState | null }> {
    const [items, state] = await Promise.all([
      this.#store.notifications.attempts(deviceId, options),
      this.#store.notifications.get(deviceId),
    ]);
    return { items, state };
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#wake) clearTimeout(this.#wake.timer);
    this.#wake = undefined;
    await this.#sweeping;
    await Promise.all([...this.#bearers.values()].map((b) => b.close()));
  }
}

/** A SessionID for a new notification (16 bits, never 0), as the hex the API shows. */
function newSessionId(): string {
  return sessionIdHex(randomInt(1, 0x10000));
}

/** The device opened a session since this notification began. */
function answered(device: { lastSeenAt: number | null }, state: NotificationState): boolean {
  return device.lastSeenAt !== null && device.lastSeenAt >= state.firstAt;
}

function errorCode(e: unknown): string {
  if (e instanceof PushError) return e.code;
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'ERROR';
}

/** Parses a ui-mode as the API and CLI spell it (`interactive` = `user-interaction`). */
export function parseUiMode(value: string): UiMode | null {
  const v = value === 'interactive' ? UiMode.UserInteraction : value;
  return (Object.values(UiMode) as string[]).includes(v) ? (v as UiMode) : null;
}
