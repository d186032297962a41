/**
 * Package 0 as a UDP datagram to a device's registered address. Default
 * framing is WDP over UDP: the WSP push PDU (content type 0x44, application
 * id syncml.dm) to port 2948, exactly the SMS payload without UDH. `raw`
 * sends the bare Package 0 bytes for devices that listen for that.
 * The device side (`listenUdpPush`) accepts both.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { DeliveryResult, NotificationBearer, SendOptions } from './bearer.ts';
import { PushError, PushErrorCode } from './errors.ts';
import { WAP_PUSH_PORT } from './sms.ts';
import {
  ApplicationIdCode,
  ContentTypeCode,
  decodeWspPush,
  encodeNotificationPush,
  type WspPush,
} from './wsp.ts';

export type UdpFraming = 'wsp' | 'raw';

/** Parses `host`, `host:port`, `[v6]` or `[v6]:port` (default port 2948). */
export function parseHostPort(target: string, defaultPort = WAP_PUSH_PORT): { host: string; port: number } {
  const t = target.trim();
  const m = /^\[([0-9a-fA-F:.]+)\](?::(\d{1,5}))?$/.exec(t) ?? /^([A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(t);
  if (!m && isIPv6(t)) return { host: t, port: defaultPort };
  if (!m) throw new PushError(PushErrorCode.BadTarget, `not host[:port]: ${target}`);
  const port = m[2] ? Number(m[2]) : defaultPort;
  if (port < 1 || port > 65535) throw new PushError(PushErrorCode.BadTarget, `bad port in ${target}`);
  return { host: m[1]!, port };
}

export interface UdpBearerOptions {
  framing?: UdpFraming;
  /** Local address/port to send from (default any/ephemeral). */
  localAddress?: string;
  localPort?: number;
  name?: string;
}

export class UdpBearer implements NotificationBearer {
  readonly name: string;
  readonly #opts: UdpBearerOptions;
  #sockets: Partial<Record<'udp4' | 'udp6', Promise<Socket>>> = {};
  #tid = 0;
  #closed = false;

  constructor(options: UdpBearerOptions = {}) {
    this.#opts = options;
    this.name = options.name ?? 'udp';
  }

  #socket(type: 'udp4' | 'udp6'): Promise<Socket> {
    this.#sockets[type] ??= new Promise((resolve, reject) => {
      const s = createSocket(type);
      s.once('error', reject);
      s.bind({ address: this.#opts.localAddress, port: this.#opts.localPort ?? 0 }, () => {
        s.off('error', reject);
        s.on('error', () => {}); // ICMP errors on later sends must not crash the process
        resolve(s);
      });
    });
    return this.#sockets[type];
  }

  send(target: string, package0: Uint8Array, options: SendOptions = {}): Promise<DeliveryResult> {
    const wsp = (this.#opts.framing ?? 'wsp') === 'wsp';
    return this.#send(target, (tid) => (wsp ? encodeNotificationPush(package0, tid) : package0), options);
  }

  /** Sends any WSP push PDU (e.g. a bootstrap from `encodeBootstrapPush`) as one datagram (WDP over UDP). */
  sendPush(
    target: string,
    pdu: Uint8Array | ((transactionId: number) => Uint8Array),
    options: SendOptions = {},
  ): Promise<DeliveryResult> {
    return this.#send(target, typeof pdu === 'function' ? pdu : () => pdu, options);
  }

  async #send(
    target: string,
    build: (tid: number) => Uint8Array,
    options: SendOptions,
  ): Promise<DeliveryResult> {
    if (this.#closed) throw new PushError(PushErrorCode.Closed, `${this.name} bearer closed`);
    options.signal?.throwIfAborted();
    const { host, port } = parseHostPort(target);
    this.#tid = (this.#tid + 1) & 0xff;
    const payload = build(this.#tid);
    const socket = await this.#socket(isIPv6(host) ? 'udp6' : 'udp4').catch((err: Error) => {
      throw new PushError(PushErrorCode.Connection, `UDP: ${err.message}`, { cause: err });
    });
    await new Promise<void>((resolve, reject) =>
      socket.send(payload, port, host, (err) =>
        err
          ? reject(new PushError(PushErrorCode.Connection, `UDP: ${err.message}`, { cause: err }))
          : resolve(),
      ),
    );
    return {
      bearer: this.name,
      target,
      accepted: true,
      ids: [],
      parts: 1,
      detail: 'datagram sent (no acknowledgement on UDP)',
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    const all = Object.values(this.#sockets);
    this.#sockets = {};
    for (const p of all) {
      const s = await p.catch(() => undefined);
      s?.close();
    }
  }
}

/** Extracts Package 0 from a received datagram: a WSP push for syncml.dm/notification, or raw bytes. */
export function package0FromDatagram(
  msg: Uint8Array,
  framing: UdpFraming | 'auto' = 'auto',
): Uint8Array | undefined {
  if (framing === 'raw') return msg;
  try {
    const push = decodeWspPush(msg);
    const app = push.applicationId;
    const appOk =
      app === undefined || app === ApplicationIdCode.SyncmlDm || app === 'x-wap-application:syncml.dm';
    const ctOk =
      push.contentType.code === ContentTypeCode.Notification ||
      push.contentType.media.toLowerCase() === 'application/vnd.syncml.notification';
    if (appOk && ctOk) return push.body;
    return undefined;
  } catch {
    // Not WSP: in auto mode a datagram whose bytes do not decode as a push is taken as raw Package 0.
    return framing === 'auto' ? msg : undefined;
  }
}

export interface UdpPushListenerOptions {
  host?: string;
  /** Default 2948; 0 picks a free port. */
  port?: number;
  framing?: UdpFraming | 'auto';
  /** Called with Package 0 bytes (still to be parsed and verified). */
  onPackage0: (package0: Uint8Array, from: RemoteInfo) => void;
  /**
   * Called with any other WSP push that arrives (e.g. a bootstrap: `bootstrapFromPush`). Without
   * it such datagrams are dropped.
   */
  onPush?: (push: WspPush, from: RemoteInfo) => void;
}

/** Device side: listens for notification datagrams. Resolves once bound. */
export async function listenUdpPush(
  options: UdpPushListenerOptions,
): Promise<{ address: string; port: number; close: () => Promise<void> }> {
  const host = options.host ?? '0.0.0.0';
  const s = createSocket(isIPv6(host) ? 'udp6' : 'udp4');
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.bind({ address: host, port: options.port ?? WAP_PUSH_PORT }, () => {
      s.off('error', reject);
      resolve();
    });
  });
  s.on('error', () => {});
  s.on('message', (msg, rinfo) => {
    const bytes = new Uint8Array(msg);
    const p0 = package0FromDatagram(bytes, options.framing ?? 'auto');
    if (p0) {
      options.onPackage0(p0, rinfo);
      return;
    }
    if (!options.onPush) return;
    let push: WspPush;
    try {
      push = decodeWspPush(bytes);
    } catch {
      return; // neither Package 0 nor a push: hostile or stray datagram
    }
    options.onPush(push, rinfo);
  });
  const a = s.address();
  return { address: a.address, port: a.port, close: () => new Promise<void>((r) => s.close(() => r())) };
}
