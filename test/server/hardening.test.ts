/**
 * Smaller trust-boundary defects (issue 11, item 8), each as the client behaviour it stops: TLS 1.2
 * clients that ask for suites without forward secrecy or without AEAD are refused; a JSON (or any
 * non-SyncML) body posted to /dm is a 415 whatever it holds; a path that is not valid
 * percent-encoding gets the API's error body, not the framework's.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { request } from 'node:https';
import { connect } from 'node:tls';
import { redirectOutput } from '../../src/cli/api/output.ts';
import { main } from '../../src/cli/main.ts';
import { TLS12_CIPHERS } from '../../src/server/index.ts';
import type { Store } from '../../src/server/store/index.ts';
import { DeviceSim, type Sender } from './device-sim.ts';
import { api, type Backend, freshBackend, type Running, startServer } from './helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'omadm-hardening-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The suite a TLS handshake with these client settings agrees on, or the error's code. */
function handshake(port: number, options: { ciphers?: string; maxVersion?: 'TLSv1.2' | 'TLSv1.3' }) {
  return new Promise<string>((resolve) => {
    const s = connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...options }, () => {
      const c = s.getCipher();
      s.end();
      resolve(`${s.getProtocol()} ${c.name}`);
    });
    s.on('error', (e: NodeJS.ErrnoException) => resolve(`error ${e.code ?? e.message}`));
  });
}

/** POST over HTTPS trusting the test's self-signed server certificate. */
const tlsSender: Sender = (url, body, headers) =>
  new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers, ca: readFileSync(join(dir, 'cert.pem')) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          body: new Uint8Array(Buffer.concat(chunks)),
          headers: { get: (n: string) => (res.headers[n.toLowerCase()] as string | undefined) ?? null },
        }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });

/** Provisions a device with auth `none` (the explicit confirmation included) and queues a Replace. */
async function noAuthDevice(srv: Running, id: string): Promise<string> {
  const refused = await api(srv.url, srv.admin, 'POST', '/devices', { id, authType: 'none' });
  if (refused.status !== 400) throw new Error(`authType none without allowNoAuth: ${refused.status}`);
  const ok = await api(srv.url, srv.admin, 'POST', '/devices', { id, authType: 'none', allowNoAuth: true });
  if (ok.status !== 201) throw new Error(`provisioning: ${ok.status} ${JSON.stringify(ok.body)}`);
  const cmd = await api(srv.url, srv.admin, 'POST', `/devices/${encodeURIComponent(id)}/commands`, {
    type: 'Replace',
    uri: './Sub/Name',
    value: 'provisioned',
  });
  return cmd.body.id as string;
}

describe('TLS suites', () => {
  let backend: Backend;
  let store: Store;
  let srv: Running;
  let port: number;

  before(async () => {
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
      { stdio: 'pipe' },
    );
    backend = await freshBackend('sqlite');
    store = await backend.open();
    srv = await startServer(store, {
      tls: { cert: readFileSync(join(dir, 'cert.pem')), key: readFileSync(join(dir, 'key.pem')) },
    });
    port = Number(new URL(srv.url).port);
  });
  after(async () => {
    await srv?.close();
    await store?.close();
    await backend?.cleanup();
  });

  test('a TLS 1.2 client offering only suites without forward secrecy or AEAD is refused', async () => {
    for (const ciphers of [
      'AES128-GCM-SHA256', // RSA key exchange: no forward secrecy
      'AES256-SHA256',
      'ECDHE-RSA-AES128-SHA', // forward secrecy, but CBC
      'ECDHE-RSA-AES256-SHA384',
      'DHE-RSA-AES128-SHA',
    ]) {
      const r = await handshake(port, { maxVersion: 'TLSv1.2', ciphers });
      assert.match(r, /^error /, `${ciphers} was accepted: ${r}`);
    }
  });

  test('ECDHE and DHE suites with AEAD ciphers work on TLS 1.2; TLS 1.3 works', async () => {
    for (const ciphers of [
      'ECDHE-RSA-AES128-GCM-SHA256',
      'ECDHE-RSA-AES256-GCM-SHA384',
      'ECDHE-RSA-CHACHA20-POLY1305',
      'DHE-RSA-AES128-GCM-SHA256',
    ]) {
      assert.equal(await handshake(port, { maxVersion: 'TLSv1.2', ciphers }), `TLSv1.2 ${ciphers}`);
    }
    assert.match(await handshake(port, {}), /^TLSv1\.3 TLS_/);
    // A client offering everything gets a forward-secret AEAD suite.
    const any = await handshake(port, { maxVersion: 'TLSv1.2', ciphers: 'ALL' });
    assert.ok(TLS12_CIPHERS.includes(any.replace('TLSv1.2 ', '')), any);
  });

  test('a device with auth none (no credentials at all) gets its sessions over TLS', async () => {
    const id = 'HS20:none-tls';
    // (The API's confirmation rule is checked over plain HTTP below; fetch does not take our CA.)
    await store.devices.create({ id, authType: 'none' });
    const cmd = (
      await store.queue.enqueue(id, { kind: 'Replace', target: './Sub/Name', data: 'provisioned' })
    ).id;
    const sim = new DeviceSim({ deviceId: id, secret: '', auth: 'none', tree: { './Sub/Name': 'old' } });
    const { result } = await sim.session(`${srv.url}/dm`, undefined, tlsSender);
    assert.equal(result?.outcome, 'completed');
    assert.equal(sim.tree.get('./Sub/Name')?.value, 'provisioned');
    assert.equal((await store.queue.get(cmd))?.state, 'succeeded');
  });

  test('docs/security.md lists exactly the TLS 1.2 suites offered', () => {
    const doc = readFileSync(new URL('../../docs/security.md', import.meta.url), 'utf8');
    const listed = [...doc.matchAll(/`((?:ECDHE|DHE)-[A-Z0-9-]+)`/g)].map((m) => m[1]);
    assert.deepEqual([...new Set(listed)].sort(), [...TLS12_CIPHERS].sort());
  });
});

