/**
 * What the client engine needs from the device around it, as small interfaces: the management
 * tree (through a CommandHandler, so protocol never imports tree), the DMAcc account and where its
 * nonces are kept, the user interface for UI alerts, and queued Generic Alerts.
 */
import type { Add, Alert, Copy, Delete, Exec, Get, Item, Replace } from '../representation/index.ts';
import type { AuthMode } from './server-sources.ts';

/** The commands a CommandHandler executes against the tree. */
export type TreeCommand = Add | Replace | Delete | Copy | Get | Exec;

/** Outcome of one tree command: a StatusCode, plus Items for a Get's Results. */
export interface CommandResult {
  readonly status: number;
  /** For Get: the values (Item with Source/LocURI, Meta Format/Type, Data), one per node. */
  readonly results?: readonly Item[];
  /**
   * The status of each Item of the command, in order, when it has several. Items whose codes
   * differ get a Status each (one per group of equal codes); `status` is then the first failure.
   */
  readonly itemStatuses?: readonly number[];
}

/** An Atomic's all-or-nothing scope. */
export interface HandlerTransaction {
  commit(): Promise<void>;
  /** Undoes every command run in the transaction; false if that was not fully possible (516). */
  rollback(): Promise<boolean>;
}

export interface ExecContext {
  /** DMAcc ServerID of the server in session (ACL identity). */
  readonly serverId: string;
  readonly sessionId: string;
  /** Set inside an Atomic: the command belongs to this transaction. */
  readonly transaction?: HandlerTransaction;
}

/**
 * Runs server commands against the management tree. The client role wires the tree's executor
 * in here (issue 6); tests use small fakes.
 *
 * ```ts
 * const handler: CommandHandler = {
 *   execute: (cmd, ctx) => treeExecutor.run(cmd, ctx.serverId, ctx.transaction),
 *   begin: async () => tree.begin(),
 * };
 * ```
 */
export interface CommandHandler {
  execute(cmd: TreeCommand, ctx: ExecContext): Promise<CommandResult>;
  /** Opens a transaction for an Atomic. Without it, Atomic is answered 406 (not supported). */
  begin?(ctx: ExecContext): Promise<HandlerTransaction>;
}

/** One DMAcc AppAuth entry as the engine uses it. */
export interface AuthSecret {
  readonly mode: AuthMode;
  readonly name: string;
  readonly secret: string;
}

/** The DMAcc account of the server this session talks to (protocol.md §7.1). */
export interface ClientAccount {
  /** DMAcc ServerID. */
  readonly serverId: string;
  /** AppAddr: where package 1 goes. */
  readonly serverUri: string;
  /** CLCRED: how the client authenticates (AAuthPref). */
  readonly client: AuthSecret;
  /** SRVCRED: how the server must authenticate; absent: not checked at DM level. */
  readonly server?: AuthSecret;
  /** Base64 nonce for the client's next md5/HMAC credential (CLCRED AAuthData). */
  readonly clientNonce?: string;
  /** Base64 nonce the server must use next (SRVCRED AAuthData). */
  readonly serverNonce?: string;
}

/** Where the account's nonces are persisted (DMAcc AAuthData). */
export interface AccountState {
  saveNonces(nonces: { readonly clientNonce?: string; readonly serverNonce?: string }): Promise<void>;
}

/** A Generic Alert (or other client alert) waiting to be delivered. */
export interface PendingAlert {
  readonly id: string;
  /** The Alert to send (its CmdID is replaced). */
  readonly alert: Alert;
}

/**
 * Alerts the device wants delivered (asynchronous Exec results, events). The engine sends what
 * `pending()` returns in package 1 and in later client packages, and reports each delivery.
 */
export interface AlertOutbox {
  pending(): readonly PendingAlert[] | Promise<readonly PendingAlert[]>;
  /** The server's status for a delivered alert (2xx: done; anything else: keep or drop). */
  delivered(id: string, status: number): void | Promise<void>;
}

/** UI alert options (first Item of a 1100–1104 alert, protocol.md §3.4). */
export interface UiOptions {
  readonly minDisplaySeconds?: number;
  readonly maxDisplaySeconds?: number;
  readonly defaultResponse?: string;
  readonly maxLength?: number;
  readonly inputType?: string;
  readonly echoType?: string;
}

export interface UiRequest {
  /** 1100 display, 1101 confirm, 1102 text input, 1103 single choice, 1104 multiple choice. */
  readonly code: number;
  readonly text: string;
  readonly options: UiOptions;
  /** Choice texts; answers number them from 1. */
  readonly choices: readonly string[];
  /** Aborted when the alert times out (MAXDT or the engine's UI timeout). */
  readonly signal: AbortSignal;
}

export type UiResponse =
  | { readonly kind: 'ok' }
  | { readonly kind: 'yes' }
  | { readonly kind: 'no' }
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'choice'; readonly selected: readonly number[] }
  | { readonly kind: 'cancel' };

/** The application's UI: shows the alert and resolves with the user's answer. */
export type UiHandler = (request: UiRequest) => Promise<UiResponse>;
