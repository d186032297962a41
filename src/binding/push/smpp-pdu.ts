/**
 * SMPP 3.4 PDU codec: just the operations an ESME transmitter needs
 * (bind_transmitter, submit_sm, enquire_link, unbind, generic_nack and their
 * responses). Header: command_length, command_id, command_status,
 * sequence_number — four big-endian 32-bit integers.
 */
import { PushError, PushErrorCode } from './errors.ts';

export const SmppCommand = {
  GenericNack: 0x80000000,
  BindTransmitter: 0x00000002,
  BindTransmitterResp: 0x80000002,
  SubmitSm: 0x00000004,
  SubmitSmResp: 0x80000004,
  Unbind: 0x00000006,
  UnbindResp: 0x80000006,
  EnquireLink: 0x00000015,
  EnquireLinkResp: 0x80000015,
} as const;

/** command_status values we produce or name in messages. */
export const SmppStatus = { Ok: 0x00000000, InvalidCommandId: 0x00000003 } as const;

export const SMPP_HEADER_BYTES = 16;
/** Largest PDU we accept from a peer; a submit_sm is < 400 bytes. */
export const MAX_SMPP_PDU_BYTES = 64 * 1024;

export interface SmppPdu {
  commandId: number;
  status: number;
  sequence: number;
  body: Uint8Array;
}

const te = new TextEncoder();
const td = new TextDecoder('latin1');

export function encodePdu(
  commandId: number,
  status: number,
  sequence: number,
  body: Uint8Array = new Uint8Array(0),
): Uint8Array {
  const out = new Uint8Array(SMPP_HEADER_BYTES + body.byteLength);
  const v = new DataView(out.buffer);
  v.setUint32(0, out.byteLength);
  v.setUint32(4, commandId >>> 0);
  v.setUint32(8, status >>> 0);
  v.setUint32(12, sequence >>> 0);
  out.set(body, SMPP_HEADER_BYTES);
  return out;
}

/** A C-Octet String field of at most `max` octets including the terminating NUL. */
function cstr(s: string, max: number, what: string): number[] {
  const b = [...te.encode(s)];
  if (b.includes(0) || b.length + 1 > max)
    throw new RangeError(`SMPP ${what} must be at most ${max - 1} octets without NUL`);
  return [...b, 0];
}

function u8(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 0 || n > 255) throw new RangeError(`SMPP ${what} must be 0..255`);
  return n;
}

export interface BindParams {
  systemId: string;
  password: string;
  systemType?: string;
  /** 0x34 for SMPP 3.4. */
  interfaceVersion?: number;
  addrTon?: number;
  addrNpi?: number;
  addressRange?: string;
}

export function encodeBindTransmitter(p: BindParams): Uint8Array {
  return Uint8Array.from([
    ...cstr(p.systemId, 16, 'system_id'),
    ...cstr(p.password, 9, 'password'),
    ...cstr(p.systemType ?? '', 13, 'system_type'),
    u8(p.interfaceVersion ?? 0x34, 'interface_version'),
    u8(p.addrTon ?? 0, 'addr_ton'),
    u8(p.addrNpi ?? 0, 'addr_npi'),
    ...cstr(p.addressRange ?? '', 41, 'address_range'),
  ]);
}

export interface SubmitSmParams {
  serviceType?: string;
  sourceAddrTon?: number;
  sourceAddrNpi?: number;
  sourceAddr?: string;
  destAddrTon: number;
  destAddrNpi: number;
  destinationAddr: string;
  /** 0x40 = UDHI (user data begins with a header). */
  esmClass: number;
  protocolId?: number;
  priorityFlag?: number;
  registeredDelivery?: number;
  /** 0x04 = 8-bit binary; 0xF5 = 8-bit, message class 1 (also common for WAP push). */
  dataCoding: number;
  shortMessage: Uint8Array;
}

export function encodeSubmitSm(p: SubmitSmParams): Uint8Array {
  if (p.shortMessage.byteLength > 254) throw new RangeError('SMPP short_message must be at most 254 octets');
  const head = [
    ...cstr(p.serviceType ?? '', 6, 'service_type'),
    u8(p.sourceAddrTon ?? 0, 'source_addr_ton'),
    u8(p.sourceAddrNpi ?? 0, 'source_addr_npi'),
    ...cstr(p.sourceAddr ?? '', 21, 'source_addr'),
    u8(p.destAddrTon, 'dest_addr_ton'),
    u8(p.destAddrNpi, 'dest_addr_npi'),
    ...cstr(p.destinationAddr, 21, 'destination_addr'),
    u8(p.esmClass, 'esm_class'),
    u8(p.protocolId ?? 0, 'protocol_id'),
    u8(p.priorityFlag ?? 0, 'priority_flag'),
    0, // schedule_delivery_time: immediate
    0, // validity_period: SMSC default
    u8(p.registeredDelivery ?? 0, 'registered_delivery'),
    0, // replace_if_present_flag
    u8(p.dataCoding, 'data_coding'),
    0, // sm_default_msg_id
    p.shortMessage.byteLength,
  ];
  const out = new Uint8Array(head.length + p.shortMessage.byteLength);
  out.set(head, 0);
  out.set(p.shortMessage, head.length);
  return out;
}

/** Reads the leading C-Octet String of a response body (system_id, message_id); '' when absent. */
export function readCString(body: Uint8Array, max = 65): string {
  const end = body.indexOf(0);
  const stop = end < 0 ? Math.min(body.byteLength, max) : Math.min(end, max);
  return td.decode(body.subarray(0, stop));
}

/**
 * Incremental framer: feed socket chunks, get whole PDUs. Rejects a
 * command_length below the header size or above the limit (a peer speaking
 * something else, or hostile).
 */
export class PduFramer {
  #buf: Uint8Array = new Uint8Array(0);

  push(chunk: Uint8Array): SmppPdu[] {
    const joined = new Uint8Array(this.#buf.byteLength + chunk.byteLength);
    joined.set(this.#buf, 0);
    joined.set(chunk, this.#buf.byteLength);
    const out: SmppPdu[] = [];
    let off = 0;
    while (joined.byteLength - off >= 4) {
      const v = new DataView(joined.buffer, joined.byteOffset + off);
      const len = v.getUint32(0);
      if (len < SMPP_HEADER_BYTES || len > MAX_SMPP_PDU_BYTES) {
        throw new PushError(PushErrorCode.Protocol, `SMPP command_length ${len} out of range`);
      }
      if (joined.byteLength - off < len) break;
      out.push({
        commandId: v.getUint32(4),
        status: v.getUint32(8),
        sequence: v.getUint32(12),
        body: joined.slice(off + SMPP_HEADER_BYTES, off + len),
      });
      off += len;
    }
    this.#buf = joined.slice(off);
    return out;
  }
}

export function hex32(n: number): string {
  return `0x${(n >>> 0).toString(16).padStart(8, '0')}`;
}
