import { StatusCode } from '../representation/index.ts';

/** Stable codes of tree failures that are programming or storage errors, not DM outcomes. */
export const TreeErrorCode = {
  /** A URI that cannot be parsed (empty segment, `..`, bad %-escape, …). */
  UriInvalid: 'tree.uri-invalid',
  /** A URI over the configured depth, segment or total length limit. */
  UriTooLong: 'tree.uri-too-long',
  /** An ACL string that does not follow the grammar of protocol.md §6.4. */
  AclInvalid: 'tree.acl-invalid',
  /** A plugin is already mounted at or around a URI, or the mount parent is missing. */
  MountConflict: 'tree.mount-conflict',
  /** The persisted tree cannot be read (bad snapshot, unknown version). */
  StoreCorrupt: 'tree.store-corrupt',
  /** Another live process (or store object) has the store directory open. */
  StoreLocked: 'tree.store-locked',
  /** Writing to the persistent store failed. */
  StoreWrite: 'tree.store-write',
  /** The tree was used after close(), or a transaction after commit/rollback. */
  Closed: 'tree.closed',
} as const;
export type TreeErrorCode = (typeof TreeErrorCode)[keyof typeof TreeErrorCode];

/**
 * A tree failure with a stable `code` and the DM status to answer with when it reaches a command
 * boundary (e.g. a bad URI becomes 400, a too long one 414).
 */
export class TreeError extends Error {
  readonly code: TreeErrorCode;
  readonly status: StatusCode;
  constructor(code: TreeErrorCode, message: string, status: StatusCode = StatusCode.CommandFailed) {
    super(message);
    this.name = 'TreeError';
    this.code = code;
    this.status = status;
  }
}
