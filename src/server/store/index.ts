/**
 * omadm server storage: devices, tree cache, durable command queue, session state, traces, audit
 * log and API tokens on SQLite (`node:sqlite`) or PostgreSQL (`pg`), one schema, one data-access
 * layer (Kysely). Start with {@link openStore}; see docs/storage.md.
 */
export {
  type AddCommand,
  type AtomicCommand,
  type AtomicMember,
  COMMAND_KINDS,
  type CommandData,
  type CommandKind,
  type CopyCommand,
  correlatorsOf,
  type DeleteCommand,
  type DmCommand,
  type ExecCommand,
  type GetCommand,
  isDestructive,
  newCorrelator,
  parseCommand,
  type ReplaceCommand,
  type SequenceCommand,
  type SequenceMember,
  valueProblem,
} from './command.ts';
export { isStoreError, StoreError, StoreErrorCode } from './errors.ts';
export { NodeSqliteDialect, type NodeSqliteDialectConfig } from './node-sqlite-dialect.ts';
export { openStore, parseStoreUrl, SqlStore, type StoreLocation, type StoreOptions } from './open-store.ts';
export type { Database } from './schema.ts';
export { DEFAULT_SECRET_LEAVES, SecretLeaves } from './secret-leaves.ts';
export { isSuccessStatus } from './sql-command-queue.ts';
export { credentialDigest } from './sql-device-store.ts';
export { hashToken } from './sql-token-store.ts';
export * from './types.ts';
export { type PruneReport, Pruner, type PrunerOptions, type RetentionRule } from './retention.ts';
