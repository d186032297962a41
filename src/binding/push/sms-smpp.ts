/**
 * WAP Push over SMS through an SMS centre speaking SMPP 3.4: Package 0 →
 * WSP push PDU → WDP/UDH segments → one submit_sm per segment (esm_class
 * UDHI, 8-bit data coding). The bound session is opened on first use and
 * kept; sends are serialised on it; it is re-opened after a failure.
 */
import type { DeliveryResult, NotificationBearer, SendOptions } from './bearer.ts';
import { PushError, PushErrorCode } from './errors.ts';
import { segmentWdpSms } from './sms.ts';
import { SmppSession } from './smpp-client.ts';
import { hex32, SmppStatus } from './smpp-pdu.ts';
import { encodeNotificationPush } from './wsp.ts';

export interface SmppBearerOptions {
  host: string;
  port: number;
  systemId: string;
  password: string;
  systemType?: string;
  /** Originating address (short code or MSISDN); `+` prefix selects international TON. */
  sourceAddr?: string;
  /** data_coding; default 0x04 (8-bit binary). Some SMSCs want 0xF5. */
  dataCoding?: number;
  registeredDelivery?: number;
  /** WDP source port; default 0xC002 as in the spec example. */
  sourcePort?: number;
  /** Request timeout (ms); default 10 s. */
  timeoutMs?: number;
  /** Send enquire_link this often (ms) while bound, so idle binds survive SMSC/NAT timeouts; default off. */
  enquireLinkMs?: number;
  /** Bearer name; default `sms-smpp`. */
  name?: string;
}

/** Splits an MSISDN into TON/NPI/digits: `+4917…` → international (1), ISDN (1). */
export function msisdnAddress(target: string): { ton: number; npi: number; addr: string } {
  const t = target.trim();
  if (!/^\+?[0-9]{1,20}$/.test(t)) throw new PushError(PushErrorCode.BadTarget, `not an MSISDN: ${target}`);
  return t.startsWith('+') ? { ton: 1, npi: 1, addr: t.slice(1) } : { ton: 0, npi: 1, addr: t };
}

export class SmppBearer implements NotificationBearer {
  readonly name: string;
  readonly #opts: SmppBearerOptions;
  #session: SmppSession | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #reference = Math.floor(Math.random() * 256);
  #tid = Math.floor(Math.random() * 256);
  #closed = false;
  #keepalive: NodeJS.Timeout | undefined;

  constructor(options: SmppBearerOptions) {
    this.#opts = options;
    this.name = options.name ?? 'sms-smpp';
  }

  send(target: string, package0: Uint8Array, options: SendOptions = {}): Promise<DeliveryResult> {
    return this.sendPush(target, (tid) => encodeNotificationPush(package0, tid), options);
  }

  /**
   * Sends any WSP push PDU (e.g. a bootstrap from `encodeBootstrapPush`) as
   * WAP Push over SMS. `pdu` may be a function of the transaction id the
   * bearer assigns.
   */
  sendPush(
    target: string,
    pdu: Uint8Array | ((transactionId: number) => Uint8Array),
    options: SendOptions = {},
  ): Promise<DeliveryResult> {
    const run = () => this.#send(target, pdu, options);
    const p = this.#queue.then(run, run);
    this.#queue = p.catch(() => undefined);
    return p;
  }

  async #openSession(): Promise<SmppSession> {
    if (this.#session && !this.#session.closed) return this.#session;
    const s = await SmppSession.connect({
      host: this.#opts.host,
      port: this.#opts.port,
      timeoutMs: this.#opts.timeoutMs,
    });
    try {
      await s.bindTransmitter({
        systemId: this.#opts.systemId,
        password: this.#opts.password,
        systemType: this.#opts.systemType,
      });
    } catch (err) {
      s.close();
      throw err;
    }
    this.#session = s;
    if (this.#opts.enquireLinkMs) {
      clearInterval(this.#keepalive);
      this.#keepalive = setInterval(() => {
        s.enquireLink().catch(() => this.#drop(s));
      }, this.#opts.enquireLinkMs);
      this.#keepalive.unref();
    }
    return s;
  }

  /** Forgets a session whose state is unknown (timeout, reset); the next send binds afresh. */
  #drop(s: SmppSession): void {
    s.close();
    if (this.#session === s) {
      this.#session = undefined;
      clearInterval(this.#keepalive);
    }
  }

  async #send(
    target: string,
    pdu: Uint8Array | ((transactionId: number) => Uint8Array),
    options: SendOptions,
  ): Promise<DeliveryResult> {
    if (this.#closed) throw new PushError(PushErrorCode.Closed, `${this.name} bearer closed`);
    options.signal?.throwIfAborted();
    const dest = msisdnAddress(target);
    this.#tid = (this.#tid + 1) & 0xff;
    this.#reference = (this.#reference + 1) & 0xff;
    const parts = segmentWdpSms(typeof pdu === 'function' ? pdu(this.#tid) : pdu, {
      reference: this.#reference,
      sourcePort: this.#opts.sourcePort,
    });
    const src = this.#opts.sourceAddr ? msisdnAddress(this.#opts.sourceAddr) : { ton: 0, npi: 0, addr: '' };
    const reused = this.#session !== undefined && !this.#session.closed;
    let session = await this.#openSession();
    const ids: string[] = [];
    for (const ud of parts) {
      options.signal?.throwIfAborted();
      const submit = () =>
        session.submitSm({
          sourceAddrTon: src.ton,
          sourceAddrNpi: src.npi,
          sourceAddr: src.addr,
          destAddrTon: dest.ton,
          destAddrNpi: dest.npi,
          destinationAddr: dest.addr,
          esmClass: 0x40,
          dataCoding: this.#opts.dataCoding ?? 0x04,
          registeredDelivery: this.#opts.registeredDelivery ?? 0,
          shortMessage: ud,
        });
      let r: { status: number; messageId: string };
      try {
        r = await submit();
      } catch (err) {
        this.#drop(session);
        // A kept session the SMSC dropped while idle: bind again once, if nothing went out yet.
        if (
          !(reused && ids.length === 0 && err instanceof PushError && err.code === PushErrorCode.Connection)
        )
          throw err;
        session = await this.#openSession();
        try {
          r = await submit();
        } catch (err2) {
          this.#drop(session);
          throw err2;
        }
      }
      if (r.status !== SmppStatus.Ok) {
        return {
          bearer: this.name,
          target,
          accepted: false,
          ids,
          parts: parts.length,
          status: `SMPP ${hex32(r.status)}`,
          detail: `SMSC refused segment ${ids.length + 1} of ${parts.length}`,
        };
      }
      ids.push(r.messageId);
    }
    return { bearer: this.name, target, accepted: true, ids, parts: parts.length };
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#keepalive);
    await this.#queue;
    const s = this.#session;
    this.#session = undefined;
    if (s) await s.unbind();
  }
}
