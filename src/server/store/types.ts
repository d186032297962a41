/**
 * The storage layer's public interfaces. Each is narrow (Leshan-style) and backend-neutral; one
 * SQL implementation serves SQLite and PostgreSQL. All times are milliseconds since the epoch and
 * come from the store's injected clock unless a method takes `now`.
 */
import type { DmCommand } from './command.ts';
import type { RetentionRule } from './retention.ts';
import type { SecretLeaves } from './secret-leaves.ts';

// ---------------------------------------------------------------------------------------------
// Devices

/** How a device authenticates at DM level (DMAcc AAuthType; protocol.md §4.1). */
export const AuthType = {
  /** `syncml:auth-basic` — B64(name:secret) in Cred. */
  Basic: 'basic',
  /** `syncml:auth-md5` — digest with nonce in Cred. */
  Md5: 'md5',
  /** `syncml:auth-MAC` — x-syncml-hmac transport header. */
  Hmac: 'hmac',
  /** No DM-level auth: the transport (TLS client certificates) authenticates. */
  Transport: 'transport',
  /**
   * No credentials at all (e.g. Hotspot 2.0 subscription provisioning over server-authenticated
   * TLS): the server accepts such a device's sessions only over TLS. Provisioned only on request.
   */
  None: 'none',
} as const;
export type AuthType = (typeof AuthType)[keyof typeof AuthType];
export const AUTH_TYPES: readonly AuthType[] = Object.values(AuthType);

/**
 * Whether a device's sessions keep their raw messages (docs/storage.md, Traces and retention):
 * `full` every session, heartbeats too; `errors` only sessions that failed authentication or ended
 * abnormally; `off` none. Unset (null): the default — every session but a heartbeat.
 */
export const TraceMode = { Full: 'full', Errors: 'errors', Off: 'off' } as const;
export type TraceMode = (typeof TraceMode)[keyof typeof TraceMode];
export const TRACE_MODES: readonly TraceMode[] = Object.values(TraceMode);

/** A device as the store returns it. Never contains a plaintext secret. */
export interface Device {
  /** DevId (`./DevInfo/DevId`), e.g. `IMEI:490154203237518`. */
  readonly id: string;
  readonly authType: AuthType;
  /** AAuthName the device uses in its credentials (defaults to the DevId). */
  readonly clientAuthName: string;
  /** True when a client credential digest is provisioned. */
  readonly hasClientCredential: boolean;
  /** The server's AAuthName toward this device (the device's SRVCRED name), if provisioned. */
  readonly serverAuthName: string | null;
  readonly hasServerCredential: boolean;
  readonly tags: readonly string[];
  readonly groups: readonly string[];
  /** Latest `./DevInfo/*` values, by leaf name (`DevId`, `Man`, `Mod`, `DmV`, `Lang`, …). */
  readonly devInfo: Readonly<Record<string, string>>;
  /** Latest `./DevDetail/*` values, by relative path (`SwV`, `Ext/…`). */
  readonly devDetail: Readonly<Record<string, string>>;
  /** Free-form operator attributes (notes, location, …). */
  readonly attributes: Readonly<Record<string, string>>;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly lastSeenAt: number | null;
  readonly sessionCount: number;
  /** True while a session is live (with a TTL, so a crashed server never leaves devices "online"). */
  readonly online: boolean;
  readonly currentSession: string | null;
  /** The device's own raw-trace switch (null: its groups' or the default). */
  readonly trace: TraceMode | null;
}

/**
 * Provisioning input. Secrets are taken in plaintext and turned into digests here; the client's
 * plaintext is never stored. Either `clientSecret` or a precomputed `clientDigest`.
 */
export interface DeviceInput {
  readonly id: string;
  readonly authType?: AuthType;
  readonly clientAuthName?: string;
  readonly clientSecret?: string;
  /** B64(MD5(clientAuthName ":" secret)), for importing without knowing the secret. */
  readonly clientDigest?: string;
  /** The server's name toward the device (SRVCRED AAuthName); usually the server id. */
  readonly serverAuthName?: string;
  /** The server's secret toward this device (SRVCRED AAuthSecret); must differ per device. */
  readonly serverSecret?: string;
  readonly tags?: readonly string[];
  readonly groups?: readonly string[];
  readonly attributes?: Readonly<Record<string, string>>;
}

/** Partial update; `null` clears a credential. Fields left out are kept. */
export interface DevicePatch {
  readonly authType?: AuthType;
  readonly clientAuthName?: string;
  readonly clientSecret?: string | null;
  readonly clientDigest?: string | null;
  readonly serverAuthName?: string | null;
  readonly serverSecret?: string | null;
  readonly tags?: readonly string[];
  readonly groups?: readonly string[];
  readonly attributes?: Readonly<Record<string, string>>;
  /** Merged into the stored DevInfo (a `null` value removes a key). */
  readonly devInfo?: Readonly<Record<string, string | null>>;
  readonly devDetail?: Readonly<Record<string, string | null>>;
  /** The device's raw-trace switch; `null` returns it to the default. */
  readonly trace?: TraceMode | null;
}

/**
 * What the auth code needs, and nothing else (read-only view; Leshan's SecurityStore).
 * `serverDigest` is unsealed here; `serverSecret` is only present for Basic server credentials.
 */
