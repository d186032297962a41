/**
 * The DM client's HTTP(S) transport (protocol.md §8.1) over node:http/https: one POST per DM
 * message, `Content-Length` always (no chunked bodies towards legacy servers), timeouts, bounded
 * retries with exponential backoff on network errors and 5xx, HTTP redirects followed (bounded),
 * custom CA and client certificate for HTTPS. The session engine follows RespURI by putting it in
 * each request's URL.
 *
 * Retrying a POST is safe with omadm's server: it answers a retransmitted message with the same
 * reply instead of executing it twice.
 */
import http from 'node:http';
import https from 'node:https';
import { setTimeout as delay } from 'node:timers/promises';
import { HMAC_HEADER } from '../../protocol/auth/index.ts';
import type { Transport } from '../../protocol/client-runner.ts';
import type { ClientRequest, ClientResponse } from '../../protocol/client-session.ts';
import { MediaType } from '../../protocol/codec.ts';
import { SessionError, SessionErrorCode } from '../../protocol/errors.ts';

export interface HttpTransportOptions {
  /** Per-request timeout (connect + response), ms. Default 30 000. */
  readonly timeoutMs?: number;
  /** Extra attempts after a failed one (network error, timeout, 5xx). Default 2. */
  readonly retries?: number;
  /** First backoff, doubled each retry (with jitter), ms. Default 500. */
  readonly backoffMs?: number;
  readonly maxBackoffMs?: number;
  /** Largest accepted response body. Default 4 MiB. */
  readonly maxResponseBytes?: number;
  /** Redirects (Location) followed per message. Default 3. */
  readonly maxRedirects?: number;
  /** Trusted CA certificates (PEM) for HTTPS servers. */
  readonly ca?: string | Buffer | readonly (string | Buffer)[];
  /** Client certificate and key (PEM) for servers requiring one. */
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
  /** Default true; false only for tests against self-signed servers without `ca`. */
  readonly rejectUnauthorized?: boolean;
  /** Extra headers (User-Agent, Accept-Language, …). */
  readonly headers?: Readonly<Record<string, string>>;
  /** Keep-alive agents are created per transport unless given. */
  readonly httpAgent?: http.Agent;
  readonly httpsAgent?: https.Agent;
  /** Injected sleep for backoff (tests). */
  readonly sleep?: (ms: number) => Promise<void>;
  readonly random?: () => number;
}

/** Thrown (as the `cause` of a Transport SessionError) for an HTTP status that is not 200. */
export class HttpStatusError extends Error {
  readonly code = 'OMADM_ERR_BINDING_HTTP_STATUS';
  readonly statusCode: number;
  constructor(statusCode: number, body: string) {
    super(`HTTP ${statusCode}${body ? `: ${body.slice(0, 200)}` : ''}`);
    this.name = 'HttpStatusError';
    this.statusCode = statusCode;
  }
}

export class HttpTransport implements Transport {
  readonly #o: HttpTransportOptions;
  readonly #httpAgent: http.Agent;
  readonly #httpsAgent: https.Agent;

  constructor(options: HttpTransportOptions = {}) {
    this.#o = options;
    this.#httpAgent = options.httpAgent ?? new http.Agent({ keepAlive: true });
    this.#httpsAgent =
      options.httpsAgent ??
      new https.Agent({
        keepAlive: true,
        ...(options.ca === undefined ? {} : { ca: options.ca as string | Buffer | (string | Buffer)[] }),
        ...(options.cert === undefined ? {} : { cert: options.cert }),
        ...(options.key === undefined ? {} : { key: options.key }),
        rejectUnauthorized: options.rejectUnauthorized ?? true,
      });
  }

  async exchange(request: ClientRequest): Promise<ClientResponse> {
    const retries = this.#o.retries ?? 2;
    const sleep = this.#o.sleep ?? ((ms: number) => delay(ms));
    const random = this.#o.random ?? Math.random;
    let lastError: unknown;
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0) {
        const base = Math.min(
          (this.#o.backoffMs ?? 500) * 2 ** (attempt - 1),
          this.#o.maxBackoffMs ?? 10_000,
        );
        await sleep(Math.round(base * (0.5 + random() / 2)));
      }
      try {
        return await this.#post(request, request.url, this.#o.maxRedirects ?? 3);
      } catch (error) {
        lastError = error;
        // Client errors will not get better by retrying.
        if (error instanceof HttpStatusError && error.statusCode < 500) break;
      }
    }
    const msg = lastError instanceof Error ? lastError.message : String(lastError);
    throw new SessionError(SessionErrorCode.Transport, `POST ${redact(request.url)} failed: ${msg}`, {
      cause: lastError,
      ...(lastError instanceof HttpStatusError ? { status: lastError.statusCode } : {}),
    });
  }

  /** Closes idle keep-alive sockets. */
  close(): void {
    this.#httpAgent.destroy();
    this.#httpsAgent.destroy();
  }

  #post(request: ClientRequest, url: string, redirectsLeft: number): Promise<ClientResponse> {
    const target = new URL(url);
    const isHttps = target.protocol === 'https:';
    if (!isHttps && target.protocol !== 'http:') {
      return Promise.reject(new Error(`unsupported URL scheme ${target.protocol}`));
    }
    const lib = isHttps ? https : http;
    const headers: Record<string, string | number> = {
      accept: `${MediaType.DmWbxml}, ${MediaType.DmXml}`,
      'cache-control': 'no-store',
      ...(this.#o.headers ?? {}),
      'content-type': request.contentType,
      'content-length': request.body.byteLength,
    };
    if (request.hmac) headers[HMAC_HEADER] = request.hmac;
    const maxBytes = this.#o.maxResponseBytes ?? 4 * 1024 * 1024;
    return new Promise<ClientResponse>((resolve, reject) => {
      const req = lib.request(
        target,
        {
          method: 'POST',
          headers,
          agent: isHttps ? this.#httpsAgent : this.#httpAgent,
          timeout: this.#o.timeoutMs ?? 30_000,
        },
        (res) => {
          const status = res.statusCode ?? 0;
          const location = res.headers.location;
          if (status >= 300 && status < 400 && location && status !== 304) {
            res.resume();
            if (redirectsLeft <= 0) {
              reject(new HttpStatusError(status, 'too many redirects'));
              return;
            }
            this.#post(request, new URL(location, target).toString(), redirectsLeft - 1).then(
              resolve,
              reject,
            );
            return;
          }
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.byteLength;
            if (size > maxBytes) {
              reject(new Error(`response larger than ${maxBytes} bytes`));
              res.destroy();
              req.destroy();
              return;
            }
            chunks.push(chunk);
          });
          res.on('error', reject);
          res.on('end', () => {
            const body = Buffer.concat(chunks);
            if (status !== 200) {
              reject(new HttpStatusError(status, body.toString('utf8')));
              return;
            }
            const hmac = res.headers[HMAC_HEADER];
            resolve({
              body: new Uint8Array(body.buffer, body.byteOffset, body.byteLength),
              contentType: res.headers['content-type'],
              hmac: Array.isArray(hmac) ? hmac[0] : hmac,
            });
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
      req.end(Buffer.from(request.body.buffer, request.body.byteOffset, request.body.byteLength));
    });
  }
}

/** URL without its query (session tokens stay out of error messages and logs). */
function redact(url: string): string {
  const i = url.indexOf('?');
  return i < 0 ? url : `${url.slice(0, i)}?…`;
}
