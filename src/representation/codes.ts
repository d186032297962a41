/**
 * SyncML DM status and alert codes (protocol.md §3.4–§3.6) as frozen data with derived types.
 * Command outcomes are StatusCode values, not exceptions.
 */

/** Status codes carried in `Status/Data`. */
export const StatusCode = {
  InProgress: 101,
  Ok: 200,
  ItemAdded: 201,
  AcceptedForProcessing: 202,
  NonAuthoritativeResponse: 203,
  NoContent: 204,
  ResetContent: 205,
  PartialContent: 206,
  ConflictResolvedWithMerge: 207,
  ConflictResolvedWithClientWinning: 208,
  ConflictResolvedWithDuplicate: 209,
  DeleteWithoutArchive: 210,
  ItemNotDeleted: 211,
  AuthenticationAccepted: 212,
  ChunkedItemAccepted: 213,
  OperationCancelled: 214,
  NotExecuted: 215,
  AtomicRollbackOk: 216,
  MultipleChoices: 300,
  MovedPermanently: 301,
  Found: 302,
  SeeOther: 303,
  NotModified: 304,
  UseProxy: 305,
  BadRequest: 400,
  InvalidCredentials: 401,
  PaymentRequired: 402,
  Forbidden: 403,
  NotFound: 404,
  CommandNotAllowed: 405,
  OptionalFeatureNotSupported: 406,
  MissingCredentials: 407,
  RequestTimeout: 408,
  Conflict: 409,
  Gone: 410,
  SizeRequired: 411,
  IncompleteCommand: 412,
  RequestEntityTooLarge: 413,
  UriTooLong: 414,
  UnsupportedMediaTypeOrFormat: 415,
  RequestedSizeTooBig: 416,
  RetryLater: 417,
  AlreadyExists: 418,
  ConflictResolvedWithServerData: 419,
  DeviceFull: 420,
  UnknownSearchGrammar: 421,
  BadCgiScript: 422,
  SoftDeleteConflict: 423,
  SizeMismatch: 424,
  PermissionDenied: 425,
  CommandFailed: 500,
  CommandNotImplemented: 501,
  BadGateway: 502,
  ServiceUnavailable: 503,
  GatewayTimeout: 504,
  DtdVersionNotSupported: 505,
  ProcessingError: 506,
  AtomicFailed: 507,
  RefreshRequired: 508,
  DataStoreFailure: 510,
  ServerFailure: 511,
  SynchronizationFailed: 512,
  ProtocolVersionNotSupported: 513,
  OperationCancelledServer: 514,
  AtomicRollbackFailed: 516,
  AtomicResponseTooLarge: 517,
} as const;
export type StatusCode = (typeof StatusCode)[keyof typeof StatusCode];

const STATUS_MEANING: Readonly<Record<StatusCode, string>> = {
  101: 'In progress',
  200: 'OK',
  201: 'Item added',
  202: 'Accepted for processing',
  203: 'Non-authoritative response',
  204: 'No content',
  205: 'Reset content',
  206: 'Partial content',
  207: 'Conflict resolved with merge',
  208: 'Conflict resolved with client winning',
  209: 'Conflict resolved with duplicate',
  210: 'Delete without archive',
  211: 'Item not deleted',
  212: 'Authentication accepted',
  213: 'Chunked item accepted and buffered',
  214: 'Operation cancelled',
  215: 'Not executed',
  216: 'Atomic roll back OK',
  300: 'Multiple choices',
  301: 'Moved permanently',
  302: 'Found',
  303: 'See other',
  304: 'Not modified',
  305: 'Use proxy',
  400: 'Bad request',
  401: 'Invalid credentials',
  402: 'Payment required',
  403: 'Forbidden',
  404: 'Not found',
  405: 'Command not allowed',
  406: 'Optional feature not supported',
  407: 'Missing credentials',
  408: 'Request timeout',
  409: 'Conflict',
  410: 'Gone',
  411: 'Size required',
  412: 'Incomplete command',
  413: 'Request entity too large',
  414: 'URI too long',
  415: 'Unsupported media type or format',
  416: 'Requested size too big',
  417: 'Retry later',
  418: 'Already exists',
  419: 'Conflict resolved with server data',
  420: 'Device full',
  421: 'Unknown search grammar',
  422: 'Bad CGI script',
  423: 'Soft-delete conflict',
  424: 'Size mismatch',
  425: 'Permission denied',
  500: 'Command failed',
  501: 'Command not implemented',
  502: 'Bad gateway',
  503: 'Service unavailable',
  504: 'Gateway timeout',
  505: 'DTD version not supported',
  506: 'Processing error',
  507: 'Atomic failed',
  508: 'Refresh required',
  510: 'Data store failure',
  511: 'Server failure',
  512: 'Synchronization failed',
  513: 'Protocol version not supported',
  514: 'Operation cancelled',
  516: 'Atomic roll back failed',
  517: 'Atomic response too large to fit',
};

