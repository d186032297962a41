/**
 * The DM endpoint: the HTTP binding's Fastify plugin (`POST /dm`, and `/dm?s=TOKEN`, the RespURI
 * of a running session) in front of the server session engine wired to the store
 * (dm-adapters.ts). Every message in and out is recorded in the device's trace.
 */
import type { FastifyInstance } from 'fastify';
import { type DmRequestHandler, dmHttpPlugin } from '../binding/http/index.ts';
import { syncmlCodec } from '../protocol/default-codec.ts';
import type { SessionLimits } from '../protocol/limits.ts';
import { DmServerEngine, type ServerRequest, type ServerResponse } from '../protocol/server-session.ts';
import {
  type AutoEnrollPolicy,
  commandSource,
  credentialSource,
  type DmContext,
  sessionStore,
} from './dm-adapters.ts';
import type { ServerMetrics } from './metrics.ts';
import { publicSessionKey, redactMessage } from './redact.ts';
import type { Store } from './store/index.ts';

export type { AutoEnrollPolicy };

export interface DmOptions {
  readonly store: Store;
  readonly metrics: ServerMetrics;
  readonly onlineTtlMs: number;
  readonly autoEnroll?: AutoEnrollPolicy;
  /** Base URL devices reach us at (for RespURI); default from the request's Host. */
  readonly publicUrl?: string;
  readonly limits?: Partial<SessionLimits>;
  /** Refuse DM requests without an authorized TLS client certificate (403). */
  readonly requireClientCertificate?: boolean;
}

export async function registerDm(app: FastifyInstance, options: DmOptions): Promise<void> {
  const { store, metrics } = options;
  const ctx: DmContext = {
    store,
    metrics,
    onlineTtlMs: options.onlineTtlMs,
    ...(options.autoEnroll ? { autoEnroll: options.autoEnroll } : {}),
    log: app.log,
  };
  const sessions = sessionStore(ctx);
  const engine = new DmServerEngine({
    codec: syncmlCodec,
    credentials: credentialSource(ctx),
    commands: commandSource(ctx),
    sessions,
    ...(options.limits ? { limits: options.limits } : {}),
  });

  // The engine as the HTTP plugin sees it, plus the trace and message counters.
  const handler: DmRequestHandler = {
    async handle(request: ServerRequest): Promise<ServerResponse> {
      metrics.dmMessages.inc({ direction: 'in' });
      const res = await engine.handle(request);
      // Trace under the session's unique token (DM SessionIDs repeat from session to session),
      // hashed: the token is the session's key, and a trace is read by viewers.
      const key =
        sessions.takeToken(res.deviceId, res.sessionId) ??
        request.sessionToken ??
        (await sessions.loadByDevice(res.deviceId))?.token ??
        res.sessionId;
      const at = Date.now();
      // The token in RespURI (and in the Target of a client that repeats it) and secret values
      // never reach the trace.
      const hide = { tokens: [...new Set([key, request.sessionToken, res.token])], secrets: store.secrets };
      try {
        await store.traces.appendMany([
          {
            deviceId: res.deviceId,
            sessionId: publicSessionKey(key),
            direction: 'in',
            contentType: request.contentType ?? '',
            body: redactMessage(request.body, hide),
            at,
          },
          {
            deviceId: res.deviceId,
            sessionId: publicSessionKey(key),
            direction: 'out',
            contentType: res.mediaType,
            body: redactMessage(res.body, hide),
            at,
          },
        ]);
      } catch (err) {
        app.log.warn({ err, deviceId: res.deviceId }, 'could not record trace');
      }
      metrics.dmMessages.inc({ direction: 'out' });
      return res;
    },
  };

  await app.register(async (dm) => {
    // Devices get the binding's answers, not the API's JSON error bodies; unexpected failures are bugs.
    dm.setErrorHandler((err: Error & { statusCode?: number }, req, reply) => {
      const status = typeof err.statusCode === 'number' && err.statusCode < 500 ? err.statusCode : 500;
      if (status === 500) req.log.error({ err }, 'DM message failed');
      reply
        .status(status)
        .header('cache-control', 'no-store')
        .send({ error: status === 500 ? `internal error (request ${req.id})` : err.message });
    });
    await dm.register(dmHttpPlugin, {
      engine: handler,
      path: '/dm',
      bodyLimit: engine.limits.maxMsgSize + 64 * 1024,
      ...(options.publicUrl ? { publicUrl: options.publicUrl.replace(/\/+$/, '') } : {}),
      ...(options.requireClientCertificate ? { requireClientCertificate: true } : {}),
    });
  });
}
