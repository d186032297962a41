/**
 * FUMO's wire-level numbers in one place (objects.md §1.2–§1.5): the State values, the Generic
 * Alert type of each operation, the result codes with the Mark (severity) a report carries, the
 * OMA Download status codes posted to installNotifyURI, and how download failures map onto both.
 * Everything else (the MO, the agent, the simulator) reads these tables.
 */

/** `<x>/State` values (objects.md §1.2). */
export const FumoState = {
  Idle: 10,
  DownloadFailed: 20,
  DownloadProgressing: 30,
  DownloadComplete: 40,
  ReadyToUpdate: 50,
  UpdateProgressing: 60,
  UpdateFailedHaveData: 70,
  UpdateFailedNoData: 80,
  UpdateSuccessfulHaveData: 90,
  UpdateSuccessfulNoData: 100,
} as const;
export type FumoState = (typeof FumoState)[keyof typeof FumoState];

/** States in which no operation runs (a new Exec Download/DownloadAndUpdate may start). */
export const FUMO_RESTING_STATES: readonly FumoState[] = [10, 20, 40, 50, 70, 80, 90, 100];
/** States from which Exec Update may start: a package is stored (objects.md §1.2 transition table). */
export const FUMO_UPDATABLE_STATES: readonly FumoState[] = [40, 50, 70];

/** The three Exec targets of a FUMO instance. */
export type FumoOperation = 'Download' | 'Update' | 'DownloadAndUpdate';
export const FUMO_OPERATIONS: readonly FumoOperation[] = ['Download', 'Update', 'DownloadAndUpdate'];

/** Generic Alert `Meta/Type` per operation (objects.md §1.4), sent bare (no `Reversed-Domain-Name:`). */
export const FumoAlertType: Readonly<Record<FumoOperation | 'DeviceRequest' | 'UserRequest', string>> = {
  Download: 'org.openmobilealliance.dm.firmwareupdate.download',
  Update: 'org.openmobilealliance.dm.firmwareupdate.update',
  DownloadAndUpdate: 'org.openmobilealliance.dm.firmwareupdate.downloadandupdate',
  DeviceRequest: 'org.openmobilealliance.dm.firmwareupdate.devicerequest',
  UserRequest: 'org.openmobilealliance.dm.firmwareupdate.userrequest',
};

/** FUMO result codes (objects.md §1.4), the `Data` of the Generic Alert. */
export const FumoResult = {
  Successful: 200,
  ClientError: 400,
  UserCancelled: 401,
  CorruptedPackage: 402,
  PackageMismatch: 403,
  ValidationFailed: 404,
  PackageNotAcceptable: 405,
  DownloadAuthFailure: 406,
  DownloadTimeout: 407,
  NotImplemented: 408,
  UndefinedError: 409,
  UpdateFailed: 410,
  BadUrl: 411,
  DownloadServerUnavailable: 412,
  DownloadServerError: 500,
  DownloadOutOfMemory: 501,
  UpdateOutOfMemory: 502,
  DownloadNetworkError: 503,
} as const;
export type FumoResult = (typeof FumoResult)[keyof typeof FumoResult];

/** What each result code means, for logs and docs. */
export const FUMO_RESULT_TEXT: Readonly<Record<number, string>> = {
  200: 'Successful',
  400: 'Management client error',
  401: 'User cancelled',
  402: 'Corrupted firmware update package',
  403: 'Package/device mismatch',
  404: 'Failed package validation',
  405: 'Package not acceptable',
  406: 'Alternate download authentication failure',
  407: 'Alternate download request time-out',
  408: 'Not implemented',
  409: 'Undefined error',
  410: 'Firmware update failed',
  411: 'Malformed or bad URL',
  412: 'Alternate download server unavailable',
  500: 'Alternate download server error',
  501: 'Download failed: device out of memory',
  502: 'Update failed: device out of memory',
  503: 'Download failed: network/transport error',
};

/** 200 and the vendor success range 250–299. */
export function isFumoSuccess(code: number): boolean {
  return code === 200 || (code >= 250 && code <= 299);
}

/** A code the alert may carry: 200, 250–299, 400–599. */
export function isFumoResultCode(code: number): boolean {
  return Number.isInteger(code) && (isFumoSuccess(code) || (code >= 400 && code <= 599));
}

/**
 * `Item/Meta/Mark` of a report (objects.md §0.3: failures SHOULD be marked other than
 * informational). Success: informational (omitted on the wire); a failure that left the device
 * as it was: critical; anything else: warning.
 */
export function fumoMark(code: number): 'informational' | 'critical' | 'warning' {
  if (isFumoSuccess(code)) return 'informational';
  if (code === FumoResult.UpdateFailed || code === FumoResult.UpdateOutOfMemory) return 'critical';
  return 'warning';
}

/** OMA Download install-notify status codes (objects.md §1.5). */
export const DdStatus = {
  Success: 900,
  InsufficientMemory: 901,
  UserCancelled: 902,
  LossOfService: 903,
  AttributeMismatch: 905,
  InvalidDescriptor: 906,
  InvalidDdVersion: 951,
  DeviceAborted: 952,
  NonAcceptableContent: 953,
  LoaderError: 954,
} as const;
export type DdStatus = (typeof DdStatus)[keyof typeof DdStatus];

export const DD_STATUS_TEXT: Readonly<Record<number, string>> = {
  900: 'Success',
  901: 'Insufficient memory',
  902: 'User Cancelled',
  903: 'Loss of Service',
  905: 'Attribute mismatch',
  906: 'Invalid descriptor',
  951: 'Invalid DDVersion',
  952: 'Device Aborted',
  953: 'Non-Acceptable Content',
  954: 'Loader Error',
};

/** Why a download failed, as the downloader classifies it (binding/http/download.ts). */
export type DownloadFailure =
  | 'bad-url'
  | 'auth'
  | 'not-found'
  | 'http-client'
  | 'http-server'
  | 'unavailable'
  | 'timeout'
  | 'network'
  | 'too-large'
  | 'no-space'
  | 'size-mismatch'
  | 'hash-mismatch'
  | 'bad-descriptor'
  | 'bad-content'
  | 'aborted';

/**
 * Download failure → FUMO result and install-notify status (objects.md §1.5 mapping, [PROJECT]
 * where it is silent: a 404/410 is a bad URL; a size over the device's limit is "out of memory";
 * a truncated or altered image is a corrupted package).
 */
export const DOWNLOAD_FAILURES: Readonly<Record<DownloadFailure, { result: FumoResult; dd: DdStatus }>> = {
  'bad-url': { result: 411, dd: 954 },
  auth: { result: 406, dd: 954 },
  'not-found': { result: 411, dd: 954 },
  'http-client': { result: 409, dd: 954 },
  'http-server': { result: 500, dd: 954 },
  unavailable: { result: 412, dd: 903 },
  timeout: { result: 407, dd: 903 },
  network: { result: 503, dd: 903 },
  'too-large': { result: 501, dd: 901 },
  'no-space': { result: 501, dd: 901 },
  'size-mismatch': { result: 402, dd: 905 },
  'hash-mismatch': { result: 402, dd: 905 },
  'bad-descriptor': { result: 409, dd: 906 },
  'bad-content': { result: 405, dd: 953 },
  aborted: { result: 409, dd: 952 },
};
