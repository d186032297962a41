/** Errors of the client product, with stable codes. Session failures keep the engine's SessionError as `cause`. */
export const ClientErrorCode = {
  /** No DMAcc account (for that ServerID). */
  NoAccount: 'OMADM_ERR_CLIENT_NO_ACCOUNT',
  /** A DMAcc account that cannot be used (no address, …). */
  BadAccount: 'OMADM_ERR_CLIENT_BAD_ACCOUNT',
  /** The client was closed. */
  Closed: 'OMADM_ERR_CLIENT_CLOSED',
  /** A bootstrap that does not verify, decode or install (nothing was installed). */
  Bootstrap: 'OMADM_ERR_CLIENT_BOOTSTRAP',
  /** Agent configuration missing or invalid. */
  Config: 'OMADM_ERR_CLIENT_CONFIG',
} as const;
export type ClientErrorCode = (typeof ClientErrorCode)[keyof typeof ClientErrorCode];

export class ClientError extends Error {
  readonly code: ClientErrorCode;
  constructor(code: ClientErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ClientError';
    this.code = code;
  }
}

/** A bootstrap whose MAC does not verify with the device's PIN/IMSI (code `Bootstrap`). */
export class BootstrapMacError extends ClientError {
  constructor(message: string) {
    super(ClientErrorCode.Bootstrap, message);
    this.name = 'BootstrapMacError';
  }
}
