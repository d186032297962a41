/**
 * The embeddable DM client: a management tree with the standard objects (persisted where you
 * say), the DMAcc accounts in it, a transport, and the session engine of omadm/protocol
 * instantiated for each session. One session runs at a time; sessions asked for meanwhile
 * (on-demand, notifications) wait their turn.
 *
 * ```ts
 * const client = await createClient({ dataDir: '/var/lib/omadm', accounts: [simpleAccount({ … })] });
 * client.on('sessionEnd', (r) => console.log(r.outcome));
 * await client.session();                    // client-initiated (Alert 1201)
 * await client.notify(package0Bytes);        // server-initiated (Alert 1200, the trigger's SessionID)
 * ```
 */
import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { HttpTransport, type HttpTransportOptions } from '../binding/http/index.ts';
import {
  AAuthLevel,
  type DevDetailValues,
  type DevInfoValues,
  type DmAccount,
  type DmAccounts,
  type DmAccountsOptions,
  hostDevDetail,
  hostDevInfo,
  openStandardTree,
  StandardUri,
} from '../mo/index.ts';
import {
  type ClientAccount,
  type CommandHandler,
  credentialDigest,
  DmClientSession,
  type Encoding,
  genericAlert,
  type GenericAlertInput,
  type Initiator,
  receivePackage0,
  runClientSession,
  SessionError,
  type SessionLimits,
  syncmlCodec,
  type Transport,
  TriggerDeduplicator,
  type UiHandler,
  type UiMode,
} from '../protocol/index.ts';
import {
  type ChangeEvent,
  JournalTreeStore,
  type ManagementObject,
  type ManagementTree,
  type TndsHandler,
  type TreeStore,
  treeCommandHandler,
} from '../tree/index.ts';
import type { SmartCardBootstrapSource } from '../protocol/bootstrap/index.ts';
import { clientAccountOf, sameAccount } from './account.ts';
import { type BootstrapInput, type BootstrapResult, installBootstrap } from './bootstrap.ts';
import { ClientError, ClientErrorCode } from './errors.ts';
import { HOST_MO_URI, hostObject } from './host.ts';
import { PersistentOutbox } from './outbox.ts';
import { buildFumo, type ClientFumoOptions } from './fumo/index.ts';
import type { FumoObject, FumoReport } from '../mo/index.ts';

/** What the client logs through (a pino logger fits). */
export interface ClientLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

const silent: ClientLogger = { info() {}, warn() {}, error() {}, debug() {} };

export interface ClientOptions {
  /**
   * Where the device keeps its state: the tree journal (`tree/`, with DMAcc accounts and their
   * nonces) and undelivered Generic Alerts (`alerts.json`). Without it (and without `store`) the
   * client keeps everything in memory.
   */
  readonly dataDir?: string;
  /** A tree store of your own (e.g. `SqliteTreeStore`); overrides the one in `dataDir`. */
  readonly store?: TreeStore;
  /** DevInfo values; unset fields come from the host (`hostDevInfo`). */
  readonly devInfo?: Partial<DevInfoValues>;
  /** DevDetail values; unset fields come from the host (`hostDevDetail`). */
  readonly devDetail?: Partial<DevDetailValues>;
  /**
   * Accounts written at open when no account with their ServerID exists yet, or when the stored
   * one differs in address or credentials (a stored account keeps its nonces otherwise).
   */
  readonly accounts?: readonly DmAccount[];
  readonly accountOptions?: DmAccountsOptions;
  /** How messages travel (default: `HttpTransport` with `http`). */
  readonly transport?: Transport;
  readonly http?: HttpTransportOptions;
  /** Message encoding (default `xml`). */
  readonly encoding?: Encoding;
  /** MO plugins mounted at open: subtrees backed by code. */
  readonly plugins?: readonly { readonly uri: string; readonly mo: ManagementObject }[];
  /** Mount `./DevDetail/Ext/Host` (live memory, load, uptime; default true). */
  readonly hostObject?: boolean;
  /** Answers UI alerts (1100–1104); without it they get 406. */
  readonly ui?: UiHandler;
  /**
   * Asked before a verified notification starts a session; false declines it. Gets the ui-mode
   * (`background`, `informative`, `user-interaction` — tell or ask the user). Default: accept.
   */
  readonly onNotification?: (n: NotificationInfo) => boolean | Promise<boolean>;
  readonly limits?: Partial<SessionLimits>;
  readonly logger?: ClientLogger;
  /**
   * Mount a FUMO instance (docs/fumo.md) with this install backend; its record and packages live
   * in `DATA/fumo/`. Reports become Generic Alerts for the server that sent the Exec.
   */
  readonly fumo?: ClientFumoOptions;
}

