/**
 * A fleet of simulated DM devices in one process. Each device is a compact record — credentials
 * derived from the fleet seed on demand, its nonces, a change overlay over the shared template
 * tree, pending Generic Alerts — and the full client session engine (omadm/protocol) is built only
 * while one of its sessions runs. A semaphore bounds simultaneous sessions; one keep-alive HTTP
 * transport serves them all.
 */
import { createHmac } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { HttpStatusError, HttpTransport, type HttpTransportOptions } from '../binding/http/index.ts';
import {
  type AuthMode,
  credentialDigest,
  DmClientSession,
  type Encoding,
  type PendingAlert,
  receivePackage0,
  runClientSession,
  SessionError,
  syncmlCodec,
  type Transport,
} from '../protocol/index.ts';
import { SimFumo, type SimFumoOptions } from './fumo.ts';
import { FleetStats } from './stats.ts';
import {
  type MutableDevice,
  type SimTemplate,
  simHandler,
  standardTemplate,
  type Timing,
} from './template.ts';

/** One simulated device at rest. Field names are short on purpose: there may be 100,000 of them. */
class DeviceRecord implements MutableDevice {
  /** CLCRED nonce (base64) for the next session. */
  cn: string | undefined = undefined;
  /** SRVCRED nonce (base64). */
  sn: string | undefined = undefined;
  ov: MutableDevice['ov'] = undefined;
  al: MutableDevice['al'] = undefined;
  /** Sessions run. */
  n = 0;
  /** A session of this device is running (one at a time per device). */
  busy = false;
}

export interface FleetOptions {
  /** The DM endpoint (`http://127.0.0.1:8080/dm`). */
  readonly serverUrl: string;
  readonly devices: number;
  /** DevIds are `<prefix><index>` with the index zero-padded (default `sim-`). */
  readonly prefix?: string;
  /** Digits the index is zero-padded to (default 6; 0: `demo-1`). */
  readonly pad?: number;
  /** Index of the first device (default 1). */
  readonly first?: number;
  /** Client secrets are derived from this seed and the DevId (so provisioning can recompute them). */
  readonly seed?: string;
  readonly auth?: AuthMode;
  /** When set, the server must authenticate itself with this secret (SRVCRED). */
  readonly serverSecret?: string;
  readonly serverId?: string;
  readonly encoding?: Encoding;
  /** Simultaneous sessions (default 64). */
  readonly concurrency?: number;
  /** Command execution times (default `realistic`). */
  readonly timing?: Timing;
  /** How long an accepted Exec runs before its Generic Alert is queued (ms, default 2000). */
  readonly asyncExecMs?: number;
  /**
   * When an accepted Exec's Generic Alert is ready: `immediately` starts a session to report it
   * (what a FUMO client does), `next-session` waits for the device's next session (default).
   */
  readonly reportAlerts?: 'immediately' | 'next-session';
  readonly http?: HttpTransportOptions;
  /** A transport of your own (tests); default one shared keep-alive HttpTransport. */
  readonly transport?: Transport;
  readonly template?: SimTemplate;
  readonly random?: () => number;
  /** FUMO on the devices: update time (default `asyncExecMs`), fail rate, package size limit. */
  readonly fumo?: Omit<SimFumoOptions, 'agent' | 'random'>;
}

/** How one simulated session went. */
export interface SimSessionResult {
  readonly ok: boolean;
  readonly ms: number;
  readonly commands: number;
  /** Error kind when not ok (`transport`, `http_503`, `auth_failed`, …). */
  readonly error?: string;
}

/** The secret a fleet device authenticates with: deterministic from the seed and DevId. */
export function deviceSecret(seed: string, deviceId: string): string {
  return createHmac('sha256', seed).update(deviceId).digest('base64url').slice(0, 22);
}

/** Kind of a session failure, for the summary's "errors by kind". */
export function errorKind(err: unknown): string {
  if (err instanceof SessionError) {
    const cause = err.cause;
    if (cause instanceof HttpStatusError) return `http_${cause.statusCode}`;
    if (cause instanceof Error && /timeout/i.test(cause.message)) return 'timeout';
    return err.code.replace(/^OMADM_ERR_SESSION_/, '').toLowerCase();
  }
  return (err as { code?: string })?.code ?? 'internal';
}

export class Fleet {
  readonly size: number;
  readonly stats = new FleetStats();
  readonly #o: FleetOptions;
  readonly #records: DeviceRecord[];
  readonly #template: SimTemplate;
  readonly #transport: Transport;
  readonly #ownTransport: HttpTransport | undefined;
  readonly #seed: string;
  readonly #prefix: string;
  readonly #first: number;
  readonly #width: number;
  readonly #random: () => number;
  readonly #concurrency: number;
  #active = 0;
  readonly #waiters: (() => void)[] = [];
  #alertSeq = 0;
  /** Package 0 duplicates: `index:sessionId` → when seen. */
  readonly #seenTriggers = new Map<string, number>();
  /** The devices' FUMO (real downloads over one keep-alive agent). */
  readonly fumo: SimFumo;
  readonly #downloadAgent: http.Agent;

