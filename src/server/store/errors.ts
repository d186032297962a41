/**
 * Errors of the storage layer. Each carries a stable `code` so the REST API can map them to HTTP
 * statuses (not-found → 404, conflicts → 409, invalid input → 400) without parsing messages.
 */

/** Stable codes of storage failures. */
export const StoreErrorCode = {
  /** The record (device, command, session, token, group) does not exist. */
  NotFound: 'OMADM_ERR_STORE_NOT_FOUND',
  /** A record with that key already exists (create of an existing device, group, session). */
  AlreadyExists: 'OMADM_ERR_STORE_ALREADY_EXISTS',
  /** Optimistic locking failed: someone else updated the session state first. */
  VersionConflict: 'OMADM_ERR_STORE_VERSION_CONFLICT',
  /** The command is not in a state that allows the transition (e.g. cancel of a sent command). */
  InvalidState: 'OMADM_ERR_STORE_INVALID_STATE',
  /** Input rejected before touching the database (bad command JSON, bad URI, bad role, …). */
  InvalidInput: 'OMADM_ERR_STORE_INVALID_INPUT',
  /** A server-side secret must be sealed but no `secretKey` was configured, or unsealing failed. */
  SecretKey: 'OMADM_ERR_STORE_SECRET_KEY',
  /** The database URL is not understood. */
  BadUrl: 'OMADM_ERR_STORE_BAD_URL',
  /** The database stayed locked (SQLite) longer than the configured busy timeout. */
  Busy: 'OMADM_ERR_STORE_BUSY',
  /** A schema migration failed when the store opened. */
  Migration: 'OMADM_ERR_STORE_MIGRATION',
  /**
   * The database rolled back a transaction by itself (I/O error, disk full, …) after this call's
   * statements ran: nothing of it was kept.
   */
  RolledBack: 'OMADM_ERR_STORE_ROLLED_BACK',
  /** The store was closed. */
  Closed: 'OMADM_ERR_STORE_CLOSED',
} as const;
export type StoreErrorCode = (typeof StoreErrorCode)[keyof typeof StoreErrorCode];

/** A storage failure with a stable `code`. */
export class StoreError extends Error {
  readonly code: StoreErrorCode;
  constructor(code: StoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreError';
    this.code = code;
  }
}

/** True when `e` is a StoreError, optionally with the given code. */
export function isStoreError(e: unknown, code?: StoreErrorCode): e is StoreError {
  return e instanceof StoreError && (code === undefined || e.code === code);
}
