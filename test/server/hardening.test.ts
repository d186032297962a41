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
import { connect } from 'node:tls';
import { TLS12_CIPHERS } from '../../src/server/index.ts';
import type { Store } from '../../src/server/store/index.ts';
import { type Backend, freshBackend, type Running, startServer } from './helpers.ts';

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