/** What `createClient` hands the constructor. */
export interface ClientParts {
  readonly tree: ManagementTree;
  readonly accounts: DmAccounts;
  readonly tnds: TndsHandler;
  readonly outbox: PersistentOutbox;
  /** The FUMO instance, when `fumo` was given (its reports are wired by the client). */
  readonly fumo?: { readonly object: FumoObject; connect(sink: (r: FumoReport) => void): void };
}

export type SessionInitiator = 'client' | 'server';

/** How one session went. */
export interface SessionReport {
  readonly serverId: string;
  readonly sessionId: string;
  readonly initiator: SessionInitiator;
  /** True when the session completed normally. */
  readonly ok: boolean;
  /** The engine's outcome, or `error` when it failed with an exception (`error` says which). */
  readonly outcome: 'completed' | 'aborted' | 'authFailed' | 'serverAuthFailed' | 'limit' | 'error';
  readonly messages: number;
  readonly commands: number;
  readonly serverAuthenticated: boolean;
  readonly durationMs: number;
  readonly error?: { readonly code: string; readonly message: string };
}

export interface NotificationInfo {
  readonly serverId: string;
  readonly sessionId: string;
  /** `background`: run silently; `informative`: tell the user; `user-interaction`: ask first. */
  readonly uiMode: UiMode;
  readonly initiator: Initiator;
  readonly vendor: Uint8Array;
}

/** What `notify()` did with a Package 0. */
export type NotifyOutcome =
  | { readonly action: 'session'; readonly report: SessionReport }
  | { readonly action: 'declined'; readonly serverId: string }
  | {
      readonly action: 'ignored';
      readonly reason: 'duplicate' | 'unknown-server' | 'bad-digest' | 'malformed';
      readonly detail?: string;
    };

export interface ClientEvents {
  sessionStart: {
    readonly serverId: string;
    readonly sessionId: string;
    readonly initiator: SessionInitiator;
  };
  sessionEnd: SessionReport;
  notification: NotificationInfo & { readonly accepted: boolean };
  /** A change of the tree (by a server or the device). */
  change: ChangeEvent;
  /** A Generic Alert was queued (an Exec result, a FUMO report): a session should deliver it. */
  alertQueued: { readonly id: string; readonly serverId: string | undefined };
}

type Listener<K extends keyof ClientEvents> = (event: ClientEvents[K]) => void;

export interface SessionRequest {
  /** The server to talk to (DMAcc ServerID); default the first account. */
  readonly serverId?: string;
}

export class DmClient {
  readonly tree: ManagementTree;
  readonly accounts: DmAccounts;
  readonly #o: ClientOptions;
  readonly #transport: Transport;
  readonly #ownTransport: HttpTransport | undefined;
  readonly #outbox: PersistentOutbox;
  readonly #dedup = new TriggerDeduplicator();
  readonly #log: ClientLogger;
  readonly #listeners = new Map<keyof ClientEvents, Set<(e: never) => void>>();
  readonly #offTree: (() => void)[] = [];
  #queue: Promise<unknown> = Promise.resolve();
  #running = 0;
  #closed = false;

  readonly #tnds: TndsHandler;
  /** The FUMO instance (`fumo` option), undefined otherwise. */
  readonly fumo: FumoObject | undefined;

