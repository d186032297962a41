/**
 * syncml:auth-MAC: the `x-syncml-hmac` transport header (protocol.md §4.4).
 *
 *   mac = B64(MD5( B64(MD5(name ":" secret)) ":" nonce ":" B64(MD5(body)) ))
 *
 * Not RFC 2104 HMAC despite the name. `body` is the exact bytes of the HTTP
 * (or WSP/OBEX) body as sent, XML or WBXML.
 *
 * Sending is strict: `algorithm=MD5, username="…", mac=…`. Receiving is
 * liberal: any parameter order, optional spaces, quoted or unquoted values,
 * case-insensitive parameter names, unknown parameters ignored; missing
 * username or mac, a repeated parameter or broken quoting are errors.
 */
import { b64decode, b64encode } from './base64.ts';
import { constantTimeEqual } from './compare.ts';
import { AuthError, AuthErrorCode } from './errors.ts';
import { COLON, md5, utf8 } from './md5.ts';

/** The header name, lower-case as HTTP/2 and WSP carry it. */
export const HMAC_HEADER = 'x-syncml-hmac';

/** Longest header value we parse. */
export const MAX_HMAC_HEADER_CHARS = 8192;

export interface HmacHeader {
  /** As received, upper-cased; `MD5` when the parameter was absent (its default). */
  algorithm: string;
  /** Identity of the sender: the `LocName` of the SyncHdr Source. */
  username: string;
  /** The mac value as received (base64 text). */
  mac: string;
}

/** B64(MD5(body)). */
export function bodyHash(body: Uint8Array): string {
  return b64encode(md5(body));
}

/** The `mac` value for a message body, from the sender's credential digest and the receiver's nonce. */
export function hmacMac(digest: string, nonce: Uint8Array, body: Uint8Array): string {
  return b64encode(md5(utf8(digest), COLON, nonce, COLON, utf8(bodyHash(body))));
}

export interface BuildHmacHeaderInput {
  username: string;
  /** Credential digest B64(MD5(username ":" secret)); see `credentialDigest`. */
  digest: string;
  nonce: Uint8Array;
  body: Uint8Array;
}

/** The `x-syncml-hmac` header value for an outgoing message. */
export function buildHmacHeader(input: BuildHmacHeaderInput): string {
  return formatHmacHeader({
    algorithm: 'MD5',
    username: input.username,
    mac: hmacMac(input.digest, input.nonce, input.body),
  });
}

/** Serialises header fields strictly (quoted username, MD5 algorithm first). */
export function formatHmacHeader(h: HmacHeader): string {
  // Header injection guard: no control characters may reach a header line.
  if (/[\u0000-\u001f\u007f]/.test(h.username)) {
    throw new AuthError(AuthErrorCode.BadArgument, 'username contains control characters');
  }
  if (!/^[A-Za-z0-9+/=]+$/.test(h.mac)) throw new AuthError(AuthErrorCode.BadArgument, 'mac is not base64');
  if (!/^[A-Za-z0-9-]+$/.test(h.algorithm)) throw new AuthError(AuthErrorCode.BadArgument, 'bad algorithm');
  const user = h.username.replace(/[\\"]/g, (c) => `\\${c}`);
  return `algorithm=${h.algorithm}, username="${user}", mac=${h.mac}`;
}

/** Parses a received `x-syncml-hmac` value (liberal; typed `AuthError` on malformed input). */
export function parseHmacHeader(value: string): HmacHeader {
  if (value.length > MAX_HMAC_HEADER_CHARS) {
    throw new AuthError(AuthErrorCode.BadHmacHeader, 'x-syncml-hmac header too long');
  }
  const params = new Map<string, string>();
  let i = 0;
  const n = value.length;
  const skipWs = () => {
    while (i < n && (value[i] === ' ' || value[i] === '\t')) i++;
  };
  while (i < n) {
    skipWs();
    if (value[i] === ',') {
      i++; // empty list element, allowed by #rule
      continue;
    }
    if (i >= n) break;
    const keyStart = i;
    while (i < n && value[i] !== '=' && value[i] !== ',' && value[i] !== ' ' && value[i] !== '\t') i++;
    const key = value.slice(keyStart, i).toLowerCase();
    skipWs();
    if (key === '' || value[i] !== '=') {
      throw new AuthError(AuthErrorCode.BadHmacHeader, `x-syncml-hmac: expected name=value at ${keyStart}`);
    }
    i++;
    skipWs();
    let val: string;
    if (value[i] === '"') {
      i++;
      let out = '';
      let closed = false;
      while (i < n) {
        const c = value[i++]!;
        if (c === '\\' && i < n) out += value[i++];
        else if (c === '"') {
          closed = true;
          break;
        } else out += c;
      }
      if (!closed)
        throw new AuthError(AuthErrorCode.BadHmacHeader, 'x-syncml-hmac: unterminated quoted string');
      val = out;
      skipWs();
      if (i < n && value[i] !== ',') {
        throw new AuthError(AuthErrorCode.BadHmacHeader, 'x-syncml-hmac: text after quoted string');
      }
    } else {
      const start = i;
      while (i < n && value[i] !== ',') i++;
      val = value.slice(start, i).trim();
    }
    if (params.has(key)) throw new AuthError(AuthErrorCode.BadHmacHeader, `x-syncml-hmac: repeated ${key}`);
    params.set(key, val);
  }
  const username = params.get('username');
  const mac = params.get('mac');
  if (username === undefined) throw new AuthError(AuthErrorCode.BadHmacHeader, 'x-syncml-hmac: no username');
  if (mac === undefined || mac === '')
    throw new AuthError(AuthErrorCode.BadHmacHeader, 'x-syncml-hmac: no mac');
  const algorithm = (params.get('algorithm') ?? 'MD5').toUpperCase();
  return { algorithm, username, mac };
}

export interface VerifyHmacOptions {
  /** When given, the header's username must equal it (the SyncHdr Source LocName). */
  expectedUsername?: string;
}

/**
 * Checks a received message: `header` (raw value or parsed) must carry the
 * mac of `body` under the sender's credential `digest` and the nonce the
 * receiver issued. Returns false for a wrong mac, a malformed header, an
 * algorithm other than MD5, or an unexpected username.
 */
export function verifyHmac(
  digest: string,
  nonce: Uint8Array,
  body: Uint8Array,
  header: string | HmacHeader,
  options: VerifyHmacOptions = {},
): boolean {
  let h: HmacHeader;
  try {
    h = typeof header === 'string' ? parseHmacHeader(header) : header;
  } catch {
    return false;
  }
  if (h.algorithm.toUpperCase() !== 'MD5') return false;
  if (options.expectedUsername !== undefined && h.username !== options.expectedUsername) return false;
  let got: Uint8Array;
  try {
    got = b64decode(h.mac, 256);
  } catch {
    return false;
  }
  if (got.byteLength !== 16) return false;
  const want = md5(utf8(digest), COLON, nonce, COLON, utf8(bodyHash(body)));
  return constantTimeEqual(want, got);
}
