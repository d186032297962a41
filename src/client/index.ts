/**
 * omadm/client: the DM Client product — `createClient` (a management tree with the standard
 * objects, DMAcc accounts, a transport, MO plugins; client- and server-initiated sessions; session
 * and tree events) and `DmAgent` (periodic and on-demand sessions with backoff, notifications over
 * UDP). Imports no server code. See docs/client.md.
 */
export {
  authModeOfType,
  authTypeOfMode,
  clientAccountOf,
  sameAccount,
  type SimpleAccountInput,
  simpleAccount,
} from './account.ts';
export { type BootstrapInput, type BootstrapResult, installBootstrap } from './bootstrap.ts';
export {
  type ClientEvents,
  type ClientLogger,
  type ClientOptions,
  type ClientParts,
  createClient,
  DmClient,
  type NotificationInfo,
  type NotifyOutcome,
  type SessionInitiator,
  type SessionReport,
  type SessionRequest,
} from './client.ts';
export { BootstrapMacError, ClientError, ClientErrorCode } from './errors.ts';
export {
  BootstrapGuard,
  type BootstrapGuardOptions,
  checkPushPin,
  defaultMinSecurity,
  MIN_PUSH_PIN_LENGTH,
  parseMinSecurity,
  secAtLeast,
} from './bootstrap-guard.ts';
export { RejectLog, type RejectLogOptions } from './log-aggregate.ts';
export { HOST_MO_TYPE, HOST_MO_URI, hostObject } from './host.ts';
export { PersistentOutbox } from './outbox.ts';
export { AGENT_MO_URI, type AgentOptions, DmAgent, POLL_INTERVAL_URI } from './agent.ts';
export {
  type ChannelIdentity,
  HttpNotificationChannel,
  type HttpNotificationChannelOptions,
} from './http-channel.ts';
export {
  type AgentConfig,
  type FumoConfig,
  parseSize,
  CONFIG_FILE,
  configExists,
  readConfig,
  validateConfig,
  writeConfig,
} from './config.ts';
export {
  AgentFumoDevice,
  buildFumo,
  type ClientFumoOptions,
  DEFAULT_MAX_PACKAGE_BYTES,
  FileFumoStore,
  HOOK_EXIT_CODES,
  HookBackend,
  type InstallBackend,
  type InstallRequest,
  RAUC_ERRORS,
  RaucBackend,
  raucResultOf,
} from './fumo/index.ts';
