/**
 * `DmAgent`: keeps a device attached to its DM server — a session at start, then periodic
 * sessions (interval from `./Vendor/omadm/Agent/PollInterval`, which servers may Replace),
 * on-demand sessions (`trigger()`), reconnect with exponential backoff and jitter after transport
 * failures, Package 0 notifications over UDP (WDP/WSP push or raw), and bootstrap pushes on the
 * same listener (verified with the device's PIN/IMSI, then a first session with the new account).
 * `stop()` waits for the running session.
 *
 * The UDP port is reachable by anyone on the network (docs/security.md): a push is verified only
 * when its security mode is at least the configured minimum, when the device has no account yet
 * (or its operator allowed pushed re-bootstraps), one at a time (a few wait, the rest are
 * dropped), and not while the back-off of earlier failed MACs runs (`BootstrapGuard`,
 * persisted). Rejections are logged aggregated.
 */
import type { RemoteInfo } from 'node:dgram';
import { bootstrapFromPush, listenUdpPush, type WspPush } from '../binding/push/index.ts';
import { type BootstrapKeyMaterial, type BootstrapSecurity, parseSec } from '../protocol/bootstrap/index.ts';
import { credentialDigest, SessionErrorCode } from '../protocol/index.ts';
import { clientAccountOf } from './account.ts';
import type { BootstrapResult } from './bootstrap.ts';
import {
  BootstrapGuard,
  type BootstrapGuardOptions,
  checkPushPin,
  defaultMinSecurity,
  secAtLeast,
} from './bootstrap-guard.ts';
import type { ClientLogger, DmClient, SessionReport } from './client.ts';
import { BootstrapMacError } from './errors.ts';
import { HttpNotificationChannel, type HttpNotificationChannelOptions } from './http-channel.ts';
import { RejectLog } from './log-aggregate.ts';

/** The agent's own settings in the tree (servers may read and change them). */
export const AGENT_MO_URI = './Vendor/omadm/Agent';
export const POLL_INTERVAL_URI = `${AGENT_MO_URI}/PollInterval`;

export interface AgentOptions {
  readonly client: DmClient;
  /** Seconds between periodic sessions when the tree has no PollInterval yet (0: none). */
  readonly intervalSeconds: number;
  /** First retry after a failed connection (ms, default 2 000), doubled up to `maxBackoffMs`. */
  readonly minBackoffMs?: number;
  /** Longest wait between retries (ms, default 5 min). */
  readonly maxBackoffMs?: number;
  /** Listen for Package 0 datagrams (port 2948 is the WDP push port; 0 picks one). */
  readonly udp?: { readonly host?: string; readonly port: number };
  /**
   * Keep an HTTP notification channel open (`GET /dm/channel`, for a device behind NAT; the server
   * needs the `http-channel` bearer). `url` defaults to the account's server origin + `/dm/channel`;
   * the account is `serverId`'s, or the first. Package 0 received there goes to `client.notify`.
   */
  readonly channel?: { readonly url?: string; readonly serverId?: string } & Omit<
    HttpNotificationChannelOptions,
    'identity' | 'onPackage0' | 'logger' | 'random'
  >;
  /**
   * What the device verifies bootstrap pushes with (objects.md §7): the user PIN and/or the IMSI.
   * A push whose MAC does not verify with them installs nothing. Pushes need `udp`.
   */
  readonly bootstrapKeys?: BootstrapKeyMaterial;
  /**
   * The weakest security mode a push may use (default: the strongest `bootstrapKeys` can verify —
   * USERNETWPIN with a PIN and an IMSI, USERPIN with a PIN, NETWPIN with an IMSI alone).
   */
  readonly bootstrapMinSecurity?: BootstrapSecurity;
  /**
   * Whether a push may replace the accounts of a device that has one (default false: the current
   * server re-bootstraps through a DM session, which is authenticated).
   */
  readonly allowPushRebootstrap?: boolean;
  /** The failed-MAC count and its back-off (give `file` to keep it across restarts). */
  readonly bootstrapGuard?: BootstrapGuardOptions;
  /** Interval of the aggregated rejection lines (ms, default 60 000). */
  readonly rejectLogIntervalMs?: number;
  /**
   * Called once a pushed bootstrap is installed, before the first session with the new account
   * (e.g. to write the agent's configuration). A throw is logged; the session still runs.
   */
  readonly onBootstrap?: (result: BootstrapResult) => void | Promise<void>;
  readonly logger?: ClientLogger;
  readonly random?: () => number;
}

