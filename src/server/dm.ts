/**
 * The DM endpoint: the HTTP binding's Fastify plugin (`POST /dm`, and `/dm?s=TOKEN`, the RespURI
 * of a running session) in front of the server session engine wired to the store
 * (dm-adapters.ts). Messages of an authenticated sender are recorded in the device's trace, and
 * each session in the session log, as the trace policy says (session-recorder.ts,
 * trace-policy.ts); of refused ones only bounded metadata is kept (unauthenticated.ts), and each
 * refusal is counted (`omadm_auth_failures_total`) and logged (`dm.auth.failure`). Failed attempts
 * slow their device and source down (BackoffGuard; docs/security.md).
 */
import type { FastifyInstance } from 'fastify';
import { type DmRequestHandler, dmHttpPlugin } from '../binding/http/index.ts';
import { type AuthFailure, BackoffGuard, type BackoffPolicy } from '../protocol/auth-guard.ts';
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
import { recordMessage } from './session-recorder.ts';
import { observeSessions, type SessionEnd } from './session-events.ts';
import { publicSessionKey } from './redact.ts';
import type { Store } from './store/index.ts';
import { withActivity } from './trace-policy.ts';
import { UnauthenticatedContacts } from './unauthenticated.ts';

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
  /** Backoff after failed authentications (defaults: `defaultBackoffPolicy`, docs/security.md). */
  readonly authBackoff?: Partial<BackoffPolicy>;
}

/** What the DM endpoint keeps about refused senders. */
export interface DmEndpoint {
  readonly unauthenticated: UnauthenticatedContacts;
  readonly guard: BackoffGuard;
}

export async function registerDm(app: FastifyInstance, options: DmOptions): Promise<DmEndpoint> {
  const { store, metrics } = options;
  const ctx: DmContext = {
    store,
    metrics,
    onlineTtlMs: options.onlineTtlMs,
    ...(options.autoEnroll ? { autoEnroll: options.autoEnroll } : {}),
    log: app.log,
  };
  const sessions = sessionStore(ctx);
  const unauthenticated = new UnauthenticatedContacts();
  const guard = new BackoffGuard({
    ...(options.authBackoff ? { policy: options.authBackoff } : {}),
    onFailure: (f: AuthFailure) => {
      metrics.authFailures.inc({ reason: f.reason });
      app.log.warn(
        {
          event: 'dm.auth.failure',
          deviceId: f.deviceId,
          source: f.source,
          reason: f.reason,
          detail: f.detail,
        },
        'DM authentication failed',
      );
    },
  });
  // Session start/end log lines (docs/operations.md), observed around the engine's sources.
  const observed = observeSessions({ sessions, commands: commandSource(ctx) }, app.log);
  const engine = new DmServerEngine({
    guard,
    codec: syncmlCodec,
    credentials: credentialSource(ctx),
    commands: observed.commands,
    sessions: observed.sessions,
    ...(options.limits ? { limits: options.limits } : {}),
  });

  // The engine as the HTTP plugin sees it, plus the trace and message counters.
  const handler: DmRequestHandler = {
    async handle(request: ServerRequest): Promise<ServerResponse> {
      metrics.dmMessages.inc({ direction: 'in' });
      let ended: readonly SessionEnd[] = [];
      const [res, activity] = await withActivity(() =>
        observed.run(
          request.source,
          () => engine.handle(request),
          (e) => {
            ended = e;
          },
        ),
      );
      if (!res.authenticated) {
        // Nothing of a refused sender is stored: no trace, only bounded metadata.
        unauthenticated.note({
          deviceId: res.deviceId,
          source: request.source,
          reason: res.refusal ?? 'refused',
          body: request.body,
          contentType: request.contentType,
          at: Date.now(),
        });
        metrics.dmMessages.inc({ direction: 'out' });
        return res;
      }
      // Trace under the session's unique token (DM SessionIDs repeat from session to session),
      // hashed: the token is the session's key, and a trace is read by viewers.
      const key =
        sessions.takeToken(res.deviceId, res.sessionId) ??
        request.sessionToken ??
        (await sessions.loadByDevice(res.deviceId))?.token ??
        res.sessionId;
      // The token in RespURI (and in the Target of a client that repeats it) and secret values
      // never reach the trace.
      const hide = { tokens: [...new Set([key, request.sessionToken, res.token])], secrets: store.secrets };
      // How the session ended, when this answer ended it (`omadm trace` shows it).
      const own = ended.find((e) => e.current && e.token === key);
      await recordMessage(store, app.log, request, res, publicSessionKey(key), activity, own?.outcome, hide);
      // Older sessions this message closed (superseded, expired): marked on their last message.
      for (const e of ended) {
        if (e.current || !store.traces.markEnd) continue;
        await store.traces
          .markEnd(e.deviceId, publicSessionKey(e.token), e.outcome)
          .catch((err: unknown) =>
            app.log.warn({ err, deviceId: e.deviceId }, 'could not record session end'),
          );
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
  return { unauthenticated, guard };
}
