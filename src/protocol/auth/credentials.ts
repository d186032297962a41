/**
 * syncml:auth-basic and syncml:auth-md5 (protocol.md §4.2).
 *
 * A server keeps, per account, only the "credential digest"
 * B64(MD5(name ":" secret)) — never the plaintext secret. Both MD5 and Basic
 * credentials can be verified from that digest, so every verify function here
 * takes the digest.
 */
import { b64decode, b64encode } from './base64.ts';
import { constantTimeEqual } from './compare.ts';
import { AuthError, AuthErrorCode } from './errors.ts';
import { COLON, md5, utf8 } from './md5.ts';

/** Limit on a received Cred `Data` (characters); real values are ≤ a few hundred. */
export const MAX_CRED_CHARS = 4096;

/**
 * The credential digest B64(MD5(name ":" secret)), 24 characters. This is
 * what a server stores instead of the client's secret; it is also the first
 * step of the MD5 and HMAC formulas.
 */
export function credentialDigest(name: string, secret: string): string {
  return b64encode(md5(utf8(`${name}:${secret}`)));
}

/** `Cred/Data` for syncml:auth-basic: B64(name ":" secret). */
export function basicCredential(name: string, secret: string): string {
  return b64encode(utf8(`${name}:${secret}`));
}

/** `Cred/Data` for syncml:auth-md5: B64(MD5(B64(MD5(name ":" secret)) ":" nonce)). */
export function md5Credential(name: string, secret: string, nonce: Uint8Array): string {
  return md5CredentialFromDigest(credentialDigest(name, secret), nonce);
}

/** `Cred/Data` for syncml:auth-md5 computed from a stored credential digest. */
export function md5CredentialFromDigest(digest: string, nonce: Uint8Array): string {
  return b64encode(md5(utf8(digest), COLON, nonce));
}

export interface VerifyMd5Options {
  /**
   * Also accept a credential computed over the nonce's base64 text instead
   * of its decoded octets (a known client mistake that the Motorola engine
   * tolerates, protocol.md §4.2 [INTEROP]). Default false.
   */
  acceptEncodedNonce?: boolean;
}

/**
 * Checks a received syncml:auth-md5 `Cred/Data` against the stored
 * credential digest and the nonce the verifier issued. Compares the decoded
 * 16 octets in constant time; anything undecodable is simply not valid.
 */
export function verifyMd5(
  digest: string,
  nonce: Uint8Array,
  received: string,
  options: VerifyMd5Options = {},
): boolean {
  const got = tryDecode(received);
  if (got?.byteLength !== 16) return false;
  const d = utf8(digest);
  let ok = constantTimeEqual(md5(d, COLON, nonce), got);
  if (options.acceptEncodedNonce) {
    // Evaluate both so the time taken does not tell which form matched.
    const alt = constantTimeEqual(md5(d, COLON, utf8(b64encode(nonce))), got);
    ok = ok || alt;
  }
  return ok;
}

/**
 * Checks a received syncml:auth-basic `Cred/Data` against the stored
 * credential digest: MD5 of the decoded "name:secret" must equal the digest.
 * When `expectedName` is given, the decoded value must also start with
 * `expectedName ":"` (binds the credential to the SyncHdr Source identity).
 */
export function verifyBasic(digest: string, received: string, expectedName?: string): boolean {
  const got = tryDecode(received);
  if (!got) return false;
  if (expectedName !== undefined) {
    const prefix = utf8(`${expectedName}:`);
    if (
      got.byteLength < prefix.byteLength ||
      !constantTimeEqual(got.subarray(0, prefix.byteLength), prefix)
    ) {
      return false;
    }
  }
  const want = tryDecode(digest);
  if (!want) return false;
  return constantTimeEqual(md5(got), want);
}

/**
 * Splits a received Basic credential into name and secret at the first ':'
 * (a secret may contain ':'; a name should not). Typed error when the value
 * is not base64 or has no ':'.
 */
export function parseBasicCredential(received: string): { name: string; secret: string } {
  const text = new TextDecoder('utf-8', { fatal: false }).decode(b64decode(received, MAX_CRED_CHARS));
  const i = text.indexOf(':');
  if (i < 0) throw new AuthError(AuthErrorCode.BadArgument, 'basic credential without ":"');
  return { name: text.slice(0, i), secret: text.slice(i + 1) };
}

function tryDecode(text: string): Uint8Array | undefined {
  try {
    return b64decode(text, MAX_CRED_CHARS);
  } catch {
    return undefined;
  }
}