/** Bootstrap pushes queued for verification at most (one is verified at a time). */
const MAX_PENDING_PUSHES = 4;

const silent: ClientLogger = { info() {}, warn() {}, error() {}, debug() {} };

export class DmAgent {
  readonly #o: AgentOptions;
  readonly #log: ClientLogger;
  #timer: NodeJS.Timeout | undefined;
  #failures = 0;
  #stopped = false;
  #running: Promise<SessionReport> | undefined;
  #udp: { address: string; port: number; close: () => Promise<void> } | undefined;
  #offChange: (() => void) | undefined;
  #offAlert: (() => void) | undefined;
  #channel: HttpNotificationChannel | undefined;
  #notifications: Promise<unknown> = Promise.resolve();
  readonly #guard: BootstrapGuard;
  readonly #minSec: BootstrapSecurity;
  readonly #rejects: RejectLog;
  /** Pushes waiting for verification; beyond `MAX_PENDING_PUSHES` they are dropped, not queued. */
  #pushesPending = 0;

  constructor(options: AgentOptions) {
    this.#o = options;
    this.#log = options.logger ?? silent;
    // Too short a PIN is refused up front, not discovered by an attacker.
    checkPushPin(options.bootstrapKeys?.pin);
    this.#guard = new BootstrapGuard(options.bootstrapGuard);
    this.#minSec = options.bootstrapMinSecurity ?? defaultMinSecurity(options.bootstrapKeys ?? {});
    this.#rejects = new RejectLog(
      this.#log,
      options.rejectLogIntervalMs !== undefined ? { intervalMs: options.rejectLogIntervalMs } : {},
    );
  }

  /** Where notifications are received, once started with `udp`. */
  get udpAddress(): { address: string; port: number } | undefined {
    return this.#udp ? { address: this.#udp.address, port: this.#udp.port } : undefined;
  }

  /** Installs the agent MO, opens the UDP listener and runs the first session (without waiting for it). */
  async start(): Promise<void> {
    const tree = this.#o.client.tree;
    await tree.ensure(AGENT_MO_URI, { format: 'node', type: 'urn:omadm:mo:agent:1.0' });
    // Servers may read and tune the agent; the rest of the tree keeps its own ACLs.
    await tree.replace(`${AGENT_MO_URI}?prop=ACL`, { data: 'Get=*&Replace=*' });
    await tree.ensure(POLL_INTERVAL_URI, {
      format: 'int',
      type: 'text/plain',
      data: String(Math.max(0, Math.round(this.#o.intervalSeconds))),
    });
    this.#offChange = this.#o.client.on('change', (e) => {
      if (e.uri === POLL_INTERVAL_URI && e.serverId !== undefined) {
        // Takes effect when the running session ends (#after reads it).
        this.#log.info({ serverId: e.serverId }, 'poll interval changed by the server');
      }
    });
    // A result to report (FUMO, another accepted Exec): deliver it now, not at the next interval.
    this.#offAlert = this.#o.client.on('alertQueued', (e) => this.trigger('alert', e.serverId));
    if (this.#o.udp) {
      this.#udp = await listenUdpPush({
        ...(this.#o.udp.host ? { host: this.#o.udp.host } : {}),
        port: this.#o.udp.port,
        onPackage0: (bytes, from) => this.#onPackage0(bytes, `${from.address}:${from.port}`),
        onPush: (push, from) => this.#onPush(push, from),
      });
      this.#log.info(
        { address: this.#udp.address, port: this.#udp.port },
        'listening for notifications (UDP)',
      );
    }
    if (this.#o.channel) this.#startChannel(this.#o.channel);
    if ((await this.#o.client.accounts.list()).length > 0) this.trigger('start');
    else this.#log.info({}, 'no DM account yet: waiting for a bootstrap');
  }

  /** Seconds between periodic sessions, as the tree says now. */
  async intervalSeconds(): Promise<number> {
    const got = await this.#o.client.tree.get(POLL_INTERVAL_URI);
    const raw = got.items[0]?.data;
    const n = Number(typeof raw === 'string' ? raw : raw ? Buffer.from(raw).toString() : Number.NaN);
    return Number.isFinite(n) && n >= 0 ? n : this.#o.intervalSeconds;
  }

  /** Starts a session now (or right after the running one), with `serverId` or the first account. */
  trigger(reason: string, serverId?: string): void {
    if (this.#stopped) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#running) {
      // One more after the running session, not one per request.
      this.#again = { reason, ...(serverId !== undefined ? { serverId } : {}) };
      return;
    }
    this.#log.debug({ reason, ...(serverId !== undefined ? { serverId } : {}) }, 'session requested');
    this.#running = this.#o.client.session(serverId !== undefined ? { serverId } : {});
    void this.#running.then(
      (r) => this.#after(r),
      (err: Error) => this.#after(undefined, err),
    );
  }

  #again: { reason: string; serverId?: string } | undefined;

  async #after(report: SessionReport | undefined, err?: Error): Promise<void> {
    this.#running = undefined;
    if (this.#stopped) return;
    if (this.#again) {
      const { reason, serverId } = this.#again;
      this.#again = undefined;
      this.trigger(reason, serverId);
      return;
    }
    let delay: number;
    if (report?.ok) {
      this.#failures = 0;
      delay = (await this.intervalSeconds()) * 1000;
    } else if (report?.error?.code === SessionErrorCode.Transport || err) {
      // The server is unreachable or failing: back off, with jitter so a fleet does not stampede.
      this.#failures++;
      const min = this.#o.minBackoffMs ?? 2000;
      const max = this.#o.maxBackoffMs ?? 300_000;
      const base = Math.min(max, min * 2 ** (this.#failures - 1));
      delay = Math.round(base / 2 + (this.#o.random ?? Math.random)() * (base / 2));
      this.#log.warn(
        { failures: this.#failures, retryInMs: delay, error: err?.message ?? report?.error?.message },
        'server unreachable; retrying',
      );
    } else {
      // Refused (authentication, protocol): retrying at once would not help; wait the interval.
      this.#failures = 0;
      delay = (await this.intervalSeconds()) * 1000;
      this.#log.error(
        { outcome: report?.outcome, error: report?.error },
        'session refused; next try at the interval',
      );
    }
    if (this.#stopped || delay <= 0) return;
    this.#timer = setTimeout(() => this.trigger('interval'), delay);
    this.#log.debug({ inMs: delay }, 'next session scheduled');
  }

  #startChannel(options: NonNullable<AgentOptions['channel']>): void {
    const { url, serverId, ...rest } = options;
    const client = this.#o.client;
    this.#channel = new HttpNotificationChannel({
      ...rest,
      identity: async () => {
        const account = serverId ? await client.accounts.find(serverId) : (await client.accounts.list())[0];
        if (!account) return undefined;
        const acc = clientAccountOf(account);
        return {
          url: url ?? new URL('/dm/channel', acc.serverUri).href,
          deviceId: await client.deviceId(),
          digest: credentialDigest(acc.client.name, acc.client.secret),
        };
      },
      onPackage0: (bytes) => this.#onPackage0(bytes, 'http-channel'),
      logger: this.#log,
      ...(this.#o.random ? { random: this.#o.random } : {}),
    });
    this.#channel.start();
  }

  #onPackage0(bytes: Uint8Array, from: string): void {
    // Anyone can send datagrams: per packet only at debug; rejections are logged aggregated.
    this.#log.debug({ from, bytes: bytes.byteLength }, 'notification');
    // Notifications are handled one after another; the client serializes the sessions themselves.
    this.#notifications = this.#notifications
      .then(() => this.#o.client.notify(bytes))
      .then((r) => {
        if (r.action === 'session' && r.report.ok) this.#failures = 0;
      })
      .catch((err: Error) => this.#log.error({ err: err.message }, 'notification handling failed'));
  }

  /**
   * A WSP push that is not a Package 0: a bootstrap is checked (security mode, account, back-off),
   * verified (SEC/MAC with `bootstrapKeys`) and installed, then the first session with the new
   * account starts; anything else is dropped.
   */
  #onPush(push: WspPush, from: RemoteInfo): void {
    const peer = `${from.address}:${from.port}`;
    const got = bootstrapFromPush(push);
    if (!got) {
      this.#rejects.reject('client.push.ignored', 'push ignored: not a bootstrap', {
        from: peer,
        contentType: push.contentType.media,
      });
      return;
    }
    this.#log.debug(
      { from: peer, profile: got.profile, bytes: got.body.byteLength, sec: got.sec },
      'bootstrap push',
    );
    const refuse = (reason: string, fields: Record<string, unknown> = {}) =>
      this.#rejects.reject('client.bootstrap.refused', 'bootstrap push refused: nothing installed', {
        from: peer,
        profile: got.profile,
        reason,
        ...fields,
      });
    // Cheap checks first, before the push is queued: a flood costs no verification.
    const early = this.#precheck(got.sec);
    if (early) {
      refuse(early.reason, early.fields);
      return;
    }
    this.#pushesPending++;
    const keys = this.#o.bootstrapKeys ?? {};
    this.#notifications = this.#notifications
      .then(async () => {
        // Earlier pushes in the queue may have started a back-off.
        const wait = this.#guard.waitMs();
        if (wait > 0) {
          refuse('back-off', { failures: this.#guard.failures, retryInS: Math.ceil(wait / 1000) });
          return;
        }
        if (!this.#o.allowPushRebootstrap && (await this.#o.client.accounts.list()).length > 0) {
          refuse('the device has an account (re-bootstrap through a DM session)');
          return;
        }
        let result: BootstrapResult;
        try {
          result = await this.#o.client.bootstrap({
            body: got.body,
            profile: got.profile,
            ...(got.sec !== undefined ? { sec: got.sec } : {}),
            ...(got.mac !== undefined ? { mac: got.mac } : {}),
            ...keys,
          });
        } catch (err) {
          // Counted (and stored) before anything else: a restart does not reset the back-off.
          if (err instanceof BootstrapMacError) this.#guard.failed();
          refuse(err instanceof BootstrapMacError ? 'bad MAC' : 'not installable', {
            code: (err as { code?: string }).code,
            err: (err as Error).message,
            failures: this.#guard.failures,
          });
          return;
        }
        this.#guard.succeeded();
        this.#log.info(
          {
            event: 'client.bootstrap.installed',
            from: peer,
            profile: result.profile,
            servers: result.servers,
          },
          'bootstrap push installed',
        );
        try {
          await this.#o.onBootstrap?.(result);
        } catch (err) {
          this.#log.error({ err: (err as Error).message }, 'after-bootstrap hook failed');
        }
        this.#failures = 0;
        this.trigger('bootstrap', result.servers[0]);
      })
      .catch((err: Error) => this.#log.error({ err: err.message }, 'bootstrap push handling failed'))
      .finally(() => {
        this.#pushesPending--;
      });
  }

  /** Why a push is refused before its MAC is even computed, if it is. */
  #precheck(
    secParam: string | number | undefined,
  ): { reason: string; fields?: Record<string, unknown> } | undefined {
    const wait = this.#guard.waitMs();
    if (wait > 0)
      return {
        reason: 'back-off',
        fields: { failures: this.#guard.failures, retryInS: Math.ceil(wait / 1000) },
      };
    if (this.#pushesPending >= MAX_PENDING_PUSHES) return { reason: 'busy' };
    let sec: BootstrapSecurity;
    try {
      // No SEC: refused by the installer (an unprotected body), after this.
      if (secParam === undefined) return undefined;
      sec = parseSec(secParam);
    } catch {
      return { reason: 'unknown SEC', fields: { sec: String(secParam) } };
    }
    if (!secAtLeast(sec, this.#minSec))
      return { reason: 'security mode too weak', fields: { sec, minimum: this.#minSec } };
    return undefined;
  }

  /** Stops timers and the listener, waits for the running session. Does not close the client. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#offChange?.();
    this.#offAlert?.();
    await this.#udp?.close();
    await this.#channel?.close();
    await this.#running?.catch(() => undefined);
    await this.#notifications;
    this.#rejects.close();
  }

  /** Whether a timer keeps the agent alive (for callers deciding to exit). */
  get scheduled(): boolean {
    return this.#timer !== undefined || this.#running !== undefined;
  }
}
