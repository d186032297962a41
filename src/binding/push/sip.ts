/**
 * SIP push: a SIP MESSAGE (RFC 3428) over UDP carrying Package 0 as its
 * body with Content-Type application/vnd.syncml.notification (protocol.md
 * §5.5, [UNVERIFIED] as to OMA's DM Push Binding details). A non-INVITE
 * client transaction per RFC 3261 §17.1.2: retransmit with timer E
 * (T1 doubling to T2) until a final response or timer F (64·T1).
 */
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { DeliveryResult, NotificationBearer, SendOptions } from './bearer.ts';
import { PushError, PushErrorCode } from './errors.ts';

export interface SipUri {
  user?: string;
  host: string;
  port: number;
}

/** Parses `sip:[user@]host[:port][;params]` (IPv6 hosts in brackets). */
export function parseSipUri(uri: string): SipUri {
  const m = /^sip:(?:([^@;?]+)@)?(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?(?:[;?].*)?$/.exec(
    uri.trim(),
  );
  if (!m) throw new PushError(PushErrorCode.BadTarget, `not a sip: URI: ${uri}`);
  const port = m[3] ? Number(m[3]) : 5060;
  if (port < 1 || port > 65535) throw new PushError(PushErrorCode.BadTarget, `bad port in ${uri}`);
  const host = m[2]!.startsWith('[') ? m[2]!.slice(1, -1) : m[2]!;
  return m[1] === undefined ? { host, port } : { user: m[1], host, port };
}

export interface SipMessageInput {
  requestUri: string;
  from: string;
  fromTag: string;
  callId: string;
  cseq: number;
  branch: string;
  /** sent-by of the Via header (`host:port`). */
  via: string;
  /** Feature tag for OMA push application routing; omitted when undefined. */
  pushApplication?: string;
  body: Uint8Array;
}

/** Serialises a SIP MESSAGE request. */
export function buildSipMessage(m: SipMessageInput): Uint8Array {
  for (const v of [m.requestUri, m.from, m.fromTag, m.callId, m.branch, m.via, m.pushApplication ?? '']) {
    if (/[\r\n]/.test(v)) throw new PushError(PushErrorCode.BadTarget, 'CR/LF in a SIP header value');
  }
  const lines = [
    `MESSAGE ${m.requestUri} SIP/2.0`,
    `Via: SIP/2.0/UDP ${m.via};branch=${m.branch};rport`,
    'Max-Forwards: 70',
    `From: <${m.from}>;tag=${m.fromTag}`,
    `To: <${m.requestUri}>`,
    `Call-ID: ${m.callId}`,
    `CSeq: ${m.cseq} MESSAGE`,
    ...(m.pushApplication
      ? [`Accept-Contact: *;+g.oma.pusheventapp="${m.pushApplication}";require;explicit`]
      : []),
    'Content-Type: application/vnd.syncml.notification',
    `Content-Length: ${m.body.byteLength}`,
    '',
    '',
  ];
  const head = new TextEncoder().encode(lines.join('\r\n'));
  const out = new Uint8Array(head.byteLength + m.body.byteLength);
  out.set(head, 0);
  out.set(m.body, head.byteLength);
  return out;
}

export interface SipMessage {
  /** Request line or status line parts. */
  startLine: string;
  status?: number;
  reason?: string;
  method?: string;
  /** Header values by lower-case name (compact forms expanded), in order. */
  headers: Map<string, string[]>;
  body: Uint8Array;
}

const COMPACT: Record<string, string> = {
  v: 'via',
  f: 'from',
  t: 'to',
  i: 'call-id',
  c: 'content-type',
  l: 'content-length',
};

/** Parses a SIP request or response datagram (hostile input: bounded, typed error). */
export function parseSipMessage(bytes: Uint8Array): SipMessage {
  if (bytes.byteLength > 65_535) throw new PushError(PushErrorCode.Protocol, 'SIP message too large');
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) throw new PushError(PushErrorCode.Protocol, 'SIP message without end of headers');
  const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
  const startLine = lines[0]!;
  const headers = new Map<string, string[]>();
  for (const line of lines.slice(1)) {
    if (/^[ \t]/.test(line)) continue; // folded continuation: not needed for what we read
    const i = line.indexOf(':');
    if (i <= 0) throw new PushError(PushErrorCode.Protocol, `bad SIP header line: ${line.slice(0, 40)}`);
    let name = line.slice(0, i).trim().toLowerCase();
    name = COMPACT[name] ?? name;
    const list = headers.get(name) ?? [];
    list.push(line.slice(i + 1).trim());
    headers.set(name, list);
  }
  let body = new Uint8Array(buf.subarray(end + 4));
  const cl = headers.get('content-length')?.[0];
  if (cl !== undefined && /^\d+$/.test(cl) && Number(cl) <= body.byteLength) body = body.slice(0, Number(cl));
  const st = /^SIP\/2\.0 (\d{3}) ?(.*)$/.exec(startLine);
  if (st) return { startLine, status: Number(st[1]), reason: st[2], headers, body };
  const rq = /^([A-Z]+) \S+ SIP\/2\.0$/.exec(startLine);
  if (!rq) throw new PushError(PushErrorCode.Protocol, `bad SIP start line: ${startLine.slice(0, 60)}`);
  return { startLine, method: rq[1], headers, body };
}

