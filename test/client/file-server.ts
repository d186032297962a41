/**
 * A small HTTP file server on loopback for the FUMO tests: named files with Range and ETag, an
 * optional throttle (bytes per tick), Download Descriptors, an install-notify endpoint, and a log
 * of every request (method, path, Range header, bytes sent).
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ServedFile {
  readonly body: Uint8Array;
  readonly contentType?: string;
  /** Send at most this many bytes every `tickMs` (a slow link). */
  readonly throttle?: { readonly bytes: number; readonly tickMs: number };
}

export interface RequestLog {
  readonly method: string;
  readonly path: string;
  readonly range: string | undefined;
  status: number;
  sent: number;
}

export interface FileServer {
  readonly url: string;
  readonly requests: RequestLog[];
  /** Bodies POSTed to `/notify/…`, by path. */
  readonly notifications: { path: string; body: string }[];
  put(path: string, file: ServedFile): void;
  close(): Promise<void>;
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export async function startFileServer(): Promise<FileServer> {
  const files = new Map<string, ServedFile>();
  const requests: RequestLog[] = [];
  const notifications: { path: string; body: string }[] = [];
  const server = http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (req.method === 'POST' && path.startsWith('/notify/')) {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        notifications.push({ path, body: Buffer.concat(chunks).toString('utf8') });
        requests.push({ method: 'POST', path, range: undefined, status: 200, sent: 0 });
        res.end('ok');
      });
      return;
    }
    const file = files.get(path);
    const log: RequestLog = {
      method: req.method ?? 'GET',
      path,
      range: req.headers.range,
      status: 200,
      sent: 0,
    };
    requests.push(log);
    if (!file) {
      log.status = 404;
      res.writeHead(404).end('not found');
      return;
    }
    const etag = `"${sha256(file.body).slice(0, 16)}"`;
    let start = 0;
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const ifRange = req.headers['if-range'];
    if (m && (ifRange === undefined || ifRange === etag)) {
      start = Number(m[1]);
      if (start >= file.body.byteLength) {
        log.status = 416;
        res.writeHead(416, { 'content-range': `bytes */${file.body.byteLength}` }).end();
        return;
      }
      log.status = 206;
      res.writeHead(206, {
        'content-type': file.contentType ?? 'application/octet-stream',
        'content-length': file.body.byteLength - start,
        'content-range': `bytes ${start}-${file.body.byteLength - 1}/${file.body.byteLength}`,
        etag,
        'accept-ranges': 'bytes',
      });
    } else {
      res.writeHead(200, {
        'content-type': file.contentType ?? 'application/octet-stream',
        'content-length': file.body.byteLength,
        etag,
        'accept-ranges': 'bytes',
      });
    }
    const rest = file.body.subarray(start);
    if (!file.throttle) {
      log.sent = rest.byteLength;
      res.end(rest);
      return;
    }
    const { bytes, tickMs } = file.throttle;
    let at = 0;
    const tick = () => {
      if (res.destroyed) return;
      const chunk = rest.subarray(at, at + bytes);
      at += chunk.byteLength;
      log.sent += chunk.byteLength;
      if (at >= rest.byteLength) res.end(chunk);
      else {
        res.write(chunk);
        setTimeout(tick, tickMs);
      }
    };
    tick();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    notifications,
    put: (path, file) => files.set(path, file),
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