export interface DeviceCredentials {
  readonly deviceId: string;
  readonly authType: AuthType;
  readonly clientAuthName: string;
  /** B64(MD5(clientAuthName ":" clientSecret)); verifies Basic, MD5 and HMAC credentials. */
  readonly clientDigest: string | null;
  readonly serverAuthName: string | null;
  /** B64(MD5(serverAuthName ":" serverSecret)); builds the server's MD5/HMAC Cred and Pkg0 digest. */
  readonly serverDigest: string | null;
  /** Plaintext server secret, only kept (sealed) when needed for a Basic server Cred. */
  readonly serverSecret: string | null;
  /** Nonce (base64) the server last gave the client (client uses it in its next Cred). */
  readonly clientNonce: string | null;
  /** Nonce (base64) the client last gave the server (server uses it in its next Cred). */
  readonly serverNonce: string | null;
  /**
   * The DevInfo leaves the registry holds (read with the credentials, so a session can tell
   * whether the DevInfo of its package 1 changed anything without another query).
   */
  readonly devInfo?: Readonly<Record<string, string>>;
  /**
   * Whether a command was queued for the device when the credentials were read (a message whose
   * credentials say no skips its claim; a command queued later waits for the next message).
   */
  readonly hasQueued?: boolean;
  /**
   * The device's latest session, when it closed in the message that started it (a heartbeat) and
   * is still kept for retransmissions (`recordSessionStart({ closedHead })`); absent otherwise.
   */
  readonly closedSession?: ClosedSessionHead;
  /**
   * The raw-trace switch in force for the device: its own, else the most verbose of its groups'
   * (`full` over `errors` over `off`); absent: the default.
   */
  readonly traceMode?: TraceMode;
}

/** A session start as `DeviceStore.recordSessionStart` records it on the device row. */
export interface SessionStart {
  /** DM SessionID. */
  readonly sessionId: string;
  readonly at: number;
  readonly onlineUntil: number;
  /** DevInfo leaves to merge into the registry. */
  readonly devInfo?: Readonly<Record<string, string>>;
  /** The client nonce the session's first answer announces. */
  readonly clientNonce?: string;
  /** The session closed in this first message: its head, for the next package 1. */
  readonly closedHead?: ClosedSessionHead;
}

/** What package 1 needs of a session that closed in its first message (see `recordSessionStart`). */
export interface ClosedSessionHead {
  /** Its key in the session store (the RespURI token). */
  readonly token: string;
  /** SessionID as the client sent it. */
  readonly dmSessionId: string;
  /** Hash of the request it answered (a retransmission repeats it). */
  readonly requestHash: string;
  readonly expiresAt: number;
}

/** Device listing filters (all optional, combined with AND). */
export interface DeviceQuery {
  /** Devices carrying every one of these tags. */
  readonly tags?: readonly string[];
  readonly group?: string;
  readonly authType?: AuthType;
  readonly online?: boolean;
  /** DevId prefix. */
  readonly idPrefix?: string;
  readonly seenSince?: number;
  readonly seenBefore?: number;
  /** Page size, 1..1000, default 100. */
  readonly limit?: number;
  /** Opaque cursor from a previous page's `nextCursor`. */
  readonly cursor?: string;
}

/** One page of results; `nextCursor` is absent on the last page. */
export interface Page<T> {
  readonly items: readonly T[];
  readonly nextCursor?: string;
}

/** A named set of devices. */
export interface Group {
  readonly name: string;
  readonly description: string;
  readonly createdAt: number;
  readonly size: number;
  /** Raw-trace switch for the group's devices (a device's own switch wins); null: default. */
  readonly trace: TraceMode | null;
}

/**
 * Device registry.
 *
 * @example
 * await store.devices.create({ id: 'IMEI:1', authType: 'md5', clientSecret: 's', serverAuthName: 'omadm', serverSecret: 's2' });
 * const creds = await store.devices.credentials('IMEI:1');
 */
export interface DeviceStore {
  get(id: string): Promise<Device | undefined>;
  /** Creates a device; throws `OMADM_ERR_STORE_ALREADY_EXISTS` if the id is taken. */
  create(input: DeviceInput): Promise<Device>;
  /** Creates or replaces a device; returns the previous record (undefined when new). */
  put(input: DeviceInput): Promise<Device | undefined>;
  /** Applies a patch; returns `[previous, updated]`; throws NOT_FOUND. */
  update(id: string, patch: DevicePatch): Promise<readonly [Device, Device]>;
  /** Deletes a device with its queue, tree cache, sessions and traces; returns what was removed. */
  delete(id: string): Promise<Device | undefined>;
  list(query?: DeviceQuery): Promise<Page<Device>>;
  /** The auth view of a device, or undefined when unknown. */
  credentials(id: string): Promise<DeviceCredentials | undefined>;
  /** Stores the nonces (base64) for the next authentication; returns the previous values. */
  setNonces(
    id: string,
    nonces: { readonly clientNonce?: string | null; readonly serverNonce?: string | null },
  ): Promise<{ readonly clientNonce: string | null; readonly serverNonce: string | null }>;
  /**
   * Records the start of a session: session count +1, last seen, online (until `onlineUntil`),
   * DevInfo merged when given.
   */
  noteSessionStart(
    id: string,
    session: {
      readonly sessionId: string;
      readonly at: number;
      readonly onlineUntil: number;
      readonly devInfo?: Readonly<Record<string, string>>;
    },
  ): Promise<Device>;
  /**
   * `noteSessionStart` without reading the device back (the DM hot path): one UPDATE. Returns
   * false when the device does not exist. `clientNonce`, when given, is stored in the same UPDATE
   * (the nonce the session's first answer announces). `closedHead`: the session closed in this
   * first message; the device row keeps its head (`credentials().closedSession`) until the next
   * session start, which replaces or clears it.
   */
  recordSessionStart(id: string, session: SessionStart): Promise<boolean>;
  /** `setNonces` without returning the previous values: one UPDATE; false when the device does not exist. */
  putNonces(
    id: string,
    nonces: { readonly clientNonce?: string | null; readonly serverNonce?: string | null },
  ): Promise<boolean>;
  /** Extends online state on each message of a session. */
  noteSeen(id: string, at: number, onlineUntil: number): Promise<void>;
  /** Session ended cleanly: offline now. */
  noteSessionEnd(id: string, sessionId: string, at: number): Promise<void>;

