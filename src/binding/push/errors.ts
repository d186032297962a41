/**
 * Failures to communicate with a push bearer's next hop. An explicit refusal
 * by the peer (SMPP error status, SIP 4xx, PAP error code) is NOT an error:
 * it comes back as `DeliveryResult.accepted === false`.
 */
export const PushErrorCode = {
  /** The target address is not valid for this bearer. */
  BadTarget: 'PUSH_BAD_TARGET',
  /** The payload does not fit the bearer (e.g. more than 255 SMS segments). */
  TooLarge: 'PUSH_TOO_LARGE',
  /** No answer within the configured time. */
  Timeout: 'PUSH_TIMEOUT',
  /** Connection refused, reset or closed early. */
  Connection: 'PUSH_CONNECTION',
  /** The peer spoke something we could not understand. */
  Protocol: 'PUSH_PROTOCOL',
  /** Bytes received from the air (WSP/UDH) that do not decode. */
  BadEncoding: 'PUSH_BAD_ENCODING',
  /** The bearer was closed. */
  Closed: 'PUSH_CLOSED',
} as const;
export type PushErrorCode = (typeof PushErrorCode)[keyof typeof PushErrorCode];

export class PushError extends Error {
  readonly code: PushErrorCode;
  constructor(code: PushErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PushError';
    this.code = code;
  }
}