export interface SipBearerOptions {
  /** Our SIP identity for From; default `sip:omadm@<local address>`. */
  from?: string;
  /** Local address to bind; default any. */
  localAddress?: string;
  /** Feature tag value for `+g.oma.pusheventapp`; default `syncml.dm`; `null` omits Accept-Contact. */
  pushApplication?: string | null;
  /** RFC 3261 T1 (ms); default 500. */
  t1Ms?: number;
  /** RFC 3261 T2 (ms); default 4000. */
  t2Ms?: number;
  /** Transaction timeout (timer F); default 64·T1. */
  timeoutMs?: number;
  name?: string;
}

const token = () => randomBytes(8).toString('hex');

export class SipBearer implements NotificationBearer {
  readonly name: string;
  readonly #opts: SipBearerOptions;
  #cseq = 1;
  #closed = false;
  readonly #sockets = new Set<Socket>();

  constructor(options: SipBearerOptions = {}) {
    this.#opts = options;
    this.name = options.name ?? 'sip';
  }

  async send(target: string, package0: Uint8Array, options: SendOptions = {}): Promise<DeliveryResult> {
    if (this.#closed) throw new PushError(PushErrorCode.Closed, `${this.name} bearer closed`);
    options.signal?.throwIfAborted();
    const uri = parseSipUri(target);
    const socket = createSocket(isIPv6(uri.host) ? 'udp6' : 'udp4');
    this.#sockets.add(socket);
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind({ address: this.#opts.localAddress, port: 0 }, () => {
          socket.connect(uri.port, uri.host, (err?: Error) => (err ? reject(err) : resolve()));
        });
      }).catch((err: Error) => {
        throw new PushError(PushErrorCode.Connection, `SIP: ${err.message}`, { cause: err });
      });
      const local = socket.address();
      const sentBy =
        local.family === 'IPv6' ? `[${local.address}]:${local.port}` : `${local.address}:${local.port}`;
      const branch = `z9hG4bK${token()}`;
      const callId = `${token()}@omadm`;
      const cseq = this.#cseq++;
      const req = buildSipMessage({
        requestUri: target.trim().replace(/[;?].*$/, ''),
        from:
          this.#opts.from ?? `sip:omadm@${local.family === 'IPv6' ? `[${local.address}]` : local.address}`,
        fromTag: token(),
        callId,
        cseq,
        branch,
        via: sentBy,
        pushApplication:
          this.#opts.pushApplication === null ? undefined : (this.#opts.pushApplication ?? 'syncml.dm'),
        body: package0,
      });
      const final = await this.#transaction(socket, req, branch, cseq, options.signal);
      const status = final.status!;
      return {
        bearer: this.name,
        target,
        accepted: status >= 200 && status < 300,
        ids: [callId],
        parts: 1,
        status: `SIP ${status}`,
        ...(final.reason ? { detail: final.reason } : {}),
      };
    } finally {
      this.#sockets.delete(socket);
      socket.close();
    }
  }

  #transaction(
    socket: Socket,
    req: Uint8Array,
    branch: string,
    cseq: number,
    signal?: AbortSignal,
  ): Promise<SipMessage> {
    const t1 = this.#opts.t1Ms ?? 500;
    const t2 = this.#opts.t2Ms ?? 4000;
    const timeoutMs = this.#opts.timeoutMs ?? 64 * t1;
    return new Promise((resolve, reject) => {
      let interval = t1;
      let retransmit: NodeJS.Timeout | undefined;
      const cleanup = () => {
        clearTimeout(retransmit);
        clearTimeout(timerF);
        socket.off('message', onMessage);
        socket.off('error', onError);
        signal?.removeEventListener('abort', onAbort);
      };
      const schedule = () => {
        retransmit = setTimeout(() => {
          socket.send(req);
          interval = Math.min(interval * 2, t2);
          schedule();
        }, interval);
      };
      // ICMP errors (ECONNREFUSED: nothing listens yet) do not end the transaction at once:
      // retransmissions continue, and the error is reported if timer F fires.
      let transportError: Error | undefined;
      const timerF = setTimeout(() => {
        cleanup();
        reject(
          transportError
            ? new PushError(PushErrorCode.Connection, `SIP: ${transportError.message}`, {
                cause: transportError,
              })
            : new PushError(PushErrorCode.Timeout, `SIP: no final response within ${timeoutMs} ms`),
        );
      }, timeoutMs);
      const onMessage = (msg: Buffer) => {
        let res: SipMessage;
        try {
          res = parseSipMessage(msg);
        } catch {
          return; // not for us / garbage: keep waiting
        }
        if (res.status === undefined) return;
        const via = res.headers.get('via')?.[0] ?? '';
        const cs = res.headers.get('cseq')?.[0] ?? '';
        if (!via.includes(`branch=${branch}`) || !new RegExp(`^${cseq}\\s+MESSAGE$`, 'i').test(cs)) return;
        if (res.status < 200) {
          // Provisional: keep retransmitting, but at T2 (RFC 3261 §17.1.2.2).
          interval = t2;
          return;
        }
        cleanup();
        resolve(res);
      };
      const onError = (err: Error) => {
        transportError = err;
      };
      const onAbort = () => {
        cleanup();
        reject(signal!.reason);
      };
      socket.on('message', onMessage);
      socket.on('error', onError);
      signal?.addEventListener('abort', onAbort, { once: true });
      socket.send(req);
      schedule();
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const s of this.#sockets) s.close();
    this.#sockets.clear();
  }
}
