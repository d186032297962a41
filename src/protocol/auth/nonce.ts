/**
 * Nonces. On the wire a nonce is base64 text (`NextNonce`, Format b64); the
 * formulas use the decoded octets (protocol.md §4.2). So nonces are bytes
 * everywhere in this API; `encodeNonce`/`decodeNonce` convert at the edge.
 */
import { randomBytes } from 'node:crypto';
import { b64decode, b64encode } from './base64.ts';
import { AuthError, AuthErrorCode } from './errors.ts';
import { utf8 } from './md5.ts';

/** Recommended nonce size: 128 bits. */
export const NONCE_BYTES = 16;

/** Largest nonce we accept from a peer (decoded bytes); real nonces are 4–64 bytes. */
export const MAX_NONCE_BYTES = 1024;

/** A fresh, unpredictable nonce (16 random octets unless told otherwise; at least 8). */
export function newNonce(bytes: number = NONCE_BYTES): Uint8Array {
  if (!Number.isInteger(bytes) || bytes < 8 || bytes > MAX_NONCE_BYTES) {
    throw new AuthError(AuthErrorCode.BadArgument, `nonce size must be 8..${MAX_NONCE_BYTES} bytes`);
  }
  return new Uint8Array(randomBytes(bytes));
}

/** The `NextNonce` text for a nonce (standard base64, padded). */
export function encodeNonce(nonce: Uint8Array): string {
  return b64encode(nonce);
}

/** The nonce octets of a received `NextNonce` (liberal base64; typed error when not base64). */
export function decodeNonce(nextNonce: string): Uint8Array {
  const bytes = b64decode(nextNonce, Math.ceil((MAX_NONCE_BYTES * 4) / 3) + 64);
  if (bytes.byteLength > MAX_NONCE_BYTES) {
    throw new AuthError(AuthErrorCode.BadArgument, 'nonce too long');
  }
  return bytes;
}

/**
 * The Package 0 re-synchronisation nonce "0x00000000" as we send it: four
 * zero octets (base64 `AAAAAA==`), protocol.md §5.2.
 */
export function fallbackNonce(): Uint8Array {
  return new Uint8Array(4);
}

/**
 * Nonces a client tries, in order, to verify a Package 0 digest: the stored
 * SRVCRED nonce, then the fallback nonce in the byte forms peers use (four
 * 0x00; the text `AAAAAA==` as Motorola also tries; the ASCII text
 * `0x00000000` as libdmclient uses).
 */
export function notificationNonceCandidates(stored: Uint8Array | undefined): Uint8Array[] {
  const out: Uint8Array[] = [];
  if (stored) out.push(stored);
  out.push(fallbackNonce(), utf8('AAAAAA=='), utf8('0x00000000'));
  return out;
}
