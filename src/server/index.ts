/**
 * omadm/server: the DM Server product — `createServer` (DM endpoint, operator REST API, OpenAPI,
 * metrics, health) over the store (`openStore`). See docs/server.md and docs/api.md.
 */
export type { ApiBackend } from './api/backend.ts';
export { type Principal, roleAllows } from './api/auth.ts';
export { storeBackend } from './api/store-backend.ts';
export {
  type AutoEnrollPolicy,
  commandSource,
  credentialSource,
  sessionStore,
  toSyncml,
} from './dm-adapters.ts';
export { ApiError, ApiErrorCode, apiErrorStatus } from './errors.ts';
export { createServerMetrics, type ServerMetrics } from './metrics.ts';
export {
  createServer,
  type OmadmServer,
  type ServerOptions,
  TLS12_CIPHERS,
  type TlsOptions,
} from './server.ts';
export { type NotifyAddress, Notifier, type NotifyOptions, type NotifyResult } from './notify.ts';
export {
  HTTP_CHANNEL_BEARER,
  HTTP_CHANNEL_PATH,
  HttpChannelBearer,
  type HttpChannelBearerOptions,
  type HttpChannelRouteOptions,
  registerHttpChannel,
} from './http-channel.ts';
export { ensureAdminToken, type AdminTokenResult } from './bootstrap.ts';
export * from './store/index.ts';
