/**
 * WDP over GSM SMS (WAP-259, 3GPP TS 23.040 §9.2.3.24): the user data
 * header (UDH) with 16-bit application port addressing and, when the WSP PDU
 * does not fit one message, concatenation. Each returned unit is a complete
 * TP-User-Data for an 8-bit SMS with the UDHI bit set (≤ 140 octets).
 */
import { PushError, PushErrorCode } from './errors.ts';

/** WAP connectionless push port (unsecure), protocol.md §5.4. */
export const WAP_PUSH_PORT = 2948;
/** Originator port of the spec example; any value is allowed. */
export const DEFAULT_SOURCE_PORT = 0xc002;
/** TP-User-Data capacity of one 8-bit SMS. */
export const SMS_USER_DATA_BYTES = 140;

/** UDH information element ids. */
export const UdhIe = { Concat8: 0x00, Concat16: 0x08, Port8: 0x04, Port16: 0x05 } as const;

export interface WdpSmsOptions {
  destinationPort?: number;
  sourcePort?: number;
  /** Concatenation reference (0..255, or 0..65535 with `concat16`); pick a new one per message. */
  reference?: number;
  /** Use the 16-bit-reference concatenation IE (0x08) instead of 0x00. */
  concat16?: boolean;
}

function port(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 0 || n > 0xffff) throw new RangeError(`${what} must be 0..65535`);
  return n;
}

/**
 * Splits a WDP payload (the WSP push PDU) into SMS user-data units, each
 * UDHL | port IE | [concat IE] | data.
 */
export function segmentWdpSms(payload: Uint8Array, options: WdpSmsOptions = {}): Uint8Array[] {
  const dst = port(options.destinationPort ?? WAP_PUSH_PORT, 'destination port');
  const src = port(options.sourcePort ?? DEFAULT_SOURCE_PORT, 'source port');
  const portIe = [UdhIe.Port16, 4, dst >> 8, dst & 0xff, src >> 8, src & 0xff];
  const single = SMS_USER_DATA_BYTES - 1 - portIe.length;
  if (payload.byteLength <= single) {
    const out = new Uint8Array(1 + portIe.length + payload.byteLength);
    out[0] = portIe.length;
    out.set(portIe, 1);
    out.set(payload, 1 + portIe.length);
    return [out];
  }
  const concatLen = options.concat16 ? 6 : 5;
  const per = SMS_USER_DATA_BYTES - 1 - portIe.length - concatLen;
  const total = Math.ceil(payload.byteLength / per);
  if (total > 255) throw new PushError(PushErrorCode.TooLarge, `payload needs ${total} SMS, more than 255`);
  const ref = options.reference ?? 0;
  const refMax = options.concat16 ? 0xffff : 0xff;
  if (!Number.isInteger(ref) || ref < 0 || ref > refMax)
    throw new RangeError(`reference must be 0..${refMax}`);
  const parts: Uint8Array[] = [];
  for (let i = 0; i < total; i++) {
    const chunk = payload.subarray(i * per, (i + 1) * per);
    const concatIe = options.concat16
      ? [UdhIe.Concat16, 4, ref >> 8, ref & 0xff, total, i + 1]
      : [UdhIe.Concat8, 3, ref, total, i + 1];
    const udh = [...portIe, ...concatIe];
    const out = new Uint8Array(1 + udh.length + chunk.byteLength);
    out[0] = udh.length;
    out.set(udh, 1);
    out.set(chunk, 1 + udh.length);
    parts.push(out);
  }
  return parts;
}

export interface UserDataHeader {
  /** All information elements in order. */
  elements: { id: number; data: Uint8Array }[];
  ports?: { destination: number; source: number };
  concat?: { reference: number; total: number; sequence: number };
  /** The user data after the header. */
  payload: Uint8Array;
}

