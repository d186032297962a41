/**
 * Device side of the HTTP notification channel: a device behind NAT keeps a long-poll
 * `GET /dm/channel` open to its server (authenticated with `x-omadm-channel`, made from its DM
 * credentials) and hands each Package 0 it gets back to `onPackage0` — the agent passes it to
 * `DmClient.notify`, the same verification and duplicate suppression as a UDP trigger.
 * A 204 (nothing within the hold time) polls again at once; failures (unreachable server, 401,
 * 5xx) retry after an exponential backoff with jitter. `close()` aborts the open poll.
 */
import http from 'node:http';
import https from 'node:https';
import {
  buildChannelHeader,
  CHANNEL_HEADER,
  CHANNEL_NOT_BEFORE_HEADER,
  NOTIFICATION_MEDIA_TYPE,
} from '../binding/push/index.ts';
import type { ClientLogger } from './client.ts';

/** Who polls where; resolved before every poll so a changed account takes effect. */
export interface ChannelIdentity {
  readonly url: string;
  readonly deviceId: string;
  /** B64(MD5(AAuthName ":" secret)), see `credentialDigest`. */
  readonly digest: string;
}

export interface HttpNotificationChannelOptions {
  /** Undefined while the device has no account yet (e.g. waiting for a bootstrap): retried later. */
  readonly identity: () => Promise<ChannelIdentity | undefined>;
  readonly onPackage0: (package0: Uint8Array) => void;
  /** Seconds the server may hold each poll (sent as `?wait=`; the server caps it). Default 55. */
  readonly waitSeconds?: number;
  /** First retry after a failure (ms, default 1 000), doubled up to `maxBackoffMs` (default 60 000). */
  readonly minBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /** HTTPS: trusted CAs and client certificate. */
  readonly ca?: string | Buffer | readonly (string | Buffer)[];
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
  readonly logger?: ClientLogger;
  readonly random?: () => number;
}

/** Package 0 is a few dozen bytes; anything much larger is not one. */
const MAX_BODY_BYTES = 16 * 1024;

const silent: ClientLogger = { info() {}, warn() {}, error() {}, debug() {} };

type PollOutcome =
  | { readonly kind: 'package0'; readonly bytes: Uint8Array }
  | { readonly kind: 'empty' }
  | { readonly kind: 'failed'; readonly reason: string; readonly retryNow?: boolean };

/** A `not-before` further ahead than this (s) is not followed (the server's window is 300 s). */
const MAX_NOT_BEFORE_AHEAD_S = 900;

export class HttpNotificationChannel {
  readonly #o: HttpNotificationChannelOptions;
  readonly #log: ClientLogger;
  readonly #abort = new AbortController();
  #loop: Promise<void> | undefined;
  #failures = 0;
  #received = 0;
  /** The server's smallest accepted `ts` after its restart (Unix s; 0: none asked). */
  #notBefore = 0;
  #retriedNow = false;

  constructor(options: HttpNotificationChannelOptions) {
    this.#o = options;
    this.#log = options.logger ?? silent;
  }

  /** Package 0 messages received so far. */
  get received(): number {
    return this.#received;
  }

  /** Starts polling (idempotent). */
  start(): void {
    this.#loop ??= this.#run();
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      let outcome: PollOutcome;
      try {
        const id = await this.#o.identity();
        outcome = id ? await this.#poll(id, signal) : { kind: 'failed', reason: 'no DM account yet' };
      } catch (err) {
        outcome = { kind: 'failed', reason: (err as Error).message };
      }
      if (signal.aborted) return;
      if (outcome.kind === 'failed' && outcome.retryNow && !this.#retriedNow) {
        // The server restarted and named the `ts` it accepts: once, at once.
        this.#retriedNow = true;
        continue;
      }
      if (outcome.kind === 'failed') {
        this.#failures++;
        const min = this.#o.minBackoffMs ?? 1000;
        const max = this.#o.maxBackoffMs ?? 60_000;
        const base = Math.min(max, min * 2 ** (this.#failures - 1));
        const delay = Math.round(base / 2 + (this.#o.random ?? Math.random)() * (base / 2));
        this.#log.warn(
          { failures: this.#failures, retryInMs: delay, error: outcome.reason },
          'notification channel failed; retrying',
        );
        await sleep(delay, signal);
        continue;
      }
      this.#failures = 0;
      this.#retriedNow = false;
      if (outcome.kind === 'package0') {
        this.#received++;
        this.#log.info({ bytes: outcome.bytes.byteLength }, 'notification over the HTTP channel');
        try {
          this.#o.onPackage0(outcome.bytes);
        } catch (err) {
          this.#log.error({ err: (err as Error).message }, 'notification handler threw');
        }
      }
    }
  }

  #poll(id: ChannelIdentity, signal: AbortSignal): Promise<PollOutcome> {
    const url = new URL(id.url);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      return Promise.resolve({ kind: 'failed', reason: `not an http(s) URL: ${id.url}` });
    }
    url.searchParams.set('wait', String(this.#o.waitSeconds ?? 55));
    const lib = url.protocol === 'https:' ? https : http;
    return new Promise<PollOutcome>((resolve) => {
      const req = lib.request(
        url,
        {
          method: 'GET',
          signal,
          agent: false, // one dedicated connection: nothing pooled outlives close()
          headers: {
            [CHANNEL_HEADER]: buildChannelHeader(
              id.deviceId,
              id.digest,
              Math.max(Date.now(), this.#notBefore * 1000),
            ),
            accept: NOTIFICATION_MEDIA_TYPE,
          },
          ...(url.protocol === 'https:'
            ? {
                ...(this.#o.ca ? { ca: this.#o.ca as string | Buffer | (string | Buffer)[] } : {}),
                ...(this.#o.cert ? { cert: this.#o.cert } : {}),
                ...(this.#o.key ? { key: this.#o.key } : {}),
              }
            : {}),
        },
        (res) => {
          const status = res.statusCode ?? 0;
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.byteLength;
            if (size > MAX_BODY_BYTES) {
              res.destroy();
              resolve({ kind: 'failed', reason: `answer larger than ${MAX_BODY_BYTES} bytes` });
              return;
            }
            chunks.push(c);
          });
          res.on('error', (err) => resolve({ kind: 'failed', reason: err.message }));
          res.on('end', () => {
            if (status === 204) return resolve({ kind: 'empty' });
            const type = String(res.headers['content-type'] ?? '').toLowerCase();
            if (status === 200 && type.startsWith(NOTIFICATION_MEDIA_TYPE) && size > 0) {
              return resolve({ kind: 'package0', bytes: new Uint8Array(Buffer.concat(chunks)) });
            }
            const notBefore = Number(res.headers[CHANNEL_NOT_BEFORE_HEADER]);
            if (
              status === 401 &&
              Number.isInteger(notBefore) &&
              notBefore > this.#notBefore &&
              notBefore <= Date.now() / 1000 + MAX_NOT_BEFORE_AHEAD_S
            ) {
              this.#notBefore = notBefore;
              return resolve({ kind: 'failed', reason: 'HTTP 401 (server restarted)', retryNow: true });
            }
            resolve({
              kind: 'failed',
              reason: `HTTP ${status}${status === 401 ? ' (credentials refused)' : ''}`,
            });
          });
        },
      );
      req.on('error', (err) => resolve({ kind: 'failed', reason: err.message }));
      req.end();
    });
  }

  /** Stops polling: aborts the open request and waits for the loop to end. Idempotent. */
  async close(): Promise<void> {
    this.#abort.abort();
    await this.#loop;
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
