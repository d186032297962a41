/**
 * The DM server's HTTP(S) endpoint as a Fastify plugin (protocol.md §8.1): POST only, one DM
 * message per request, the answer in the response body in the request's encoding and media-type
 * family. Chunked request bodies work (Fastify reads them); bodies over `bodyLimit` get 413.
 * Sessions continue at the RespURI `<publicUrl><path>?s=<token>`.
 *
 * ```ts
 * const app = Fastify();
 * await app.register(dmHttpPlugin, { engine: new DmServerEngine({ … }), path: '/dm' });
 * await app.listen({ port: 443, host: '0.0.0.0', https: { key, cert, ca, requestCert: true } });
 * ```
 *
 * TLS is configured on the Fastify server. With `requireClientCertificate`, requests without an
 * authorized client certificate get 403, and the certificate's subject CN reaches the engine as
 * the transport identity (for devices whose auth mode is `transport`).
 */
import type { TLSSocket } from 'node:tls';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { HMAC_HEADER } from '../../protocol/auth/index.ts';
import { encodingOfMediaType, MediaType } from '../../protocol/codec.ts';
import { SessionError, SessionErrorCode } from '../../protocol/errors.ts';
import type { ServerRequest, ServerResponse } from '../../protocol/server-session.ts';

/** The engine as the plugin uses it (DmServerEngine, or a wrapper adding audit/metrics). */
export interface DmRequestHandler {
  /** `from.source`: the sender's address (for the server's log lines; not an identity). */
  handle(request: ServerRequest): Promise<ServerResponse>;
}

export interface DmHttpPluginOptions {
  readonly engine: DmRequestHandler;
  /** Route of the DM endpoint. Default `/dm`. */
  readonly path?: string;
  /** Largest accepted request body in bytes (413 beyond). Default 1 MiB. */
  readonly bodyLimit?: number;
  /**
   * Public base URL (scheme://host[:port]) used to build RespURI, e.g. behind a proxy. Default:
   * derived from the request (protocol and Host header).
   */
  readonly publicUrl?: string;
  /** Send RespURI (session-sticky URL with an unguessable token). Default true. */
  readonly respUri?: boolean;
  /** Refuse requests without an authorized TLS client certificate (403). Default false. */
  readonly requireClientCertificate?: boolean;
}

const TOKEN_PARAM = 's';
const ACCEPTED = [MediaType.DmXml, MediaType.DmWbxml, MediaType.DsXml, MediaType.DsWbxml];

/** HTTP status for a session error that gets no SyncML answer. */
export function httpStatusOf(error: SessionError): number {
  switch (error.code) {
    case SessionErrorCode.Decode:
    case SessionErrorCode.MsgIdOrder:
    case SessionErrorCode.Protocol:
      return 400;
    case SessionErrorCode.ContentType:
      return 415;
    case SessionErrorCode.Hijack:
      return 403;
    case SessionErrorCode.UnknownSession:
    case SessionErrorCode.Closed:
      return 404;
    case SessionErrorCode.Conflict:
      return 503;
    case SessionErrorCode.RateLimited:
      return 429;
    default:
      return 500;
  }
}

export async function dmHttpPlugin(app: FastifyInstance, options: DmHttpPluginOptions): Promise<void> {
  const path = options.path ?? '/dm';
  const bodyLimit = options.bodyLimit ?? 1024 * 1024;
  // Raw bytes for the SyncML types only (this plugin's encapsulated context). Every other type
  // (JSON, forms, text) is not parsed at all, so the handler answers it 415 whatever its body:
  // the framework's JSON parser would have answered a SyncML body labelled JSON with 400.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(ACCEPTED, { parseAs: 'buffer', bodyLimit }, (_req, body, done) =>
    done(null, body),
  );
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit }, (_req, _body, done) =>
    done(null, undefined),
  );

  app.route({
    method: 'POST',
    url: path,
    bodyLimit,
    handler: async (request: FastifyRequest, reply: FastifyReply) => {
      const socket = request.raw.socket as Partial<TLSSocket>;
      let transportIdentity: string | undefined;
      let transportBinding: string | undefined;
      if (socket.encrypted && typeof socket.getPeerCertificate === 'function') {
        const peer = socket.getPeerCertificate();
        // Any certificate the client proved it holds binds its session, authorized or not.
        if (peer?.fingerprint256) transportBinding = `cert:${peer.fingerprint256}`;
        if (socket.authorized) {
          const cn = peer?.subject?.CN;
          transportIdentity = Array.isArray(cn) ? cn[0] : cn;
        }
      }
      if (options.requireClientCertificate && transportIdentity === undefined) {
        return reply
          .code(403)
          .header('cache-control', 'no-store')
          .send({ error: 'client certificate required' });
      }
      if (encodingOfMediaType(request.headers['content-type']) === undefined) {
        return reply.code(415).header('cache-control', 'no-store').send({ error: 'unsupported media type' });
      }
      const body = request.body;
      if (!(body instanceof Uint8Array) || body.byteLength === 0) {
        return reply.code(400).header('cache-control', 'no-store').send({ error: 'empty body' });
      }
      const query = request.query as Record<string, string | undefined>;
      const base = options.publicUrl ?? `${request.protocol}://${request.host}`;
      const hmacHeader = request.headers[HMAC_HEADER];
      try {
        const res = await options.engine.handle({
          body,
          contentType: request.headers['content-type'],
          hmac: Array.isArray(hmacHeader) ? hmacHeader[0] : hmacHeader,
          sessionToken: query[TOKEN_PARAM],
          respUri:
            options.respUri === false ? undefined : (token) => `${base}${path}?${TOKEN_PARAM}=${token}`,
          transportIdentity,
          transportBinding,
          source: request.ip,
          secure: socket.encrypted === true,
        });
        reply.code(200).header('content-type', res.mediaType).header('cache-control', 'no-store');
        if (res.hmac) reply.header(HMAC_HEADER, res.hmac);
        return reply.send(Buffer.from(res.body.buffer, res.body.byteOffset, res.body.byteLength));
      } catch (error) {
        if (error instanceof SessionError) {
          request.log.info({ code: error.code }, error.message);
          if (error.retryAfterMs !== undefined)
            reply.header('retry-after', String(Math.max(1, Math.ceil(error.retryAfterMs / 1000))));
          return reply
            .code(httpStatusOf(error))
            .header('cache-control', 'no-store')
            .send({ error: error.message, code: error.code });
        }
        throw error;
      }
    },
  });

  // POST only (protocol.md §8.1).
  app.route({
    method: ['GET', 'PUT', 'DELETE', 'PATCH'],
    url: path,
    handler: async (_request, reply) =>
      reply.code(405).header('allow', 'POST').send({ error: 'method not allowed' }),
  });
}
