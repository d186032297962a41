/**
 * The DM endpoint: `POST /dm` (and `/dm?s=TOKEN`, the RespURI of a running session) feeds each
 * message to the server session engine wired to the store (dm-adapters.ts), records the raw
 * messages in the trace, and answers with the engine's message in the client's encoding.
 */
import type { TLSSocket } from 'node:tls';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { syncmlCodec } from '../protocol/default-codec.ts';
import { SessionError, SessionErrorCode } from '../protocol/errors.ts';
import type { SessionLimits } from '../protocol/limits.ts';
import { DmServerEngine } from '../protocol/server-session.ts';
import {
  type AutoEnrollPolicy,
  commandSource,
  credentialSource,
  type DmContext,
  sessionStore,
} from './dm-adapters.ts';
import type { ServerMetrics } from './metrics.ts';
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
}

const HTTP_STATUS: Readonly<Partial<Record<string, number>>> = {
  [SessionErrorCode.Decode]: 400,
  [SessionErrorCode.ContentType]: 415,
  [SessionErrorCode.UnknownSession]: 404,
  [SessionErrorCode.Closed]: 404,
  [SessionErrorCode.Hijack]: 403,
  [SessionErrorCode.MsgIdOrder]: 400,
  [SessionErrorCode.Protocol]: 400,
  [SessionErrorCode.Conflict]: 503,
  [SessionErrorCode.Limit]: 413,
};

/** The subject CN of a verified TLS client certificate, when the device presented one. */
function transportIdentity(req: FastifyRequest): string | undefined {
  const socket = req.raw.socket as Partial<TLSSocket>;
  if (!socket.encrypted || !socket.authorized || typeof socket.getPeerCertificate !== 'function')
    return undefined;
  const cert = socket.getPeerCertificate();
  const cn = cert?.subject?.CN;
  return Array.isArray(cn) ? cn[0] : cn || undefined;
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
  const maxBody = engine.limits.maxMsgSize + 64 * 1024;

  async function trace(
    deviceId: string,
    sessionId: string | null,
    direction: 'in' | 'out',
    contentType: string,
    body: Uint8Array,
  ): Promise<void> {
    try {
      await store.traces.append({ deviceId, sessionId, direction, contentType, body, at: Date.now() });
    } catch (err) {
      app.log.warn({ err, deviceId }, 'could not record trace');
    }
  }

  async function handle(req: FastifyRequest<{ Querystring: { s?: string } }>, reply: FastifyReply) {
    const body = req.body instanceof Buffer ? new Uint8Array(req.body) : new Uint8Array(0);
    const contentType = req.headers['content-type'];
    const token = typeof req.query.s === 'string' && req.query.s.length > 0 ? req.query.s : undefined;
    const hmac = req.headers['x-syncml-hmac'];
    const base = options.publicUrl ?? `${req.protocol}://${req.headers.host ?? req.hostname}`;
    metrics.dmMessages.inc({ direction: 'in' });
    try {
      const res = await engine.handle({
        body,
        contentType,
        hmac: typeof hmac === 'string' ? hmac : undefined,
        sessionToken: token,
        respUri: (t) => `${base.replace(/\/+$/, '')}/dm?s=${encodeURIComponent(t)}`,
        transportIdentity: transportIdentity(req),
      });
      // Trace under the session's unique token (DM SessionIDs repeat from session to session).
      const key = token ?? (await sessions.loadByDevice(res.deviceId))?.token ?? res.sessionId;
      await trace(res.deviceId, key, 'in', contentType ?? '', body);
      await trace(res.deviceId, key, 'out', res.mediaType, res.body);
      metrics.dmMessages.inc({ direction: 'out' });
      reply.status(200).header('content-type', res.mediaType);
      if (res.hmac) reply.header('x-syncml-hmac', res.hmac);
      return reply.send(Buffer.from(res.body.buffer, res.body.byteOffset, res.body.byteLength));
    } catch (err) {
      if (err instanceof SessionError) {
        const status = HTTP_STATUS[err.code] ?? 400;
        req.log.info({ code: err.code, status }, `DM message refused: ${err.message}`);
        return reply
          .status(status)
          .header('content-type', 'text/plain; charset=utf-8')
          .send(`${err.message}\n`);
      }
      throw err;
    }
  }

  await app.register(async (dm) => {
    // Devices get plain-text errors, not the API's JSON; unexpected failures are logged as bugs.
    dm.setErrorHandler((err: Error & { statusCode?: number }, req, reply) => {
      const status = typeof err.statusCode === 'number' && err.statusCode < 500 ? err.statusCode : 500;
      if (status === 500) req.log.error({ err }, 'DM message failed');
      reply
        .status(status)
        .header('content-type', 'text/plain; charset=utf-8')
        .send(status === 500 ? `internal error (request ${req.id})\n` : `${err.message}\n`);
    });
    dm.removeAllContentTypeParsers();
    dm.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: maxBody }, (_req, payload, done) => {
      done(null, payload);
    });
    const schema = { hide: true };
    dm.post('/dm', { schema }, handle);
    dm.post('/dm/', { schema }, handle);
  });
}