  /** Use `createClient`, which opens the tree and builds the standard objects. */
  constructor(parts: ClientParts, options: ClientOptions) {
    const { tree, accounts, outbox } = parts;
    this.tree = tree;
    this.accounts = accounts;
    this.#tnds = parts.tnds;
    this.#o = options;
    this.#outbox = outbox;
    this.#log = options.logger ?? silent;
    if (options.transport) {
      this.#transport = options.transport;
    } else {
      this.#ownTransport = new HttpTransport(options.http);
      this.#transport = this.#ownTransport;
    }
    this.#offTree.push(
      tree.onChange((e) => this.#emit('change', e)),
      tree.onExecResult((r) => {
        // An Exec answered 202 finished: report it with a Generic Alert in the next session.
        const id = this.#outbox.add(
          genericAlert({
            ...(r.correlator === undefined ? {} : { correlator: r.correlator }),
            source: r.uri,
            type: r.type ?? 'org.omadm.exec.result',
            data: String(r.resultCode),
          }),
          r.serverId,
        );
        this.#log.info(
          { uri: r.uri, resultCode: r.resultCode, alert: id },
          'exec result queued as Generic Alert',
        );
        this.#emit('alertQueued', { id, serverId: r.serverId });
      }),
    );
    this.fumo = parts.fumo?.object;
    parts.fumo?.connect((r) => {
      const id = this.queueAlert(
        {
          ...(r.correlator === undefined ? {} : { correlator: r.correlator }),
          source: r.uri,
          type: r.alertType,
          ...(r.mark === 'informational' ? {} : { mark: r.mark }),
          data: String(r.resultCode),
        },
        r.serverId,
      );
      this.#log.info(
        { event: 'fumo.alert.queued', uri: r.uri, resultCode: r.resultCode, state: r.state, alert: id },
        'FUMO result queued as Generic Alert',
      );
    });
  }

  /** Sessions running or waiting. */
  get busy(): boolean {
    return this.#running > 0;
  }

  /** Generic Alerts waiting for a session. */
  get pendingAlerts(): number {
    return this.#outbox.size;
  }

  on<K extends keyof ClientEvents>(event: K, listener: Listener<K>): () => void {
    let set = this.#listeners.get(event);
    if (!set) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener as (e: never) => void);
    return () => set.delete(listener as (e: never) => void);
  }

  #emit<K extends keyof ClientEvents>(event: K, payload: ClientEvents[K]): void {
    for (const l of this.#listeners.get(event) ?? []) {
      try {
        (l as Listener<K>)(payload);
      } catch (err) {
        this.#log.error({ err, event }, 'event listener threw');
      }
    }
  }

  /** The DevId (`./DevInfo/DevId`). */
  async deviceId(): Promise<string> {
    return (await this.#devInfo())['./DevInfo/DevId'] ?? '';
  }

  /** Queues a Generic Alert (1226) for the next session (with `serverId`, or any server). */
  queueAlert(input: GenericAlertInput, serverId?: string): string {
    const id = this.#outbox.add(genericAlert(input), serverId);
    this.#emit('alertQueued', { id, serverId });
    return id;
  }

  /**
   * Verifies and installs a bootstrap (DM profile message or CP document, SEC/MAC checked with the
   * PIN/IMSI you give). Throws ClientError `OMADM_ERR_CLIENT_BOOTSTRAP` and installs nothing when it
   * does not verify or apply. Start the first session yourself (`result.servers[0]`).
   */
  bootstrap(input: BootstrapInput): Promise<BootstrapResult> {
    return this.#serialize(async () => {
      const r = await installBootstrap(this.tree, this.accounts, this.#tnds, input);
      this.#log.info({ profile: r.profile, servers: r.servers }, 'bootstrap installed');
      return r;
    });
  }

  /**
   * Installs the bootstrap documents a smart card holds (a trusted channel: no MAC). Resolves
   * undefined when there is no card.
   */
  async bootstrapFromCard(source: SmartCardBootstrapSource): Promise<BootstrapResult[] | undefined> {
    const card = await source.read();
    if (!card) return undefined;
    const out: BootstrapResult[] = [];
    for (const doc of card.documents) {
      out.push(await this.bootstrap({ body: doc.bytes, profile: doc.profile, trusted: true }));
      this.#log.info(
        { card: card.cardId ?? source.name, origin: doc.origin },
        'smart card bootstrap applied',
      );
    }
    return out;
  }

  /** Runs a client-initiated session (Alert 1201). Resolves with its report, also when it failed. */
  session(request: SessionRequest = {}): Promise<SessionReport> {
    return this.#serialize(() => this.#run(request.serverId, undefined));
  }

  /**
   * Takes a received Package 0: verifies it against the SRVCRED of the account it names (with
   * nonce re-synchronisation), drops duplicates, asks `onNotification`, and runs the
   * server-initiated session (Alert 1200 with the trigger's SessionID).
   */
  async notify(package0: Uint8Array): Promise<NotifyOutcome> {
    if (this.#closed) throw new ClientError(ClientErrorCode.Closed, 'client closed');
    const decision = await receivePackage0(
      package0,
      async (serverId) => {
        const acc = await this.accounts.find(serverId);
        const sr = acc?.auth.find((a) => a.level === AAuthLevel.Server);
        if (!acc || !sr?.secret) return undefined;
        return {
          credentialDigest: credentialDigest(sr.name ?? serverId, sr.secret),
          ...(sr.data && sr.data.byteLength > 0 ? { nonce: sr.data } : {}),
        };
      },
      this.#dedup,
    );
    if (decision.action === 'ignore') {
      const detail = decision.reason === 'malformed' ? decision.message : decision.serverId;
      this.#log.warn({ reason: decision.reason, detail }, 'notification ignored');
      return { action: 'ignored', reason: decision.reason, ...(detail ? { detail } : {}) };
    }
    const info: NotificationInfo = {
      serverId: decision.serverId,
      sessionId: decision.sessionId,
      uiMode: decision.uiMode,
      initiator: decision.initiator,
      vendor: decision.vendor,
    };
    const accepted = this.#o.onNotification ? await this.#o.onNotification(info) : true;
    this.#emit('notification', { ...info, accepted });
    this.#log.info(
      {
        serverId: info.serverId,
        sessionId: info.sessionId,
        uiMode: info.uiMode,
        accepted,
        resync: decision.resync,
      },
      'notification received',
    );
    if (!accepted) return { action: 'declined', serverId: info.serverId };
    const report = await this.#serialize(() =>
      this.#run(decision.serverId, { sessionId: Number.parseInt(decision.sessionId, 16) }),
    );
    return { action: 'session', report };
  }

  #serialize<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new ClientError(ClientErrorCode.Closed, 'client closed'));
    this.#running++;
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => undefined).finally(() => this.#running--);
    return run;
  }

  async #devInfo(): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const leaf of ['DevId', 'Man', 'Mod', 'DmV', 'Lang']) {
      const uri = `${StandardUri.DevInfo}/${leaf}`;
      const got = await this.tree.get(uri);
      const data = got.items[0]?.data;
      if (got.status === 200 && data !== undefined) {
        out[uri] = typeof data === 'string' ? data : Buffer.from(data).toString('utf8');
      }
    }
    return out;
  }

  /** The tree's command handler, logging what each server command did. */
  #loggingHandler(serverId: string): CommandHandler {
    const inner = treeCommandHandler(this.tree, { tnds: this.#tnds });
    return {
      execute: async (cmd, ctx) => {
        const r = await inner.execute(cmd, ctx);
        this.#log.info(
          {
            serverId,
            cmd: cmd.type,
            uri: cmd.Item[0]?.Target?.LocURI ?? cmd.Item[0]?.Source?.LocURI,
            status: r.status,
          },
          'server command',
        );
        return r;
      },
      begin: (ctx) => inner.begin(ctx),
    };
  }

  async #account(serverId: string | undefined): Promise<DmAccount> {
    const acc = serverId ? await this.accounts.find(serverId) : (await this.accounts.list())[0];
    if (!acc) {
      throw new ClientError(
        ClientErrorCode.NoAccount,
        serverId ? `no DMAcc account for server ${serverId}` : 'no DMAcc account configured',
      );
    }
    return acc;
  }

  async #run(
    serverId: string | undefined,
    notification: { sessionId: number } | undefined,
  ): Promise<SessionReport> {
    const started = Date.now();
    let acc: ClientAccount;
    try {
      acc = clientAccountOf(await this.#account(serverId));
    } catch (err) {
      if (!(err instanceof ClientError)) throw err;
      // No usable account: a failed session like any other, not an exception.
      const report: SessionReport = {
        serverId: serverId ?? '',
        sessionId: '',
        initiator: notification ? 'server' : 'client',
        ok: false,
        outcome: 'error',
        messages: 0,
        commands: 0,
        serverAuthenticated: false,
        durationMs: Date.now() - started,
        error: { code: err.code, message: err.message },
      };
      this.#log.error({ error: report.error }, 'session not started');
      this.#emit('sessionEnd', report);
      return report;
    }
    const devInfo = await this.#devInfo();
    const deviceId = devInfo['./DevInfo/DevId'] ?? '';
    const session = new DmClientSession({
      codec: syncmlCodec,
      encoding: this.#o.encoding ?? 'xml',
      deviceId,
      devInfo,
      account: acc,
      accountState: {
        saveNonces: async (n) => {
          if (n.clientNonce !== undefined)
            await this.accounts.setNonce(
              acc.serverId,
              AAuthLevel.Client,
              Buffer.from(n.clientNonce, 'base64'),
            );
          if (n.serverNonce !== undefined)
            await this.accounts.setNonce(
              acc.serverId,
              AAuthLevel.Server,
              Buffer.from(n.serverNonce, 'base64'),
            );
        },
      },
      handler: this.#loggingHandler(acc.serverId),
      alerts: this.#outbox.forServer(acc.serverId),
      ...(this.#o.ui ? { ui: this.#o.ui } : {}),
      ...(notification ? { notification } : {}),
      ...(this.#o.limits ? { limits: this.#o.limits } : {}),
    });
    const initiator: SessionInitiator = notification ? 'server' : 'client';
    this.#emit('sessionStart', { serverId: acc.serverId, sessionId: session.sessionId, initiator });
    this.#log.info(
      { serverId: acc.serverId, sessionId: session.sessionId, initiator, url: acc.serverUri },
      'session starting',
    );
    let report: SessionReport;
    try {
      const r = await runClientSession(session, this.#transport);
      report = {
        serverId: acc.serverId,
        sessionId: r.sessionId,
        initiator,
        ok: r.outcome === 'completed',
        outcome: r.outcome,
        messages: r.messages,
        commands: r.commands,
        serverAuthenticated: r.serverAuthenticated,
        durationMs: Date.now() - started,
      };
    } catch (err) {
      const code = err instanceof SessionError ? err.code : ((err as { code?: string }).code ?? 'ERROR');
      report = {
        serverId: acc.serverId,
        sessionId: session.sessionId,
        initiator,
        ok: false,
        outcome:
          session.result?.outcome && session.result.outcome !== 'completed'
            ? session.result.outcome
            : 'error',
        messages: session.result?.messages ?? 0,
        commands: session.result?.commands ?? 0,
        serverAuthenticated: session.result?.serverAuthenticated ?? false,
        durationMs: Date.now() - started,
        error: { code, message: (err as Error).message },
      };
    }
    const level = report.ok ? 'info' : 'warn';
    this.#log[level](
      {
        serverId: report.serverId,
        sessionId: report.sessionId,
        outcome: report.outcome,
        commands: report.commands,
        messages: report.messages,
        ms: report.durationMs,
        ...(report.error ? { error: report.error } : {}),
      },
      report.ok ? 'session completed' : 'session failed',
    );
    this.#emit('sessionEnd', report);
    return report;
  }

  /** Waits for running sessions, then closes the tree (and the transport the client created). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.fumo?.stop();
    await this.#queue.catch(() => undefined);
    for (const off of this.#offTree) off();
    this.#ownTransport?.close();
    await this.tree.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Opens the tree (standard objects, plugins, accounts) and returns the client. */
export async function createClient(options: ClientOptions = {}): Promise<DmClient> {
  let store = options.store;
  let outboxFile: string | undefined;
  if (options.dataDir) {
    // The tree holds the accounts' secrets (AAuthSecret): the data directory is the owner's only.
    mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
    chmodSync(options.dataDir, 0o700);
    store ??= new JournalTreeStore({ dir: join(options.dataDir, 'tree') });
    outboxFile = join(options.dataDir, 'alerts.json');
  }
  let fumoSink: ((r: FumoReport) => void) | undefined;
  let fumo: ClientParts['fumo'];
  const { tree, accounts, tnds } = await openStandardTree({
    devInfo: hostDevInfo(options.devInfo),
    devDetail: hostDevDetail(options.devDetail),
    ...(options.accountOptions ? { accounts: options.accountOptions } : {}),
    tree: store ? { store } : {},
  });
  try {
    if (options.hostObject !== false) {
      await tree.ensure('./DevDetail/Ext', { format: 'node', permanent: true });
      await tree.mount(HOST_MO_URI, hostObject());
    }
    for (const p of options.plugins ?? []) await tree.mount(p.uri, p.mo);
    if (options.fumo) {
      const built = buildFumo(options.fumo, options.dataDir, (r) => fumoSink?.(r), options.logger ?? silent);
      await tree.mount(built.fumo.uri, built.fumo);
      await tree.replace(`${built.fumo.uri}?prop=ACL`, { data: built.acl });
      fumo = {
        object: built.fumo,
        connect(sink) {
          fumoSink = sink;
          built.fumo.start();
        },
      };
    }
    for (const a of options.accounts ?? []) {
      const stored = await accounts.find(a.serverId);
      if (!stored || !sameAccount(stored, a)) await accounts.put(stored?.id ? { ...a, id: stored.id } : a);
    }
  } catch (err) {
    await tree.close();
    throw err;
  }
  return new DmClient(
    { tree, accounts, tnds, outbox: new PersistentOutbox(outboxFile), ...(fumo ? { fumo } : {}) },
    options,
  );
}
