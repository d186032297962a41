/**
 * The values of a `Chal` (challenge) element as plain data: the SyncML
 * model/codec owns the element itself. Names follow MetInf.
 */
import { AuthError, AuthErrorCode } from './errors.ts';
import { decodeNonce, encodeNonce } from './nonce.ts';
import { type AuthScheme, parseAuthScheme } from './types.ts';

export interface ChalMeta {
  /** `Meta/Type`, e.g. `syncml:auth-md5`. */
  Type: AuthScheme;
  /** `Meta/Format`: always `b64` for DM challenges. */
  Format: 'b64';
  /** `Meta/NextNonce` (base64 text); present for md5 and MAC, optional for basic. */
  NextNonce?: string;
}

/** The Chal values to send for a scheme, with the nonce the peer must use next. */
export function buildChal(type: AuthScheme, nonce?: Uint8Array): ChalMeta {
  const chal: ChalMeta = { Type: type, Format: 'b64' };
  if (nonce) chal.NextNonce = encodeNonce(nonce);
  return chal;
}

export interface ParsedChal {
  type: AuthScheme;
  /** Decoded nonce octets, when a NextNonce was present. */
  nonce?: Uint8Array;
}

/**
 * Reads received Chal values liberally (Type case-insensitive; Format may be
 * absent; NextNonce decoded when Format is b64 or absent, taken as text
 * otherwise). Typed error for an unknown Type or a non-base64 NextNonce.
 */
export function parseChal(meta: { Type?: string; Format?: string; NextNonce?: string }): ParsedChal {
  const type = meta.Type === undefined ? undefined : parseAuthScheme(meta.Type);
  if (!type) throw new AuthError(AuthErrorCode.UnknownAuthType, `unknown Chal type ${meta.Type ?? '(none)'}`);
  const out: ParsedChal = { type };
  if (meta.NextNonce !== undefined) {
    const format = (meta.Format ?? 'b64').trim().toLowerCase();
    out.nonce = format === 'b64' ? decodeNonce(meta.NextNonce) : new TextEncoder().encode(meta.NextNonce);
  }
  return out;
}
