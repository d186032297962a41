/**
 * HTTPS with device client certificates (certificates made with openssl for the test): a device
 * provisioned with auth type `transport` is authenticated by its certificate's CN alone; without
 * a certificate the TLS connection is refused; a certificate of another device does not pass.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Store } from '../../src/server/store/index.ts';
import { DeviceSim, type Sender } from './device-sim.ts';
import { type Backend, freshBackend, type Running, startServer } from './helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'omadm-tls-'));
const f = (name: string) => join(dir, name);
const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });

function makeCertificates(): void {
  openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=omadm test CA',
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.pem'),
  );
  writeFileSync(f('server.ext'), 'subjectAltName=IP:127.0.0.1\n');
  openssl(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=127.0.0.1',
    '-keyout',
    f('server.key'),
    '-out',
    f('server.csr'),
  );
  openssl(
    'x509',
    '-req',
    '-in',
    f('server.csr'),
    '-CA',
    f('ca.pem'),
    '-CAkey',
    f('ca.key'),
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    f('server.ext'),
    '-out',
    f('server.pem'),
  );
  for (const dev of ['dev1', 'dev2']) {
    openssl(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      `/CN=IMEI:tls-${dev}`,
      '-keyout',
      f(`${dev}.key`),
      '-out',
      f(`${dev}.csr`),
    );
    openssl(
      'x509',
      '-req',
      '-in',
      f(`${dev}.csr`),
      '-CA',
      f('ca.pem'),
      '-CAkey',
      f('ca.key'),
      '-CAcreateserial',
      '-days',
      '2',
      '-out',
      f(`${dev}.pem`),
    );
  }
}

/** POST over HTTPS trusting our CA, optionally with a client certificate. */
function tlsSender(client?: 'dev1' | 'dev2'): Sender {
  return (url, body, headers) =>
    new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method: 'POST',
          headers,
          ca: readFileSync(f('ca.pem')),
          ...(client
            ? { cert: readFileSync(f(`${client}.pem`)), key: readFileSync(f(`${client}.key`)) }
            : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              body: new Uint8Array(Buffer.concat(chunks)),
              headers: { get: (n: string) => (res.headers[n.toLowerCase()] as string | undefined) ?? null },
            }),
          );
        },
      );
      req.on('error', reject);
      req.end(body);
    });
}

describe('TLS with device client certificates', () => {
  let backend: Backend;
  let store: Store;
  let srv: Running;

  before(async () => {
    makeCertificates();
    backend = await freshBackend('sqlite');
    store = await backend.open();
    srv = await startServer(store, {
      tls: {
        cert: readFileSync(f('server.pem')),
        key: readFileSync(f('server.key')),
        ca: readFileSync(f('ca.pem')),
        requireClientCert: true,
      },
    });
    await store.devices.create({ id: 'IMEI:tls-dev1', authType: 'transport' });
  });
  after(async () => {
    await srv?.close();
    await store?.close();
    await backend?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a transport-auth device is authenticated by its certificate and gets its commands', async () => {
    assert.match(srv.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const c = await store.queue.enqueue('IMEI:tls-dev1', { kind: 'Get', target: './DevDetail/SwV' });
    const sim = new DeviceSim({
      deviceId: 'IMEI:tls-dev1',
      secret: '',
      auth: 'transport',
      tree: { './DevDetail/SwV': '7' },
    });
    const { result } = await sim.session(`${srv.url}/dm`, undefined, tlsSender('dev1'));
    assert.equal(result?.outcome, 'completed');
    const done = await store.queue.get(c.id);
    assert.equal(done?.state, 'succeeded');
    assert.equal(done?.results?.[0]?.value, '7');
  });

  test("another device's certificate does not authenticate this device", async () => {
    const sim = new DeviceSim({ deviceId: 'IMEI:tls-dev1', secret: '', auth: 'transport' });
    await assert.rejects(sim.session(`${srv.url}/dm`, undefined, tlsSender('dev2')), {
      code: 'OMADM_ERR_SESSION_AUTH_FAILED',
    });
  });

  test('without a client certificate the connection is refused', async () => {
    const sim = new DeviceSim({ deviceId: 'IMEI:tls-dev1', secret: '', auth: 'transport' });
    await assert.rejects(sim.session(`${srv.url}/dm`, undefined, tlsSender()));
  });
});
