/**
 * The public vocabulary of the management tree: who acts (Principal), what a node holds
 * (NodeData, NodeInput), what a Get returns (TreeItem), subtree snapshots (for TNDS), change
 * events, and the two extension points: ManagementObject (a subtree backed by code) and
 * TreeSchema (DDF validation).
 */
import type { Format, StatusCode } from '../representation/index.ts';
import type { NodePath } from './uri.ts';

/** A leaf value as stored: text (chr, int, bool, float, date, time, xml, b64 as base64 text) or bytes (bin). */
export type NodeData = string | Uint8Array;

/** Who performs an operation: an authenticated DM server (ACL-checked) or the device itself. */
export type Principal = ServerPrincipal | LocalPrincipal;
export interface ServerPrincipal {
  readonly kind: 'server';
  /** The DMAcc ServerID the session authenticated. */
  readonly serverId: string;
}
/** The device side (client API, local apps, MO code): bypasses ACLs and may create permanent nodes. */
export interface LocalPrincipal {
  readonly kind: 'local';
}

export const LOCAL: LocalPrincipal = Object.freeze({ kind: 'local' });

export function serverPrincipal(serverId: string): ServerPrincipal {
  return Object.freeze({ kind: 'server', serverId });
}

/** `CS` = names compared case-sensitively (default), `CIS` = case-insensitively (DDF CaseSense). */
export type CaseSense = 'CS' | 'CIS';

/** What Add and Replace take. Absent format/type default to `chr` / `text/plain` for leaves. */
export interface NodeInput {
  readonly format?: Format;
  /** MIME type of a leaf, MO identifier of an interior node. */
  readonly type?: string;
  /** Leaf value; absent on interior nodes. */
  readonly data?: NodeData;
  /** Local principal only (servers set ACLs with Replace ?prop=ACL): initial ACL. */
  readonly acl?: string;
  /** Local principal only: initial Title. */
  readonly title?: string;
  /** Local principal only: a built-in node servers may not delete or rename. */
  readonly permanent?: boolean;
  /** Local principal only: how this node's name is matched. */
  readonly caseSense?: CaseSense;
}

/** One item of a Get answer (Results/Item): Source LocURI, Meta Format/Type, Data. */
export interface TreeItem {
  readonly uri: string;
  readonly format: Format;
  readonly type: string;
  /** Absent for `?list=Struct` items; child names joined by `/` for an interior node. */
  readonly data?: NodeData;
}

export interface GetOutcome {
  readonly status: StatusCode;
  /** Present when status is 200. */
  readonly items: readonly TreeItem[];
}

/** A node and its descendants as seen by one principal: what `?list=TNDS` and TNDS Add carry. */
export interface SubtreeNode {
  readonly name: string;
  readonly format: Format;
  readonly type?: string;
  readonly acl?: string;
  readonly title?: string;
  /** UTC milliseconds of the last change. */
  readonly tstamp?: number;
  readonly verNo?: number;
  readonly data?: NodeData;
  readonly children?: readonly SubtreeNode[];
}

export interface SnapshotOutcome {
  readonly status: StatusCode;
  /** URI of the start node. */
  readonly uri: string;
  /** Present when status is 200. */
  readonly node?: SubtreeNode;
}

/** Serializes a snapshot for `?list=<name><args>` (e.g. TNDS with args `+ACL+Value`). */
export type ListSerializer = (snapshot: SubtreeNode, uri: string, args: string) => TreeItem | StatusCode;

export type ChangeOp = 'Add' | 'Replace' | 'Delete' | 'Copy' | 'Rename';

/** Emitted after every successful change (after commit for a transaction). */
export interface ChangeEvent {
  /** URI of the changed node (for Rename: the old URI; see `newUri`). */
  readonly uri: string;
  readonly op: ChangeOp;
  /** The server that made the change, or undefined for the device itself. */
  readonly serverId: string | undefined;
  /** Set when a property was replaced (`ACL`, `Title`, `Name`). */
  readonly prop?: string;
  /** For Rename: the node's new URI. */
  readonly newUri?: string;
}

/** The later result of an Exec that answered 202 (sent to the server as Generic Alert 1226). */
export interface ExecResult {
  readonly uri: string;
  readonly serverId: string | undefined;
  readonly correlator: string | undefined;
  /** Result code to report (MO-specific, e.g. FUMO 200/4xx), as a DM status or MO result code. */
  readonly resultCode: number;
  readonly data?: NodeData;
  readonly format?: Format;
  readonly type?: string;
}

export interface ExecInput {
  readonly data?: NodeData;
  readonly format?: Format;
  readonly type?: string;
  /** Exec/Correlator: the server expects the async result with it. */
  readonly correlator?: string;
}

/** Listener management; each `on*` returns a function that removes the listener. */
export type Unsubscribe = () => void;

// ---------------------------------------------------------------------------------------------
// Plugins