/** Parses TP-User-Data that starts with a UDH (UDHI set). Typed error on malformed headers. */
export function parseUserDataHeader(ud: Uint8Array): UserDataHeader {
  const bad = (m: string): never => {
    throw new PushError(PushErrorCode.BadEncoding, `UDH: ${m}`);
  };
  if (ud.byteLength < 1) bad('empty user data');
  const udhl = ud[0]!;
  if (1 + udhl > ud.byteLength) bad('header longer than user data');
  const elements: UserDataHeader['elements'] = [];
  const h: UserDataHeader = { elements, payload: ud.slice(1 + udhl) };
  let i = 1;
  while (i < 1 + udhl) {
    if (i + 2 > 1 + udhl) bad('truncated element');
    const id = ud[i]!;
    const len = ud[i + 1]!;
    if (i + 2 + len > 1 + udhl) bad('element longer than header');
    const data = ud.slice(i + 2, i + 2 + len);
    elements.push({ id, data });
    if (id === UdhIe.Port16 && len === 4) {
      h.ports = { destination: (data[0]! << 8) | data[1]!, source: (data[2]! << 8) | data[3]! };
    } else if (id === UdhIe.Port8 && len === 2) h.ports = { destination: data[0]!, source: data[1]! };
    else if (id === UdhIe.Concat8 && len === 3)
      h.concat = { reference: data[0]!, total: data[1]!, sequence: data[2]! };
    else if (id === UdhIe.Concat16 && len === 4) {
      h.concat = { reference: (data[0]! << 8) | data[1]!, total: data[2]!, sequence: data[3]! };
    }
    i += 2 + len;
  }
  if (h.concat && (h.concat.total === 0 || h.concat.sequence === 0 || h.concat.sequence > h.concat.total)) {
    bad('concatenation sequence out of range');
  }
  return h;
}

export interface ReassemblerOptions {
  /** How long an incomplete message is kept (ms); default 5 minutes. */
  timeoutMs?: number;
  /** Most incomplete messages kept at once; default 64. */
  maxPending?: number;
  now?: () => number;
}

/**
 * Device side: collects concatenated SMS segments (keyed by originator,
 * reference and total) and returns the WDP payload with its ports once all
 * parts arrived. Bounded in entries and time.
 */
export class SmsReassembler {
  readonly #timeoutMs: number;
  readonly #maxPending: number;
  readonly #now: () => number;
  readonly #pending = new Map<
    string,
    { at: number; parts: (Uint8Array | undefined)[]; ports?: UserDataHeader['ports'] }
  >();

  constructor(options: ReassemblerOptions = {}) {
    this.#timeoutMs = options.timeoutMs ?? 5 * 60_000;
    this.#maxPending = options.maxPending ?? 64;
    this.#now = options.now ?? Date.now;
  }

  /** Feeds one SMS user data (with UDH); returns the complete payload when this was the last missing part. */
  push(
    originator: string,
    ud: Uint8Array,
  ): { payload: Uint8Array; ports?: UserDataHeader['ports'] } | undefined {
    const h = parseUserDataHeader(ud);
    if (!h.concat) return { payload: h.payload, ports: h.ports };
    const now = this.#now();
    for (const [k, v] of this.#pending) if (now - v.at >= this.#timeoutMs) this.#pending.delete(k);
    const key = `${originator}\u0000${h.concat.reference}\u0000${h.concat.total}`;
    let entry = this.#pending.get(key);
    if (!entry) {
      entry = { at: now, parts: new Array(h.concat.total).fill(undefined) };
      this.#pending.set(key, entry);
      while (this.#pending.size > this.#maxPending)
        this.#pending.delete(this.#pending.keys().next().value as string);
    }
    entry.parts[h.concat.sequence - 1] = h.payload;
    entry.ports ??= h.ports;
    if (entry.parts.some((p) => p === undefined)) return undefined;
    this.#pending.delete(key);
    const parts = entry.parts as Uint8Array[];
    const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.byteLength;
    }
    return { payload: out, ports: entry.ports };
  }
}
