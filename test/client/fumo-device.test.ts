/**
 * The agent's FUMO device and its downloader over real HTTP on loopback: size limits, a file that
 * changed between two attempts (If-Range), a connection cut mid-body (resumed with Range), a 404,
 * a server that is down, a full disk (a 64 KiB tmpfs: 501, State 20), each with the FUMO result
 * and State the MO ends in.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, type TestContext, test } from 'node:test';
import { DownloadError, downloadFile } from '../../src/binding/http/index.ts';
import { AgentFumoDevice, type InstallBackend } from '../../src/client/index.ts';
import { FumoObject, type FumoReport, MemoryFumoStore } from '../../src/mo/index.ts';
import { ManagementTree, serverPrincipal } from '../../src/tree/index.ts';
import { type FileServer, sha256, startFileServer } from './file-server.ts';

let files: FileServer;
before(async () => {
  files = await startFileServer();
});
after(async () => {
  await files.close();
});

function scratch(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'omadm-fumo-dev-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const installed: Uint8Array[] = [];
const backend: InstallBackend = {
  name: 'test',
  async install(r) {
    installed.push(new Uint8Array(readFileSync(r.file)));
    return { result: 200 };
  },
  async confirm() {
    return { result: 200 };
  },
};

/** The MO over an AgentFumoDevice in `dir`: run one DownloadAndUpdate of `url`, return the report. */
async function runFumo(
  dir: string,
  url: string,
  maxBytes?: number,
): Promise<{ report: FumoReport; fumo: FumoObject }> {
  const device = new AgentFumoDevice({
    dir,
    backend,
    uri: './FUMO',
    http: { retries: 1, backoffMs: 10 },
    ...(maxBytes ? { maxBytes } : {}),
  });
  const reports: FumoReport[] = [];
  const fumo = new FumoObject({ device, store: new MemoryFumoStore(), report: (r) => void reports.push(r) });
  const tree = await ManagementTree.open();
  await tree.mount('./FUMO', fumo);
  await tree.replace('./FUMO?prop=ACL', { data: 'Get=*&Replace=*&Exec=*' });
  const srv = serverPrincipal('s');
  assert.equal(await tree.replace('./FUMO/DownloadAndUpdate/PkgURL', { data: url }, srv), 200);
  assert.equal(await tree.exec('./FUMO/DownloadAndUpdate', { correlator: 'c' }, srv), 202);
  await fumo.idle();
  assert.equal(reports.length, 1);
  return { report: reports[0]!, fumo };
}

describe('FUMO device: failures give the right result and State', () => {
  test('over the size limit: 501, State 20, nothing installed', async (t) => {
    files.put('/d/big.bin', { body: new Uint8Array(100_000) });
    const before = installed.length;
    const { report, fumo } = await runFumo(scratch(t), `${files.url}/d/big.bin`, 50_000);
    assert.equal(report.resultCode, 501);
    assert.equal(fumo.state, 20);
    assert.equal(installed.length, before);
  });

  test('a 404 is 411, a server that is down is 412', async (t) => {
    assert.equal((await runFumo(scratch(t), `${files.url}/d/none.bin`)).report.resultCode, 411);
    const s = http.createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const { port } = s.address() as AddressInfo;
    await new Promise((r) => s.close(r));
    assert.equal((await runFumo(scratch(t), `http://127.0.0.1:${port}/fw.bin`)).report.resultCode, 412);
    assert.equal((await runFumo(scratch(t), 'ftp://127.0.0.1/fw.bin')).report.resultCode, 411);
  });

  test('a full disk (a 64 KiB tmpfs) is 501 and State 20', async (t) => {
    const mnt = mkdtempSync(join(tmpdir(), 'omadm-fumo-full-'));
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mnt], { stdio: 'ignore' });
    } catch {
      rmSync(mnt, { recursive: true, force: true });
      t.skip('cannot mount a tmpfs here (needs root)');
      return;
    }
    t.after(() => {
      execFileSync('umount', [mnt]);
      rmSync(mnt, { recursive: true, force: true });
    });
    files.put('/d/fill.bin', { body: new Uint8Array(randomBytes(256 * 1024)) });
    const { report, fumo } = await runFumo(mnt, `${files.url}/d/fill.bin`);
    assert.equal(report.resultCode, 501);
    assert.equal(fumo.state, 20);
  });

  test('the verified image is what the backend installs', async (t) => {
    const img = new Uint8Array(randomBytes(10_000));
    files.put('/d/ok.bin', { body: img });
    const { report } = await runFumo(scratch(t), `${files.url}/d/ok.bin#sha256=${sha256(img)}`);
    assert.equal(report.resultCode, 200);
    assert.deepEqual(installed.at(-1), img);
  });
});

