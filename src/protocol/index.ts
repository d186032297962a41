/**
 * omadm/protocol: the DM session engines (client and server), their seams (CredentialSource,
 * CommandSource, SessionStore, CommandHandler, AccountState, AlertOutbox, UiHandler, Transport),
 * message packing under MaxMsgSize with large objects, and the security (auth/) and Package 0
 * (notification/) building blocks. Transport-independent: bindings live in omadm/binding.
 * See docs/protocol.md.
 */
export * from './auth/index.ts';
export * from './notification/index.ts';
export { executeCommand, type ExecutorDeps, parseUiOptions } from './client-executor.ts';
export { runClientSession, type Transport } from './client-runner.ts';
export {
  type ClientRequest,
  type ClientResponse,
  ClientPhase,
  type ClientSessionOptions,
  type ClientSessionResult,
  DmClientSession,
} from './client-session.ts';
export type {
  AccountState,
  AlertOutbox,
  AuthSecret,
  ClientAccount,
  CommandHandler,
  CommandResult,
  ExecContext,
  HandlerTransaction,
  PendingAlert,
  TreeCommand,
  UiHandler,
  UiOptions,
  UiRequest,
  UiResponse,
} from './client-types.ts';
export {
  answerMediaType,
  Encoding,
  encodingOfMediaType,
  type MessageCodec,
  MediaType,
  mediaTypeOf,
} from './codec.ts';
export { syncmlCodec } from './default-codec.ts';
export { channels, type Role } from './diagnostics.ts';
export { SessionError, SessionErrorCode } from './errors.ts';
export { fromJson, type Json, toJson } from './json.ts';
export { type ChunkVerdict, type IncomingObject, receiveChunk } from './large-object.ts';
export { defaultLimits, resolveLimits, type SessionLimits } from './limits.ts';
export { genericAlert, type GenericAlertInput } from './generic-alert.ts';
export {
  type DeviceAccountInput,
  MemoryCommandSource,
  type MemoryCommandRecord,
  MemoryCredentialSource,
  MemorySessionStore,
} from './memory-sources.ts';
export {
  chunkOf,
  dataSize,
  isChunkable,
  type OutEntry,
  type PackedEntry,
  pack,
  type PackInput,
  type PackOutput,
} from './packer.ts';
export {
  DmServerEngine,
  type ServerEngineOptions,
  type ServerRequest,
  type ServerResponse,
} from './server-session.ts';
export {
  AuthMode,
  type ClientAlert,
  type CommandOutcome,
  type CommandSource,
  type CredentialSource,
  type DeviceCredentials,
  type NoSessionHead,
  type QueuedCommand,
  type SessionHead,
  type SessionOutcome,
  type SessionRef,
  type SessionStore,
} from './server-sources.ts';
export {
  type AwaitingCommand,
  ServerPhase,
  type ServerSessionState,
  type StoredOutEntry,
} from './server-state.ts';
