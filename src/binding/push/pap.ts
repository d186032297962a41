/**
 * Push Access Protocol (WAP-247 PAP 2.0) over HTTP to an operator's Push
 * Proxy Gateway: a multipart/related POST whose first part is the PAP
 * control entity (push-message + address) and whose second part is the
 * Package 0 with its content type and application id. The PPG does the WSP
 * encoding and the SMS delivery.
 *
 * node:http rather than fetch: PPGs (Kannel's, at least) copy the request's
 * HTTP headers into the pushed WSP headers, so the request carries only what
 * we choose (fetch adds accept, user-agent, sec-fetch-mode, …, which would
 * cost SMS segments).
 */
import { randomBytes } from 'node:crypto';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { DeliveryResult, NotificationBearer, SendOptions } from './bearer.ts';
import { PushError, PushErrorCode } from './errors.ts';
import { msisdnAddress } from './sms-smpp.ts';

export interface PapBearerOptions {
  /** PPG push URL, e.g. `http://ppg.operator.example:8080/wappush`. */
  url: string;
  /**
   * PAP address for a target. Default: `WAPPUSH=<msisdn>/TYPE=PLMN@<ppgDomain>`
   * for MSISDN targets; targets that already contain `WAPPUSH=` are used as is.
   */
  address?: (target: string) => string;
  /** Domain after `@` in default addresses; default the URL's host name. */
  ppgDomain?: string;
  /** Extra HTTP headers (e.g. `authorization` for a PPG with basic auth). */
  headers?: Record<string, string>;
  /** Request timeout (ms); default 15 s. */
  timeoutMs?: number;
  /** Ask the PPG for confirmed delivery; default unconfirmed. */
  deliveryMethod?: 'confirmed' | 'preferconfirmed' | 'unconfirmed' | 'notspecified';
  /** Bearer name; default `pap`. */
  name?: string;
}

const xmlAttr = (s: string) =>
  s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/** The PAP control entity (XML) for one push. */
export function papControlEntity(pushId: string, address: string, deliveryMethod = 'unconfirmed'): string {
  return (
    '<?xml version="1.0"?>\r\n' +
    '<!DOCTYPE pap PUBLIC "-//WAPFORUM//DTD PAP 2.0//EN" "http://www.wapforum.org/DTD/pap_2.0.dtd">\r\n' +
    `<pap><push-message push-id="${xmlAttr(pushId)}">` +
    `<address address-value="${xmlAttr(address)}"/>` +
    `<quality-of-service delivery-method="${xmlAttr(deliveryMethod)}"/>` +
    '</push-message></pap>'
  );
}

/** Builds the multipart/related body; returns it with the Content-Type header value. */
export function papRequestBody(
  control: string,
  package0: Uint8Array,
  boundary: string,
): { contentType: string; body: Uint8Array } {
  const te = new TextEncoder();
  const head = te.encode(
    `--${boundary}\r\nContent-Type: application/xml\r\n\r\n${control}\r\n` +
      `--${boundary}\r\nContent-Type: application/vnd.syncml.notification\r\n` +
      'X-Wap-Application-Id: x-wap-application:syncml.dm\r\n\r\n',
  );
  const tail = te.encode(`\r\n--${boundary}--\r\n`);
  const body = new Uint8Array(head.byteLength + package0.byteLength + tail.byteLength);
  body.set(head, 0);
  body.set(package0, head.byteLength);
  body.set(tail, head.byteLength + package0.byteLength);
  return { contentType: `multipart/related; boundary=${boundary}; type="application/xml"`, body };
}

/** Reads `code` and `desc` of the PPG's response-result (or badmessage-response). */
export function parsePapResponse(xml: string): { code: number; desc?: string } | undefined {
  const m = /<(response-result|badmessage-response)\b([^>]*)>/.exec(xml.slice(0, 64 * 1024));
  if (!m) return undefined;
  const attr = (name: string) => new RegExp(`\\b${name}\\s*=\\s*"([^"]*)"`).exec(m[2]!)?.[1];
  const code = Number(attr('code'));
  if (!Number.isInteger(code)) return undefined;
  const desc = attr('desc');
  return desc === undefined ? { code } : { code, desc };
}

export class PapBearer implements NotificationBearer {
  readonly name: string;
  readonly #opts: PapBearerOptions;
  readonly #url: URL;
  #counter = 0;
  #closed = false;

  constructor(options: PapBearerOptions) {
    this.#opts = options;
    this.#url = new URL(options.url);
    this.name = options.name ?? 'pap';
  }

  #address(target: string): string {
    if (this.#opts.address) return this.#opts.address(target);
    if (target.includes('WAPPUSH=')) return target;
    const { ton, addr } = msisdnAddress(target);
    const msisdn = ton === 1 ? `+${addr}` : addr;
    return `WAPPUSH=${msisdn}/TYPE=PLMN@${this.#opts.ppgDomain ?? this.#url.hostname}`;
  }

  async send(target: string, package0: Uint8Array, options: SendOptions = {}): Promise<DeliveryResult> {
    if (this.#closed) throw new PushError(PushErrorCode.Closed, `${this.name} bearer closed`);
    const address = this.#address(target);
    const pushId = `omadm-${Date.now()}-${++this.#counter}-${randomBytes(4).toString('hex')}@${this.#url.hostname}`;
    const boundary = `omadm-${randomBytes(12).toString('hex')}`;
    const { contentType, body } = papRequestBody(
      papControlEntity(pushId, address, this.#opts.deliveryMethod),
      package0,
      boundary,
    );
    const { status, text } = await this.#post(contentType, body, options.signal);
    const result = parsePapResponse(text);
    if (!result) {
      throw new PushError(
        PushErrorCode.Protocol,
        `PAP: HTTP ${status} without a PAP response from ${this.#url.host}`,
      );
    }
    // PAP codes: 1xxx success (1000 OK, 1001 accepted for processing), 2xxx client errors, 3xxx server, 4xxx service.
    const accepted = result.code >= 1000 && result.code < 2000;
    return {
      bearer: this.name,
      target,
      accepted,
      ids: [pushId],
      parts: 1,
      status: `PAP ${result.code}`,
      ...(result.desc ? { detail: result.desc } : {}),
    };
  }

  /** POSTs the body; resolves with the HTTP status and (bounded) response text. */
  #post(
    contentType: string,
    body: Uint8Array,
    signal?: AbortSignal,
  ): Promise<{ status: number; text: string }> {
    const timeoutMs = this.#opts.timeoutMs ?? 15_000;
    const url = this.#url;
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = request(url, {
        method: 'POST',
        headers: {
          ...this.#opts.headers,
          'content-type': contentType,
          'content-length': String(body.byteLength),
        },
        timeout: timeoutMs,
        signal,
      });
      req.on('timeout', () =>
        req.destroy(
          new PushError(PushErrorCode.Timeout, `PAP: no answer from ${url.host} within ${timeoutMs} ms`),
        ),
      );
      req.on('error', (err) => {
        if (signal?.aborted) reject(signal.reason);
        else if (err instanceof PushError) reject(err);
        else reject(new PushError(PushErrorCode.Connection, `PAP: ${err.message}`, { cause: err }));
      });
      req.on('response', (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.byteLength;
          if (size > 64 * 1024) req.destroy(new PushError(PushErrorCode.Protocol, 'PAP: response too large'));
          else chunks.push(c);
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', (err) =>
          reject(new PushError(PushErrorCode.Connection, `PAP: ${err.message}`, { cause: err })),
        );
      });
      req.end(body);
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}
