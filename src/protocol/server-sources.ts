/**
 * What the server engine needs from the product around it, as narrow interfaces (Leshan-style
 * stores). The engine never touches a database: a server product (issue 5) implements these over
 * its store; `memory-sources.ts` has the in-memory reference versions.
 */
import type { Command, Item } from '../representation/index.ts';
import type { ServerPhase, ServerSessionState } from './server-state.ts';

/** How a party must authenticate at DM level. `transport`: a TLS client certificate identifies it. */
export const AuthMode = {
  None: 'none',
  Basic: 'basic',
  Md5: 'md5',
  Hmac: 'hmac',
  Transport: 'transport',
} as const;
export type AuthMode = (typeof AuthMode)[keyof typeof AuthMode];

/**
 * Per-device security data. The server keeps only digests B64(MD5(name:secret)) of client
 * secrets (protocol.md §4.2), never the plaintext.
 */
export interface DeviceCredentials {
  readonly deviceId: string;
  /** How the client must authenticate (CLCRED). */
  readonly clientAuth: AuthMode;
  /** The client's AAuthName. */
  readonly clientName: string;
  /** B64(MD5(clientName ":" clientSecret)). */
  readonly clientDigest: string;
  /** Base64 nonce the client uses for its next md5/HMAC credential (we issued it). */
  readonly clientNonce?: string;
  /** How the server authenticates to the client (SRVCRED). */
  readonly serverAuth: AuthMode;
  /** The server's AAuthName towards this device. */
  readonly serverName: string;
  /** Needed only for `basic` server credentials. */
  readonly serverSecret?: string;
  /** B64(MD5(serverName ":" serverSecret)); needed for md5 and HMAC server credentials. */
  readonly serverDigest?: string;
  /** Base64 nonce the client issued for the server's next credential. */
  readonly serverNonce?: string;
}

/** Read access to device credentials plus the one write the protocol needs: rotating nonces. */
export interface CredentialSource {
  lookup(deviceId: string): Promise<DeviceCredentials | undefined>;
  /**
   * Optional: the device just proved these credentials (once per session, before anything of the
   * session is stored) — e.g. to create the registry row of a device enrolled on first contact.
   */
  authenticated?(deviceId: string): Promise<void>;
  /** Persist new nonces (base64); absent fields stay unchanged. */
  updateNonces(
    deviceId: string,
    nonces: { readonly clientNonce?: string; readonly serverNonce?: string },
  ): Promise<void>;
}

/** A command the server product wants delivered. Its CmdIDs (also nested) are replaced on send. */
export interface QueuedCommand {
  /** Stable id of the queue entry; outcomes are reported under it. */
  readonly id: string;
  readonly command: Command;
}

/** What became of a delivered command. */
export interface CommandOutcome {
  readonly id: string;
  /**
   * The device's Status code for the command; undefined when the session ended before one
   * arrived (delivery unknown: the device may or may not have executed it).
   */
  readonly status?: number;
  /** Atomic/Sequence: each member's status, in order. */
  readonly members?: readonly { readonly cmd: string; readonly status?: number }[];
  /** Items of Results (a Get's values; Gets inside a Sequence included), in order. */
  readonly results?: readonly Item[];
  /** Items of the Status (answers to UI alerts). */
  readonly statusItems?: readonly Item[];
  /**
   * When the client answered with one Status per group of Items (their codes differ): each
   * Status's code and TargetRefs, in order. `status` is then the first failure among them.
   */
  readonly itemStatuses?: readonly { readonly status: number; readonly targets: readonly string[] }[];
  /** Set when the server did not send the command at all; `status` then says why (e.g. 413). */
  readonly notSent?: boolean;
  /** With `notSent`: why, in words (e.g. larger than the device's MaxMsgSize, or a value the
   * encoding cannot carry). */
  readonly reason?: string;
}

/** A device session as the hooks see it. */
export interface SessionRef {
  readonly deviceId: string;
  readonly sessionId: string;
  /** 1200 (server-initiated) or 1201 (client-initiated). */
  readonly initiator: number;
  /**
   * True while the session's first message is handled: nothing was taken from the queue for this
   * session run yet (a source may skip renewing leases). On `sessionEnded`: the session ends in
   * the message that started it (its state was first saved already closed).
   */
  readonly firstMessage?: boolean;
  /**
   * On `sessionEnded` only: nothing is held for this session run, so a source may skip releasing
   * — it ends in its first message having taken nothing from the queue, or it ends with every
   * command it sent answered and every unsent one already given back (`release`). Claims a
   * crashed node made and never recorded in the session are left to lease recovery.
   */
  readonly heldNothing?: boolean;
  /**
   * On `next` only: the session's state holds no command from the queue (nothing sent awaits its
   * Status, nothing claimed is unsent), so it has no lease to renew.
   */
  readonly holdsNothing?: boolean;
}

