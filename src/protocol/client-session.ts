/**
 * The DM client session engine (protocol.md §3, §4). Transport-independent: `start()` gives the
 * first request (package 1), `receive()` takes each server message and gives the next request or
 * `undefined` when the session is over. Time and randomness are injected.
 *
 * Named states: `idle` → `authenticating` (package 1 sent, maybe re-sent after a challenge) →
 * `managing` (packages 2k/2k+1) → `done` | `failed`.
 */
import { randomBytes as nodeRandomBytes } from 'node:crypto';
import type { Alert, Chal, Command, Cred, Item, Replace, Status, SyncML } from '../representation/index.ts';
import { AlertCode, StatusCode } from '../representation/index.ts';
import {
  AuthScheme,
  basicCredential,
  buildHmacHeader,
  credentialDigest,
  decodeNonce,
  encodeNonce,
  md5Credential,
  parseAuthScheme,
  parseChal,
  verifyBasic,
  verifyHmac,
  verifyMd5,
} from './auth/index.ts';
import { executeCommand } from './client-executor.ts';
import type {
  AccountState,
  AlertOutbox,
  ClientAccount,
  CommandHandler,
  ExecContext,
  PendingAlert,
  UiHandler,
} from './client-types.ts';
import { type Encoding, type MessageCodec, mediaTypeOf } from './codec.ts';
import { channels } from './diagnostics.ts';
import { SessionError, SessionErrorCode } from './errors.ts';
import { type ChunkCommand, continues, type IncomingObject, isChunk, receiveChunk } from './large-object.ts';
import { resolveLimits, type SessionLimits } from './limits.ts';
import { alert, commandStatus, dataText, header, headerStatus, intOf } from './message.ts';
import { dataSize, type OutEntry, pack } from './packer.ts';
import type { AuthMode } from './server-sources.ts';

export const ClientPhase = {
  Idle: 'idle',
  Authenticating: 'authenticating',
  Managing: 'managing',
  Done: 'done',
  Failed: 'failed',
} as const;
export type ClientPhase = (typeof ClientPhase)[keyof typeof ClientPhase];

