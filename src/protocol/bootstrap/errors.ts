/** Errors of the bootstrap building blocks, each with a stable `code`. */
export const BootstrapErrorCode = {
  /** A SEC value or security name that is not known. */
  UnknownSecurity: 'BOOTSTRAP_UNKNOWN_SEC',
  /** Key material needed by the security type is missing or malformed (IMSI digits, PIN). */
  BadKeyMaterial: 'BOOTSTRAP_BAD_KEY',
  /** The content type or its SEC/MAC parameters cannot be read. */
  BadContentType: 'BOOTSTRAP_BAD_CONTENT_TYPE',
  /** A CP (Client Provisioning) document does not decode. */
  BadCpDocument: 'BOOTSTRAP_BAD_CP_DOCUMENT',
  /** A CP document has no usable w7 (DM) APPLICATION characteristic. */
  NoDmAccount: 'BOOTSTRAP_NO_DM_ACCOUNT',
  /** A smart-card source could not be read. */
  SmartCard: 'BOOTSTRAP_SMART_CARD',
} as const;
export type BootstrapErrorCode = (typeof BootstrapErrorCode)[keyof typeof BootstrapErrorCode];

export class BootstrapError extends Error {
  readonly code: BootstrapErrorCode;
  constructor(code: BootstrapErrorCode, message: string) {
    super(message);
    this.name = 'BootstrapError';
    this.code = code;
  }
}
