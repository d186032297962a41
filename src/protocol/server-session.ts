/**
 * The DM server session engine (protocol.md §3, §4): one `handle()` per received client message,
 * I/O-free apart from the injected stores. All session state lives in a `SessionStore` between
 * messages, so any process can handle the next message of a session.
 *
 * Per message: decode → find the session (RespURI token, or package 1) → reject retransmissions
 * and out-of-order MsgIDs → authenticate the client → correlate Status/Results with what we sent
 * → answer the client's commands → build the next package (continuation, "next message"
 * response, new commands from the CommandSource, or package 4) → save state (compare-and-set).
 */
import { createHash, createHmac, randomBytes as nodeRandomBytes } from 'node:crypto';
import type { Chal, Command, Cred, Item, Status, SyncML } from '../representation/index.ts';
import { AlertCode, detectEncoding, EncodeError, StatusCode } from '../representation/index.ts';
import {
  AuthScheme,
  basicCredential,
  buildHmacHeader,
  decodeNonce,
  encodeNonce,
  md5CredentialFromDigest,
  parseAuthScheme,
  parseChal,
  verifyBasic,
  verifyHmac,
  verifyMd5,
  credentialDigest,
} from './auth/index.ts';
import { type AuthGuard, AuthFailureReason } from './auth-guard.ts';
import { answerMediaType, type Encoding, encodingOfMediaType, type MessageCodec } from './codec.ts';
import { channels } from './diagnostics.ts';
import { SessionError, SessionErrorCode } from './errors.ts';
import { fromJson, toJson } from './json.ts';
import { withExplicitFormat } from './explicit-format.ts';
import { continues, isChunk, receiveChunk } from './large-object.ts';
import { resolveLimits, type SessionLimits } from './limits.ts';
import {
  alert,
  commandStatus,
  dataText,
  echoSafe,
  header,
  headerStatus,
  intOf,
  message,
  numberCommands,
} from './message.ts';
import { dataSize, isChunkable, type OutEntry, pack } from './packer.ts';
import type {
  AuthMode,
  ClientAlert,
  CommandOutcome,
  CommandSource,
  CredentialSource,
  DeviceCredentials,
  QueuedCommand,
  SessionOutcome,
  SessionHead,
  SessionRef,
  SessionStore,
} from './server-sources.ts';
import { type AwaitingCommand, ServerPhase, type ServerSessionState } from './server-state.ts';

export interface ServerEngineOptions {
  readonly codec: MessageCodec;
  readonly credentials: CredentialSource;
  readonly commands: CommandSource;
  readonly sessions: SessionStore;
  readonly limits?: Partial<SessionLimits>;
  /** Clock (ms since epoch). */
  readonly now?: () => number;
  /** Randomness for nonces and session tokens. */
  readonly randomBytes?: (size: number) => Uint8Array;
  /** Scheme to challenge with when a device is unknown. Default md5. */
  readonly defaultAuth?: 'basic' | 'md5' | 'hmac';
  /** DM protocol version to speak when the client's is unknown. */
  readonly verProto?: string;
  /** Brute-force protection: backoff before checking a sender, told of every failure and success. */
  readonly guard?: AuthGuard;
  /**
   * Accept devices with auth mode `none` on messages not marked `secure` (over plain HTTP).
   * Default false: with no credentials, only the server-authenticated TLS channel protects them.
   */
  readonly noAuthWithoutTls?: boolean;
}

/** One received message, as the binding hands it over. */
export interface ServerRequest {
  readonly body: Uint8Array;
  readonly contentType: string | undefined;
  /** The `x-syncml-hmac` header, if any. */
  readonly hmac?: string | undefined;
  /** Session token from the URL the message was posted to (our earlier RespURI). */
  readonly sessionToken?: string | undefined;
  /** Builds the RespURI for a session token; without it no RespURI is sent. */
  readonly respUri?: ((token: string) => string) | undefined;
  /** Identity proven by the transport (e.g. TLS client certificate subject CN). */
  readonly transportIdentity?: string | undefined;
  /**
   * What ties the connection to one client, when the transport has it (the TLS client
   * certificate's fingerprint): a session opened with one accepts messages only with the same.
   */
  readonly transportBinding?: string | undefined;
  /** The sender's address (for backoff and logs). */
  readonly source?: string | undefined;
  /** The message came over TLS (a device with auth mode `none` is accepted only then). */
  readonly secure?: boolean | undefined;
}

export interface ServerResponse {
  readonly body: Uint8Array;
  readonly mediaType: string;
  /** `x-syncml-hmac` header value to send, when the server authenticates with HMAC. */
  readonly hmac?: string;
  /** The session is over after this message (the client will not answer). */
  readonly done: boolean;
  readonly deviceId: string;
  readonly sessionId: string;
  /** The session's unique token (store key, RespURI `s` parameter); SessionIDs repeat, tokens do not. */
  readonly token: string;
  /**
   * The sender was authenticated (or accepted on its session's token). When false nothing of the
   * message was stored: the answer is a refusal, and the binding should keep no trace of it either.
   */
  readonly authenticated: boolean;
  /** When not `authenticated`: why the sender was refused. */
  readonly refusal?: AuthFailureReason;
}

interface Work {
  readonly msg: SyncML;
  readonly state: ServerSessionState;
  readonly creds: DeviceCredentials | undefined;
  readonly ref: SessionRef;
  readonly statuses: Status[];
  /** Commands to send after the statuses (Alert 1222/1223/1225). */
  readonly extra: Command[];
  wantsNext: boolean;
  /** The client's message moved the session on (answered one of our commands, sent one of its own). */
  progress: boolean;
  aborted: boolean;
  /** Keys of our messages whose commands the client refused for our credentials. */
  readonly resend: Set<string>;
  /** Queue ids taken from the CommandSource while handling this message. */
  readonly taken: string[];
  readonly respUri: ((token: string) => string) | undefined;
  endOutcome?: SessionOutcome;
  /** A command sent and never answered was left for the source's `sessionEnded` to decide. */
  leftUnanswered?: boolean;
  /**
   * The device's latest stored session as read at the start of this message (null: none), or
   * only its head.
   */
  readonly latest?: ServerSessionState | SessionHead | null;
  /** The message reached its session through the session's token (RespURI). */
  readonly viaToken: boolean;
  /** Sender's address, for the guard. */
  readonly source: string | undefined;
  /** How this message's sender was accepted (kept with the reply, checked on a retransmission). */
  acceptedBy?: 'credential' | 'token' | 'session' | 'failed';
  /** The reply refuses an unauthenticated sender: nothing of this message is stored. */
  unauthenticated?: boolean;
  /** Why the sender was refused. */
  refusal?: AuthFailureReason;
}

const FINISHED: ReadonlySet<string> = new Set(['whole', 'last']);

function isEmpty(o: object): boolean {
  for (const _ in o) return false;
  return true;
}

export class DmServerEngine {
  readonly #o: ServerEngineOptions;
  readonly #limits: SessionLimits;
  readonly #now: () => number;
  readonly #random: (size: number) => Uint8Array;
  /** Keys challenge nonces of devices without a digest (unknown ones): never verified, only looked alike. */
  readonly #nonceKey = nodeRandomBytes(32);

  constructor(options: ServerEngineOptions) {
    this.#o = options;
    this.#limits = resolveLimits(options.limits);
    this.#now = options.now ?? Date.now;
    this.#random = options.randomBytes ?? ((n) => new Uint8Array(nodeRandomBytes(n)));
  }

  get limits(): SessionLimits {
    return this.#limits;
  }