  createGroup(name: string, description?: string): Promise<Group>;
  deleteGroup(name: string): Promise<Group | undefined>;
  listGroups(): Promise<readonly Group[]>;
  /** Sets (null: clears) a group's raw-trace switch; returns the group; throws NOT_FOUND. */
  setGroupTrace(name: string, trace: TraceMode | null): Promise<Group>;
  /** Adds devices to a group; returns how many were newly added. */
  addToGroup(name: string, deviceIds: readonly string[]): Promise<number>;
  removeFromGroup(name: string, deviceIds: readonly string[]): Promise<number>;
}

// ---------------------------------------------------------------------------------------------
// Tree cache

/** A value read from a device's tree, with when it was read. */
export interface TreeValue {
  readonly uri: string;
  /** The value as received (`b64`/`bin` values as base64 text); null for an interior node's list. */
  readonly value: string | null;
  /** Meta Format (`chr`, `int`, `b64`, `bool`, `node`, …). */
  readonly format: string;
  readonly type: string | null;
  readonly readAt: number;
}

/**
 * Cached copy of every value the server has read from each device's tree.
 *
 * @example
 * await store.tree.put('IMEI:1', [{ uri: './DevDetail/SwV', value: '1.2', format: 'chr', type: null, readAt: now }]);
 */
export interface TreeCache {
  /**
   * Upserts values; returns the entries they replaced. With `previous: false` those are not read
   * (one upsert, no transaction) and the answer is empty.
   */
  put(
    deviceId: string,
    values: readonly TreeValue[],
    options?: { readonly previous?: boolean },
  ): Promise<readonly TreeValue[]>;
  get(deviceId: string, uri: string): Promise<TreeValue | undefined>;
  /** Values at `prefix` and below (whole tree when omitted), sorted by URI. */
  list(deviceId: string, prefix?: string): Promise<readonly TreeValue[]>;
  /** Forgets `uri` and everything below it (after a successful Delete); returns how many. */
  deleteSubtree(deviceId: string, uri: string): Promise<number>;
}

// ---------------------------------------------------------------------------------------------
// Command queue

/**
 * Command states. See docs/storage.md for the machine:
 * queued → claimed → sent → succeeded | failed | pending | unknown; pending → succeeded | failed;
 * queued → expired | cancelled; claimed → queued (released); sent → queued (only a Get) | unknown.
 */
export const CommandState = {
  /** Waiting for the device's next session. */
  Queued: 'queued',
  /** Taken by a session, not yet written to the wire; goes back to queued if the session dies. */
  Claimed: 'claimed',
  /** Written to a message (msgId/cmdId recorded) and awaiting its Status. */
  Sent: 'sent',
  /** The device's Status says success (200, or 200 for every member). */
  Succeeded: 'succeeded',
  /** The device's Status says failure, or a member failed. */
  Failed: 'failed',
  /** Exec accepted with 202: waiting for the Generic Alert with its Correlator. */
  Pending: 'pending',
  /** Sent, but the outcome is unknown (session died before the Status): needs an operator. */
  Unknown: 'unknown',
  /** Its expiry passed before delivery. */
  Expired: 'expired',
  /** Cancelled by an operator before delivery (or while pending). */
  Cancelled: 'cancelled',
} as const;
export type CommandState = (typeof CommandState)[keyof typeof CommandState];

/** States from which a command never moves again. */
export const FINAL_STATES: readonly CommandState[] = [
  'succeeded',
  'failed',
  'unknown',
  'expired',
  'cancelled',
];

/** One `Results` item returned for a Get. */
export interface ResultItem {
  readonly uri: string;
  readonly value: string | null;
  readonly format?: string;
  readonly type?: string;
}

/** A queued command and everything known about it. */
export interface CommandRecord {
  readonly id: number;
  readonly deviceId: string;
  readonly command: DmCommand;
  readonly kind: DmCommand['kind'];
  readonly uri: string;
  readonly value: string | null;
  /** Anything but a Get: never re-sent once sent. */
  readonly destructive: boolean;
  readonly state: CommandState;
  readonly createdAt: number;
  readonly createdBy: string | null;
  readonly updatedAt: number;
  readonly expiresAt: number | null;
  readonly sessionId: string | null;
  readonly leaseUntil: number | null;
  readonly msgId: number | null;
  readonly cmdId: string | null;
  readonly sentAt: number | null;
  /** How many times a session claimed it (re-deliveries after a dead session count). */
  readonly attempts: number;
  /** The device's Status code for the command (or the group), when received. */
  readonly status: number | null;
  readonly results: readonly ResultItem[] | null;
  /** Member statuses of a group, Generic Alert data, or why it became unknown/expired. */
  readonly detail: CommandDetail | null;
  readonly completedAt: number | null;
}

/** Extra outcome information kept as JSON. */
export interface CommandDetail {
  readonly members?: readonly MemberOutcome[];
  readonly alerts?: readonly AlertRecord[];
  /** The device's Status per group of Items, when their codes differed (one Status each). */
  readonly items?: readonly ItemStatus[];
  readonly reason?: string;
}

/** One Status the device sent for some of a command's Items (TargetRef names them). */
export interface ItemStatus {
  readonly status: number;
  readonly uris: readonly string[];
}

/** Status of one member of an Atomic/Sequence, in member order (nested groups flattened). */
export interface MemberOutcome {
  readonly status: number;
  readonly results?: readonly ResultItem[];
}

