/**
 * Limits both engines enforce, with the status each one produces when exceeded (docs/protocol.md
 * lists them). Every limit has a finite default: a peer can never make a session unbounded.
 */
export interface SessionLimits {
  /** Largest message we accept; announced as `MaxMsgSize`. */
  readonly maxMsgSize: number;
  /** Largest object we accept (reassembled large objects included); announced as `MaxObjSize`. 413 when exceeded. */
  readonly maxObjSize: number;
  /** Most commands in one received message; beyond it the message is refused (SyncHdr 413) and the session aborted (1223). */
  readonly maxCommandsPerMessage: number;
  /** Most messages received in one session; beyond it the session is aborted (1223, remaining commands 215). */
  readonly maxMessagesPerSession: number;
  /** Longest session (ms); beyond it the session is aborted (1223). */
  readonly maxSessionDurationMs: number;
  /** Longest silence between two messages of a session (ms); after it the session is forgotten. */
  readonly idleTimeoutMs: number;
  /** Authentication attempts per session before it is ended (no endless 401 loops). */
  readonly maxAuthAttempts: number;
  /** Most commands a server takes from its command source for one package. */
  readonly maxCommandsPerPackage: number;
  /** Most commands per sent message (in addition to MaxMsgSize). */
  readonly maxCommandsPerSentMessage: number;
  /**
   * Most consecutive exchanges in which neither side moves on (only SyncHdr Statuses and Alert
   * 1222 go back and forth); beyond it the session is aborted (1223, outcome `stalled`).
   */
  readonly maxIdleExchanges: number;
}

export const defaultLimits: SessionLimits = Object.freeze({
  maxMsgSize: 512 * 1024,
  maxObjSize: 16 * 1024 * 1024,
  maxCommandsPerMessage: 2000,
  maxMessagesPerSession: 2000,
  maxSessionDurationMs: 30 * 60_000,
  idleTimeoutMs: 5 * 60_000,
  maxAuthAttempts: 3,
  maxCommandsPerPackage: 100,
  maxCommandsPerSentMessage: 500,
  maxIdleExchanges: 8,
});

export function resolveLimits(partial: Partial<SessionLimits> | undefined): SessionLimits {
  return Object.freeze({ ...defaultLimits, ...(partial ?? {}) });
}