/** Alert codes carried in `Alert/Data` (DM; DS sync alerts 200–210 are not DM). */
export const AlertCode = {
  /** UI: display text. Item 1 = options, item 2 = text. */
  Display: 1100,
  /** UI: yes (200) / no (304). */
  ConfirmOrReject: 1101,
  /** UI: text answer in Status/Item/Data. */
  TextInput: 1102,
  SingleChoice: 1103,
  MultipleChoice: 1104,
  /** Package 1 answering a notification (package 0). */
  ServerInitiatedMgmt: 1200,
  /** Package 1 otherwise. */
  ClientInitiatedMgmt: 1201,
  /** Ask for the next message of a multi-message package. */
  NextMessage: 1222,
  SessionAbort: 1223,
  /** Client → server event; one Item per event. */
  ClientEvent: 1224,
  /** A new object/command arrived before the last chunk of a large object. */
  NoEndOfData: 1225,
  /** Client → server; Items carry Meta Type/Format (and Mark), optional Correlator. */
  GenericAlert: 1226,
} as const;
export type AlertCode = (typeof AlertCode)[keyof typeof AlertCode];

const ALERT_MEANING: Readonly<Record<AlertCode, string>> = {
  1100: 'Display',
  1101: 'Confirm or reject',
  1102: 'Text input',
  1103: 'Single choice',
  1104: 'Multiple choice',
  1200: 'Server-initiated management',
  1201: 'Client-initiated management',
  1222: 'Next message',
  1223: 'Session abort',
  1224: 'Client event',
  1225: 'No end of data',
  1226: 'Generic alert',
};

export function isStatusCode(code: number): code is StatusCode {
  return Object.hasOwn(STATUS_MEANING, code);
}

export function isAlertCode(code: number): code is AlertCode {
  return Object.hasOwn(ALERT_MEANING, code);
}

/** The UI alerts (1100–1104), only sent server → client. */
export function isUiAlert(code: number): boolean {
  return code >= 1100 && code <= 1104;
}

/** 2xx: the command succeeded (or was accepted). */
export function isSuccess(code: number): boolean {
  return code >= 200 && code <= 299;
}

/** The meaning of a status code, or a class description for unknown (e.g. vendor) codes. */
export function statusMeaning(code: number): string {
  if (isStatusCode(code)) return STATUS_MEANING[code];
  if (code >= 100 && code <= 199) return 'Informational (unknown code)';
  if (code >= 200 && code <= 299) return 'Success (unknown code)';
  if (code >= 300 && code <= 399) return 'Redirection (unknown code)';
  if (code >= 400 && code <= 499) return 'Originator exception (unknown code)';
  if (code >= 500 && code <= 599) return 'Recipient exception (unknown code)';
  return 'Unknown status code';
}

/** The meaning of an alert code, or 'Unknown alert code' (answer such alerts with 406). */
export function alertMeaning(code: number): string {
  return isAlertCode(code) ? ALERT_MEANING[code] : 'Unknown alert code';
}