  /** Handles one client message and returns the server's answer. Throws SessionError for messages that get no SyncML answer. */
  async handle(req: ServerRequest): Promise<ServerResponse> {
    // The bytes decide (libdmclient labels WBXML with the DS type; peers mislabel); the header hints.
    const encoding = detectEncoding(req.body, req.contentType) ?? encodingOfMediaType(req.contentType);
    if (!encoding)
      throw new SessionError(SessionErrorCode.ContentType, `unsupported content type ${req.contentType}`);
    let msg: SyncML;
    try {
      msg = this.#o.codec.decode(req.body, encoding);
    } catch (cause) {
      throw new SessionError(SessionErrorCode.Decode, 'undecodable SyncML message', { status: 400, cause });
    }
    const hdr = msg.SyncHdr;
    const msgId = intOf(hdr.MsgID);
    if (msgId === undefined || msgId < 1)
      throw new SessionError(SessionErrorCode.Protocol, `bad MsgID ${hdr.MsgID}`);
    for (const id of [hdr.SessionID, hdr.Source.LocURI, hdr.Target.LocURI]) {
      // Identifiers are echoed in every answer: they must be non-empty and XML-safe.
      if (id === '' || echoSafe(id) !== id || id.length > 1024) {
        throw new SessionError(SessionErrorCode.Protocol, 'unusable SessionID or LocURI in SyncHdr', {
          status: 400,
        });
      }
    }
    const deviceId = hdr.Source.LocURI;
    const now = this.#now();
    const requestHash = createHash('sha256')
      .update(req.body)
      .update(req.hmac ?? '')
      .digest('base64');
    const hasInitAlert = msg.SyncBody.commands.some(
      (c) =>
        c.type === 'Alert' &&
        (c.Data === AlertCode.ClientInitiatedMgmt || c.Data === AlertCode.ServerInitiatedMgmt),
    );
    const isInit = msgId === 1 && hasInitAlert;
    // Package 1 repeated after a challenge (protocol.md §4.3, next MsgID): refused attempts leave
    // no session behind, so it starts one unless it continues an open session of that SessionID.
    const restart = msgId > 1 && hasInitAlert;
    const source = req.source;

    // Nothing is read for this device (session, cached answer) before its backoff has passed.
    await this.#o.guard?.admit(deviceId, source);

    // Find the session.
    let loaded: ServerSessionState | undefined;
    /** The device's latest session, when looked up for this message (reused by #supersede). */
    let latest: ServerSessionState | SessionHead | null | undefined;
    /** Credentials a store read together with the head (then not looked up again). */
    let known: DeviceCredentials | undefined;
    let viaToken = false;
    if (req.sessionToken) {
      loaded = await this.#o.sessions.load(req.sessionToken);
      viaToken = loaded !== undefined;
    }
    if (!loaded && !req.sessionToken) {
      // A client that does not follow RespURI: find its session by device and SessionID. For a
      // package 1, only a retransmission (same bytes) continues the device's current session.
      const sessions = this.#o.sessions;
      let current: ServerSessionState | undefined;
      if (isInit && sessions.loadHeadByDevice) {
        // Usually a new session: the head tells, the full state is read only to continue it.
        const found = await sessions.loadHeadByDevice(deviceId);
        known = found?.credentials;
        const head = found?.token !== undefined ? (found as SessionHead) : undefined;
        latest = head ?? null;
        if (head && head.sessionId === hdr.SessionID && head.requestHash === requestHash) {
          current = await sessions.load(head.token);
          latest = current ?? null;
        }
      } else {
        current = await sessions.loadByDevice(deviceId);
        latest = current ?? null;
      }
      if (current && current.sessionId === hdr.SessionID) {
        if (!isInit || current.lastReply?.requestHash === requestHash) loaded = current;
      }
    }
    if (loaded && (loaded.deviceId !== deviceId || loaded.sessionId !== hdr.SessionID)) {
      if (!isInit)
        throw new SessionError(SessionErrorCode.Hijack, 'message does not belong to this session', {
          status: 403,
        });
      loaded = undefined;
    }
    if (
      loaded &&
      isInit &&
      msgId === 1 &&
      loaded.clientMsgId >= 1 &&
      !(loaded.lastReply?.requestHash === requestHash)
    ) {
      loaded = undefined; // a new session reusing the SessionID
    }
    if (
      loaded &&
      restart &&
      loaded.phase === ServerPhase.Closed &&
      loaded.lastReply?.requestHash !== requestHash
    ) {
      loaded = undefined; // a package 1 retry reusing the SessionID of a finished session
    }
    if (loaded && this.#expired(loaded, now)) {
      await this.#close(loaded, 'expired');
      if (!isInit && !restart)
        throw new SessionError(SessionErrorCode.UnknownSession, 'session expired', { status: 404 });
      loaded = undefined;
    }
    if (loaded && loaded.binding !== undefined && req.transportBinding !== loaded.binding) {
      // The session's token or SessionID without the TLS client certificate it was opened over.
      this.#o.guard?.failed({
        deviceId,
        source,
        reason: AuthFailureReason.TransportMismatch,
        detail: 'message not over the TLS client certificate of its session',
      });
      if (!isInit && !restart)
        throw new SessionError(SessionErrorCode.Hijack, 'message does not belong to this session', {
          status: 403,
        });
      loaded = undefined; // a package 1: a new session, which must authenticate on its own
    }
    if (!loaded && !isInit && !restart) {
      throw new SessionError(SessionErrorCode.UnknownSession, `no session ${hdr.SessionID} for ${deviceId}`, {
        status: 404,
      });
    }
    if (loaded) {
      const last = loaded.lastReply;
      const retransmission = msgId === loaded.clientMsgId && last?.requestHash === requestHash;
      if (loaded.phase === ServerPhase.Closed && !retransmission) {
        throw new SessionError(SessionErrorCode.Closed, 'session is over', { status: 404 });
      }
      if (retransmission && last) {
        // Retransmission (the answer was lost): answer identically, execute nothing twice — but
        // only to a sender accepted the way the original was (same bytes carry the same Cred or
        // HMAC; a token-accepted message must come on the token; a refusal is never repeated).
        if (!this.#sameSender(loaded, viaToken)) {
          if (loaded.phase === ServerPhase.Closed || (!isInit && !restart)) {
            throw new SessionError(
              last.acceptedBy === 'failed' ? SessionErrorCode.Closed : SessionErrorCode.Hijack,
              last.acceptedBy === 'failed' ? 'session is over' : 'message does not belong to this session',
              { status: last.acceptedBy === 'failed' ? 404 : 403 },
            );
          }
          loaded = undefined; // a package 1 from someone else: it must authenticate on its own
        } else {
          const body =
            last.body !== undefined
              ? new Uint8Array(Buffer.from(last.body, 'base64'))
              : await this.#o.sessions.loadReply?.(loaded);
          if (body === undefined) {
            // Gone since the state was read (the session ended meanwhile): the client may retry.
            throw new SessionError(SessionErrorCode.Conflict, 'last answer not available', { status: 503 });
          }
          return {
            body,
            mediaType: last.mediaType,
            ...(last.hmac === undefined ? {} : { hmac: last.hmac }),
            done: last.done,
            deviceId,
            sessionId: loaded.sessionId,
            token: loaded.token,
            authenticated: true,
          };
        }
      }
      if (loaded && msgId !== loaded.clientMsgId + 1) {
        throw new SessionError(
          SessionErrorCode.MsgIdOrder,
          `MsgID ${msgId} out of order (expected ${loaded.clientMsgId + 1})`,
          { status: 400 },
        );
      }
    }

    const creds = known ?? (await this.#o.credentials.lookup(deviceId));
    const expectedRevision = loaded?.revision ?? 0;
    // `load` hands out a fresh object (SessionStore contract), so it is advanced in place.
    const state: ServerSessionState = loaded ?? this.#newState(msg, encoding, req, now, msgId);
    state.clientMsgId = msgId;
    state.lastActivityAt = now;
    state.messages++;
    const meta = hdr.Meta;
    if (meta?.MaxMsgSize !== undefined) state.clientMaxMsgSize = meta.MaxMsgSize;
    if (meta?.MaxObjSize !== undefined) state.clientMaxObjSize = meta.MaxObjSize;
    const ref: SessionRef = {
      deviceId,
      sessionId: state.sessionId,
      initiator: state.initiator,
      ...(loaded ? {} : { firstMessage: true }),
    };
    channels.messageIn.publish({
      role: 'server',
      sessionId: state.sessionId,
      deviceId,
      msgId,
      bytes: req.body.byteLength,
      encoding,
    });

    const work: Work = {
      msg,
      state,
      creds,
      ref,
      statuses: [],
      extra: [],
      wantsNext: false,
      progress: false,
      aborted: false,
      resend: new Set(),
      taken: [],
      respUri: req.respUri,
      ...(latest !== undefined ? { latest } : {}),
      viaToken,
      source,
    };

    const reply = await this.#step(work, req, viaToken, now);
    reply.requestHash = requestHash;
    return this.#finish(work, reply, expectedRevision);
  }

  #expired(s: ServerSessionState, now: number): boolean {
    return (
      now - s.lastActivityAt > this.#limits.idleTimeoutMs ||
      now - s.startedAt > this.#limits.maxSessionDurationMs * 2
    );
  }

  #newState(
    msg: SyncML,
    encoding: Encoding,
    req: ServerRequest,
    now: number,
    msgId: number,
  ): ServerSessionState {
    const init = msg.SyncBody.commands.find(
      (c) => c.type === 'Alert' && (c.Data === 1200 || c.Data === 1201),
    );
    return {
      v: 1,
      token: Buffer.from(this.#random(16)).toString('base64url'),
      revision: 0,
      deviceId: msg.SyncHdr.Source.LocURI,
      sessionId: msg.SyncHdr.SessionID,
      initiator:
        init?.type === 'Alert' && init.Data !== undefined ? init.Data : AlertCode.ClientInitiatedMgmt,
      phase: ServerPhase.Authenticating,
      encoding,
      mediaType: answerMediaType(req.contentType, encoding),
      verDtd: msg.SyncHdr.VerDTD || '1.2',
      verProto: msg.SyncHdr.VerProto || this.#o.verProto || 'DM/1.2',
      serverUri: msg.SyncHdr.Target.LocURI,
      startedAt: now,
      lastActivityAt: now,
      clientMsgId: msgId - 1,
      // A package 1 retried after refusals: each refused attempt had its answer (one per message).
      serverMsgId: msgId - 1,
      messages: 0,
      auth: { authenticated: false, failures: 0, serverAccepted: false, serverFailures: 0 },
      outbox: [],
      awaiting: {},
      devInfo: {},
    };
  }

  /** The state machine: one branch per phase. */
  async #step(w: Work, req: ServerRequest, viaToken: boolean, now: number): Promise<PendingReply> {
    const { state, msg } = w;
    // Messages not sent to our RespURI must prove the sender again (no hijacking by SessionID).
    // With RespURI in use, a message not sent to it must carry credentials again.
    const mustAuth =
      state.phase === ServerPhase.Authenticating ||
      this.#mode(w) === 'hmac' ||
      (req.respUri !== undefined && !viaToken);
    // A credential a message carries is checked even where none is needed: one that does not
    // verify is never ignored.
    const carries = msg.SyncHdr.Cred !== undefined || req.hmac !== undefined;
    let hdrCode: number = StatusCode.Ok;
    let chal: Chal | undefined;
    if (mustAuth || carries) {
      // Limits are checked after this: an unauthenticated message must not end anyone's session.
      const verdict = await this.#verifyClient(w, req, mustAuth);
      if (!verdict.ok) return this.#refuse(w, verdict);
      this.#o.guard?.succeeded(state.deviceId, w.source);
      w.acceptedBy = 'credential';
      if (mustAuth) {
        hdrCode = verdict.code;
        chal = verdict.chal;
      }
      if (state.phase === ServerPhase.Authenticating) {
        state.phase = ServerPhase.Managing;
        // Bound to the certificate it was opened over: its token is worth nothing without it.
        if (req.transportBinding !== undefined) state.binding = req.transportBinding;
        channels.sessionStart.publish({
          role: 'server',
          sessionId: state.sessionId,
          deviceId: state.deviceId,
        });
        await this.#o.credentials.authenticated?.(state.deviceId);
        await this.#supersede(state, w.latest);
      }
    } else {
      w.acceptedBy = viaToken ? 'token' : 'session';
    }
    if (msg.SyncBody.commands.length > this.#limits.maxCommandsPerMessage) {
      return this.#abortReply(w, StatusCode.RequestEntityTooLarge, 'limit');
    }
    if (
      state.messages > this.#limits.maxMessagesPerSession ||
      now - state.startedAt > this.#limits.maxSessionDurationMs
    ) {
      return this.#abortReply(w, StatusCode.Ok, 'limit');
    }
    w.statuses.push(headerStatus(msg.SyncHdr, hdrCode, chal));
    return this.#manage(w);
  }

  /** Managing phase: correlate statuses, answer commands, decide what to send. */
  async #manage(w: Work): Promise<PendingReply> {
    const { state, msg } = w;
    const msgRef = msg.SyncHdr.MsgID;
    const cmds = msg.SyncBody.commands;
    for (let i = 0; i < cmds.length; i++) {
      const cmd = cmds[i]!;
      if (w.aborted) {
        if (cmd.type !== 'Status' && cmd.type !== 'Results')
          w.statuses.push(commandStatus(cmd, msgRef, StatusCode.NotExecuted));
        continue;
      }
      if (state.incoming && !continues(state.incoming, cmd) && cmd.type !== 'Status') {
        // A new command before the object's last chunk (protocol.md §3.9): 1225, drop the object.
        const inc = state.incoming;
        delete state.incoming;
        const items: Item[] = [
          {
            ...(inc.target ? { Target: { LocURI: inc.target } } : {}),
            ...(inc.source ? { Source: { LocURI: inc.source } } : {}),
          },
        ];
        w.extra.push(alert(AlertCode.NoEndOfData, items));
      }
      await this.#receive(w, cmd, msgRef);
    }

    if (w.aborted) {
      return this.#reply(w, [], true, 'aborted');
    }
    // Neither side moving on (only SyncHdr Statuses and 1222 going back and forth) is capped.
    // Statuses an earlier answer had no room for are part of our package too.
    const ourPackageOpen = state.outbox.length > 0 || state.deferredStatuses !== undefined;
    if (w.progress || ourPackageOpen) delete state.idleExchanges;
    else state.idleExchanges = (state.idleExchanges ?? 0) + 1;
    if ((state.idleExchanges ?? 0) > this.#limits.maxIdleExchanges) {
      w.statuses.length = 0;
      return this.#abortReply(w, StatusCode.Ok, 'stalled');
    }
    // The client's package continues: "next message" response (protocol.md §3.3). While our own
    // package is open, any message of the client lets us continue it: a client may not close its
    // package before we close ours, and may leave out the 1222 when it has Statuses to send.
    if (!msg.SyncBody.Final && !ourPackageOpen) {
      return this.#reply(w, [alert(AlertCode.NextMessage)], false);
    }
    // Requeue what the client refused because of our credentials.
    if (w.resend.size > 0) this.#requeueRefused(w);
    if (state.outbox.length === 0) {
      await this.#settle(w, false);
      await this.#flushDevInfo(w);
      // The outbox is empty here: with nothing awaiting a Status either, the session holds nothing.
      let held = false;
      for (const _ in state.awaiting) {
        held = true;
        break;
      }
      const ref = held ? w.ref : { ...w.ref, holdsNothing: true };
      const next = await this.#o.commands.next(ref, this.#limits.maxCommandsPerPackage);
      for (const q of next) w.taken.push(q.id);
      const notSent: CommandOutcome[] = [];
      const unsendable = this.#unencodable(state, next);
      for (const q of next) {
        const tooBig = this.#tooBigForClient(state, q.command);
        const cannot = unsendable.get(q.id);
        if (cannot !== undefined)
          notSent.push({ id: q.id, status: StatusCode.BadRequest, notSent: true, reason: cannot });
        else if (tooBig)
          notSent.push({
            id: q.id,
            status: StatusCode.RequestEntityTooLarge,
            notSent: true,
            reason: `not sent: its value exceeds the device's MaxObjSize (${state.clientMaxObjSize})`,
          });
        // Format explicit on every Add/Replace: some clients crash without it.
        else state.outbox.push({ cmd: toJson(withExplicitFormat(q.command, state.encoding)), tag: q.id });
      }
      if (notSent.length > 0) await this.#o.commands.settle(w.ref, notSent);
      if (state.outbox.length === 0) {
        // A package with a challenge is not the last (protocol.md §3.1): in a session a trigger
        // started, the client answers with a new nonce for our credential and Package 0.
        if (this.#awaitsServerNonce(w)) return this.#reply(w, [], true);
        // Package 4: nothing left to do; the client does not answer.
        return this.#reply(w, [], true, 'completed');
      }
    }
    return this.#reply(w, [], false);
  }

  /**
   * A session a Package 0 started (Alert 1200): this reply challenges the client, we authenticate
   * with a device-issued nonce (md5, HMAC) — the one the trigger's digest used — and the device has
   * not sent a new one in this session: its answer will, so the trigger does not verify again.
   */
  #awaitsServerNonce(w: Work): boolean {
    const mode = this.#serverCredMode(w);
    const hdr = w.statuses[0];
    return (
      w.state.initiator === AlertCode.ServerInitiatedMgmt &&
      (mode === 'md5' || mode === 'hmac') &&
      w.state.auth.serverNonce === undefined &&
      hdr?.type === 'Status' &&
      hdr.Chal !== undefined
    );
  }

  /**
   * Commands this session's encoding cannot carry (a chr value with a control character in XML):
   * each fails on its own with the reason, instead of failing every message of the session. A
   * scan of the strings finds them (no encode); only a suspect is encoded alone, for the reason.
   */
  #unencodable(state: ServerSessionState, batch: readonly QueuedCommand[]): Map<string, string> {
    const bad = new Map<string, string>();
    // WBXML carries any string (inline or opaque); XML 1.0 does not.
    if (state.encoding !== 'xml') return bad;
    for (const q of batch) {
      if (!hasNonXmlText(q.command)) continue;
      let why = 'text contains characters XML 1.0 cannot carry';
      try {
        const hdr = header({
          VerDTD: state.verDtd,
          VerProto: state.verProto,
          SessionID: '1',
          MsgID: 1,
          target: 'probe',
          source: 'probe',
        });
        this.#o.codec.encode(message(hdr, numberCommands([q.command], 1).commands, true), 'xml');
      } catch (err) {
        if (!(err instanceof EncodeError)) throw err;
        why = err.message;
      }
      bad.set(q.id, `not sent: the command cannot be encoded in XML: ${why}`);
    }
    return bad;
  }

  #tooBigForClient(state: ServerSessionState, cmd: Command): boolean {
    const max = state.clientMaxObjSize;
    if (max === undefined || !isChunkable(cmd)) return false;
    const c = cmd as Extract<Command, { Item: readonly Item[] }>;
    return dataSize(c.Item[0]!.Data) > max;
  }

  async #receive(w: Work, cmd: Command, msgRef: string): Promise<void> {
    const { state } = w;
    if (cmd.type !== 'Status' && !(cmd.type === 'Alert' && cmd.Data === AlertCode.NextMessage))
      w.progress = true;
    switch (cmd.type) {
      case 'Status':
        this.#onStatus(w, cmd);
        return;
      case 'Results': {
        if (isChunk(cmd, state.incoming)) {
          const code = this.#onChunk(w, cmd, msgRef);
          if (code === undefined) return;
          if (code !== StatusCode.Ok) w.statuses.push(commandStatus(cmd, msgRef, code));
          return;
        }
        this.#attachResults(w, cmd.MsgRef ?? String(state.serverMsgId), cmd.CmdRef, cmd.Item);
        return;
      }
      case 'Alert': {
        if (isChunk(cmd, state.incoming)) {
          const code = this.#onChunk(w, cmd, msgRef);
          if (code !== undefined) w.statuses.push(commandStatus(cmd, msgRef, code));
          return;
        }
        w.statuses.push(commandStatus(cmd, msgRef, await this.#onAlert(w, cmd)));
        return;
      }
      case 'Replace': {
        // Clients send Replace only for DevInfo (package 1).
        for (const it of cmd.Item) {
          const uri = it.Source?.LocURI ?? it.Target?.LocURI;
          if (uri) state.devInfo[uri] = dataText(it.Data);
        }
        w.statuses.push(commandStatus(cmd, msgRef, StatusCode.Ok));
        return;
      }
      case 'Unknown':
        w.statuses.push(commandStatus(cmd, msgRef, StatusCode.BadRequest));
        return;
      default:
        // Clients may send only Replace (DevInfo), Results, Alert and Status (protocol.md §1.8).
        w.statuses.push(commandStatus(cmd, msgRef, StatusCode.CommandNotAllowed));
        return;
    }
  }

  /** Handles a large-object chunk; returns the status to send (undefined: none). */
  #onChunk(
    w: Work,
    cmd: Extract<Command, { type: 'Results' | 'Alert' }>,
    msgRef: string,
  ): number | undefined {
    const { state } = w;
    const verdict = receiveChunk(state.incoming, cmd, msgRef, this.#limits.maxObjSize);
    switch (verdict.kind) {
      case 'buffered':
        state.incoming = verdict.state;
        return StatusCode.ChunkedItemAccepted;
      case 'mismatch':
        delete state.incoming;
        return StatusCode.SizeMismatch;
      case 'tooLarge':
        delete state.incoming;
        return StatusCode.RequestEntityTooLarge;
      case 'complete': {
        delete state.incoming;
        const done = verdict.cmd;
        if (done.type === 'Results') {
          this.#attachResults(w, done.MsgRef ?? String(state.serverMsgId), done.CmdRef, done.Item);
          return undefined;
        }
        // A chunked Generic Alert: complete now.
        return StatusCode.Ok;
      }
    }
  }

  #attachResults(w: Work, msgRef: string, cmdRef: string, items: readonly Item[]): void {
    const a = w.state.awaiting[`${msgRef}:${cmdRef}`];
    if (!a) return;
    a.results = [...(a.results ?? []), ...items.map((i) => toJson(i))];
  }

  #onStatus(w: Work, st: Status): void {
    const { state } = w;
    const msgRef = st.MsgRef ?? String(state.serverMsgId);
    channels.commandStatus.publish({
      role: 'server',
      sessionId: state.sessionId,
      deviceId: state.deviceId,
      cmd: st.Cmd,
      status: st.Data,
    });
    if (st.CmdRef === '0') {
      this.#onHeaderStatus(w, st, msgRef);
      return;
    }
    const a = state.awaiting[`${msgRef}:${st.CmdRef}`];
    if (!a) return; // status for our Alert 1222 or an unknown reference: nothing to correlate
    w.progress = true;
    // A client answers a command whose Items got different codes with one Status per group of
    // Items: keep each, and the first failure as the command's status (protocol.md §1.4).
    const entry = { status: st.Data, targets: [...st.TargetRef] };
    a.itemStatuses = [...(a.itemStatuses ?? []), entry];
    if (a.status === undefined || (isSuccess(a.status) && !isSuccess(st.Data))) a.status = st.Data;
    if (st.Item.length > 0) a.statusItems = toJson(st.Item);
  }

  #onHeaderStatus(w: Work, st: Status, msgRef: string): void {
    const { state } = w;
    const code = st.Data;
    if (st.Chal) {
      try {
        const parsed = parseChal(st.Chal.Meta);
        if (parsed.nonce) state.auth.serverNonce = encodeNonce(parsed.nonce);
      } catch {
        // An unreadable challenge counts as a failed server authentication below.
      }
    }
    if (code === StatusCode.AuthenticationAccepted) state.auth.serverAccepted = true;
    if (code === StatusCode.InvalidCredentials || code === StatusCode.MissingCredentials) {
      state.auth.serverAccepted = false;
      state.auth.serverFailures++;
      channels.authFail.publish({
        role: 'server',
        sessionId: state.sessionId,
        deviceId: state.deviceId,
        reason: 'client refused server credentials',
      });
      if (state.auth.serverFailures > this.#limits.maxAuthAttempts) {
        w.aborted = true;
        w.endOutcome = 'authFailed';
        w.extra.push(alert(AlertCode.SessionAbort));
        return;
      }
      w.resend.add(msgRef);
    }
  }

  async #onAlert(w: Work, cmd: Extract<Command, { type: 'Alert' }>): Promise<number> {
    const code = cmd.Data;
    switch (code) {
      case AlertCode.ServerInitiatedMgmt:
      case AlertCode.ClientInitiatedMgmt:
      case AlertCode.NoEndOfData:
        return StatusCode.Ok;
      case AlertCode.NextMessage:
        w.wantsNext = true;
        return StatusCode.Ok;
      case AlertCode.SessionAbort:
        w.aborted = true;
        w.endOutcome = 'aborted';
        return StatusCode.Ok;
      case undefined:
        return StatusCode.IncompleteCommand;
      default: {
        if (code >= 1100 && code <= 1104) return StatusCode.OptionalFeatureNotSupported;
        const a: ClientAlert = {
          code,
          items: cmd.Item,
          ...(cmd.Correlator === undefined ? {} : { correlator: cmd.Correlator }),
        };
        if (this.#o.commands.alert) return this.#o.commands.alert(w.ref, a);
        return code === AlertCode.GenericAlert || code === AlertCode.ClientEvent
          ? StatusCode.Ok
          : StatusCode.OptionalFeatureNotSupported;
      }
    }
  }

  #mode(w: Work): AuthMode {
    return w.creds?.clientAuth ?? this.#o.defaultAuth ?? 'md5';
  }

  /**
   * The scheme a refusal challenges with: the device's own DM scheme, else the default — so an
   * unknown device and a device known to use the default scheme get the same answer.
   */
  #chalScheme(w: Work): AuthScheme {
    const own = w.creds?.clientAuth;
    const mode = own === 'basic' || own === 'md5' || own === 'hmac' ? own : (this.#o.defaultAuth ?? 'md5');
    return mode === 'basic' ? AuthScheme.Basic : mode === 'hmac' ? AuthScheme.Hmac : AuthScheme.Md5;
  }

  /**
   * Nonces for challenging a client that has not authenticated, current time window first. They
   * are derived, not stored: a refused attempt writes nothing. For a known device they are keyed
   * by its credential digest (any server node derives the same; nobody without the secret can)
   * and by its stored nonce, so they die with the next successful authentication.
   */
  #challengeNonces(w: Work): string[] {
    const bucket = Math.floor(this.#now() / this.#limits.idleTimeoutMs);
    const c = w.creds;
    const keyed = c !== undefined && c.clientDigest !== '';
    return [bucket, bucket - 1].map((b) => {
      const h = createHmac('sha256', keyed ? c.clientDigest : this.#nonceKey);
      h.update(`omadm-chal\0${w.state.deviceId}\0${keyed ? (c.clientNonce ?? '') : ''}\0${b}`);
      return encodeNonce(new Uint8Array(h.digest().subarray(0, 16)));
    });
  }

  async #verifyClient(w: Work, req: ServerRequest, issue: boolean): Promise<Verdict> {
    const { creds, state, msg } = w;
    const cred = msg.SyncHdr.Cred;
    const missing = cred === undefined && !req.hmac;
    const fail = (reason: AuthFailureReason, detail: string): Refusal => ({
      ok: false,
      code: missing ? StatusCode.MissingCredentials : StatusCode.InvalidCredentials,
      reason,
      detail,
    });
    if (!creds) return fail(AuthFailureReason.UnknownDevice, 'unknown device');
    const mode = creds.clientAuth;
    if (mode === 'none') {
      // No credentials at all: only the server-authenticated TLS channel keeps it from anyone.
      if (!req.secure && !this.#o.noAuthWithoutTls)
        return {
          ok: false,
          code: StatusCode.Forbidden,
          reason: AuthFailureReason.NoAuthWithoutTls,
          detail: 'auth none needs TLS',
        };
      state.auth.authenticated = true;
      return { ok: true, code: StatusCode.AuthenticationAccepted };
    }
    if (mode === 'transport') {
      const id = req.transportIdentity;
      if (id !== undefined && (id === creds.deviceId || id === creds.clientName)) {
        state.auth.authenticated = true;
        return { ok: true, code: StatusCode.AuthenticationAccepted };
      }
      return {
        ok: false,
        // No certificate is a missing credential (407), like no Cred.
        code: id === undefined && missing ? StatusCode.MissingCredentials : StatusCode.InvalidCredentials,
        reason: AuthFailureReason.NoCertificate,
        detail: id === undefined ? 'no client certificate' : 'client certificate of another identity',
      };
    }
    const authenticating = state.phase === ServerPhase.Authenticating;
    const nonces = this.#nonceCandidates(
      state.auth.nonce,
      // A client may repeat the Cred that opened its md5 session on later messages.
      mode === 'md5' && !authenticating ? state.auth.sessionNonce : undefined,
      creds.clientNonce,
    );
    // The nonces refusals challenged with (an empty nonce is tried only when nothing was issued).
    if (authenticating) for (const n of this.#challengeNonces(w)) nonces.push(decodeNonce(n));
    if (mode === 'hmac') {
      if (!req.hmac) {
        return cred
          ? fail(AuthFailureReason.WrongScheme, 'HMAC required, got Cred')
          : fail(AuthFailureReason.MissingCredentials, 'no x-syncml-hmac header');
      }
      const ok = nonces.some((n) =>
        verifyHmac(creds.clientDigest, n, req.body, req.hmac!, { expectedUsername: creds.clientName }),
      );
      if (!ok) return fail(AuthFailureReason.BadCredentials, 'bad HMAC');
      state.auth.authenticated = true;
      return {
        ok: true,
        code: StatusCode.Ok,
        ...(issue ? { chal: await this.#issueChal(w, AuthScheme.Hmac) } : {}),
      };
    }
    if (!cred) {
      return req.hmac
        ? fail(AuthFailureReason.WrongScheme, `${mode} required, got HMAC`)
        : fail(AuthFailureReason.MissingCredentials, 'no Cred');
    }
    const type = parseAuthScheme(cred.Meta?.Type ?? AuthScheme.Basic);
    const data = dataText(cred.Data).trim();
    if (mode === 'basic') {
      if (type !== AuthScheme.Basic) return fail(AuthFailureReason.WrongScheme, 'basic required');
      if (!verifyBasic(creds.clientDigest, data, creds.clientName))
        return fail(AuthFailureReason.BadCredentials, 'bad basic Cred');
      state.auth.authenticated = true;
      return { ok: true, code: StatusCode.AuthenticationAccepted };
    }
    // md5
    const locName = msg.SyncHdr.Source.LocName;
    if (type !== AuthScheme.Md5) return fail(AuthFailureReason.WrongScheme, 'md5 required');
    if (locName !== undefined && locName !== creds.clientName)
      return fail(AuthFailureReason.BadCredentials, 'LocName does not match');
    const used = nonces.find((n) => verifyMd5(creds.clientDigest, n, data, { acceptEncodedNonce: true }));
    if (!used) return fail(AuthFailureReason.BadCredentials, 'bad md5 Cred');
    state.auth.authenticated = true;
    if (authenticating) state.auth.sessionNonce = encodeNonce(used);
    // 212 plus a nonce for the next session (protocol.md §4.3).
    return {
      ok: true,
      code: StatusCode.AuthenticationAccepted,
      ...(issue ? { chal: await this.#issueChal(w, AuthScheme.Md5) } : {}),
    };
  }

  #nonceCandidates(...b64: (string | undefined)[]): Uint8Array[] {
    const out: Uint8Array[] = [];
    const seen = new Set<string>();
    for (const n of b64) {
      if (n === undefined || seen.has(n)) continue;
      seen.add(n);
      try {
        out.push(decodeNonce(n));
      } catch {
        // unusable stored nonce: skip
      }
    }
    if (out.length === 0) out.push(new Uint8Array(0));
    return out;
  }

  /** A Chal with a fresh nonce, remembered in the session and persisted for the next session. */
  async #issueChal(w: Work, scheme: AuthScheme): Promise<Chal> {
    const meta: { Type: string; Format: string; NextNonce?: string } = { Type: scheme, Format: 'b64' };
    if (scheme !== AuthScheme.Basic) {
      const nonce = encodeNonce(this.#random(16));
      meta.NextNonce = nonce;
      w.state.auth.nonce = nonce;
      await this.#o.credentials.updateNonces(w.state.deviceId, { clientNonce: nonce });
    }
    return { Meta: meta };
  }

  /**
   * A refusal. Before the session is established (package 1) it is answered and forgotten: no
   * session, no nonce, no device row is written. Inside a session, a message without credentials
   * (where they are needed) changes nothing either; a member of the session (on its token) whose
   * Cred does not verify ends it; anyone else (by SessionID) just gets the refusal.
   */
  async #refuse(w: Work, v: Refusal): Promise<PendingReply> {
    const { state, msg } = w;
    state.auth.failures++;
    state.auth.authenticated = false;
    channels.authFail.publish({
      role: 'server',
      sessionId: state.sessionId,
      deviceId: state.deviceId,
      reason: v.detail,
    });
    this.#o.guard?.failed({ deviceId: state.deviceId, source: w.source, reason: v.reason, detail: v.detail });
    w.refusal = v.reason;
    const managing = state.phase !== ServerPhase.Authenticating;
    const close = managing && w.viaToken && v.code === StatusCode.InvalidCredentials;
    // Attempt k of package 1 is MsgID k: the last one says the session is over.
    const giveUp = close || (!managing && (intOf(msg.SyncHdr.MsgID) ?? 1) >= this.#limits.maxAuthAttempts);
    let chal: Chal | undefined;
    if (!giveUp) {
      const scheme = this.#chalScheme(w);
      const meta: { Type: string; Format: string; NextNonce?: string } = { Type: scheme, Format: 'b64' };
      if (scheme !== AuthScheme.Basic) {
        // Inside a session: the nonce already issued (nothing rotates for an unauthenticated party).
        const nonce = managing ? state.auth.nonce : this.#challengeNonces(w)[0];
        if (nonce !== undefined) meta.NextNonce = nonce;
      }
      chal = { Meta: meta };
    }
    // Statuses only, one per received command, with the header's code (protocol.md §4.3).
    w.statuses.push(headerStatus(msg.SyncHdr, v.code, chal));
    let n = 0;
    for (const cmd of msg.SyncBody.commands) {
      if (++n > this.#limits.maxCommandsPerMessage) break;
      if (cmd.type !== 'Status' && cmd.type !== 'Results')
        w.statuses.push(commandStatus(cmd, msg.SyncHdr.MsgID, v.code));
    }
    if (close) {
      w.acceptedBy = 'failed';
      w.endOutcome = 'authFailed';
      return this.#reply(w, [alert(AlertCode.SessionAbort)], true, 'authFailed');
    }
    w.unauthenticated = true;
    // Alert 1223 with the last refusal: the client does not post again (into a 404).
    return this.#reply(
      w,
      giveUp ? [alert(AlertCode.SessionAbort)] : [],
      true,
      giveUp ? 'authFailed' : undefined,
    );
  }

  #abortReply(w: Work, hdrCode: number, outcome: SessionOutcome): Promise<PendingReply> {
    const { msg } = w;
    w.statuses.push(headerStatus(msg.SyncHdr, hdrCode));
    for (const cmd of msg.SyncBody.commands) {
      if (cmd.type !== 'Status' && cmd.type !== 'Results')
        w.statuses.push(commandStatus(cmd, msg.SyncHdr.MsgID, StatusCode.NotExecuted));
    }
    w.endOutcome = outcome;
    return this.#reply(w, [alert(AlertCode.SessionAbort)], true, outcome);
  }

  #requeueRefused(w: Work): void {
    const { state } = w;
    const again: { key: string; a: AwaitingCommand }[] = [];
    for (const [key, a] of Object.entries(state.awaiting)) {
      const [m] = key.split(':');
      if (!w.resend.has(m!) || a.parent !== undefined || a.original === undefined) continue;
      if (
        a.status === StatusCode.InvalidCredentials ||
        a.status === StatusCode.MissingCredentials ||
        a.status === undefined
      ) {
        again.push({ key, a });
      }
    }
    for (const { key, a } of again) {
      for (const [k2, b] of Object.entries(state.awaiting))
        if (b.parent === key || k2 === key) delete state.awaiting[k2];
      state.outbox.push({ cmd: a.original!, tag: a.id });
    }
  }

  /** Reports outcomes of commands whose statuses are in; at session end, of all. */
  async #settle(w: Work, all: boolean): Promise<void> {
    const { state } = w;
    const entries = Object.entries(state.awaiting);
    const outcomes: CommandOutcome[] = [];
    const byId = new Map<string, { key: string; a: AwaitingCommand }[]>();
    for (const [key, a] of entries) {
      const list = byId.get(a.id) ?? [];
      list.push({ key, a });
      byId.set(a.id, list);
    }
    for (const [id, list] of byId) {
      const tops = list.filter((e) => e.a.parent === undefined);
      const decider = tops.find((e) => FINISHED.has(e.a.part));
      const failedPart = tops.find(
        (e) =>
          !FINISHED.has(e.a.part) &&
          e.a.status !== undefined &&
          e.a.status !== StatusCode.ChunkedItemAccepted,
      );
      const status = failedPart?.a.status ?? decider?.a.status;
      if (status === undefined && !all) continue;
      if (decider === undefined && failedPart === undefined && !all) continue;
      const topKeys = new Set(tops.map((t) => t.key));
      const members = list
        .filter((e) => e.a.parent !== undefined && topKeys.has(e.a.parent))
        .map((e) => ({ cmd: e.a.cmd, ...(e.a.status === undefined ? {} : { status: e.a.status }) }));
      const results: Item[] = [];
      for (const e of list) for (const r of e.a.results ?? []) results.push(fromJson<Item>(r));
      const statusItems =
        decider?.a.statusItems === undefined ? undefined : fromJson<Item[]>(decider.a.statusItems);
      const itemStatuses = decider?.a.itemStatuses;
      if (status === undefined) w.leftUnanswered = true;
      outcomes.push({
        id,
        ...(status === undefined ? {} : { status }),
        ...(members.length > 0 ? { members } : {}),
        ...(results.length > 0 ? { results } : {}),
        ...(statusItems && statusItems.length > 0 ? { statusItems } : {}),
        ...(itemStatuses && itemStatuses.length > 1 ? { itemStatuses } : {}),
      });
      for (const e of list) delete state.awaiting[e.key];
    }
    if (outcomes.length > 0) await this.#o.commands.settle(w.ref, outcomes);
  }

  async #flushDevInfo(w: Work): Promise<void> {
    const { state } = w;
    if (Object.keys(state.devInfo).length === 0) return;
    const values = state.devInfo;
    state.devInfo = {};
    await this.#o.commands.devInfo?.(w.ref, values);
  }

  /** Builds the reply: statuses, then `trailer` or the outbox (as much as fits). */
  async #reply(
    w: Work,
    trailer: readonly Command[],
    closing: boolean,
    outcome?: SessionOutcome,
  ): Promise<PendingReply> {
    const { state, creds } = w;
    state.serverMsgId++;
    const useOutbox = !closing && trailer.length === 0;
    const hdr = header({
      VerDTD: state.verDtd,
      VerProto: state.verProto,
      SessionID: state.sessionId,
      MsgID: state.serverMsgId,
      target: state.deviceId,
      source: state.serverUri,
      // Toward an unauthenticated sender: nothing that tells a known device from an unknown one,
      // and no token (a refusal leaves no session to continue).
      ...(creds && state.auth.authenticated && this.#serverCredMode(w) !== 'none'
        ? { sourceName: creds.serverName }
        : {}),
      ...(w.respUri && state.auth.authenticated ? { RespURI: w.respUri(state.token) } : {}),
      ...this.#serverCredField(w),
      MaxMsgSize: this.#limits.maxMsgSize,
      MaxObjSize: this.#limits.maxObjSize,
    });
    const queue: OutEntry[] = useOutbox
      ? state.outbox.map((e) => ({
          cmd: fromJson<Command>(e.cmd),
          ...(e.tag === undefined ? {} : { tag: e.tag }),
          ...(e.offset === undefined ? {} : { offset: e.offset }),
        }))
      : [];
    // Statuses an earlier answer had no room for go right after this one's SyncHdr Status.
    const deferred = (state.deferredStatuses ?? []).map((s) => fromJson<Command>(s));
    const packed = pack({
      codec: this.#o.codec,
      encoding: state.encoding,
      header: hdr,
      lead: [...w.statuses.slice(0, 1), ...deferred, ...w.statuses.slice(1), ...w.extra],
      queue,
      trailer,
      maxMsgSize: state.clientMaxMsgSize,
      maxCommands: this.#limits.maxCommandsPerSentMessage,
      finalWhenDone: trailer.length === 0 || closing,
    });
    // A closing answer that could not carry every Status does not close: the client comes back
    // for the rest. An abort or a refusal drops them (the session is over anyway).
    const completing = closing && outcome === 'completed';
    if (packed.restLead.length > 0 && (!closing || completing)) {
      state.deferredStatuses = packed.restLead.map((c) => toJson(c));
    } else {
      delete state.deferredStatuses;
    }
    if (packed.oversize.length > 0) {
      // Commands no message within the client's MaxMsgSize can carry, not even split (§3.9).
      const tags = packed.oversize.map((e) => e.tag).filter((t): t is string => t !== undefined);
      if (tags.length > 0)
        await this.#o.commands.settle(
          w.ref,
          tags.map((id) => ({
            id,
            status: StatusCode.RequestEntityTooLarge,
            notSent: true,
            reason: `not sent: no message within the device's MaxMsgSize (${state.clientMaxMsgSize}) can carry it, not even split`,
          })),
        );
    }
    if (useOutbox) {
      state.outbox = packed.rest.map((e) => ({
        cmd: toJson(e.cmd),
        ...(e.tag === undefined ? {} : { tag: e.tag }),
        ...(e.offset === undefined ? {} : { offset: e.offset }),
      }));
      const mid = String(state.serverMsgId);
      for (const p of packed.packed) {
        const key = `${mid}:${p.cmd.CmdID}`;
        const original = queue.find((q) => q.tag === p.tag)?.cmd;
        state.awaiting[key] = {
          id: p.tag ?? key,
          cmd: p.cmd.type === 'Unknown' ? p.cmd.name : p.cmd.type,
          part: p.part,
          ...(original === undefined || p.part === 'middle' || p.part === 'last'
            ? {}
            : { original: toJson(original) }),
        };
        if (p.cmd.type === 'Atomic' || p.cmd.type === 'Sequence') {
          for (const m of p.cmd.commands) {
            state.awaiting[`${mid}:${m.CmdID}`] = {
              id: p.tag ?? key,
              cmd: m.type === 'Unknown' ? m.name : m.type,
              parent: key,
              part: 'whole',
            };
          }
        }
      }
    }
    const done = closing
      ? outcome !== undefined && !(completing && state.deferredStatuses !== undefined)
      : // Everything left was refused as oversize: this final answer carries no command, so the
        // client will not answer it (package 4).
        useOutbox && packed.final && packed.packed.length === 0 && queue.length > 0;
    return { packed, done, outcome: done ? (outcome ?? 'completed') : undefined, requestHash: '' };
  }

  #serverCredMode(w: Work): AuthMode {
    return w.creds?.serverAuth ?? 'none';
  }

  #serverCredField(w: Work): { Cred?: Cred } {
    const { creds, state } = w;
    // The server's credential only to a client that proved who it is (else anyone could ask for it).
    if (!creds || state.auth.serverAccepted || !state.auth.authenticated) return {};
    const mode = creds.serverAuth;
    if (mode === 'basic' && creds.serverSecret !== undefined) {
      return {
        Cred: {
          Meta: { Type: AuthScheme.Basic, Format: 'b64' },
          Data: { kind: 'text', text: basicCredential(creds.serverName, creds.serverSecret) },
        },
      };
    }
    if (mode === 'md5') {
      const digest = serverDigest(creds);
      if (!digest) return {};
      const nonce = this.#nonceCandidates(state.auth.serverNonce, creds.serverNonce)[0]!;
      return {
        Cred: {
          Meta: { Type: AuthScheme.Md5, Format: 'b64' },
          Data: { kind: 'text', text: md5CredentialFromDigest(digest, nonce) },
        },
      };
    }
    return {};
  }

  async #finish(w: Work, reply: PendingReply, expectedRevision: number): Promise<ServerResponse> {
    const { state, creds } = w;
    if (w.unauthenticated) return this.#refused(w, reply);
    let hmac: string | undefined;
    if (creds && creds.serverAuth === 'hmac' && state.auth.authenticated) {
      const digest = serverDigest(creds);
      if (digest) {
        const nonce = this.#nonceCandidates(state.auth.serverNonce, creds.serverNonce)[0]!;
        hmac = buildHmacHeader({ username: creds.serverName, digest, nonce, body: reply.packed.bytes });
      }
    }
    if (
      state.auth.serverNonce !== undefined &&
      state.auth.authenticated &&
      state.auth.serverNonce !== creds?.serverNonce
    ) {
      await this.#o.credentials.updateNonces(state.deviceId, { serverNonce: state.auth.serverNonce });
    }
    const done = reply.done;
    if (done) await this.#closeSteps(state, w);
    // A store with loadReply keeps the bytes apart (no base64 of them in the state).
    const apart = this.#o.sessions.loadReply !== undefined;
    state.lastReply = {
      requestHash: reply.requestHash,
      ...(apart ? {} : { body: Buffer.from(reply.packed.bytes).toString('base64') }),
      mediaType: state.mediaType,
      ...(hmac === undefined ? {} : { hmac }),
      done,
      ...(w.acceptedBy === undefined ? {} : { acceptedBy: w.acceptedBy }),
    };
    if (done) state.phase = ServerPhase.Closed;
    state.revision = expectedRevision + 1;
    const saved = apart
      ? await this.#o.sessions.save(state, expectedRevision, reply.packed.bytes)
      : await this.#o.sessions.save(state, expectedRevision);
    if (!saved) {
      // Someone else advanced this session: give back what we took from the queue.
      if (w.taken.length > 0) await this.#o.commands.release?.(w.ref, w.taken);
      throw new SessionError(SessionErrorCode.Conflict, 'session changed concurrently', { status: 503 });
    }
    if (done) {
      const first = w.ref.firstMessage === true;
      // Nothing unsent (released) and nothing sent unanswered: the queue holds nothing for it.
      const heldNothing = first
        ? w.taken.length === 0
        : !w.leftUnanswered && state.outbox.length === 0 && isEmpty(state.awaiting);
      await this.#ended(state, reply.outcome ?? 'completed', {
        ...(first ? { firstMessage: true } : {}),
        ...(heldNothing ? { heldNothing: true } : {}),
      });
    }
    channels.messageOut.publish({
      role: 'server',
      sessionId: state.sessionId,
      deviceId: state.deviceId,
      msgId: state.serverMsgId,
      bytes: reply.packed.bytes.byteLength,
      encoding: state.encoding,
    });
    return {
      body: reply.packed.bytes,
      mediaType: state.mediaType,
      ...(hmac === undefined ? {} : { hmac }),
      done,
      deviceId: state.deviceId,
      sessionId: state.sessionId,
      token: state.token,
      authenticated: w.acceptedBy !== 'failed',
      ...(w.refusal === undefined ? {} : { refusal: w.refusal }),
    };
  }

  /** The answer to an unauthenticated message: nothing is stored, nothing of the session changes. */
  #refused(w: Work, reply: PendingReply): ServerResponse {
    const { state } = w;
    channels.messageOut.publish({
      role: 'server',
      sessionId: state.sessionId,
      deviceId: state.deviceId,
      msgId: state.serverMsgId,
      bytes: reply.packed.bytes.byteLength,
      encoding: state.encoding,
    });
    return {
      body: reply.packed.bytes,
      mediaType: state.mediaType,
      done: reply.done,
      deviceId: state.deviceId,
      sessionId: state.sessionId,
      token: '',
      authenticated: false,
      ...(w.refusal === undefined ? {} : { refusal: w.refusal }),
    };
  }

  /** Whether a retransmission comes from the sender of the original (transport binding checked before). */
  #sameSender(s: ServerSessionState, viaToken: boolean): boolean {
    const by = s.lastReply?.acceptedBy;
    if (by === 'failed' || !s.auth.authenticated || s.phase === ServerPhase.Authenticating) return false;
    // The same bytes carry the same Cred (the hash covers the HMAC header too).
    return by === 'token' ? viaToken : true;
  }

  /** Ends a session: outstanding commands settle as unknown, unsent ones are released. */
  async #closeSteps(state: ServerSessionState, w?: Work): Promise<void> {
    const ref: SessionRef = {
      deviceId: state.deviceId,
      sessionId: state.sessionId,
      initiator: state.initiator,
    };
    const work: Work = w ?? {
      msg: undefined as unknown as SyncML,
      state,
      creds: undefined,
      ref,
      statuses: [],
      extra: [],
      wantsNext: false,
      progress: false,
      aborted: false,
      resend: new Set(),
      taken: [],
      respUri: undefined,
      viaToken: false,
      source: undefined,
    };
    await this.#settle(work, true);
    const unsent = [...new Set(state.outbox.map((e) => e.tag).filter((t): t is string => t !== undefined))];
    state.outbox = [];
    delete state.incoming;
    if (unsent.length > 0) await this.#o.commands.release?.(ref, unsent);
    await this.#flushDevInfo(work);
    state.phase = ServerPhase.Closed;
  }

  async #ended(
    state: ServerSessionState,
    outcome: SessionOutcome,
    how: { firstMessage?: true; heldNothing?: true } = {},
  ): Promise<void> {
    const ref: SessionRef = {
      deviceId: state.deviceId,
      sessionId: state.sessionId,
      initiator: state.initiator,
      ...how,
    };
    await this.#o.commands.sessionEnded?.(ref, outcome);
    channels.sessionEnd.publish({
      role: 'server',
      sessionId: state.sessionId,
      deviceId: state.deviceId,
      outcome,
    });
  }

  /** Closes and forgets a session that is not going on (expired or superseded). */
  async #close(state: ServerSessionState, outcome: SessionOutcome): Promise<void> {
    const wasOpen = state.phase !== ServerPhase.Closed;
    if (wasOpen) await this.#closeSteps(state);
    await this.#o.sessions.delete(state.token);
    if (wasOpen) await this.#ended(state, outcome);
  }

  /** A newly authenticated session replaces the device's previous one. */
  async #supersede(
    state: ServerSessionState,
    latest?: ServerSessionState | SessionHead | null,
  ): Promise<void> {
    // Read at the start of this message already (nothing of this device was stored since).
    const prev = latest === undefined ? await this.#o.sessions.loadByDevice(state.deviceId) : latest;
    if (!prev || prev.token === state.token || prev.phase === ServerPhase.Closed) return;
    // Only the head was read: closing settles and releases what the full state holds.
    const full = isFullState(prev) ? prev : await this.#o.sessions.load(prev.token);
    if (!full || full.phase === ServerPhase.Closed) return;
    await this.#close(full, 'superseded');
  }
}

