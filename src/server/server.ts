/**
 * `createServer`: one Fastify instance on one port serving the DM endpoint (`/dm`), the operator
 * REST API (`/api/v1`), its OpenAPI document (`/openapi.json`), Prometheus metrics (`/metrics`),
 * a health check (`/healthz`) and, when given, the web console (`/`).
 *
 * Server nodes are stateless: everything between two HTTP requests is in the store, so several
 * nodes on one PostgreSQL database can serve the same devices.
 *
 * @example
 * ```ts
 * await using store = await openStore('sqlite:./omadm-data/omadm.db');
 * await using server = await createServer({ store });
 * const { url } = await server.listen({ host: '127.0.0.1', port: 8080 });
 * ```
 */
import { readFileSync } from 'node:fs';
import type { SecureContextOptions } from 'node:tls';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  LogController,
} from 'fastify';
import pino from 'pino';
import { authHook } from './api/auth.ts';
import { apiRoutes } from './api/routes.ts';
import { storeBackend } from './api/store-backend.ts';
import { typeboxValidatorCompiler } from './api/validation.ts';
import type { BackoffPolicy } from '../protocol/auth-guard.ts';
import { type AutoEnrollPolicy, type DmEndpoint, registerDm } from './dm.ts';
import { ApiErrorCode, errorBody } from './errors.ts';
import { errorHandler, notFoundHandler } from './http-errors.ts';
import { HttpChannelBearer, registerHttpChannel } from './http-channel.ts';
import { createServerMetrics, METRICS_CONTENT_TYPE, type ServerMetrics } from './metrics.ts';
import { Notifier, type NotifyOptions } from './notify.ts';
import { OpenApiBuilder } from './openapi.ts';
import { SizeWatch } from './size-watch.ts';
import { publicSessionKey, redactUrl } from './redact.ts';
import type { Store } from './store/index.ts';

export interface TlsOptions {
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
  /** CA certificates that sign device (client) certificates. */
  readonly ca?: string | Buffer;
  /** Refuse TLS connections without a valid client certificate. */
  readonly requireClientCert?: boolean;
}

export interface ServerOptions {
  /** The store (see `openStore`). The server does not close it. */
  readonly store: Store;
  /**
   * Logging: a pino logger, pino options, or `false` (silent; the default is info-level JSON on
   * stdout).
   */
  readonly logger?: FastifyBaseLogger | pino.LoggerOptions | false;
  readonly tls?: TlsOptions;
  /** Devices unknown to the registry are enrolled on first contact under this policy (off by default). */
  readonly autoEnroll?: AutoEnrollPolicy;
  /** The server's name toward devices (SRVCRED AAuthName) when provisioning gives none (default `omadm`). */
  readonly serverId?: string;
  /** The URL devices use to reach `/dm` (default: derived from each request). */
  readonly publicUrl?: string;
  /** Seconds a device counts as online after its last message (default 60). */
  readonly onlineTtlSeconds?: number;
  /** Interval of the maintenance sweep (expire sessions, recover leases, prune traces); 0 disables. */
  readonly sweepIntervalMs?: number;
  /**
   * Server-initiated sessions: notification bearers (binding/push) by name; devices with a
   * notification address on one of them get Package 0 when a command is queued, and on
   * `POST /devices/{id}/notify`. The server closes the bearers when it closes.
   */
  readonly notify?: NotifyOptions;
  /** Mounts the web console at `/` (registered last, so it sees the API). */
  readonly console?: (app: FastifyInstance) => Promise<void> | void;
  /** Largest API request body in bytes (default 2 MiB). */
  readonly apiBodyLimit?: number;
  /**
   * Log `store.size.warning` (warn) when the data directory — or, without `path`, the database
   * (`store.stats()`) — is larger than `bytes`; checked by the sweep at most once a minute, logged
   * again every hour while it stays above.
   */
  readonly sizeWarning?: { readonly bytes: number; readonly path?: string };
  /** Backoff after failed DM authentications, per device and per source (docs/security.md). */
  readonly authBackoff?: Partial<BackoffPolicy>;
  /**
   * Behind a reverse proxy: the proxies whose X-Forwarded-For/-Proto/-Host to believe (addresses,
   * CIDRs or `loopback`, comma-separated; Fastify's trustProxy). Off by default: a device could
   * otherwise forge the source address logged for it.
   */
  readonly trustProxy?: string;
}

/** A running (or ready to listen) server. */
export interface OmadmServer extends AsyncDisposable {
  readonly app: FastifyInstance;
  readonly store: Store;
  readonly metrics: ServerMetrics;
  /** The DM endpoint's memory of refused senders (bounded metadata) and its backoff guard. */
  readonly dm: DmEndpoint;
  /** Starts listening; resolves with the base URL (`http://127.0.0.1:8080`). */
  listen(options?: { readonly host?: string; readonly port?: number }): Promise<{ readonly url: string }>;
  /** The base URL once listening. */
  readonly url: string | undefined;
  /** Stops accepting connections, waits for requests in flight, stops the sweeper. */
  close(): Promise<void>;
}

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version?: string;
    };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/**
 * The TLS 1.2 suites the server offers (docs/security.md): forward secrecy (ECDHE, DHE) with an
 * AEAD cipher only, strongest first. TLS 1.3 suites (all AEAD with forward secrecy) stay Node's.
 */
