/**
 * Downloading a file over HTTP(S) the way a device fetches a firmware image: into a partial file
 * that survives a crash, resumed with `Range` (and `If-Range` with the validator of the first
 * response, so a changed file starts over), bounded in size, hashed with SHA-256 as it arrives,
 * with an idle timeout, bounded redirects and retries. Failures are classified (DownloadError's
 * `kind`) so the caller maps them onto its own result codes (FUMO: mo/fumo-codes.ts).
 *
 * The partial file `file` has a sidecar `file.meta` (URL, validator, total size) written before
 * the first body byte, so a restarted process knows whether the bytes it finds belong to the URL
 * it is asked for.
 */
import { createHash } from 'node:crypto';
import { createReadStream, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { type FileHandle, open } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { setTimeout as delay } from 'node:timers/promises';

export type DownloadErrorKind =
  | 'bad-url'
  | 'auth'
  | 'not-found'
  | 'http-client'
  | 'http-server'
  | 'unavailable'
  | 'timeout'
  | 'network'
  | 'too-large'
  | 'no-space'
  | 'size-mismatch'
  | 'aborted';

export class DownloadError extends Error {
  readonly code = 'OMADM_ERR_BINDING_DOWNLOAD';
  readonly kind: DownloadErrorKind;
  /** The HTTP status, when the failure was one. */
  readonly httpStatus: number | undefined;
  constructor(kind: DownloadErrorKind, message: string, httpStatus?: number) {
    super(message);
    this.name = 'DownloadError';
    this.kind = kind;
    this.httpStatus = httpStatus;
  }
}

export interface HttpFetchOptions {
  /** Trusted CA certificates (PEM) for HTTPS. */
  readonly ca?: string | Buffer | readonly (string | Buffer)[];
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
  /** No byte for this long (connect, headers, body) fails the attempt. Default 30 000 ms. */
  readonly idleTimeoutMs?: number;
  /** Redirects followed. Default 5. */
  readonly maxRedirects?: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly signal?: AbortSignal;
}

export interface DownloadOptions extends HttpFetchOptions {
  readonly url: string;
  /** The partial (then complete) file. */
  readonly file: string;
  /** Largest accepted file, bytes (`too-large` above it, before or while receiving). */
  readonly maxBytes: number;
  /** Size the file must have (from a Download Descriptor); `size-mismatch` otherwise. */
  readonly expectedSize?: number;
  /** Attempts after a failed one on network errors, timeouts and 5xx, each resuming. Default 3. */
  readonly retries?: number;
  /** First wait before a retry, doubled each time. Default 1 000 ms. */
  readonly backoffMs?: number;
  /** Called as bytes arrive (total when the server said). */
  readonly onProgress?: (bytes: number, total: number | undefined) => void;
}

export interface DownloadResult {
  readonly bytes: number;
  /** Lower-case hex SHA-256 of the whole file. */
  readonly sha256: string;
  readonly contentType: string | undefined;
  /** Bytes that were already there when this call started (resumed). */
  readonly resumedFrom: number;
  /** Attempts made (1 when nothing failed). */
  readonly attempts: number;
}

interface Meta {
  url: string;
  validator?: string;
  total?: number;
  contentType?: string;
}

function parseUrl(raw: string): URL {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new DownloadError('bad-url', `not a URL: ${raw.slice(0, 200)}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new DownloadError('bad-url', `unsupported scheme ${u.protocol}`);
  u.hash = '';
  return u;
}

function statusError(status: number, url: string): DownloadError {
  const what = `HTTP ${status} for ${url}`;
  if (status === 401 || status === 403 || status === 407) return new DownloadError('auth', what, status);
  if (status === 404 || status === 410) return new DownloadError('not-found', what, status);
  if (status === 503 || status === 502 || status === 504)
    return new DownloadError('unavailable', what, status);
  if (status >= 500) return new DownloadError('http-server', what, status);
  return new DownloadError('http-client', what, status);
}

const TLS_TRUST_ERRORS =
  /^(DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_(VERIFY_LEAF_SIGNATURE|GET_ISSUER_CERT(_LOCALLY)?)|CERT_(HAS_EXPIRED|NOT_YET_VALID|REVOKED|UNTRUSTED|REJECTED)|ERR_TLS_CERT_ALTNAME_INVALID)$/;

function networkError(err: unknown): DownloadError {
  if (err instanceof DownloadError) return err;
  const e = err as NodeJS.ErrnoException;
  if (e?.name === 'AbortError') return new DownloadError('aborted', 'download aborted');
  if (e?.code === 'ENOSPC' || e?.code === 'EDQUOT')
    return new DownloadError('no-space', `disk full: ${e.message}`);
  // The server could not prove who it is: an authentication failure of the download, not a network one.
  if (typeof e?.code === 'string' && TLS_TRUST_ERRORS.test(e.code))
    return new DownloadError('auth', `TLS: the download server is not trusted (${e.code})`);
  if (
    e?.code === 'ECONNREFUSED' ||
    e?.code === 'ENOTFOUND' ||
    e?.code === 'EHOSTUNREACH' ||
    e?.code === 'EAI_AGAIN'
  )
    return new DownloadError('unavailable', `server unavailable: ${e.message}`);
  return new DownloadError('network', `transport error: ${e?.message ?? String(err)}`);
}

function isRetryable(e: DownloadError): boolean {
  return e.kind === 'network' || e.kind === 'timeout' || e.kind === 'unavailable' || e.kind === 'http-server';
}

interface Response {
  readonly res: http.IncomingMessage;
  readonly url: string;
  readonly done: () => void;
}

/** One GET (redirects followed) up to the response headers; the caller consumes the body. */
function get(
  urlText: string,
  o: HttpFetchOptions,
  headers: Record<string, string>,
  hops = 0,
): Promise<Response> {
  const url = parseUrl(urlText);
  const idle = o.idleTimeoutMs ?? 30_000;
  return new Promise<Response>((resolve, reject) => {
    const lib = url.protocol === 'https:' ? https : http;
    const req = lib.request(url, {
      method: 'GET',
      headers: { ...o.headers, ...headers },
      ...(url.protocol === 'https:'
        ? {
            ...(o.ca ? { ca: o.ca as string } : {}),
            ...(o.cert ? { cert: o.cert } : {}),
            ...(o.key ? { key: o.key } : {}),
          }
        : {}),
      signal: o.signal,
    });
    req.setTimeout(idle, () =>
      req.destroy(new DownloadError('timeout', `no data for ${idle} ms from ${url.host}`)),
    );
    req.on('error', (err) => reject(networkError(err)));
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location) {
        res.resume();
        if (hops >= (o.maxRedirects ?? 5)) {
          reject(new DownloadError('http-client', `too many redirects from ${url.href}`, status));
          return;
        }
        let next: string;
        try {
          next = new URL(res.headers.location, url).href;
        } catch {
          reject(new DownloadError('bad-url', `bad redirect from ${url.href}`));
          return;
        }
        get(next, o, headers, hops + 1).then(resolve, reject);
        return;
      }
      resolve({ res, url: url.href, done: () => req.destroy() });
    });
    req.end();
  });
}

/** POST a short text body (an OMA Download install-notify status report); resolves with the HTTP status. */
export function postText(url: string, body: string, o: HttpFetchOptions = {}): Promise<number> {
  const u = parseUrl(url);
  const lib = u.protocol === 'https:' ? https : http;
  return new Promise<number>((resolve, reject) => {
    const req = lib.request(u, {
      method: 'POST',
      headers: {
        ...o.headers,
        'content-type': 'text/plain; charset=utf-8',
        'content-length': Buffer.byteLength(body),
      },
      ...(u.protocol === 'https:' ? { ...(o.ca ? { ca: o.ca as string } : {}) } : {}),
      signal: o.signal,
    });
    req.setTimeout(o.idleTimeoutMs ?? 30_000, () =>
      req.destroy(new DownloadError('timeout', 'install notify timed out')),
    );
    req.on('error', (err) => reject(networkError(err)));
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.end(body);
  });
}

function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

function readMeta(file: string): Meta | undefined {
  try {
    const m = JSON.parse(readFileSync(`${file}.meta`, 'utf8')) as Meta;
    return typeof m.url === 'string' ? m : undefined;
  } catch {
    return undefined;
  }
}

function writeMeta(file: string, meta: Meta): void {
  writeFileSync(`${file}.meta.tmp`, JSON.stringify(meta));
  renameSync(`${file}.meta.tmp`, `${file}.meta`);
}

/** Removes a partial file and its sidecar. */
export function discardDownload(file: string): void {
  for (const f of [file, `${file}.meta`, `${file}.meta.tmp`]) {
    try {
      unlinkSync(f);
    } catch {
      // absent
    }
  }
}

async function hashFile(file: string, bytes: number): Promise<ReturnType<typeof createHash>> {
  const h = createHash('sha256');
  if (bytes > 0) await pipeline(createReadStream(file, { start: 0, end: bytes - 1 }), h, { end: false });
  return h;
}

/** Parses `bytes a-b/total` of a 206. */
function contentRange(v: string | undefined): { start: number; total: number | undefined } | undefined {
  const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(v?.trim() ?? '');
  if (!m) return undefined;
  return { start: Number(m[1]), total: m[3] === '*' ? undefined : Number(m[3]) };
}

/** One attempt: resume from what `file` holds (when it belongs to `url`), append, hash. */
async function attempt(
  o: DownloadOptions,
  url: string,
): Promise<DownloadResult & { total: number | undefined }> {
  let meta = readMeta(o.file);
  let have = sizeOf(o.file);
  if (!meta || meta.url !== url) {
    discardDownload(o.file);
    meta = undefined;
    have = 0;
  } else if (meta.total !== undefined && have > meta.total) {
    discardDownload(o.file);
    meta = undefined;
    have = 0;
  }
  const resumedFrom = have;
  const headers: Record<string, string> = { 'accept-encoding': 'identity' };
  if (have > 0) {
    headers.range = `bytes=${have}-`;
    if (meta?.validator) headers['if-range'] = meta.validator;
  }
  // The hash of what is already here is taken before the request: once the response arrives,
  // its body is taken in without a pause (see below).
  const prefix = have > 0 ? await hashFile(o.file, have) : undefined;
  const r = await get(url, o, headers);
  const res = r.res;
  const status = res.statusCode ?? 0;
  let start = 0;
  let total: number | undefined;
  if (status === 206) {
    // (A 206 to a request without Range is taken when it starts at 0: the whole file.)
    const cr = contentRange(res.headers['content-range']);
    if (!cr || cr.start !== have) {
      res.resume();
      r.done();
      discardDownload(o.file);
      throw new DownloadError('network', `unexpected Content-Range ${res.headers['content-range'] ?? ''}`);
    }
    start = have;
    total = cr.total ?? meta?.total;
  } else if (status === 416 && have > 0 && meta?.total === have) {
    // Everything was already here (killed after the last byte, before the caller moved on).
    res.resume();
    return {
      bytes: have,
      sha256: (prefix ?? createHash('sha256')).digest('hex'),
      contentType: meta.contentType,
      resumedFrom,
      attempts: 1,
      total: have,
    };
  } else if (status === 200) {
    start = 0;
    const len = Number(res.headers['content-length']);
    total = Number.isFinite(len) && res.headers['content-length'] !== undefined ? len : undefined;
  } else {
    res.resume();
    r.done();
    if (status === 416) discardDownload(o.file);
    throw statusError(status, r.url);
  }
  const limit = Math.min(o.maxBytes, o.expectedSize ?? Number.POSITIVE_INFINITY);
  if (total !== undefined && total > o.maxBytes) {
    res.resume();
    r.done();
    throw new DownloadError('too-large', `${url} is ${total} bytes, over the ${o.maxBytes}-byte limit`);
  }
  if (total !== undefined && o.expectedSize !== undefined && total !== o.expectedSize) {
    res.resume();
    r.done();
    throw new DownloadError(
      'size-mismatch',
      `${url} is ${total} bytes, the descriptor says ${o.expectedSize}`,
    );
  }
  const contentType = res.headers['content-type'] ?? meta?.contentType;
  const validator = res.headers.etag ?? res.headers['last-modified'];
  if (start === 0) discardDownload(o.file);
  writeMeta(o.file, {
    url,
    ...(validator ? { validator } : {}),
    ...(total !== undefined ? { total } : {}),
    ...(contentType ? { contentType } : {}),
  });
  const hash = start > 0 && prefix ? prefix : createHash('sha256');
  let bytes = start;
  // The body is taken in from the first byte, with no await in between: a connection cut
  // mid-body destroys the response and drops whatever it still buffered, and every byte that
  // arrived must be on disk so that the next attempt resumes after it with Range.
  const body = collect(res);
  let out: FileHandle | undefined;
  try {
    out = await open(o.file, start === 0 ? 'w' : 'a');
    for (let chunk = await body.next(); chunk; chunk = await body.next()) {
      bytes += chunk.byteLength;
      if (bytes > limit) {
        throw bytes > o.maxBytes
          ? new DownloadError('too-large', `${url} is over the ${o.maxBytes}-byte limit`)
          : new DownloadError('size-mismatch', `${url} is longer than the ${o.expectedSize} bytes announced`);
      }
      await out.write(chunk);
      hash.update(chunk);
      o.onProgress?.(bytes, total);
    }
    await out.close();
  } catch (err) {
    res.destroy();
    await out?.close().catch(() => undefined);
    r.done();
    const e = networkError(err);
    if (e.kind === 'too-large' || e.kind === 'size-mismatch' || e.kind === 'no-space')
      discardDownload(o.file);
    throw e;
  }
  if (total !== undefined && bytes < total) {
    throw new DownloadError('network', `connection closed at ${bytes} of ${total} bytes`);
  }
  if (o.expectedSize !== undefined && bytes !== o.expectedSize) {
    discardDownload(o.file);
    throw new DownloadError(
      'size-mismatch',
      `${url} has ${bytes} bytes, the descriptor says ${o.expectedSize}`,
    );
  }
  return { bytes, sha256: hash.digest('hex'), contentType, resumedFrom, attempts: 1, total };
}

/**
 * Downloads `url` into `file`, resuming what an earlier (crashed or failed) attempt left there.
 * Network failures, timeouts and 5xx are retried (with Range) `retries` times.
 */
export async function downloadFile(o: DownloadOptions): Promise<DownloadResult> {
  const url = parseUrl(o.url).href;
  const retries = o.retries ?? 3;
  let wait = o.backoffMs ?? 1000;
  const initial = readMeta(o.file)?.url === url ? sizeOf(o.file) : 0;
  for (let n = 1; ; n++) {
    try {
      if (o.signal?.aborted) throw new DownloadError('aborted', 'download aborted');
      const r = await attempt(o, url);
      return { ...r, resumedFrom: initial, attempts: n };
    } catch (err) {
      const e = networkError(err);
      if (o.signal?.aborted) throw new DownloadError('aborted', 'download aborted');
      if (!isRetryable(e) || n > retries) throw e;
      try {
        await delay(wait, undefined, o.signal ? { signal: o.signal } : {});
      } catch {
        throw new DownloadError('aborted', 'download aborted');
      }
      wait *= 2;
    }
  }
}

export interface HashUrlOptions extends HttpFetchOptions {
  readonly maxBytes: number;
  /** A keep-alive agent shared by many callers (a simulated fleet). */
  readonly agent?: http.Agent;
}

/**
 * GETs `url` and hashes the body as it streams, keeping nothing but the hash, the size and (for
 * a small body) the bytes — what a simulated device needs to "download" a package for real.
 * Bodies up to `keepBytes` are returned (to read a Download Descriptor).
 */
export async function hashUrl(
  url: string,
  o: HashUrlOptions & { readonly keepBytes?: number },
): Promise<{ sha256: string; bytes: number; contentType: string | undefined; body: Buffer | undefined }> {
  const u = parseUrl(url);
  const lib = u.protocol === 'https:' ? https : http;
  const idle = o.idleTimeoutMs ?? 30_000;
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
    const req = lib.request(u, {
      method: 'GET',
      headers: { ...o.headers, 'accept-encoding': 'identity' },
      ...(o.agent ? { agent: o.agent } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
    });
    req.setTimeout(idle, () =>
      req.destroy(new DownloadError('timeout', `no data for ${idle} ms from ${u.host}`)),
    );
    req.on('error', (err) => reject(networkError(err)));
    req.on('response', resolve);
    req.end();
  });
  const status = res.statusCode ?? 0;
  if (status !== 200) {
    res.resume();
    throw statusError(status, u.href);
  }
  const len = Number(res.headers['content-length']);
  if (Number.isFinite(len) && len > o.maxBytes) {
    res.destroy();
    throw new DownloadError('too-large', `${u.href} is ${len} bytes, over the ${o.maxBytes}-byte limit`);
  }
  const h = createHash('sha256');
  const keep = o.keepBytes ?? 0;
  const kept: Buffer[] = [];
  let bytes = 0;
  try {
    for await (const chunk of res as AsyncIterable<Buffer>) {
      bytes += chunk.byteLength;
      if (bytes > o.maxBytes) {
        res.destroy();
        throw new DownloadError('too-large', `${u.href} is over the ${o.maxBytes}-byte limit`);
      }
      h.update(chunk);
      if (bytes <= keep) kept.push(chunk);
    }
  } catch (err) {
    throw networkError(err);
  }
  if (Number.isFinite(len) && bytes < len)
    throw new DownloadError('network', `connection closed at ${bytes} of ${len} bytes`);
  return {
    sha256: h.digest('hex'),
    bytes,
    contentType: res.headers['content-type'],
    body: bytes <= keep ? Buffer.concat(kept) : undefined,
  };
}

/** Bytes buffered ahead of the disk before the response is paused. */
const AHEAD = 1 << 20;

/**
 * The response body as a pull queue fed by 'data' events from the moment this is called, so
 * nothing stays inside the stream where a destroy would drop it. `next()` gives the next chunk,
 * `undefined` at the end, or throws the stream's failure once every chunk before it was taken.
 */
function collect(res: http.IncomingMessage): { next(): Promise<Buffer | undefined> } {
  const queue: Buffer[] = [];
  let queued = 0;
  let ended = false;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const poke = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  res.on('data', (c: Buffer) => {
    queue.push(c);
    queued += c.byteLength;
    if (queued > AHEAD) res.pause();
    poke();
  });
  res.on('end', () => {
    ended = true;
    poke();
  });
  res.on('error', (e: Error) => {
    failure ??= e;
    poke();
  });
  res.on('close', () => {
    if (!ended) failure ??= new Error('aborted');
    poke();
  });
  return {
    async next() {
      for (;;) {
        const c = queue.shift();
        if (c) {
          queued -= c.byteLength;
          if (queued <= AHEAD && res.isPaused()) res.resume();
          return c;
        }
        if (failure) throw failure;
        if (ended) return undefined;
        await new Promise<void>((r) => {
          wake = r;
        });
      }
    },
  };
}
