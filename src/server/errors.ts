/**
 * Errors of the operator API, as a table: each has a stable `code`, the HTTP status the client
 * sees and a default message. Every error response has the body
 * `{ "error": { "code": "…", "message": "…", "details"?: … } }` (docs/api.md, "Errors").
 */

export const ApiErrorCode = {
  /** The request does not match the schema (body, query or path parameter). */
  Validation: 'validation',
  /** The body is not valid JSON, or has a content type other than JSON. */
  BadBody: 'bad_body',
  /** No `Authorization: Bearer` token, or an unknown/revoked one. */
  Unauthorized: 'unauthorized',
  /** The token's role may not do this. */
  Forbidden: 'forbidden',
  /** No such device, command, session, group or token. */
  NotFound: 'not_found',
  /** A device with that DevId already exists (or another uniqueness rule). */
  Conflict: 'conflict',
  /** The request is well-formed but cannot be carried out (a command that makes no sense). */
  Unprocessable: 'unprocessable',
  /** The body is larger than the limit. */
  TooLarge: 'too_large',
  /** Unknown route. */
  NoRoute: 'no_route',
  /** The notification bearer could not deliver Package 0 (SMSC/PPG/SIP unreachable, timeout…). */
  NotifyFailed: 'notify_failed',
  /** The storage backend failed; the request may be retried. */
  Unavailable: 'unavailable',
  /** A bug. Logged with the request id. */
  Internal: 'internal',
} as const;
export type ApiErrorCode = (typeof ApiErrorCode)[keyof typeof ApiErrorCode];

/** HTTP status of each code. */
export const apiErrorStatus: Readonly<Record<ApiErrorCode, number>> = {
  validation: 400,
  bad_body: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  unprocessable: 422,
  too_large: 413,
  no_route: 404,
  notify_failed: 502,
  unavailable: 503,
  internal: 500,
};

/** An error the API answers with its table status and a JSON body. */
export class ApiError extends Error {
  readonly code: ApiErrorCode;
  readonly statusCode: number;
  readonly details: unknown;
  constructor(code: ApiErrorCode, message: string, details?: unknown) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.statusCode = apiErrorStatus[code];
    this.details = details;
  }
}

/** The JSON body of an error response. */
export interface ApiErrorBody {
  readonly error: { readonly code: string; readonly message: string; readonly details?: unknown };
}

export function errorBody(code: string, message: string, details?: unknown): ApiErrorBody {
  return { error: details === undefined ? { code, message } : { code, message, details } };
}