export const TLS12_CIPHERS: readonly string[] = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'DHE-RSA-AES128-GCM-SHA256',
  'DHE-RSA-AES256-GCM-SHA384',
  'DHE-RSA-CHACHA20-POLY1305',
];

function httpsOptions(
  tls: TlsOptions,
): SecureContextOptions & { requestCert: boolean; rejectUnauthorized: boolean } {
  return {
    minVersion: 'TLSv1.2',
    ciphers: TLS12_CIPHERS.join(':'),
    honorCipherOrder: true,
    // Well-known DH groups (RFC 7919) for the DHE suites.
    dhparam: 'auto',
    cert: tls.cert,
    key: tls.key,
    ...(tls.ca ? { ca: tls.ca } : {}),
    // Ask for a certificate whenever we can check one; only insist when told to.
    requestCert: tls.ca !== undefined || tls.requireClientCert === true,
    rejectUnauthorized: tls.requireClientCert === true,
  };
}

function areaOf(route: string | undefined): string {
  if (!route) return 'other';
  if (route.startsWith('/api/')) return 'api';
  if (route.startsWith('/dm')) return 'dm';
  return 'other';
}

export async function createServer(options: ServerOptions): Promise<OmadmServer> {
  const { store } = options;
  const logger =
    options.logger === false
      ? pino({ level: 'silent' })
      : options.logger && 'info' in options.logger && typeof options.logger.info === 'function'
        ? (options.logger as FastifyBaseLogger)
        : pino({ level: 'info', ...(options.logger as pino.LoggerOptions | undefined) });

  const app: FastifyInstance = Fastify({
    loggerInstance: logger,
    // Per-request lines would dominate the log of a fleet; errors are logged where they happen.
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
    // A path that is not valid percent-encoding never reaches a route: answer in the API's shape.
    frameworkErrors: (err, _req, reply: FastifyReply) => {
      const status = typeof err.statusCode === 'number' && err.statusCode < 500 ? err.statusCode : 400;
      const url = err.code === 'FST_ERR_BAD_URL';
      reply
        .status(status)
        .header('cache-control', 'no-store')
        .send(
          errorBody(
            ApiErrorCode.Validation,
            url ? 'the request path is not valid percent-encoded UTF-8' : 'the request cannot be routed',
            [{ path: 'url', message: url ? 'is not a valid URL path' : 'is not valid' }],
          ),
        );
    },
    forceCloseConnections: 'idle',
    bodyLimit: options.apiBodyLimit ?? 2 * 1024 * 1024,
    ...(options.trustProxy ? { trustProxy: options.trustProxy } : {}),
    ...(options.tls ? { https: httpsOptions(options.tls) } : {}),
  }) as unknown as FastifyInstance;

  const metrics = createServerMetrics({
    store: () => store.stats(),
    commandsByState: async () => {
      const counts = await store.queue.counts();
      return Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, v ?? 0]));
    },
    ...(store.queue.oldestQueuedAt
      ? { oldestQueuedAt: () => (store.queue.oldestQueuedAt as () => Promise<number | undefined>)() }
      : {}),
  });
  const openapi = new OpenApiBuilder({
    title: 'omadm operator API',
    version: version(),
    description:
      'Devices, the durable DM command queue, sessions and their traces, groups, tokens and the audit log.',
  });

  app.addHook('onRoute', (route) => openapi.add(route));
  app.setValidatorCompiler(typeboxValidatorCompiler);
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler);

  const backend = storeBackend(store, { ...(options.serverId ? { serverId: options.serverId } : {}) });
  app.addHook('onRequest', authHook(backend.verifyToken));
  // Callback-style hooks: they run on every request, and an async one costs a promise each.
  app.addHook('onResponse', (req, reply, done) => {
    const route = req.routeOptions.url ?? 'unmatched';
    metrics.httpRequests.inc({ method: req.method, route, status: String(reply.statusCode) });
    metrics.httpDuration.observe(reply.elapsedTime / 1000, { area: areaOf(route) });
    if (reply.statusCode >= 500)
      req.log.warn({ url: redactUrl(req.url), status: reply.statusCode }, 'server error answer');
    done();
  });

  const closing = new AbortController();
  // Answers given while closing end their connection, so a kept-alive socket cannot hold the close.
  app.addHook('onSend', (_req, reply, payload, done) => {
    if (closing.signal.aborted) reply.header('connection', 'close');
    done(null, payload);
  });
  const notifier = options.notify
    ? new Notifier(store, {
        log: (message, details) => app.log.warn(details, message),
        ...options.notify,
        onAttempt: (a) => {
          metrics.notifications.inc({ bearer: a.bearer, result: a.result });
          options.notify?.onAttempt?.(a);
        },
      })
    : undefined;
  // Retries and deferred notifications: state is in the store, this process's sweep sends them.
  notifier?.start();
  await app.register(apiRoutes, {
    prefix: '/api/v1',
    backend,
    closing: closing.signal,
    ...(notifier ? { notifier } : {}),
  });

  const dm = await registerDm(app, {
    store,
    metrics,
    onlineTtlMs: (options.onlineTtlSeconds ?? 60) * 1000,
    ...(options.autoEnroll ? { autoEnroll: options.autoEnroll } : {}),
    ...(options.publicUrl ? { publicUrl: options.publicUrl } : {}),
    ...(options.tls?.requireClientCert ? { requireClientCertificate: true } : {}),
    ...(options.authBackoff ? { authBackoff: options.authBackoff } : {}),
  });

  // Devices behind NAT long-poll for Package 0 when the http-channel bearer is configured.
  for (const bearer of options.notify?.bearers ?? []) {
    if (bearer instanceof HttpChannelBearer)
      registerHttpChannel(app, { store, bearer, closing: closing.signal });
  }

  app.get('/openapi.json', { schema: { hide: true } }, async (req) => {
    const proto = options.tls ? 'https' : 'http';
    return openapi.document(`${proto}://${req.headers.host ?? 'localhost'}/api/v1`);
  });
  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => {
    reply.header('content-type', METRICS_CONTENT_TYPE);
    return metrics.registry.render();
  });
  app.get('/healthz', { schema: { hide: true } }, async (_req, reply) => {
    try {
      await store.devices.list({ limit: 1 });
      return { status: 'ok', backend: store.backend };
    } catch (err) {
      reply.status(503);
      return {
        status: 'unavailable',
        backend: store.backend,
        error: err instanceof Error ? err.message : String(err),
      };
    }
  });

  if (options.console) await options.console(app);

  const sizeCheck = new SizeWatch(store, logger);
  let sweeper: NodeJS.Timeout | undefined;
  const sweepEvery = options.sweepIntervalMs ?? 5000;
  if (sweepEvery > 0) {
    let running = false;
    sweeper = setInterval(() => {
      if (running) return;
      running = true;
      store
        .sweep()
        .then(async (r) => {
          for (const [table, n] of Object.entries(r.pruned)) metrics.rowsPruned.inc({ table }, n);
          for (const gone of r.sessions ?? []) {
            // An open session whose device stopped answering: it ends here, not in a message.
            metrics.dmSessions.inc({ outcome: 'expired' });
            logger.info(
              {
                event: 'dm.session.end',
                deviceId: gone.deviceId,
                sessionId: gone.dmSessionId ?? gone.sessionId,
                token: gone.sessionId,
                outcome: 'expired',
                reason: 'idle past its expiry (the device stopped answering)',
              },
              'DM session ended: expired',
            );
            void store.traces
              .markEnd?.(gone.deviceId, publicSessionKey(gone.sessionId), 'expired')
              .catch((err: unknown) =>
                logger.warn({ err, deviceId: gone.deviceId }, 'could not record session end'),
              );
          }
          const ids = r.ids;
          if (ids) {
            // Final states reached outside a session count with those reached in one.
            if (ids.unknown.length) metrics.commandsDelivered.inc({ state: 'unknown' }, ids.unknown.length);
            if (ids.expired.length) metrics.commandsDelivered.inc({ state: 'expired' }, ids.expired.length);
          }
          if (r.unknown || r.requeued || r.resent || r.sessionsExpired || r.expired) {
            const { ids: _ids, sessions, ...counts } = r;
            logger.info(
              {
                event: 'dm.sweep',
                ...counts,
                ...(sessions?.length
                  ? {
                      sessions: sessions.map((x) => ({
                        deviceId: x.deviceId,
                        sessionId: x.dmSessionId ?? x.sessionId,
                      })),
                    }
                  : {}),
                ...(ids
                  ? {
                      commandIds: Object.fromEntries(
                        Object.entries(ids).filter(([, v]) => (v as readonly number[]).length > 0),
                      ),
                    }
                  : {}),
              },
              'maintenance sweep',
            );
          }
          if (options.sizeWarning) await sizeCheck.check(options.sizeWarning);
        })
        .catch((err: unknown) => logger.warn({ err }, 'maintenance sweep failed'))
        .finally(() => {
          running = false;
        });
    }, sweepEvery);
    sweeper.unref();
  }

  await app.ready();

  let url: string | undefined;
  let closed = false;
  const server: OmadmServer = {
    app,
    store,
    metrics,
    dm,
    get url() {
      return url;
    },
    async listen(opts = {}) {
      const host = opts.host ?? '127.0.0.1';
      await app.listen({ host, port: opts.port ?? 0 });
      const addr = app.server.address();
      const port = typeof addr === 'object' && addr ? addr.port : (opts.port ?? 0);
      const shownHost =
        host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
      url = `${options.tls ? 'https' : 'http'}://${shownHost}:${port}`;
      return { url };
    },
    async close() {
      if (closed) return;
      closed = true;
      if (sweeper) clearInterval(sweeper);
      closing.abort(); // long-polls answer now instead of holding the close for minutes
      await app.close();
      await notifier?.close();
    },
    async [Symbol.asyncDispose]() {
      await server.close();
    },
  };
  return server;
}
