/**
 * DM-level authentication building blocks (protocol.md §4): pure functions,
 * no transport, no state. Session engines hold nonces and digests and call
 * these. See docs/security.md.
 */
export { b64decode, b64encode, MAX_BASE64_CHARS } from './base64.ts';
export { buildChal, type ChalMeta, type ParsedChal, parseChal } from './chal.ts';
export { constantTimeEqual } from './compare.ts';
export {
  basicCredential,
  credentialDigest,
  MAX_CRED_CHARS,
  md5Credential,
  md5CredentialFromDigest,
  parseBasicCredential,
  type VerifyMd5Options,
  verifyBasic,
  verifyMd5,
} from './credentials.ts';
export { AuthError, AuthErrorCode } from './errors.ts';
export {
  type BuildHmacHeaderInput,
  bodyHash,
  buildHmacHeader,
  formatHmacHeader,
  HMAC_HEADER,
  type HmacHeader,
  hmacMac,
  MAX_HMAC_HEADER_CHARS,
  parseHmacHeader,
  type VerifyHmacOptions,
  verifyHmac,
} from './hmac.ts';
export {
  decodeNonce,
  encodeNonce,
  fallbackNonce,
  MAX_NONCE_BYTES,
  NONCE_BYTES,
  newNonce,
  notificationNonceCandidates,
} from './nonce.ts';
export {
  AAuthLevel,
  AAuthType,
  AuthScheme,
  aauthTypeForScheme,
  parseAAuthLevel,
  parseAAuthType,
  parseAuthScheme,
  schemeForAAuthType,
} from './types.ts';
