/**
 * Errors of the session layer. Failures to communicate at all (undecodable message, unknown
 * session, transport failure, auth given up) are exceptions with a stable `code`; outcomes of DM
 * commands are StatusCode values carried in `<Status>`, never exceptions.
 */
export const SessionErrorCode = {
  /** A received message cannot be decoded (the codec's error is the `cause`). */
  Decode: 'OMADM_ERR_SESSION_DECODE',
  /** The content type is not a SyncML DM/DS media type. */
  ContentType: 'OMADM_ERR_SESSION_CONTENT_TYPE',
  /** A message names a session the server does not know (or one that expired). */
  UnknownSession: 'OMADM_ERR_SESSION_UNKNOWN',
  /** A message for a session came from a party other than the authenticated one. */
  Hijack: 'OMADM_ERR_SESSION_HIJACK',
  /** MsgID out of order. */
  MsgIdOrder: 'OMADM_ERR_SESSION_MSGID',
  /** The session state was changed concurrently by another request/process. */
  Conflict: 'OMADM_ERR_SESSION_CONFLICT',
  /** Authentication failed and the bounded number of retries is used up. */
  AuthFailed: 'OMADM_ERR_SESSION_AUTH_FAILED',
  /** The peer did not authenticate itself as required. */
  PeerAuthFailed: 'OMADM_ERR_SESSION_PEER_AUTH_FAILED',
  /** The peer aborted the session (Alert 1223) or sent something that ends it. */
  Aborted: 'OMADM_ERR_SESSION_ABORTED',
  /** A limit (messages, duration, size) was exceeded. */
  Limit: 'OMADM_ERR_SESSION_LIMIT',
  /** The peer broke the protocol in a way that cannot be answered with a Status. */
  Protocol: 'OMADM_ERR_SESSION_PROTOCOL',
  /** The session is already over. */
  Closed: 'OMADM_ERR_SESSION_CLOSED',
  /** The transport failed (network, HTTP status, timeout) after its retries. */
  Transport: 'OMADM_ERR_SESSION_TRANSPORT',
  /** Too many failed authentications from this source: retry later (HTTP 429, Retry-After). */
  RateLimited: 'OMADM_ERR_SESSION_RATE_LIMITED',
} as const;
export type SessionErrorCode = (typeof SessionErrorCode)[keyof typeof SessionErrorCode];

export class SessionError extends Error {
  readonly code: SessionErrorCode;
  /** A SyncML status code that describes the failure, where one applies. */
  readonly status: number | undefined;
  /** For `RateLimited`: when the peer may try again (ms). */
  readonly retryAfterMs: number | undefined;
  constructor(
    code: SessionErrorCode,
    message: string,
    options: { status?: number; cause?: unknown; retryAfterMs?: number } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SessionError';
    this.code = code;
    this.status = options.status;
    this.retryAfterMs = options.retryAfterMs;
  }
}