/** What the session engine reports for a sent command. */
export interface CommandOutcome {
  readonly status: number;
  readonly results?: readonly ResultItem[];
  /** For Atomic/Sequence: each member's status, in order (nested Atomic members flattened). */
  readonly members?: readonly MemberOutcome[];
  /** One entry per Status when the device answered per group of Items (their codes differ). */
  readonly items?: readonly ItemStatus[];
  /** Why, when the status is the server's own (e.g. 413: never sent, too large for the device). */
  readonly reason?: string;
}

/** Whether an alert's result code means success, by its type's table; `none`: no table knows it. */
export type AlertVerdict = 'success' | 'failure' | 'none';

/** What a Generic Alert (1226) carrying a Correlator reports. */
export interface AlertOutcome {
  /** The result code the alert carries (e.g. FUMO `200`, SCOMO `1200`); absent when it has none. */
  readonly status?: number;
  /** Data as sent, when it is not just the code (e.g. SCOMO's XML result fragment). */
  readonly data?: string;
  /** The alert's Meta/Type. */
  readonly type?: string;
  /**
   * The verdict of the type's table. Without one (older callers) the status is judged as a DM
   * status (2xx success).
   */
  readonly verdict?: AlertVerdict;
}

/** A Generic Alert that reported on a command, as kept in its detail. */
export interface AlertRecord {
  readonly correlator: string;
  /** The result code (absent when Data carried none). */
  readonly status?: number;
  readonly data?: string;
  readonly type?: string;
  readonly verdict?: AlertVerdict;
}

export interface EnqueueOptions {
  /** Absolute expiry time; undelivered by then → `expired`. */
  readonly expiresAt?: number;
  /** Who queued it (token name / user), for listings and audit. */
  readonly createdBy?: string;
}

export interface CommandQuery {
  readonly deviceId?: string;
  readonly states?: readonly CommandState[];
  readonly sessionId?: string;
  readonly limit?: number;
  readonly cursor?: string;
  /** Newest first when true (default: oldest first). */
  readonly newestFirst?: boolean;
}

/** Options of `claim`. */
export interface ClaimOptions {
  /** Max commands to take. */
  readonly limit: number;
  /** Lease end: if the session is not heard from by then, recovery may reclaim. */
  readonly leaseUntil: number;
}

/** Where a command was written. */
export interface SentRef {
  readonly msgId: number;
  readonly cmdId: string;
}

/** Totals of a recovery sweep. */
export interface RecoveryReport {
  /** Claimed-but-never-sent commands put back to queued. */
  readonly requeued: number;
  /** Sent Gets put back to queued (safe to repeat). */
  readonly resent: number;
  /** Sent destructive commands marked unknown (needs attention). */
  readonly unknown: number;
  /** Queued commands whose expiry passed. */
  readonly expired: number;
  /** The ids behind each count (for the operator's log lines); absent from older stores. */
  readonly ids?: RecoveryIds;
}

export interface RecoveryIds {
  readonly requeued: readonly number[];
  readonly resent: readonly number[];
  readonly unknown: readonly number[];
  readonly expired: readonly number[];
}

/** A stored session removed by the sweep (idle past its expiry, or closed past its grace). */
export interface ExpiredSession {
  readonly deviceId: string;
  /** The store key (the session's RespURI token). */
  readonly sessionId: string;
  /** The DM SessionID, and the phase it was left in, when the row has its head (0004 on). */
  readonly dmSessionId?: string | null;
  readonly phase?: string | null;
}

/**
 * The durable command queue each device session drains.
 *
 * Session engine protocol: `claim` when building a package → `markSent` BEFORE the message goes
 * on the wire → `settle` with the device's Status → `completeByCorrelator` for 202-then-1226 Execs
 * → `releaseSession` when the session ends (anything claimed but unsent goes back to the queue).
 *
 * @example
 * const cmd = await store.queue.enqueue('IMEI:1', { kind: 'Get', target: './DevDetail/SwV' });
 * const done = await store.queue.waitFor(cmd.id, { timeoutMs: 30_000 });
 */
