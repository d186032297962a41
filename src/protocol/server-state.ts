/**
 * The server session state: plain JSON, complete enough that any server process can continue a
 * session from it (issue 5: stateless server nodes).
 */
import type { Json } from './json.ts';
import type { IncomingObject } from './large-object.ts';

/** Named states of a server session (one handler per state in server-session.ts). */
export const ServerPhase = {
  /** Package 1 seen, client not yet authenticated (challenge outstanding). */
  Authenticating: 'authenticating',
  /** Authenticated; management packages flowing. */
  Managing: 'managing',
  /** Over: package 4 sent, aborted or auth given up. */
  Closed: 'closed',
} as const;
export type ServerPhase = (typeof ServerPhase)[keyof typeof ServerPhase];

/** A command sent to the device and waiting for its Status (and Results). */
export interface AwaitingCommand {
  /** Queue id of the top-level command this belongs to. */
  readonly id: string;
  readonly cmd: string;
  /** Key (`msgId:cmdId`) of the enclosing Atomic/Sequence, for members. */
  readonly parent?: string;
  /** Chunk position when the command carried a large object. */
  readonly part: 'whole' | 'first' | 'middle' | 'last';
  status?: number;
  /** Every Status received for it, when the client sent one per group of Items (codes differ). */
  itemStatuses?: { status: number; targets: string[] }[];
  statusItems?: Json;
  results?: Json[];
  /** Top-level commands: the command as queued, to resend after an auth challenge. */
  readonly original?: Json;
}

/** An outgoing queue entry in JSON form (see packer.OutEntry). */
export interface StoredOutEntry {
  readonly cmd: Json;
  readonly tag?: string;
  readonly offset?: number;
}

export interface ServerSessionState {
  readonly v: 1;
  /** Unguessable id in the RespURI; the store key. */
  readonly token: string;
  /** Optimistic-concurrency counter, +1 on each save. */
  revision: number;
  readonly deviceId: string;
  /** SessionID as the client sent it (echoed verbatim). */
  readonly sessionId: string;
  /** 1200 or 1201. */
  readonly initiator: number;
  phase: ServerPhase;
  readonly encoding: 'xml' | 'wbxml';
  /** Media type the client used (answers use the same family). */
  readonly mediaType: string;
  readonly verDtd: string;
  readonly verProto: string;
  /** The server URI the client addressed (our Source LocURI). */
  readonly serverUri: string;
  readonly startedAt: number;
  lastActivityAt: number;
  /** Last accepted client MsgID. */
  clientMsgId: number;
  /** Last MsgID we sent. */
  serverMsgId: number;
  messages: number;
  clientMaxMsgSize?: number;
  clientMaxObjSize?: number;
  auth: {
    /** Client authenticated for the session (212), or per message (HMAC: 200). */
    authenticated: boolean;
    failures: number;
    /** Base64 nonce issued to the client in this session (last Chal). */
    nonce?: string;
    /** Base64 nonce the session's authenticating Cred was made with (a client may repeat that Cred). */
    sessionNonce?: string;
    /** Client accepted our credentials with 212 (no more Cred needed). */
    serverAccepted: boolean;
    serverFailures: number;
    /** Base64 nonce the client issued for our next credential. */
    serverNonce?: string;
  };
  /** Commands of the current server package not yet sent. */
  outbox: StoredOutEntry[];
  /** Consecutive exchanges in which neither side moved on (capped by maxIdleExchanges). */
  idleExchanges?: number;
  /** Statuses that did not fit the client's MaxMsgSize: sent first in the next message. */
  deferredStatuses?: Json[];
  /** Sent commands by `msgId:cmdId`. */
  awaiting: Record<string, AwaitingCommand>;
  /** Large object being received. */
  incoming?: IncomingObject;
  /** DevInfo gathered from package 1. */
  devInfo: Record<string, string>;
  /**
   * The transport binding (TLS client certificate fingerprint) the session was authenticated over:
   * its token is worth nothing without it.
   */
  binding?: string;
  /** The last reply, to answer a retransmitted request identically (no double execution). */
  lastReply?: {
    readonly requestHash: string;
    /**
     * Base64 of the answer; absent when the session store keeps the bytes apart
     * (`SessionStore.loadReply`), so that the state stays small.
     */
    readonly body?: string;
    readonly mediaType: string;
    readonly hmac?: string;
    readonly done: boolean;
    /**
     * How the request was accepted: `credential` (it carried what authenticated it: Cred, HMAC,
     * certificate), `token` (on the session's token), `session` (by SessionID, where RespURI is
     * not used), `failed` (refused; never answered again).
     * A retransmission is answered from this reply only when accepted the same way.
     */
    readonly acceptedBy?: 'credential' | 'token' | 'session' | 'failed';
  };
}