  constructor(options: FleetOptions) {
    this.#o = options;
    this.size = options.devices;
    this.#records = Array.from({ length: options.devices }, () => new DeviceRecord());
    this.#template = options.template ?? standardTemplate();
    this.#seed = options.seed ?? 'omadm-sim';
    this.#prefix = options.prefix ?? 'sim-';
    this.#first = options.first ?? 1;
    this.#width = options.pad ?? Math.max(6, String(this.#first + options.devices - 1).length);
    this.#random = options.random ?? Math.random;
    this.#concurrency = Math.max(1, options.concurrency ?? 64);
    this.#downloadAgent = new http.Agent({ keepAlive: true, maxSockets: this.#concurrency });
    this.fumo = new SimFumo({
      updateMs: options.asyncExecMs ?? 2000,
      ...options.fumo,
      random: this.#random,
      agent: this.#downloadAgent,
    });
    if (options.transport) {
      this.#transport = options.transport;
    } else {
      const sockets = this.#concurrency;
      this.#ownTransport = new HttpTransport({
        retries: 1,
        timeoutMs: 30_000,
        ...options.http,
        httpAgent: new http.Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets }),
        httpsAgent: new https.Agent({
          keepAlive: true,
          maxSockets: sockets,
          maxFreeSockets: sockets,
          ...(options.http?.ca ? { ca: options.http.ca as string } : {}),
          ...(options.http?.cert ? { cert: options.http.cert } : {}),
          ...(options.http?.key ? { key: options.http.key } : {}),
          rejectUnauthorized: options.http?.rejectUnauthorized ?? true,
        }),
      });
      this.#transport = this.#ownTransport;
    }
  }

  /** DevId of device `i` (0-based). */
  deviceId(i: number): string {
    return `${this.#prefix}${String(this.#first + i).padStart(this.#width, '0')}`;
  }

  /** Client secret of device `i`. */
  secret(i: number): string {
    return deviceSecret(this.#seed, this.deviceId(i));
  }

  /** Sessions running now. */
  get active(): number {
    return this.#active;
  }

  /** Sessions device `i` has run. */
  sessionsOf(i: number): number {
    return this.#records[i]!.n;
  }

  /** Generic Alerts device `i` has waiting. */
  pendingAlertsOf(i: number): number {
    return this.#records[i]!.al?.length ?? 0;
  }

  /** A value in device `i`'s tree as it would answer a Get (undefined when absent). */
  valueOf(i: number, uri: string): string | undefined {
    const r = this.#records[i]!;
    if (r.ov?.has(uri)) return r.ov.get(uri)?.v;
    return this.#template.nodes.get(uri)?.v;
  }

  /**
   * Gives every device the state it has after a session (a pair of nonces), without talking to a
   * server — what a fleet looks like at rest, for memory measurements.
   */
  primeNonces(): void {
    for (const r of this.#records) {
      r.cn = Buffer.from(new Uint8Array(16).map(() => (this.#random() * 256) | 0)).toString('base64');
      if (this.#o.serverSecret !== undefined)
        r.sn = Buffer.from(new Uint8Array(16).map(() => (this.#random() * 256) | 0)).toString('base64');
    }
  }

  async #acquire(): Promise<void> {
    if (this.#active < this.#concurrency) {
      this.#active++;
      return;
    }
    await new Promise<void>((r) => this.#waiters.push(r));
  }

  #release(): void {
    const next = this.#waiters.shift();
    if (next) next();
    else this.#active--;
  }

  /** Runs one client-initiated session of device `i` (or server-initiated with `notification`). */
  async session(i: number, notification?: { sessionId: number }): Promise<SimSessionResult> {
    const rec = this.#records[i];
    if (!rec) throw new RangeError(`no device ${i}`);
    await this.#acquire();
    // One session per device at a time; a second request waits for the first (like a real client).
    while (rec.busy) await new Promise((r) => setTimeout(r, 5));
    rec.busy = true;
    const started = performance.now();
    try {
      return await this.#run(i, rec, notification, started);
    } finally {
      rec.busy = false;
      this.#release();
    }
  }

  async #run(
    i: number,
    rec: DeviceRecord,
    notification: { sessionId: number } | undefined,
    started: number,
  ): Promise<SimSessionResult> {
    const o = this.#o;
    const devId = this.deviceId(i);
    const auth = o.auth ?? 'md5';
    const serverId = o.serverId ?? 'omadm';
    const t = this.#template.nodes;
    const delivered = new Set<string>();
    const session = new DmClientSession({
      codec: syncmlCodec,
      encoding: o.encoding ?? 'xml',
      deviceId: devId,
      devInfo: {
        './DevInfo/DevId': devId,
        './DevInfo/Man': t.get('./DevInfo/Man')?.v ?? 'omadm-sim',
        './DevInfo/Mod': t.get('./DevInfo/Mod')?.v ?? 'SimDevice-1',
        './DevInfo/DmV': t.get('./DevInfo/DmV')?.v ?? '1.2',
        './DevInfo/Lang': t.get('./DevInfo/Lang')?.v ?? 'en-US',
      },
      account: {
        serverId,
        serverUri: o.serverUrl,
        client: { mode: auth, name: devId, secret: this.secret(i) },
        ...(o.serverSecret !== undefined
          ? { server: { mode: auth, name: serverId, secret: o.serverSecret } }
          : {}),
        ...(rec.cn ? { clientNonce: rec.cn } : {}),
        ...(rec.sn ? { serverNonce: rec.sn } : {}),
      },
      accountState: {
        saveNonces: async (n) => {
          if (n.clientNonce !== undefined) rec.cn = n.clientNonce;
          if (n.serverNonce !== undefined) rec.sn = n.serverNonce;
        },
      },
      handler: simHandler({
        template: this.#template,
        device: rec,
        view: { devId },
        timing: o.timing ?? 'realistic',
        random: this.#random,
        asyncExecMs: o.asyncExecMs ?? 2000,
        nextAlertId: () => String(++this.#alertSeq),
        fumo: this.fumo,
        ...(o.reportAlerts === 'immediately' ? { onAlert: () => void this.session(i) } : {}),
      }),
      alerts: {
        pending: (): readonly PendingAlert[] => rec.al ?? [],
        delivered: (id, status) => {
          delivered.add(id);
          if (status >= 200 && status < 300 && rec.al) {
            rec.al = rec.al.filter((a) => a.id !== id);
            if (rec.al.length === 0) rec.al = undefined;
          }
        },
      },
      ...(notification ? { notification } : {}),
    });
    const stats = this.stats;
    rec.n++;
    stats.sessions++;
    try {
      const r = await runClientSession(session, this.#transport);
      const ms = performance.now() - started;
      stats.commands += r.commands;
      if (r.outcome === 'completed') {
        stats.ok++;
        stats.latency.record(ms);
        return { ok: true, ms, commands: r.commands };
      }
      const kind =
        r.outcome === 'authFailed'
          ? 'auth_failed'
          : r.outcome === 'serverAuthFailed'
            ? 'server_auth_failed'
            : r.outcome;
      stats.error(kind);
      return { ok: false, ms, commands: r.commands, error: kind };
    } catch (err) {
      const kind = errorKind(err);
      stats.error(kind);
      return {
        ok: false,
        ms: performance.now() - started,
        commands: session.result?.commands ?? 0,
        error: kind,
      };
    }
  }

  /**
   * A Package 0 for device `i`: verified against the fleet's server secret and the device's
   * SRVCRED nonce, duplicates dropped, then a server-initiated session (Alert 1200).
   */
  async notify(i: number, package0: Uint8Array): Promise<SimSessionResult | { ignored: string }> {
    const rec = this.#records[i];
    const secret = this.#o.serverSecret;
    if (!rec) throw new RangeError(`no device ${i}`);
    const serverId = this.#o.serverId ?? 'omadm';
    const decision = await receivePackage0(package0, (sid) =>
      sid === serverId && secret !== undefined
        ? {
            credentialDigest: credentialDigest(serverId, secret),
            ...(rec.sn ? { nonce: Buffer.from(rec.sn, 'base64') } : {}),
            // Simulated devices stay lenient on the re-sync nonce (a load tool, not a device to
            // protect): a real agent accepts it only while its nonce is out of step.
            fallback: true,
          }
        : undefined,
    );
    if (decision.action === 'ignore') return { ignored: decision.reason };
    const key = `${i}:${decision.sessionId}`;
    const now = Date.now();
    for (const [k, at] of this.#seenTriggers) {
      if (now - at < 600_000 && this.#seenTriggers.size < 100_000) break;
      this.#seenTriggers.delete(k);
    }
    if (this.#seenTriggers.has(key)) return { ignored: 'duplicate' };
    this.#seenTriggers.set(key, now);
    this.stats.notifications++;
    return this.session(i, { sessionId: Number.parseInt(decision.sessionId, 16) });
  }

  /**
   * One session per device (indices `from`..`to`-1), started at most `rate` per second (0: as fast as
   * the concurrency limit allows). `onSession` sees each result.
   */
  async round(
    options: {
      readonly rate?: number;
      readonly from?: number;
      readonly to?: number;
      readonly signal?: AbortSignal;
      readonly onSession?: (i: number, r: SimSessionResult) => void;
    } = {},
  ): Promise<void> {
    const from = options.from ?? 0;
    const to = Math.min(this.size, options.to ?? this.size);
    const rate = options.rate ?? 0;
    const t0 = performance.now();
    const running = new Set<Promise<void>>();
    for (let i = from; i < to; i++) {
      if (options.signal?.aborted) break;
      if (rate > 0) {
        const due = t0 + ((i - from) * 1000) / rate;
        const wait = due - performance.now();
        if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      }
      // Keep at most `concurrency` promises alive: the loop itself waits for a free slot.
      while (running.size >= this.#concurrency) await Promise.race(running);
      const p: Promise<void> = this.session(i).then((r) => {
        running.delete(p);
        options.onSession?.(i, r);
      });
      running.add(p);
    }
    await Promise.all(running);
  }

  /** Closes the fleet's HTTP connections. */
  close(): void {
    this.#downloadAgent.destroy();
    this.#ownTransport?.close();
  }
}