export interface CommandQueue {
  /** Validates and queues a command; returns the stored record (id, normalized command). */
  enqueue(deviceId: string, command: unknown, options?: EnqueueOptions): Promise<CommandRecord>;
  get(id: number): Promise<CommandRecord | undefined>;
  list(query?: CommandQuery): Promise<Page<CommandRecord>>;
  /**
   * Atomically takes up to `limit` queued, unexpired commands of the device, oldest first, for
   * `sessionId`. Each queued command is handed to exactly one claimer across processes.
   * Commands whose expiry has passed become `expired` here.
   */
  claim(deviceId: string, sessionId: string, options: ClaimOptions): Promise<readonly CommandRecord[]>;
  /** Extends the lease of every claimed/sent command of the session. */
  renewLease(deviceId: string, sessionId: string, leaseUntil: number): Promise<number>;
  /**
   * Records that a claimed command is being written in message `msgId` with `cmdId`. Must be
   * called (and awaited) before the bytes leave, so a crash afterwards never re-sends it.
   */
  markSent(id: number, sessionId: string, ref: SentRef): Promise<CommandRecord>;
  /** Gives a claimed (unsent) command back to the queue, e.g. it did not fit MaxMsgSize. */
  release(id: number, sessionId: string): Promise<CommandRecord>;
  /**
   * Finishes a claimed command that will not be sent at all (e.g. larger than the device's
   * MaxObjSize: the engine answers it locally with 413): `failed` with that status. Safe because
   * the device never saw it; throws INVALID_STATE unless claimed by `sessionId`.
   */
  reject(
    id: number,
    sessionId: string,
    outcome: CommandOutcome & { readonly reason?: string },
  ): Promise<CommandRecord>;
  /**
   * Applies the device's Status (and Results) to a sent command and returns the new record:
   * success → succeeded; 202 on an Exec (or a group with an Exec member at 202) → pending;
   * anything else → failed (a failed destructive command never shows as success).
   */
  settle(id: number, outcome: CommandOutcome): Promise<CommandRecord>;
  /** Finds the sent command of a session by where it was written (for Status/CmdRef matching). */
  findSent(deviceId: string, sessionId: string, ref: SentRef): Promise<CommandRecord | undefined>;
  /**
   * Resolves a pending Exec from a Generic Alert's Correlator. Returns the command (final once
   * all its correlators resolved), or undefined when nothing of that device waits for it.
   * Idempotent: a repeated alert returns the record unchanged.
   */
  completeByCorrelator(
    deviceId: string,
    correlator: string,
    outcome: AlertOutcome,
  ): Promise<CommandRecord | undefined>;
  /** Cancels a queued (or pending) command; throws INVALID_STATE from other states. */
  cancel(id: number, reason?: string): Promise<CommandRecord>;
  /** Queues a copy of a finished command (operator decides to retry an unknown/failed one). */
  requeue(id: number, options?: EnqueueOptions): Promise<CommandRecord>;
  /**
   * The session ended (cleanly or aborted): claimed → queued; sent without Status → queued for a
   * Get, unknown for anything destructive.
   */
  releaseSession(deviceId: string, sessionId: string, reason?: string): Promise<RecoveryReport>;
  /** Crash recovery: applies `releaseSession` rules to every lease that ended before `now`; expires. */
  recover(now?: number): Promise<RecoveryReport>;
  /**
   * Resolves when the command reaches a settled state (`final` also waits through `pending`), or
   * with its current record when `timeoutMs` elapses. In-process events + polling with backoff,
   * so a command settled by another server process is seen too.
   */
  waitFor(
    id: number,
    options?: {
      readonly timeoutMs?: number;
      readonly until?: 'settled' | 'final';
      readonly signal?: AbortSignal;
    },
  ): Promise<CommandRecord | undefined>;
  /** Deletes finished commands completed before `completedBefore`; returns how many. */
  purgeFinished(completedBefore: number): Promise<number>;
  /** Number of commands per state for a device (or all devices). */
  counts(deviceId?: string): Promise<Readonly<Partial<Record<CommandState, number>>>>;
  /** When the oldest command still queued (not yet taken by a session) was queued; none: undefined. */
  oldestQueuedAt?(): Promise<number | undefined>;
}

// ---------------------------------------------------------------------------------------------
// Sessions

/**
 * What a DM server needs of a device's latest session to route a package 1 (does the message
 * continue it, is it a retransmission, must an open session be superseded), kept in columns of
 * its own so reading it parses no state.
 */
export interface SessionHead {
  /** The DM SessionID (SyncHdr), not the store key. */
  readonly dmSessionId: string;
  readonly phase: string;
  /** Last accepted client MsgID. */
  readonly clientMsgId: number;
  /** Hash of the request the last answer answered. */
  readonly requestHash?: string;
}

/** Persisted state of one DM session, owned by the protocol engine (opaque JSON here). */
export interface SessionRecord<S = unknown> {
  readonly deviceId: string;
  /** The engine's session key; should be unique per session run (DM SessionIDs repeat). */
  readonly sessionId: string;
  readonly state: S;
  /** Incremented by every successful write; pass it back to `update`. */
  readonly version: number;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly expiresAt: number;
}

/**
 * A device's latest session without its state: `head` when its writer gave one; otherwise (rows
 * written without, e.g. before the head existed) `state`, to derive it from.
 */
export interface SessionHeadRecord<S = unknown> {
  readonly deviceId: string;
  readonly sessionId: string;
  readonly version: number;
  readonly updatedAt: number;
  readonly expiresAt: number;
  readonly head?: SessionHead;
  readonly state?: S;
}

/**
 * What a session write may carry besides the state (a write without them clears them): the head,
 * and the bytes of the last answer (read back only by `reply`, to answer a retransmission).
 */
export interface SessionExtras {
  readonly head?: SessionHead;
  readonly reply?: Uint8Array;
}

/**
 * Session state between HTTP requests, so any server process can handle the next message.
 * Optimistic locking: `update` succeeds only with the version you read; otherwise it throws
 * `OMADM_ERR_STORE_VERSION_CONFLICT` and the caller must reload (or fail the message).
 *
 * @example
 * const s = await store.sessions.create({ deviceId, sessionId, state, expiresAt });
 * const s2 = await store.sessions.update(deviceId, sessionId, s.version, next, expiresAt);
 */
export interface SessionStore {
  /** Throws ALREADY_EXISTS if a live session with that key exists (an expired one is replaced). */
  create<S>(
    input: {
      readonly deviceId: string;
      readonly sessionId: string;
      readonly state: S;
      readonly expiresAt: number;
    } & SessionExtras,
  ): Promise<SessionRecord<S>>;
  /** The session, or undefined when unknown or expired. */
  get<S = unknown>(deviceId: string, sessionId: string): Promise<SessionRecord<S> | undefined>;
  /** Compare-and-set on `version`; returns the new record (version + 1). */
  update<S>(
    deviceId: string,
    sessionId: string,
    expectedVersion: number,
    state: S,
    expiresAt: number,
    extras?: SessionExtras,
  ): Promise<SessionRecord<S>>;
  /** Removes the session; returns it. */
  delete<S = unknown>(deviceId: string, sessionId: string): Promise<SessionRecord<S> | undefined>;
  listByDevice(deviceId: string): Promise<readonly SessionRecord[]>;
  /** The device's live session updated last (the one a message without RespURI continues). */
  latest<S = unknown>(deviceId: string): Promise<SessionRecord<S> | undefined>;
  /** `latest` without the state (unless the row has no head). */
  latestHead<S = unknown>(deviceId: string): Promise<SessionHeadRecord<S> | undefined>;
  /** The last answer's bytes as last written (`SessionExtras.reply`) of a live session. */
  reply(deviceId: string, sessionId: string): Promise<Uint8Array | undefined>;
  /**
   * A live session by its key alone (session keys that are unguessable tokens are unique across
   * devices; with repeated keys, any one of them).
   */
  getByKey<S = unknown>(sessionId: string): Promise<SessionRecord<S> | undefined>;
  /** Deletes sessions idle past their expiry (the `limit` oldest, when given); returns them. */
  expireIdle(now?: number, limit?: number): Promise<readonly ExpiredSession[]>;
}

