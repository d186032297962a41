/**
 * Errors of the auth building blocks. Each has a stable `code` so callers can
 * branch on it (and log it) without matching message text. Verification
 * failures are NOT errors: verify functions return `false`; errors are for
 * input that cannot be understood at all (bad base64, unparsable header).
 */
export const AuthErrorCode = {
  /** A base64 value contains characters outside the standard alphabet, bad padding, or is too long. */
  BadBase64: 'AUTH_BAD_BASE64',
  /** An `x-syncml-hmac` header does not follow the grammar (missing username/mac, duplicates, bad quoting). */
  BadHmacHeader: 'AUTH_BAD_HMAC_HEADER',
  /** An `x-syncml-hmac` header names an algorithm other than MD5. */
  UnsupportedAlgorithm: 'AUTH_UNSUPPORTED_ALGORITHM',
  /** A credential type / AAuthType / AAuthLevel string is not known. */
  UnknownAuthType: 'AUTH_UNKNOWN_TYPE',
  /** An argument is out of range (e.g. nonce length). */
  BadArgument: 'AUTH_BAD_ARGUMENT',
} as const;
export type AuthErrorCode = (typeof AuthErrorCode)[keyof typeof AuthErrorCode];

export class AuthError extends Error {
  readonly code: AuthErrorCode;
  constructor(code: AuthErrorCode, message: string) {
    super(message);
    this.name = 'AuthError';
    this.code = code;
  }
}