interface Refusal {
  readonly ok: false;
  readonly code: number;
  readonly reason: AuthFailureReason;
  readonly detail: string;
}

type Verdict = { readonly ok: true; readonly code: number; readonly chal?: Chal } | Refusal;

interface PendingReply {
  readonly packed: ReturnType<typeof pack>;
  readonly done: boolean;
  readonly outcome: SessionOutcome | undefined;
  requestHash: string;
}

/** A 2xx code: the client took the command (or Item) on; a 4xx/5xx one is a failure to keep. */
function isSuccess(code: number): boolean {
  return code >= 200 && code < 300;
}

/** A character XML 1.0 cannot carry (controls, lone surrogates, U+FFFE/U+FFFF). */
const NOT_XML_CHAR = /[^\t\n\r\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

/** Whether any string in a command model holds a character XML 1.0 cannot carry. */
function hasNonXmlText(v: unknown): boolean {
  if (typeof v === 'string') return NOT_XML_CHAR.test(v);
  if (v === null || typeof v !== 'object' || v instanceof Uint8Array) return false;
  for (const x of Array.isArray(v) ? v : Object.values(v)) if (hasNonXmlText(x)) return true;
  return false;
}

function isFullState(s: ServerSessionState | SessionHead): s is ServerSessionState {
  return 'auth' in s;
}

function serverDigest(creds: DeviceCredentials): string | undefined {
  if (creds.serverDigest) return creds.serverDigest;
  if (creds.serverSecret !== undefined) return credentialDigest(creds.serverName, creds.serverSecret);
  return undefined;
}