// ---------------------------------------------------------------------------------------------
// Traces

export const TraceDirection = { In: 'in', Out: 'out' } as const;
export type TraceDirection = (typeof TraceDirection)[keyof typeof TraceDirection];

/** One raw message of a session. */
export interface TraceEntry {
  readonly id: number;
  readonly deviceId: string;
  readonly sessionId: string | null;
  readonly direction: TraceDirection;
  readonly contentType: string;
  readonly body: Uint8Array;
  readonly size: number;
  readonly at: number;
  /**
   * On the message that ended its session: how it ended (`completed`, `authFailed`, `aborted`,
   * `limit`, `expired`, `superseded`); absent on the others.
   */
  readonly outcome?: string;
}

/** Trace retention bounds; the older sessions go first. */
export interface TraceRetention {
  /** Keep the messages of at most this many sessions per device (default 20). */
  readonly maxSessionsPerDevice: number;
  /** Drop messages older than this (ms, default 7 days). */
  readonly maxAgeMs: number;
  /** Bytes of messages the whole trace table may hold (default 2 GiB). */
  readonly maxBytes: number;
}

/** What a session was, for its compact record and for whether its raw messages are kept. */
export const SessionKind = {
  /** Nothing queued, nothing changed, authenticated, completed in its first message. */
  Heartbeat: 'heartbeat',
  /** Carried commands, alerts or changed DevInfo. */
  Commands: 'commands',
  /** Failed authentication or ended abnormally (aborted, expired, superseded, limit). */
  Error: 'error',
} as const;
export type SessionKind = (typeof SessionKind)[keyof typeof SessionKind];

/** The compact record every DM session leaves (a heartbeat's only trace, by default). */
export interface SessionLogEntry {
  readonly id: number;
  readonly deviceId: string;
  /** When it ended (ms). */
  readonly at: number;
  readonly outcome: string;
  readonly kind: SessionKind;
  readonly messages: number;
  /** Bytes received and sent. */
  readonly bytes: number;
  /** The session key its raw messages are traced under, or null when they were not kept. */
  readonly sessionId: string | null;
}

/** Compact session records, newest first, bounded like traces (docs/storage.md). */
export interface SessionLog {
  append(record: Omit<SessionLogEntry, 'id'>): Promise<void>;
  list(
    deviceId: string,
    query?: { readonly limit?: number; readonly cursor?: string },
  ): Promise<Page<SessionLogEntry>>;
}

/** Retention of every table the pruner bounds (docs/storage.md, Retention). */
export interface RetentionOptions {
  readonly traces?: Partial<TraceRetention>;
  /** Compact session records: default 7 days and 1000 per device. */
  readonly sessionLog?: { readonly maxAgeMs?: number; readonly maxPerDevice?: number };
  /** Notification attempts: default 30 days and 100 per device. */
  readonly notifyAttempts?: { readonly maxAgeMs?: number; readonly maxPerDevice?: number };
  /** Audit entries: default 400 days. */
  readonly audit?: { readonly maxAgeMs?: number };
}

/** Sizes for metrics: the database's bytes and the oldest trace kept. */
export interface StoreStats {
  /** Bytes the database takes: SQLite's files (database, WAL), PostgreSQL's relations of the schema. */
  readonly bytes: number;
  /** SQLite: pages on the free list (reusable, returned by incremental vacuum). */
  readonly freeBytes?: number;
  /** Time (ms) of the oldest traced message, null when none. */
  readonly oldestTraceAt: number | null;
}

/**
 * Raw protocol trace per device, bounded by {@link TraceRetention}.
 *
 * @example
 * await store.traces.append({ deviceId, sessionId, direction: 'in', contentType, body, at: Date.now() });
 */
