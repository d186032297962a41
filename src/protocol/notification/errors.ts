/** Errors of Package 0 decoding/encoding, each with a stable `code`. */
export const NotificationErrorCode = {
  /** Fewer bytes than the fixed header plus the announced server identifier. */
  Truncated: 'PKG0_TRUNCATED',
  /** Larger than any real trigger (hostile input bound). */
  TooLarge: 'PKG0_TOO_LARGE',
  /** Server identifier empty or not valid UTF-8. */
  BadServerId: 'PKG0_BAD_SERVER_ID',
  /** A value given to the builder does not fit its field (version > 1023, session id > 0xFFFF, …). */
  BadField: 'PKG0_BAD_FIELD',
} as const;
export type NotificationErrorCode = (typeof NotificationErrorCode)[keyof typeof NotificationErrorCode];

export class NotificationError extends Error {
  readonly code: NotificationErrorCode;
  constructor(code: NotificationErrorCode, message: string) {
    super(message);
    this.name = 'NotificationError';
    this.code = code;
  }
}