/** An alert the device sent (Generic Alert 1226, Client Event 1224, or other codes). */
export interface ClientAlert {
  readonly code: number;
  readonly correlator?: string;
  readonly items: readonly Item[];
}

/**
 * The server product's work and inventory side. `next` hands out commands (they count as in
 * flight from then on); every handed-out command comes back through exactly one of `settle` or
 * `release`.
 */
export interface CommandSource {
  /** Up to `max` commands to send to the device now, in order; [] when nothing is queued. */
  next(session: SessionRef, max: number): Promise<readonly QueuedCommand[]>;
  /** Outcomes of delivered commands. */
  settle(session: SessionRef, outcomes: readonly CommandOutcome[]): Promise<void>;
  /** Commands taken by `next` but not sent (session ended/aborted first): deliver them later. */
  release?(session: SessionRef, ids: readonly string[]): Promise<void>;
  /**
   * A device alert; returns the status to answer with (200/202; 415 unknown type; 406 not
   * handled). Generic Alerts with a Correlator complete an earlier Exec answered 202; such an
   * alert can arrive in the same client message as the Exec's 202 Status, i.e. before `settle`.
   * Without this method the server answers 200 to 1224/1226 and 406 to other codes.
   */
  alert?(session: SessionRef, alert: ClientAlert): Promise<number>;
  /** The DevInfo values of package 1 (`./DevInfo/…` → value). */
  devInfo?(session: SessionRef, values: Readonly<Record<string, string>>): Promise<void>;
  /** The session ended (`completed`, `aborted`, `authFailed`, `expired`, `superseded`, `limit`, `stalled`). */
  sessionEnded?(session: SessionRef, outcome: SessionOutcome): Promise<void>;
}

export type SessionOutcome =
  | 'completed'
  | 'aborted'
  | 'authFailed'
  | 'expired'
  | 'superseded'
  | 'limit'
  /** Ended after `maxIdleExchanges` exchanges in which neither side moved on. */
  | 'stalled';

/**
 * What the engine needs of a device's current session to handle a package 1 that does not
 * continue it: whether it does (same SessionID and a retransmission of the last request), and
 * whether it is still open (then the new session supersedes it).
 */
export interface SessionHead {
  readonly token: string;
  readonly revision: number;
  readonly deviceId: string;
  /** SessionID as the client sent it. */
  readonly sessionId: string;
  readonly phase: ServerPhase;
  readonly clientMsgId: number;
  /** `lastReply.requestHash`: the request last answered. */
  readonly requestHash?: string;
  /**
   * The device's credentials, when the store read them with the head (one query for both): the
   * engine then uses them for this message instead of calling `CredentialSource.lookup`.
   */
  readonly credentials?: DeviceCredentials;
}

/** `loadHeadByDevice` when the device has no live session, with its credentials if read anyway. */
export interface NoSessionHead {
  readonly token?: undefined;
  readonly credentials?: DeviceCredentials;
}

/**
 * Where session state lives between HTTP requests. State is plain JSON; `revision` implements
 * optimistic concurrency so two server processes never both advance one session.
 */
export interface SessionStore {
  /** The session with this RespURI token, as a fresh object the engine may modify. */
  load(token: string): Promise<ServerSessionState | undefined>;
  /** The device's current session, if any. */
  loadByDevice(deviceId: string): Promise<ServerSessionState | undefined>;
  /**
   * Optional: the head of what `loadByDevice` would return, cheaper to read. With it, a package 1
   * reads the full state (by `load`) only when it continues that session or must close it.
   */
  loadHeadByDevice?(deviceId: string): Promise<SessionHead | NoSessionHead | undefined>;
  /**
   * Optional: a store that keeps the last answer's bytes apart from the state. The engine then
   * saves `lastReply` without `body`, hands the bytes to `save` as `reply`, and reads them back
   * here only to answer a retransmission.
   */
  loadReply?(state: ServerSessionState): Promise<Uint8Array | undefined>;
  /**
   * Stores `state` if the stored revision equals `expectedRevision` (0: no session with this
   * token exists yet). Becomes the device's current session (`loadByDevice`) unless it is still
   * `authenticating` while the device has another one: an unauthenticated newcomer must not
   * displace a live session. Returns false on conflict. `reply`: the answer's bytes, given to
   * stores with `loadReply` only.
   */
  save(state: ServerSessionState, expectedRevision: number, reply?: Uint8Array): Promise<boolean>;
  delete(token: string): Promise<void>;
}
