/**
 * A minimal, correct SMPP 3.4 ESME transmitter session over node:net:
 * bind_transmitter, submit_sm, enquire_link, unbind. Requests are matched to
 * responses by sequence number; the SMSC's own enquire_link and unbind are
 * answered; anything else gets generic_nack. Every wait has a timeout.
 */
import { connect, type Socket } from 'node:net';
import { PushError, PushErrorCode } from './errors.ts';
import {
  type BindParams,
  encodeBindTransmitter,
  encodePdu,
  encodeSubmitSm,
  hex32,
  PduFramer,
  readCString,
  SmppCommand,
  type SmppPdu,
  SmppStatus,
  type SubmitSmParams,
} from './smpp-pdu.ts';

export interface SmppConnectOptions {
  host: string;
  port: number;
  /** Per-request and connect timeout (ms); default 10 s. */
  timeoutMs?: number;
}

/** An SMPP response with a non-zero command_status. */
export interface SmppResponse {
  status: number;
  body: Uint8Array;
}

export class SmppSession {
  readonly #socket: Socket;
  readonly #timeoutMs: number;
  readonly #framer = new PduFramer();
  readonly #pending = new Map<
    number,
    { resolve: (p: SmppPdu) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }
  >();
  #seq = 0;
  #closed = false;
  #closeError: Error | undefined;

  private constructor(socket: Socket, timeoutMs: number) {
    this.#socket = socket;
    this.#timeoutMs = timeoutMs;
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (err) =>
      this.#fail(new PushError(PushErrorCode.Connection, `SMPP: ${err.message}`, { cause: err })),
    );
    socket.on('close', () => this.#fail(new PushError(PushErrorCode.Connection, 'SMPP: connection closed')));
  }

  /** Opens a TCP connection to the SMSC. */
  static connect(options: SmppConnectOptions): Promise<SmppSession> {
    const timeoutMs = options.timeoutMs ?? 10_000;
    return new Promise((resolve, reject) => {
      const socket = connect({ host: options.host, port: options.port });
      socket.setNoDelay(true);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(
          new PushError(PushErrorCode.Timeout, `SMPP: connect to ${options.host}:${options.port} timed out`),
        );
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new SmppSession(socket, timeoutMs));
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(new PushError(PushErrorCode.Connection, `SMPP: ${err.message}`, { cause: err }));
      });
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** bind_transmitter; resolves with the SMSC's system_id, rejects with the status on refusal. */
  async bindTransmitter(params: BindParams): Promise<string> {
    const resp = await this.#request(SmppCommand.BindTransmitter, encodeBindTransmitter(params));
    if (resp.status !== SmppStatus.Ok) {
      throw new PushError(
        PushErrorCode.Protocol,
        `SMPP bind_transmitter refused: status ${hex32(resp.status)}`,
      );
    }
    return readCString(resp.body);
  }

  /** submit_sm; resolves with `{ status, messageId }` (status ≠ 0 means the SMSC refused the message). */
  async submitSm(params: SubmitSmParams): Promise<{ status: number; messageId: string }> {
    const resp = await this.#request(SmppCommand.SubmitSm, encodeSubmitSm(params));
    return { status: resp.status, messageId: resp.status === SmppStatus.Ok ? readCString(resp.body) : '' };
  }

  async enquireLink(): Promise<void> {
    await this.#request(SmppCommand.EnquireLink);
  }

  /** unbind and close; errors on the way out are ignored (the goal is a closed session). */
  async unbind(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.#request(SmppCommand.Unbind);
    } catch {
      /* closing anyway */
    }
    this.close();
  }

  close(): void {
    this.#fail(new PushError(PushErrorCode.Closed, 'SMPP session closed'));
  }

  #request(commandId: number, body?: Uint8Array): Promise<SmppPdu> {
    if (this.#closed)
      return Promise.reject(this.#closeError ?? new PushError(PushErrorCode.Closed, 'SMPP session closed'));
    this.#seq = this.#seq >= 0x7fffffff ? 1 : this.#seq + 1;
    const seq = this.#seq;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(seq);
        reject(
          new PushError(
            PushErrorCode.Timeout,
            `SMPP: no response to ${hex32(commandId)} within ${this.#timeoutMs} ms`,
          ),
        );
      }, this.#timeoutMs);
      this.#pending.set(seq, { resolve, reject, timer });
      this.#socket.write(encodePdu(commandId, 0, seq, body));
    });
  }

  #onData(chunk: Buffer): void {
    let pdus: SmppPdu[];
    try {
      pdus = this.#framer.push(chunk);
    } catch (err) {
      this.#fail(err as Error);
      return;
    }
    for (const pdu of pdus) this.#onPdu(pdu);
  }

  #onPdu(pdu: SmppPdu): void {
    if (pdu.commandId & 0x80000000) {
      const waiter = this.#pending.get(pdu.sequence);
      if (!waiter) return; // late or unsolicited response: nothing waits for it
      this.#pending.delete(pdu.sequence);
      clearTimeout(waiter.timer);
      if (pdu.commandId === SmppCommand.GenericNack) {
        waiter.reject(
          new PushError(PushErrorCode.Protocol, `SMPP generic_nack: status ${hex32(pdu.status)}`),
        );
      } else waiter.resolve(pdu);
      return;
    }
    if (this.#closed) return;
    switch (pdu.commandId) {
      case SmppCommand.EnquireLink:
        this.#socket.write(encodePdu(SmppCommand.EnquireLinkResp, 0, pdu.sequence));
        break;
      case SmppCommand.Unbind:
        this.#socket.write(encodePdu(SmppCommand.UnbindResp, 0, pdu.sequence));
        this.#socket.end();
        this.#fail(new PushError(PushErrorCode.Connection, 'SMPP: SMSC unbound'));
        break;
      default:
        this.#socket.write(encodePdu(SmppCommand.GenericNack, SmppStatus.InvalidCommandId, pdu.sequence));
    }
  }

  #fail(err: Error): void {
    if (!this.#closed) {
      this.#closed = true;
      this.#closeError = err;
      // Let queued writes (an unbind_resp) flush, then make sure the socket goes away.
      this.#socket.end();
      setTimeout(() => this.#socket.destroy(), 1000).unref();
    }
    for (const [seq, w] of this.#pending) {
      clearTimeout(w.timer);
      w.reject(err);
      this.#pending.delete(seq);
    }
  }
}
