/**
 * Base64 as the DM security formulas use it: standard alphabet (RFC 4648 §4),
 * with padding on send. On receive we are liberal where peers differ in
 * harmless ways (missing padding, line breaks/spaces from XML pretty-printing)
 * and strict where leniency would be unsafe (foreign characters are an error,
 * not silently dropped as `Buffer.from(s, 'base64')` would do).
 */
import { AuthError, AuthErrorCode } from './errors.ts';

const ALPHABET = /^[A-Za-z0-9+/]*$/;
const WHITESPACE = /[\t\n\r ]+/g;

/** Default upper bound for decoded input (characters), so hostile input cannot make us allocate much. */
export const MAX_BASE64_CHARS = 64 * 1024;

/** Standard base64 with padding. */
export function b64encode(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/**
 * Decodes standard base64. Accepts missing padding and embedded ASCII
 * whitespace; rejects any other character, misplaced `=`, an impossible
 * length (1 mod 4), or input longer than `maxChars`.
 */
export function b64decode(text: string, maxChars: number = MAX_BASE64_CHARS): Uint8Array {
  if (text.length > maxChars) {
    throw new AuthError(AuthErrorCode.BadBase64, `base64 value longer than ${maxChars} characters`);
  }
  const compact = text.replace(WHITESPACE, '');
  let body = compact;
  let pad = 0;
  while (pad < 2 && body.endsWith('=')) {
    body = body.slice(0, -1);
    pad++;
  }
  if (!ALPHABET.test(body)) throw new AuthError(AuthErrorCode.BadBase64, 'invalid base64 character');
  const rem = body.length % 4;
  if (rem === 1) throw new AuthError(AuthErrorCode.BadBase64, 'invalid base64 length');
  // Padding, when present, must complete the last quantum exactly.
  if (pad > 0 && (body.length + pad) % 4 !== 0) {
    throw new AuthError(AuthErrorCode.BadBase64, 'invalid base64 padding');
  }
  return new Uint8Array(Buffer.from(body, 'base64'));
}