export interface TraceStore {
  append(entry: Omit<TraceEntry, 'id' | 'size'>): Promise<number>;
  /** Several entries in one statement (a request and its answer), in order; returns their ids. */
  appendMany(entries: readonly Omit<TraceEntry, 'id' | 'size'>[]): Promise<readonly number[]>;
  /** Newest first unless `oldestFirst`. */
  list(
    deviceId: string,
    query?: {
      readonly sessionId?: string;
      readonly limit?: number;
      readonly cursor?: string;
      readonly oldestFirst?: boolean;
    },
  ): Promise<Page<TraceEntry>>;
  /**
   * Applies trace retention now, at once (to one device, or to all devices and the table total);
   * returns how many messages were dropped. The server does it in batches in its sweep.
   */
  prune(deviceId?: string, now?: number): Promise<number>;
  /** Deletes one session's messages (its trace was not worth keeping after all); returns how many. */
  deleteSession(deviceId: string, sessionId: string): Promise<number>;
  /** Records how a session ended on its last message (one that ends after it, e.g. expired). */
  markEnd?(deviceId: string, sessionId: string, outcome: string): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Device events

/**
 * An alert a device sent on its own: every Generic Alert (1226) item, whatever its type and
 * whether or not it carries a Correlator, and Client Events (1224). Feature code (firmware and
 * software management) reads the outcomes it waits for from here.
 */
export interface DeviceEvent {
  readonly id: number;
  readonly deviceId: string;
  /** When the server received it. */
  readonly at: number;
  /** The Alert code: 1226 Generic Alert, 1224 Client Event. */
  readonly alertCode: number;
  /** Meta/Type of the item (e.g. `org.openmobilealliance.dm.firmwareupdate.update`); null when absent. */
  readonly alertType: string | null;
  /** Meta/Format of the item (`int`, `chr`, `b64`, …). */
  readonly format: string | null;
  /** Meta/Mark (`fatal`, `critical`, `major`, `minor`, `warning`, `informational`, `harmless`, `indeterminate`). */
  readonly mark: string | null;
  /** Item Source/LocURI: the node the alert is about. */
  readonly sourceUri: string | null;
  /** Item Target/LocURI, when the device gave one. */
  readonly targetUri: string | null;
  /** The Alert's Correlator (ties it to an Exec); null when absent. */
  readonly correlator: string | null;
  /** Item Data as text (binary data as base64); null when absent. */
  readonly data: string | null;
  /** DM SessionID of the session that carried it. */
  readonly sessionId: string | null;
}

export type DeviceEventInput = Omit<DeviceEvent, 'id'>;

/** Retention bounds of device events; the older events go first. */
export interface EventRetention {
  /** Keep at most this many events per device (default 1000). */
  readonly maxPerDevice: number;
  /** Drop events older than this (ms, default 90 days). */
  readonly maxAgeMs: number;
}

/**
 * Device events, bounded by {@link EventRetention}.
 *
 * @example
 * await store.events.append([{ deviceId, at: Date.now(), alertCode: 1226, alertType: 'x.y', format: 'chr', mark: null, sourceUri: './X', targetUri: null, correlator: null, data: '200', sessionId: '1' }]);
 * const page = await store.events.list(deviceId, { limit: 50 });
 */
export interface EventStore {
  /** Stores events (of any devices) in order; returns them with their ids. Data longer than 64 KiB is refused. */
  append(events: readonly DeviceEventInput[]): Promise<readonly DeviceEvent[]>;
  /** A device's events, newest first; filters combine with AND. */
  list(
    deviceId: string,
    query?: {
      readonly alertType?: string;
      readonly correlator?: string;
      readonly since?: number;
      readonly limit?: number;
      readonly cursor?: string;
    },
  ): Promise<Page<DeviceEvent>>;
  /** Applies retention now (to one device, or all); returns how many events were dropped. */
  prune(deviceId?: string, now?: number): Promise<number>;
}

// ---------------------------------------------------------------------------------------------
// Audit

export interface AuditEntry {
  readonly id: number;
  readonly at: number;
  /** Who: token name or user. */
  readonly actor: string;
  /** What: a dotted verb such as `device.create`, `command.enqueue`, `token.revoke`. */
  readonly action: string;
  /** On what: device id, command id, token id… */
  readonly target: string | null;
  readonly details: Readonly<Record<string, unknown>> | null;
}

/** Append-only log of operator actions. */
export interface AuditLog {
  append(entry: {
    readonly actor: string;
    readonly action: string;
    readonly target?: string | null;
    readonly details?: Readonly<Record<string, unknown>>;
    readonly at?: number;
  }): Promise<AuditEntry>;
  /** Newest first. */
  list(query?: {
    readonly actor?: string;
    readonly target?: string;
    readonly action?: string;
    readonly since?: number;
    readonly limit?: number;
    readonly cursor?: string;
  }): Promise<Page<AuditEntry>>;
}

// ---------------------------------------------------------------------------------------------
// API tokens

export const Role = { Admin: 'admin', Operator: 'operator', Viewer: 'viewer' } as const;
export type Role = (typeof Role)[keyof typeof Role];
export const ROLES: readonly Role[] = Object.values(Role);

export interface ApiToken {
  readonly id: string;
  readonly name: string;
  readonly role: Role;
  readonly createdAt: number;
  readonly createdBy: string | null;
  readonly revokedAt: number | null;
  readonly lastUsedAt: number | null;
}

/**
 * API tokens, stored as sha256 hashes; the plaintext is returned once by `create`.
 *
 * @example
 * const { token, secret } = await store.tokens.create({ name: 'ci', role: 'operator' });
 * const who = await store.tokens.verify(secret); // ApiToken | undefined
 */
export interface TokenStore {
  create(input: {
    readonly name: string;
    readonly role: Role;
    readonly createdBy?: string;
    /** Import an existing plaintext token (e.g. `--token`/OMADM_TOKEN) instead of generating one. */
    readonly secret?: string;
  }): Promise<{ readonly token: ApiToken; readonly secret: string }>;
  /** The live (unrevoked) token for a plaintext secret; updates last-used time. */
  verify(secret: string): Promise<ApiToken | undefined>;
  /** Revokes; returns the record before revocation (undefined when unknown). */
  revoke(id: string): Promise<ApiToken | undefined>;
  list(options?: { readonly includeRevoked?: boolean }): Promise<readonly ApiToken[]>;
}

// ---------------------------------------------------------------------------------------------
// The store

/** Totals of a maintenance sweep. */
export interface SweepReport extends RecoveryReport {
  readonly sessionsExpired: number;
  /** Sessions the sweep ended while still open (idle past their expiry); closed ones are not listed. */
  readonly sessions?: readonly ExpiredSession[];
  readonly tracesPruned: number;
  /** Rows deleted by retention, by table rule (`trace`, `session_log`, `command`, …). */
  readonly pruned: Readonly<Record<string, number>>;
  /** Finished commands deleted after the command retention period. */
  readonly commandsPurged: number;
  /** Device events dropped by their retention. */
  readonly eventsPruned: number;
}

/**
 * A device's notification (Package 0) state: at most one outstanding per device, shared by every
 * server process on the database. `outstanding` from the first send until the device opens a
 * session, the commands are gone, or the retries run out.
 */
export interface NotificationState {
  readonly deviceId: string;
  /** SessionID (hex) every attempt of this notification carries, so a device opens one session. */
  readonly sessionId: string;
  /** Package 0 ui-mode (`background`, `informative`, `user-interaction`, `not-specified`). */
  readonly uiMode: string;
  /** The operator whose action began it (audited with its attempts), or null. */
  readonly actor: string | null;
  readonly outstanding: boolean;
  /** Attempts sent so far (0 while the first is deferred by the rate limit). */
  readonly attempts: number;
  /** When this notification began; a device seen after it has answered. */
  readonly firstAt: number;
  /** When the latest attempt went out (null before the first). */
  readonly lastAt: number | null;
  /** When the next attempt (or the give-up check) is due; null when none. */
  readonly nextAt: number | null;
}

/** One notification attempt, as recorded: successes, refusals and bearer errors alike. */
export interface NotificationAttempt {
  readonly id: string;
  readonly deviceId: string;
  readonly at: number;
  readonly bearer: string;
  readonly target: string;
  readonly sessionId: string;
  readonly uiMode: string;
  /** 1 for the first send of a notification, 2.. for retries. */
  readonly attempt: number;
  /** What asked for it: `request` (POST …/notify), `enqueue` (a command was queued), `retry`. */
  readonly trigger: string;
  /** The operator (token name) behind it, or null for retries. */
  readonly actor: string | null;
  /** `accepted` (next hop took it), `refused` (next hop said no) or `error` (could not deliver). */
  readonly result: 'accepted' | 'refused' | 'error';
  /** Bearer status (`SMPP 0x…`, `SIP 415`) or error code (`PUSH_TIMEOUT`). */
  readonly status: string | null;
  readonly detail: string | null;
  readonly parts: number;
  readonly ids: readonly string[];
}

export type NotificationAttemptInput = Omit<NotificationAttempt, 'id'>;

/**
 * Per-device notification state and the attempt log. Every transition is one conditional write,
 * so several server processes on one database agree on who sends.
 */
export interface NotificationStore {
  get(deviceId: string): Promise<NotificationState | null>;
  /**
   * Begins a notification unless one is outstanding or the last attempt went out less than
   * `minIntervalMs` ago. Returns the new state when this caller won (it must send, or leave it to
   * the sweep when `nextAt` is set), null otherwise.
   */
  begin(input: {
    readonly deviceId: string;
    readonly sessionId: string;
    readonly uiMode: string;
    readonly actor?: string | null;
    readonly now: number;
    readonly minIntervalMs: number;
    /** Set to defer the first attempt (rate limit): the sweep sends it then. */
    readonly nextAt?: number | null;
    /** Begin even if one is outstanding (an operator's explicit request): same SessionID kept. */
    readonly force?: boolean;
  }): Promise<NotificationState | null>;
  /** Takes a due attempt (`nextAt <= now`) for this process by pushing `nextAt` to `leaseUntil`. */
  claimDue(now: number, leaseUntil: number, limit: number): Promise<readonly NotificationState[]>;
  /** After an attempt: attempts +1, last sent now, next due at `nextAt` (null: none). */
  sent(deviceId: string, sessionId: string, now: number, nextAt: number | null): Promise<void>;
  /** Reschedules without sending (rate limit). */
  defer(deviceId: string, sessionId: string, nextAt: number): Promise<void>;
  /**
   * Ends the outstanding notification (answered, nothing to deliver, or retries exhausted).
   * `answered`: the device came, so the minimum interval no longer holds back the next one.
   */
  finish(deviceId: string, sessionId: string, options?: { readonly answered?: boolean }): Promise<void>;
  record(attempt: NotificationAttemptInput): Promise<NotificationAttempt>;
  /** A device's attempts, newest first. */
  attempts(
    deviceId: string,
    options?: { readonly limit?: number; readonly before?: string },
  ): Promise<readonly NotificationAttempt[]>;
  /** Deletes attempts older than `before` (ms). */
  prune(before: number): Promise<number>;
}

/**
 * All stores on one database. `await using store = await openStore(url)` closes it.
 */
export interface Store extends AsyncDisposable {
  readonly backend: 'sqlite' | 'postgres';
  readonly devices: DeviceStore;
  readonly tree: TreeCache;
  readonly queue: CommandQueue;
  readonly sessions: SessionStore;
  readonly traces: TraceStore;
  readonly audit: AuditLog;
  readonly tokens: TokenStore;
  readonly notifications: NotificationStore;
  readonly sessionLog: SessionLog;
  /** Bounds another table (e.g. a module's own log) with the same pruner (store/retention.ts). */
  addRetentionRule(rule: RetentionRule): void;
  /** The retention rules in force. */
  retentionRules(): readonly RetentionRule[];
  /** Database size and the oldest trace (for metrics; cheap). */
  stats(): Promise<StoreStats>;
  /** Alerts devices sent on their own (Generic Alerts, Client Events). */
  readonly events: EventStore;
  /** Which tree leaves hold secrets (sealed at rest, redacted in API answers and traces). */
  readonly secrets: SecretLeaves;
  /**
   * Periodic maintenance (run every few seconds by each server process; idempotent and safe to run
   * concurrently): expire idle sessions and release their commands, recover dead leases, expire
   * commands, apply retention (a bounded share of it per sweep, in batches).
   */
  sweep(now?: number, options?: { readonly pruneBudgetMs?: number }): Promise<SweepReport>;
  close(): Promise<void>;
}
