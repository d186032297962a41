import { createHash } from 'node:crypto';

const encoder = new TextEncoder();

/** UTF-8 bytes of a string (names and secrets are text; DM uses UTF-8). */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** MD5 of the concatenation of the parts (16 raw bytes). */
export function md5(...parts: readonly Uint8Array[]): Uint8Array {
  const h = createHash('md5');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

/** The ASCII ':' separator of the DM formulas. */
export const COLON: Uint8Array = Uint8Array.of(0x3a);