export interface ClientSessionOptions {
  readonly codec: MessageCodec;
  readonly encoding?: Encoding;
  /** `./DevInfo/DevId`; the SyncHdr Source. */
  readonly deviceId: string;
  /** `./DevInfo/*` leaf URI → value, sent in package 1 (DevId, Man, Mod, DmV, Lang, …). */
  readonly devInfo: Readonly<Record<string, string>>;
  readonly account: ClientAccount;
  /** Persists nonces (DMAcc AAuthData); without it they live only in this session. */
  readonly accountState?: AccountState;
  readonly handler: CommandHandler;
  readonly ui?: UiHandler;
  readonly alerts?: AlertOutbox;
  /** Server-initiated (answering package 0): its session id. Otherwise client-initiated. */
  readonly notification?: { readonly sessionId: number };
  /** SessionID for a client-initiated session (default: random 1–FFFF in upper-case hex). */
  readonly sessionId?: string;
  readonly verProto?: string;
  readonly limits?: Partial<SessionLimits>;
  /** Longest wait for a UI answer without MAXDT (ms, default 60 s). */
  readonly uiTimeoutMs?: number;
  readonly now?: () => number;
  readonly randomBytes?: (size: number) => Uint8Array;
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/** A message to send. */
export interface ClientRequest {
  readonly url: string;
  readonly body: Uint8Array;
  readonly contentType: string;
  /** `x-syncml-hmac` header value, when HMAC is in use. */
  readonly hmac?: string;
}

/** A received message. */
export interface ClientResponse {
  readonly body: Uint8Array;
  readonly contentType?: string | undefined;
  readonly hmac?: string | undefined;
}

export interface ClientSessionResult {
  readonly outcome: 'completed' | 'aborted' | 'authFailed' | 'serverAuthFailed' | 'limit' | 'stalled';
  readonly sessionId: string;
  /** Messages received from the server. */
  readonly messages: number;
  /** Server commands executed (top level). */
  readonly commands: number;
  readonly serverAuthenticated: boolean;
}

export class DmClientSession {
  readonly #o: ClientSessionOptions;
  readonly #limits: SessionLimits;
  readonly #encoding: Encoding;
  readonly #random: (size: number) => Uint8Array;
  readonly #now: () => number;
  readonly sessionId: string;
  #phase: ClientPhase = ClientPhase.Idle;
  #url: string;
  #msgId = 0;
  #serverMsgId = 0;
  #startedAt = 0;
  #messages = 0;
  #commands = 0;
  // Client authentication (CLCRED).
  #mode: AuthMode;
  #clientNonce: Uint8Array | undefined;
  #authAttempts = 0;
  /** The server accepted us for the session (212): no more Cred. */
  #clientAccepted = false;
  // Server authentication (SRVCRED).
  #serverVerified = false;
  #serverFailures = 0;
  #serverNonce: Uint8Array | undefined;
  /** A fresh SRVCRED nonce went to the server in this session (a Chal with NextNonce). */
  #serverNonceIssued = false;
  // Packaging.
  #serverMaxMsgSize: number | undefined;
  #serverMaxObjSize: number | undefined;
  #outbox: OutEntry[] = [];
  /** Statuses that did not fit the server's MaxMsgSize: first in the next message. */
  #pendingLead: Command[] = [];
  /** Consecutive exchanges in which neither side moved on (capped by maxIdleExchanges). */
  #idleExchanges = 0;
  #incoming: IncomingObject | undefined;
  /** Our commands awaiting a server Status: `msgId:cmdId` → pending alert id. */
  #sentAlerts = new Map<string, string>();
  #deliveredThisSession = new Set<string>();
  #lastServerHdr: SyncML['SyncHdr'] | undefined;
  #result: ClientSessionResult | undefined;

  constructor(options: ClientSessionOptions) {
    this.#o = options;
    this.#limits = resolveLimits(options.limits);
    this.#encoding = options.encoding ?? 'xml';
    this.#random = options.randomBytes ?? ((n) => new Uint8Array(nodeRandomBytes(n)));
    this.#now = options.now ?? Date.now;
    this.#url = options.account.serverUri;
    this.#mode = options.account.client.mode;
    this.#clientNonce = safeNonce(options.account.clientNonce);
    this.#serverNonce = safeNonce(options.account.serverNonce);
    if (options.notification) {
      this.sessionId = options.notification.sessionId.toString(16).toUpperCase();
    } else if (options.sessionId !== undefined) {
      this.sessionId = options.sessionId;
    } else {
      const b = this.#random(2);
      const n = ((b[0]! << 8) | b[1]!) & 0xffff;
      this.sessionId = (n === 0 ? 1 : n).toString(16).toUpperCase();
    }
  }

  get phase(): ClientPhase {
    return this.#phase;
  }

  /** Set once the session is over. */
  get result(): ClientSessionResult | undefined {
    return this.#result;
  }

