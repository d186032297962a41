/**
 * mb_u_int32 (WBXML 1.3 §5.1): big-endian base-128, continuation bit 0x80 on every byte but the
 * last. At most 5 bytes and 32 bits; longer or larger encodings are hostile and rejected.
 */
import { WbxmlError } from './errors.ts';

/** Largest value an mb_u_int32 carries. */
export const MB_UINT32_MAX = 0xffffffff;

/** Reads an mb_u_int32 at `pos`; returns the value, and the new position in `out.pos`. */
export function readMbUint32(bytes: Uint8Array, pos: number, out: { pos: number }): number {
  let value = 0;
  const end = bytes.length;
  for (let i = 0; i < 5; i++) {
    if (pos >= end) throw new WbxmlError('wbxml.truncated', 'input ends inside an mb_u_int32', pos);
    const b = bytes[pos++]!;
    // 2^25 * 128 stays exact in a double; check before the last shift overflows 32 bits.
    value = value * 128 + (b & 0x7f);
    if ((b & 0x80) === 0) {
      if (value > MB_UINT32_MAX) throw new WbxmlError('wbxml.mbuint', 'mb_u_int32 exceeds 32 bits', pos - 1);
      out.pos = pos;
      return value;
    }
  }
  throw new WbxmlError('wbxml.mbuint', 'mb_u_int32 longer than 5 bytes', pos - 1);
}

/** Number of bytes `value` takes as an mb_u_int32. */
export function mbUint32Length(value: number): number {
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x200000) return 3;
  if (value < 0x10000000) return 4;
  return 5;
}

/** Writes `value` (an integer in 0…2^32−1) at `pos`; returns the position after it. */
export function writeMbUint32(buf: Uint8Array, pos: number, value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > MB_UINT32_MAX) {
    throw new RangeError(`mb_u_int32 out of range: ${value}`);
  }
  const n = mbUint32Length(value);
  let p = pos + n - 1;
  buf[p] = value & 0x7f;
  let v = Math.floor(value / 128);
  while (p > pos) {
    buf[--p] = 0x80 | (v & 0x7f);
    v = Math.floor(v / 128);
  }
  return pos + n;
}
