/**
 * omadm/tree: the management tree engine shared by the DM client and the gateway — nodes,
 * properties, ACLs, Atomic transactions, plugins (code-backed subtrees), change events,
 * persistence, and the executor of SyncML DM commands against the tree.
 */
export {
  AclCommand,
  aclFor,
  aclGrants,
  aclWithoutServer,
  formatAcl,
  normalizeAcl,
  parseAcl,
  ROOT_DEFAULT_ACL,
} from './acl.ts';
export type { Acl } from './acl.ts';
export { TreeError, TreeErrorCode } from './errors.ts';
export { ManagementTree, Property, Transaction } from './tree.ts';
export type { TreeOptions } from './tree.ts';
export { LOCAL, serverPrincipal } from './types.ts';
export type {
  CaseSense,
  ChangeEvent,
  ChangeOp,
  ExecContext,
  ExecInput,
  ExecResult,
  GetOutcome,
  ListSerializer,
  LocalPrincipal,
  ManagementObject,
  NodeData,
  NodeInput,
  PluginContext,
  PluginInterior,
  PluginLeaf,
  PluginNode,
  Principal,
  SchemaOp,
  SchemaRequest,
  ServerPrincipal,
  SnapshotOutcome,
  SubtreeNode,
  TreeItem,
  TreeOps,
  TreeSchema,
  TreeView,
  Unsubscribe,
} from './types.ts';
export {
  checkLimits,
  DEFAULT_URI_LIMITS,
  escapeSegment,
  formatUri,
  isWithin,
  nodeNameProblem,
  parseUri,
} from './uri.ts';
export type { ListQuery, NodePath, ParsedUri, UriLimits } from './uri.ts';
export { formatTStamp, parseTStamp, valueSize } from './value.ts';
export { MemoryTreeStore } from './store/store.ts';
export type { LoadedTree, TreeSnapshot, TreeStore } from './store/store.ts';
export type { Mutation, NodeRecord, OverlayProps } from './node.ts';
export { JournalTreeStore, journalFootprint } from './store/journal.ts';
export type { JournalTreeStoreOptions } from './store/journal.ts';
export { SqliteTreeStore } from './store/sqlite.ts';
export type { SqliteTreeStoreOptions } from './store/sqlite.ts';
export { TreeCommandExecutor } from './exec.ts';
export type {
  AlertOutcome,
  CommandExecutor,
  CommandRunResult,
  ExecutionContext,
  ExecutionOutcome,
  TndsHandler,
  TndsOps,
  TreeCommandExecutorOptions,
} from './exec.ts';
export { treeCommandHandler } from './handler.ts';
export type { TreeCommandHandler, TreeHandlerContext, TreeHandlerTransaction } from './handler.ts';
// DDF (device description, validation, skeleton) and TNDS (subtree serialization). Names the
// engine exports itself (CaseSense, TreeView) keep the engine's meaning here.
export * from './ddf/index.ts';
export * from './tnds/index.ts';