describe('answers in the right shape', () => {
  let backend: Backend;
  let store: Store;
  let srv: Running;

  before(async () => {
    backend = await freshBackend('sqlite');
    store = await backend.open();
    srv = await startServer(store);
  });
  after(async () => {
    await srv?.close();
    await store?.close();
    await backend?.cleanup();
  });

  test('a device with auth none is refused over plain HTTP: nothing it sends is acted on', async () => {
    const id = 'HS20:none-plain';
    const cmd = await noAuthDevice(srv, id);
    const sim = new DeviceSim({ deviceId: id, secret: '', auth: 'none', tree: { './Sub/Name': 'old' } });
    const answers: string[] = [];
    const capture: Sender = async (url, body, headers) => {
      const res = await fetch(url, { method: 'POST', headers, body });
      const bytes = new Uint8Array(await res.arrayBuffer());
      answers.push(Buffer.from(bytes).toString('utf8'));
      return { status: res.status, body: bytes, headers: res.headers };
    };
    await sim.session(`${srv.url}/dm`, undefined, capture).catch(() => undefined);
    assert.equal(sim.tree.get('./Sub/Name')?.value, 'old');
    const after = (await api(srv.url, srv.admin, 'GET', `/commands/${cmd}`)).body;
    assert.equal(after.state, 'queued');
    assert.equal(after.attempts, 0);
    // The server's answer: 403 on the SyncHdr, no command.
    assert.match(answers[0] ?? '', /<Cmd>SyncHdr<\/Cmd>.*?<Data>403<\/Data>/);
    assert.doesNotMatch(answers.join(''), /<Replace>/);
  });

  test('omadm device add --auth none needs --allow-no-auth, and warns', async () => {
    const run = async (...args: string[]) => {
      let out = '';
      let err = '';
      const restore = redirectOutput({
        out: (t) => {
          out += t;
        },
        err: (t) => {
          err += t;
        },
      });
      const saved = { OMADM_URL: process.env.OMADM_URL, OMADM_TOKEN: process.env.OMADM_TOKEN };
      Object.assign(process.env, { OMADM_URL: srv.url, OMADM_TOKEN: srv.admin });
      try {
        return { code: await main(args), out, err };
      } finally {
        restore();
        for (const [k, v] of Object.entries(saved)) {
          if (v === undefined) delete process.env[k];
          else process.env[k] = v;
        }
      }
    };
    const refused = await run('device', 'add', 'HS20:cli-none', '--auth', 'none');
    assert.equal(refused.code, 2);
    assert.equal((await api(srv.url, srv.admin, 'GET', '/devices/HS20:cli-none')).status, 404);
    const ok = await run('device', 'add', 'HS20:cli-none', '--auth', 'none', '--allow-no-auth');
    assert.equal(ok.code, 0, ok.err);
    assert.match(ok.err, /warning: --auth none/);
    assert.equal((await api(srv.url, srv.admin, 'GET', '/devices/HS20:cli-none')).body.authType, 'none');
    const misuse = await run('device', 'add', 'HS20:cli-md5', '--secret', 's', '--allow-no-auth');
    assert.equal(misuse.code, 2);
    // Switching an existing device to none needs the confirmation too.
    assert.equal((await run('device', 'add', 'HS20:cli-later', '--secret', 's')).code, 0);
    assert.equal((await run('device', 'set', 'HS20:cli-later', '--auth', 'none')).code, 2);
    const patched = await api(srv.url, srv.admin, 'PATCH', '/devices/HS20:cli-later', { authType: 'none' });
    assert.equal(patched.status, 400);
    assert.equal(patched.body.error.code, 'validation');
    assert.equal((await run('device', 'set', 'HS20:cli-later', '--auth', 'none', '--allow-no-auth')).code, 0);
    // A value XML cannot carry is refused on entry by the CLI too (through the API), nothing queued.
    const bad = await run('cmd', 'replace', 'HS20:cli-later', './A', 'bell\u0007');
    assert.equal(bad.code, 2, bad.err);
    const queued = await api(srv.url, srv.admin, 'GET', '/devices/HS20:cli-later/commands');
    assert.equal(queued.body.items.length, 0);
  });

  test('/dm answers 415 to a JSON content type, whatever the body', async () => {
    for (const [type, body] of [
      ['application/json', '{"SyncML": {}}'],
      ['application/json', '<SyncML><SyncHdr/></SyncML>'],
      ['application/json; charset=utf-8', ''],
      ['application/x-www-form-urlencoded', 'a=b'],
      ['text/plain', 'hello'],
      ['application/octet-stream', '\u0002\u0000'],
    ] as const) {
      const r = await fetch(`${srv.url}/dm`, { method: 'POST', headers: { 'content-type': type }, body });
      assert.equal(r.status, 415, `${type}: ${body}`);
      assert.equal(r.headers.get('cache-control'), 'no-store');
      await r.body?.cancel();
    }
  });

  test('a malformed API path gets the API error body', async () => {
    for (const path of ['/api/v1/devices/%E0%A4%A', '/api/v1/devices/%', '/api/v1/%zz/x', '/dm%']) {
      const r = await fetch(srv.url + path, { headers: { authorization: `Bearer ${srv.admin}` } });
      assert.equal(r.status, 400, path);
      const body = (await r.json()) as { error: { code: string; message: string } };
      assert.equal(body.error.code, 'validation', path);
      assert.equal(typeof body.error.message, 'string');
      assert.deepEqual(Object.keys(body), ['error'], path);
    }
  });
});