/** What a plugin returns for a node it owns. */
export type PluginNode = PluginInterior | PluginLeaf;
export interface PluginInterior {
  readonly format: 'node';
  readonly type?: string;
  readonly children: readonly string[];
  /** Servers may not delete or rename it (default false). */
  readonly permanent?: boolean;
  readonly tstamp?: number;
  readonly verNo?: number;
}
export interface PluginLeaf {
  readonly format: Exclude<Format, 'node'>;
  readonly type?: string;
  readonly data: NodeData;
  readonly permanent?: boolean;
  readonly tstamp?: number;
  readonly verNo?: number;
}

/**
 * Operations plugins and local code can run on the tree. The tree itself and a Transaction
 * implement it; `ctx.tree` in a plugin call is the same, bound to the running command (and its
 * transaction) with the local principal.
 */
export interface TreeOps {
  get(uri: string, who?: Principal): Promise<GetOutcome>;
  add(uri: string, input: NodeInput, who?: Principal): Promise<StatusCode>;
  replace(uri: string, input: NodeInput, who?: Principal): Promise<StatusCode>;
  delete(uri: string, who?: Principal): Promise<StatusCode>;
  copy(targetUri: string, sourceUri: string, who?: Principal): Promise<StatusCode>;
  exec(uri: string, input?: ExecInput, who?: Principal): Promise<StatusCode>;
  snapshot(uri: string, who?: Principal): Promise<SnapshotOutcome>;
  addSubtree(parentUri: string, node: SubtreeNode, who?: Principal): Promise<StatusCode>;
  replaceSubtree(uri: string, node: SubtreeNode, who?: Principal): Promise<StatusCode>;
}

/** Context of a plugin call. */
export interface PluginContext {
  /** Who asked (already ACL-checked by the engine). */
  readonly principal: Principal;
  /**
   * Id of the transaction the call belongs to: every command runs in one (an Atomic's spans all
   * its members); `prepare`/`commit`/`rollback` later receive the same id.
   */
  readonly txId: number;
  /** The tree, as the local principal, inside the running command (no deadlock, same transaction). */
  readonly tree: TreeOps;
}

export interface ExecContext extends PluginContext {
  readonly correlator: string | undefined;
  /** Reports the final result of an Exec that answered 202; emitted as an `execResult` event. */
  report(result: { resultCode: number; data?: NodeData; format?: Format; type?: string }): void;
}

/**
 * A subtree backed by code (an MO implementation reading and writing live device state).
 * Paths are relative to the mount point (`[]` = the mount node). A missing method means the
 * command is not allowed there (405). ACLs, Title and the engine's TStamp/VerNo of plugin nodes
 * are kept (and persisted) by the engine.
 *
 * Atomic: inside a transaction the engine calls add/replace/delete with `ctx.txId` set; the plugin
 * applies or stages them, and the engine later calls `prepare` (may refuse with a status), then
 * `commit`, or `rollback` to undo everything of that txId. A plugin without `rollback` cannot take
 * part in an explicit transaction: its writes there fail with 500.
 */
export interface ManagementObject {
  get(path: NodePath, ctx: PluginContext): Promise<PluginNode | StatusCode>;
  add?(path: NodePath, input: NodeInput, ctx: PluginContext): Promise<StatusCode>;
  replace?(path: NodePath, input: NodeInput, ctx: PluginContext): Promise<StatusCode>;
  delete?(path: NodePath, ctx: PluginContext): Promise<StatusCode>;
  rename?(path: NodePath, newName: string, ctx: PluginContext): Promise<StatusCode>;
  /** 200 when done, 202 when accepted (then `ctx.report` later), or an error status. */
  exec?(path: NodePath, input: ExecInput, ctx: ExecContext): Promise<StatusCode>;
  prepare?(txId: number): Promise<StatusCode>;
  commit?(txId: number): Promise<void>;
  rollback?(txId: number): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Schema (DDF) hook

export type SchemaOp = 'Add' | 'Get' | 'Replace' | 'Delete' | 'Exec' | 'Copy';

/** Read-only view of the tree for schema checks (Occurrence needs the siblings). */
export interface TreeView {
  /** Format of the node, or undefined when it does not exist (engine-stored nodes only). */
  formatOf(path: NodePath): Format | undefined;
  /** Child names of an engine-stored interior node (empty when absent or a leaf). */
  childNames(path: NodePath): readonly string[];
}

export interface SchemaRequest {
  readonly op: SchemaOp;
  readonly path: NodePath;
  /** Set for `?prop=` commands. */
  readonly prop?: string;
  /** Add/Replace: the node's new format, type and value. */
  readonly format?: Format;
  readonly type?: string;
  readonly data?: NodeData;
  /** True when the principal is the device itself (schemas usually only constrain servers). */
  readonly local: boolean;
}

/**
 * Validates commands against the device description (DDF): AccessType (405), Format/Type (406 or
 * 415), Occurrence (405/418 …). Return undefined to accept. Called before the ACL check.
 */
export interface TreeSchema {
  check(request: SchemaRequest, view: TreeView): StatusCode | undefined;
  /** Defaults for a node created at run time (e.g. DDF CaseSense of a placeholder). */
  defaultsFor?(
    path: NodePath,
  ): { readonly caseSense?: CaseSense; readonly type?: string; readonly format?: Format } | undefined;
}