describe('downloader', () => {
  test('a partial file of a file that changed since is not resumed (If-Range): the new file is fetched whole', async (t) => {
    const dir = scratch(t);
    const file = join(dir, 'p.part');
    const v2 = new Uint8Array(randomBytes(20_000));
    files.put('/d/changing.bin', { body: v2 });
    const url = `${files.url}/d/changing.bin`;
    // What an attempt at the old version left behind.
    writeFileSync(file, new Uint8Array(randomBytes(5000)));
    writeFileSync(`${file}.meta`, JSON.stringify({ url, validator: '"old-etag"', total: 20_000 }));
    const r = await downloadFile({ url, file, maxBytes: 1 << 20 });
    assert.equal(r.sha256, sha256(v2));
    assert.equal(r.bytes, 20_000);
    const last = files.requests.filter((q) => q.path === '/d/changing.bin').at(-1);
    assert.equal(last?.range, 'bytes=5000-');
    assert.equal(last?.status, 200, 'the server ignored the Range: the validator did not match');
  });

  test('a connection cut mid-body is resumed with Range in the next attempt', async (t) => {
    const dir = scratch(t);
    const body = new Uint8Array(randomBytes(50_000));
    let n = 0;
    const ranges: (string | undefined)[] = [];
    const s = http.createServer((req, res) => {
      ranges.push(req.headers.range);
      n++;
      if (n === 1) {
        res.writeHead(200, { 'content-length': body.byteLength, etag: '"e"' });
        // FIN, not RST: the bytes sent arrive, then the body ends short of Content-Length.
        res.write(body.subarray(0, 20_000), () => res.socket?.end());
        return;
      }
      const from = Number(/bytes=(\d+)-/.exec(req.headers.range ?? '')?.[1] ?? 0);
      res.writeHead(206, {
        'content-length': body.byteLength - from,
        'content-range': `bytes ${from}-${body.byteLength - 1}/${body.byteLength}`,
        etag: '"e"',
      });
      res.end(body.subarray(from));
    });
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    t.after(() => new Promise<void>((r) => s.close(() => r())));
    const { port } = s.address() as AddressInfo;
    const r = await downloadFile({
      url: `http://127.0.0.1:${port}/x`,
      file: join(dir, 'x.part'),
      maxBytes: 1 << 20,
      backoffMs: 10,
    });
    assert.equal(r.sha256, sha256(body));
    assert.equal(r.attempts, 2);
    assert.equal(ranges[0], undefined);
    assert.match(ranges[1] ?? '', /^bytes=\d+-$/);
    assert.ok(Number(/\d+/.exec(ranges[1]!)?.[0]) > 0);
  });

  test('a body larger than announced is cut off at the limit, not stored', async (t) => {
    const dir = scratch(t);
    const s = http.createServer((_req, res) => {
      res.writeHead(200); // no Content-Length: chunked
      res.end(new Uint8Array(70_000));
    });
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    t.after(() => new Promise<void>((r) => s.close(() => r())));
    const { port } = s.address() as AddressInfo;
    await assert.rejects(
      downloadFile({ url: `http://127.0.0.1:${port}/x`, file: join(dir, 'x.part'), maxBytes: 50_000 }),
      (e: unknown) => e instanceof DownloadError && e.kind === 'too-large',
    );
  });
});

describe('downloads over HTTPS', () => {
  test('a server certificate from the configured CA is accepted; an untrusted one is 406 (download authentication)', async (t) => {
    const dir = scratch(t);
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '2',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    const cert = readFileSync(join(dir, 'cert.pem'));
    const img = new Uint8Array(randomBytes(30_000));
    const https = await import('node:https');
    const s = https.createServer({ key: readFileSync(join(dir, 'key.pem')), cert }, (_req, res) => {
      res.writeHead(200, { 'content-length': img.byteLength });
      res.end(img);
    });
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    t.after(
      () =>
        new Promise<void>((r) => {
          s.closeAllConnections();
          s.close(() => r());
        }),
    );
    const url = `https://127.0.0.1:${(s.address() as AddressInfo).port}/fw.bin`;
    const ok = await downloadFile({ url, file: join(dir, 'a.part'), maxBytes: 1 << 20, ca: cert });
    assert.equal(ok.sha256, sha256(img));
    const { report } = await runFumo(join(dir, 'untrusted'), url);
    assert.equal(report.resultCode, 406);
  });
});