  /** Package 1. */
  async start(): Promise<ClientRequest> {
    if (this.#phase !== ClientPhase.Idle)
      throw new SessionError(SessionErrorCode.Protocol, 'session already started');
    this.#startedAt = this.#now();
    this.#phase = ClientPhase.Authenticating;
    channels.sessionStart.publish({ role: 'client', sessionId: this.sessionId, deviceId: this.#o.deviceId });
    return this.#package1([]);
  }

  /** Takes a server message; returns the next request, or undefined when the session is over. */
  async receive(res: ClientResponse): Promise<ClientRequest | undefined> {
    if (
      this.#phase === ClientPhase.Done ||
      this.#phase === ClientPhase.Failed ||
      this.#phase === ClientPhase.Idle
    ) {
      throw new SessionError(SessionErrorCode.Closed, `cannot receive in state ${this.#phase}`);
    }
    let msg: SyncML;
    try {
      msg = this.#o.codec.decode(res.body, this.#encoding);
    } catch (cause) {
      return this.#fail(new SessionError(SessionErrorCode.Decode, 'undecodable server message', { cause }));
    }
    const hdr = msg.SyncHdr;
    if (hdr.SessionID !== this.sessionId) {
      return this.#fail(
        new SessionError(SessionErrorCode.Protocol, `server answered for session ${hdr.SessionID}`),
      );
    }
    const msgId = intOf(hdr.MsgID);
    if (msgId === undefined || msgId !== this.#serverMsgId + 1) {
      return this.#fail(
        new SessionError(SessionErrorCode.MsgIdOrder, `server MsgID ${hdr.MsgID} out of order`),
      );
    }
    this.#serverMsgId = msgId;
    this.#messages++;
    this.#lastServerHdr = hdr;
    channels.messageIn.publish({
      role: 'client',
      sessionId: this.sessionId,
      deviceId: this.#o.deviceId,
      msgId,
      bytes: res.body.byteLength,
      encoding: this.#encoding,
    });
    if (hdr.RespURI) this.#url = hdr.RespURI;
    if (hdr.Meta?.MaxMsgSize !== undefined) this.#serverMaxMsgSize = hdr.Meta.MaxMsgSize;
    if (hdr.Meta?.MaxObjSize !== undefined) this.#serverMaxObjSize = hdr.Meta.MaxObjSize;
    if (
      this.#messages > this.#limits.maxMessagesPerSession ||
      this.#now() - this.#startedAt > this.#limits.maxSessionDurationMs
    ) {
      return this.#abort(msg, 'limit');
    }
    if (msg.SyncBody.commands.length > this.#limits.maxCommandsPerMessage) return this.#abort(msg, 'limit');

    // 1. What the server says about our credentials.
    const ours = msg.SyncBody.commands.find(
      (c): c is Status =>
        c.type === 'Status' &&
        c.CmdRef === '0' &&
        (c.MsgRef === undefined || c.MsgRef === String(this.#msgId)),
    );
    const serverVerdict = await this.#onOurHeaderStatus(ours);
    // 2. Whether the server proved who it is (before its verdict on us counts as trustworthy).
    const serverOk = await this.#verifyServer(msg, res);
    if (serverOk.persistClientNonce && this.#clientNonce) {
      await this.#o.accountState?.saveNonces({ clientNonce: encodeNonce(this.#clientNonce) });
    }
    const over = msg.SyncBody.commands.some((c) => c.type === 'Alert' && c.Data === AlertCode.SessionAbort);
    if (serverVerdict === 'retry' && !over) {
      // Repeat package 1 with the requested credentials (protocol.md §4.3).
      this.#phase = ClientPhase.Authenticating;
      return this.#package1([headerStatus(hdr, serverOk.code, await this.#chalFor(serverOk))]);
    }
    // Refused, and the server says the session is over (Alert 1223): do not post again.
    if (serverVerdict === 'giveUp' || serverVerdict === 'retry') {
      return this.#fail(
        new SessionError(SessionErrorCode.AuthFailed, 'server refused our credentials', {
          status: ours?.Data,
        }),
        'authFailed',
      );
    }
    const actionable = msg.SyncBody.commands.filter((c) => c.type !== 'Status' && c.type !== 'Results');
    if (!serverOk.ok) {
      if (actionable.length === 0 || this.#serverFailures > this.#limits.maxAuthAttempts) {
        // Nothing to answer (or challenges used up): the session ends; nothing is executed.
        return this.#fail(
          new SessionError(SessionErrorCode.PeerAuthFailed, 'server did not authenticate'),
          'serverAuthFailed',
        );
      }
      // Statuses only: the header's code on every command, with our challenge.
      const statuses: Command[] = [headerStatus(hdr, serverOk.code, await this.#chalFor(serverOk))];
      for (const c of actionable) statuses.push(commandStatus(c, hdr.MsgID, serverOk.code));
      return this.#send(statuses, [], true);
    }
    this.#phase = ClientPhase.Managing;

    // 3. Execute the package.
    const out: Command[] = [headerStatus(hdr, serverOk.code)];
    let wantsNext = false;
    let aborted = false;
    const ctx: ExecContext = { serverId: this.#o.account.serverId, sessionId: this.sessionId };
    for (const cmd of msg.SyncBody.commands) {
      if (aborted) break;
      if (this.#incoming && !continues(this.#incoming, cmd) && cmd.type !== 'Status') {
        const inc = this.#incoming;
        this.#incoming = undefined;
        out.push(
          alert(AlertCode.NoEndOfData, [
            {
              ...(inc.target ? { Target: { LocURI: inc.target } } : {}),
              ...(inc.source ? { Source: { LocURI: inc.source } } : {}),
            },
          ]),
        );
      }
      switch (cmd.type) {
        case 'Status':
          await this.#onStatus(cmd);
          continue;
        case 'Results':
          continue; // servers do not send Results
        case 'Alert':
          if (cmd.Data === AlertCode.NextMessage) {
            wantsNext = true;
            out.push(commandStatus(cmd, hdr.MsgID, StatusCode.Ok));
            continue;
          }
          if (cmd.Data === AlertCode.SessionAbort) {
            aborted = true;
            continue;
          }
          if (cmd.Data === AlertCode.NoEndOfData) {
            out.push(commandStatus(cmd, hdr.MsgID, StatusCode.Ok));
            continue;
          }
          break;
        default:
          break;
      }
      let exec: Command = cmd;
      if ((cmd.type === 'Add' || cmd.type === 'Replace') && isChunk(cmd, this.#incoming)) {
        const v = receiveChunk(this.#incoming, cmd as ChunkCommand, hdr.MsgID, this.#limits.maxObjSize);
        if (v.kind === 'buffered') {
          this.#incoming = v.state;
          out.push(commandStatus(cmd, hdr.MsgID, StatusCode.ChunkedItemAccepted));
          continue;
        }
        this.#incoming = undefined;
        if (v.kind === 'mismatch') {
          out.push(commandStatus(cmd, hdr.MsgID, StatusCode.SizeMismatch));
          continue;
        }
        if (v.kind === 'tooLarge') {
          out.push(commandStatus(cmd, hdr.MsgID, StatusCode.RequestEntityTooLarge));
          continue;
        }
        exec = v.cmd;
      } else if (cmd.type === 'Add' || cmd.type === 'Replace') {
        const size = cmd.Item.length === 1 ? cmd.Item[0]!.Meta?.Size : undefined;
        if (size !== undefined && size > this.#limits.maxObjSize) {
          out.push(commandStatus(cmd, hdr.MsgID, StatusCode.RequestEntityTooLarge));
          continue;
        }
      }
      this.#commands++;
      const answers = await executeCommand(exec, hdr.MsgID, {
        handler: this.#o.handler,
        ui: this.#o.ui,
        ctx,
        uiTimeoutMs: this.#o.uiTimeoutMs ?? 60_000,
        ...(this.#o.sleep ? { sleep: this.#o.sleep } : {}),
      });
      this.#enforceServerObjSize(answers);
      for (const a of answers) {
        if (a.type === 'Status') {
          channels.commandStatus.publish({
            role: 'client',
            sessionId: this.sessionId,
            deviceId: this.#o.deviceId,
            cmd: a.Cmd,
            status: a.Data,
          });
        }
      }
      out.push(...answers);
    }
    if (aborted) return this.#done('aborted');

    // 4. What to send back.
    const ourPackage = this.#outbox.length > 0 || this.#pendingLead.length > 0;
    const continueOurs = wantsNext && ourPackage;
    // A package that challenges us is not the last (protocol.md §3.1). In a session a Package 0
    // started, our answer carries a new nonce for the server's next credential and Package 0,
    // so the trigger does not verify again once its session ran, even without commands.
    // (Client-initiated heartbeats stay one round trip: no trigger used their nonce.)
    const owesNonce =
      this.#o.notification !== undefined &&
      serverOk.ok &&
      serverOk.chal &&
      !this.#serverNonceIssued &&
      ours?.Chal !== undefined;
    if (!continueOurs && !owesNonce && msg.SyncBody.Final && out.length === 1 && !ourPackage) {
      // No management operation and no challenge: the session is over (protocol.md §3.1).
      return this.#done('completed');
    }
    // Neither side moving on (only SyncHdr Statuses and 1222 going back and forth) is capped.
    const moved =
      ourPackage ||
      msg.SyncBody.commands.some(
        (c) => c.type !== 'Status' && !(c.type === 'Alert' && c.Data === AlertCode.NextMessage),
      );
    this.#idleExchanges = moved ? 0 : this.#idleExchanges + 1;
    if (this.#idleExchanges > this.#limits.maxIdleExchanges) return this.#abort(msg, 'stalled');
    // Our challenge for the server rides only on a message we really send.
    const chal = await this.#chalFor(serverOk);
    if (chal) out[0] = headerStatus(hdr, serverOk.code, chal);
    const statuses = out.filter((c) => c.type === 'Status');
    const rest = out.filter((c) => c.type !== 'Status');
    // A non-final server message with commands other than 1222: the server's package is open.
    const serverOpen =
      !msg.SyncBody.Final &&
      moved &&
      msg.SyncBody.commands.some(
        (c) => c.type !== 'Status' && !(c.type === 'Alert' && c.Data === AlertCode.NextMessage),
      );
    if (continueOurs && !serverOpen) {
      // The server asks for the next message of our package ("next message" response).
      return this.#send(statuses, rest, true);
    }
    if (!msg.SyncBody.Final) {
      // The server's package continues: answer, continue our own package if it is open (the
      // server may leave out its 1222 while it has Statuses to send) and ask for more; no Final
      // (protocol.md §3.3).
      return this.#send(out.slice(0, 1), out.slice(1), false, [alert(AlertCode.NextMessage)]);
    }
    // New alerts (e.g. asynchronous Exec results that completed meanwhile).
    // Answers keep their order (a Get's Results right after its Status); only the SyncHdr
    // Status is pinned to the first message.
    const fresh = await this.#freshAlerts();
    return this.#send(out.slice(0, 1), [...out.slice(1), ...fresh], true);
  }

  /** A Get value larger than the server's MaxObjSize is not sent: its Status becomes 413. */
  #enforceServerObjSize(answers: Command[]): void {
    const max = this.#serverMaxObjSize;
    if (max === undefined) return;
    for (let i = answers.length - 1; i >= 0; i--) {
      const r = answers[i]!;
      if (r.type !== 'Results' || dataSize(r.Item[0]?.Data) <= max) continue;
      answers.splice(i, 1);
      const st = answers.findIndex((c) => c.type === 'Status' && c.CmdRef === r.CmdRef && c.Cmd === 'Get');
      if (st >= 0) answers[st] = { ...(answers[st] as Status), Data: StatusCode.RequestEntityTooLarge };
    }
  }

  async #freshAlerts(): Promise<Command[]> {
    const pending: readonly PendingAlert[] = (await this.#o.alerts?.pending()) ?? [];
    const out: Command[] = [];
    for (const p of pending) {
      if (this.#deliveredThisSession.has(p.id)) continue;
      this.#deliveredThisSession.add(p.id);
      out.push({ ...p.alert, CmdID: `alert:${p.id}` } as Alert);
    }
    return out;
  }

  async #package1(extraLead: Command[]): Promise<ClientRequest> {
    const init = alert(this.#o.notification ? AlertCode.ServerInitiatedMgmt : AlertCode.ClientInitiatedMgmt);
    // Format explicit, though `chr` is the default: some servers need it said.
    const items: Item[] = Object.entries(this.#o.devInfo).map(([uri, value]) => ({
      Source: { LocURI: uri },
      Meta: { Format: 'chr' },
      Data: { kind: 'text', text: value },
    }));
    const devInfo: Replace[] = items.length > 0 ? [{ type: 'Replace', CmdID: '0', Item: items }] : [];
    this.#deliveredThisSession.clear();
    this.#sentAlerts.clear();
    const alerts = await this.#freshAlerts();
    // Package 1 is a new package: anything left of a previous attempt is dropped.
    this.#outbox = [];
    this.#pendingLead = [];
    this.#idleExchanges = 0;
    return this.#send(extraLead, [init, ...devInfo, ...alerts], true);
  }

  /**
   * Packs `lead` (with the Statuses an earlier message had no room for), our open package (outbox)
   * and `queue` into the next message, `trailer` last. `final`: Final may be set once everything
   * went out (never while the server's package is open). Nothing exceeds the server's MaxMsgSize:
   * what does not fit waits for the next message.
   */
  #send(lead: Command[], queue: Command[], final: boolean, trailer: Command[] = []): ClientRequest {
    this.#msgId++;
    const acc = this.#o.account;
    const cred = this.#credField();
    const hdr = header({
      VerDTD: this.#lastServerHdr?.VerDTD ?? '1.2',
      VerProto: this.#lastServerHdr?.VerProto ?? this.#o.verProto ?? 'DM/1.2',
      SessionID: this.sessionId,
      MsgID: this.#msgId,
      target: this.#url,
      source: this.#o.deviceId,
      ...(this.#mode !== 'none' && this.#mode !== 'transport' ? { sourceName: acc.client.name } : {}),
      ...(cred ? { Cred: cred } : {}),
      ...(this.#msgId === 1 || this.#phase === ClientPhase.Authenticating
        ? { MaxMsgSize: this.#limits.maxMsgSize, MaxObjSize: this.#limits.maxObjSize }
        : {}),
    });
    const entries: OutEntry[] = [
      ...this.#outbox,
      ...queue.map((cmd) => {
        const tag = cmd.type === 'Alert' && cmd.CmdID.startsWith('alert:') ? cmd.CmdID.slice(6) : undefined;
        return tag === undefined ? { cmd } : { cmd, tag };
      }),
    ];
    const packed = pack({
      codec: this.#o.codec,
      encoding: this.#encoding,
      header: hdr,
      lead: [...lead.slice(0, 1), ...this.#pendingLead, ...lead.slice(1)],
      queue: entries,
      trailer,
      maxMsgSize: this.#serverMaxMsgSize,
      maxCommands: this.#limits.maxCommandsPerSentMessage,
      finalWhenDone: final,
    });
    this.#outbox = [...packed.rest];
    this.#pendingLead = [...packed.restLead];
    for (const o of packed.oversize) {
      // Nothing within the server's MaxMsgSize can carry it, not even split: a Status still goes
      // (alone, next); anything else is not sent (a pending alert stays queued for a later session).
      if (o.cmd.type === 'Status') this.#pendingLead.push(o.cmd);
    }
    for (const p of packed.packed) {
      if (p.tag !== undefined && p.cmd.type === 'Alert')
        this.#sentAlerts.set(`${this.#msgId}:${p.cmd.CmdID}`, p.tag);
    }
    let hmac: string | undefined;
    if (this.#mode === 'hmac') {
      hmac = buildHmacHeader({
        username: acc.client.name,
        digest: credentialDigest(acc.client.name, acc.client.secret),
        nonce: this.#clientNonce ?? new Uint8Array(0),
        body: packed.bytes,
      });
    }
    channels.messageOut.publish({
      role: 'client',
      sessionId: this.sessionId,
      deviceId: this.#o.deviceId,
      msgId: this.#msgId,
      bytes: packed.bytes.byteLength,
      encoding: this.#encoding,
    });
    return {
      url: this.#url,
      body: packed.bytes,
      contentType: mediaTypeOf(this.#encoding),
      ...(hmac === undefined ? {} : { hmac }),
    };
  }

  /** Cred for our SyncHdr: until the server accepted us for the session (212). */
  #credField(): Cred | undefined {
    if (this.#clientAccepted) return undefined;
    const c = this.#o.account.client;
    if (this.#mode === 'basic') {
      return {
        Meta: { Type: AuthScheme.Basic, Format: 'b64' },
        Data: { kind: 'text', text: basicCredential(c.name, c.secret) },
      };
    }
    if (this.#mode === 'md5') {
      return {
        Meta: { Type: AuthScheme.Md5, Format: 'b64' },
        Data: { kind: 'text', text: md5Credential(c.name, c.secret, this.#clientNonce ?? new Uint8Array(0)) },
      };
    }
    return undefined;
  }

  /** Reads the server's Status for our SyncHdr. */
  async #onOurHeaderStatus(st: Status | undefined): Promise<'ok' | 'retry' | 'giveUp'> {
    if (!st) return 'ok';
    if (st.Chal) {
      try {
        const parsed = parseChal(st.Chal.Meta);
        if (parsed.nonce) this.#clientNonce = parsed.nonce;
        // Answer with exactly the requested type when we can produce it (protocol.md §4.3).
        const wanted = modeOfScheme(parsed.type);
        if (wanted) this.#mode = wanted;
      } catch {
        // unreadable challenge: keep our scheme
      }
    }
    const code = st.Data;
    if (code === StatusCode.AuthenticationAccepted) {
      this.#clientAccepted = this.#mode !== 'hmac';
      return 'ok';
    }
    if (code === StatusCode.InvalidCredentials || code === StatusCode.MissingCredentials) {
      this.#clientAccepted = false;
      this.#authAttempts++;
      channels.authFail.publish({
        role: 'client',
        sessionId: this.sessionId,
        deviceId: this.#o.deviceId,
        reason: `server answered ${code}`,
      });
      // Bounded: no endless 401 loops.
      return this.#authAttempts >= this.#limits.maxAuthAttempts ? 'giveUp' : 'retry';
    }
    return 'ok';
  }

  /** Checks the server's credentials (SRVCRED). */
  async #verifyServer(msg: SyncML, res: ClientResponse): Promise<ServerVerdict> {
    const srv = this.#o.account.server;
    if (!srv || srv.mode === 'none' || srv.mode === 'transport') {
      return { ok: true, code: StatusCode.Ok, chal: false, persistClientNonce: true };
    }
    if (this.#serverVerified && srv.mode !== 'hmac') {
      return { ok: true, code: StatusCode.Ok, chal: false, persistClientNonce: true };
    }
    const digest = credentialDigest(srv.name, srv.secret);
    const nonce = this.#serverNonce ?? new Uint8Array(0);
    const cred = msg.SyncHdr.Cred;
    let ok = false;
    let missing = false;
    if (srv.mode === 'hmac') {
      missing = !res.hmac;
      ok = !!res.hmac && verifyHmac(digest, nonce, res.body, res.hmac, { expectedUsername: srv.name });
    } else if (!cred) {
      missing = true;
    } else {
      const type = parseAuthScheme(cred.Meta?.Type ?? AuthScheme.Basic);
      const data = dataText(cred.Data).trim();
      if (srv.mode === 'basic') ok = type === AuthScheme.Basic && verifyBasic(digest, data, srv.name);
      else ok = type === AuthScheme.Md5 && verifyMd5(digest, nonce, data, { acceptEncodedNonce: true });
    }
    if (ok) {
      this.#serverVerified = true;
      // HMAC: 200 and a nonce per message; md5: 212 and a nonce for the next session.
      if (srv.mode === 'hmac') return { ok: true, code: StatusCode.Ok, chal: true, persistClientNonce: true };
      return {
        ok: true,
        code: StatusCode.AuthenticationAccepted,
        chal: srv.mode === 'md5',
        persistClientNonce: true,
      };
    }
    this.#serverFailures++;
    channels.authFail.publish({
      role: 'client',
      sessionId: this.sessionId,
      deviceId: this.#o.deviceId,
      reason: 'server credentials',
    });
    return {
      ok: false,
      code: missing ? StatusCode.MissingCredentials : StatusCode.InvalidCredentials,
      chal: true,
      persistClientNonce: false,
    };
  }

  /** The Chal for the server, with a fresh nonce (persisted), when the verdict asks for one. */
  async #chalFor(v: ServerVerdict): Promise<Chal | undefined> {
    const srv = this.#o.account.server;
    if (!v.chal || !srv) return undefined;
    const scheme =
      srv.mode === 'basic' ? AuthScheme.Basic : srv.mode === 'hmac' ? AuthScheme.Hmac : AuthScheme.Md5;
    const meta: { Type: string; Format: string; NextNonce?: string } = { Type: scheme, Format: 'b64' };
    if (scheme !== AuthScheme.Basic) {
      this.#serverNonce = this.#random(16);
      this.#serverNonceIssued = true;
      meta.NextNonce = encodeNonce(this.#serverNonce);
      await this.#o.accountState?.saveNonces({ serverNonce: meta.NextNonce });
    }
    return { Meta: meta };
  }

  async #onStatus(st: Status): Promise<void> {
    if (st.CmdRef === '0') return;
    const key = `${st.MsgRef ?? this.#msgId}:${st.CmdRef}`;
    const id = this.#sentAlerts.get(key);
    if (id === undefined) return;
    this.#sentAlerts.delete(key);
    await this.#o.alerts?.delivered(id, st.Data);
  }

  /** Sends Alert 1223 with statuses for what was not executed, and ends. */
  #abort(msg: SyncML, outcome: ClientSessionResult['outcome']): ClientRequest {
    const out: Command[] = [headerStatus(msg.SyncHdr, StatusCode.Ok)];
    for (const c of msg.SyncBody.commands) {
      if (c.type !== 'Status' && c.type !== 'Results')
        out.push(commandStatus(c, msg.SyncHdr.MsgID, StatusCode.NotExecuted));
    }
    const req = this.#send(out, [alert(AlertCode.SessionAbort)], true);
    this.#done(outcome);
    return req;
  }

  #done(outcome: ClientSessionResult['outcome']): undefined {
    this.#phase = outcome === 'completed' ? ClientPhase.Done : ClientPhase.Failed;
    this.#result = {
      outcome,
      sessionId: this.sessionId,
      messages: this.#messages,
      commands: this.#commands,
      serverAuthenticated: this.#serverVerified,
    };
    channels.sessionEnd.publish({
      role: 'client',
      sessionId: this.sessionId,
      deviceId: this.#o.deviceId,
      outcome,
    });
    return undefined;
  }

  #fail(error: SessionError, outcome: ClientSessionResult['outcome'] = 'aborted'): never {
    this.#done(outcome);
    throw error;
  }
}

interface ServerVerdict {
  readonly ok: boolean;
  /** Status for the server's SyncHdr. */
  readonly code: number;
  /** Whether our answer carries a Chal for the server. */
  readonly chal: boolean;
  /** The server is trusted enough to take its NextNonce for our next session. */
  readonly persistClientNonce: boolean;
}

function modeOfScheme(scheme: string): AuthMode | undefined {
  switch (scheme) {
    case AuthScheme.Basic:
      return 'basic';
    case AuthScheme.Md5:
      return 'md5';
    case AuthScheme.Hmac:
      return 'hmac';
    default:
      return undefined;
  }
}

function safeNonce(b64: string | undefined): Uint8Array | undefined {
  if (b64 === undefined) return undefined;
  try {
    return decodeNonce(b64);
  } catch {
    return undefined;
  }
}
