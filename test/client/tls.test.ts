/**
 * HTTPS: the client and the simulator against `createServer` with TLS (certificates made with
 * openssl for the test): a custom CA, a device authenticated by its client certificate alone, and
 * `omadm simulate --tls`.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createClient, simpleAccount } from '../../src/client/index.ts';
import { createServer, type OmadmServer } from '../../src/server/index.ts';
import { openStore, type Store } from '../../src/server/store/index.ts';
import { Fleet } from '../../src/simulator/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'omadm-client-tls-'));
const f = (name: string) => join(dir, name);
const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });

function certificates(): void {
  openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=omadm client test CA',
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.pem'),
  );
  writeFileSync(f('server.ext'), 'subjectAltName=IP:127.0.0.1\n');
  const sign = (name: string, cn: string, ext?: string) => {
    openssl(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      `/CN=${cn}`,
      '-keyout',
      f(`${name}.key`),
      '-out',
      f(`${name}.csr`),
    );
    openssl(
      'x509',
      '-req',
      '-in',
      f(`${name}.csr`),
      '-CA',
      f('ca.pem'),
      '-CAkey',
      f('ca.key'),
      '-CAcreateserial',
      '-days',
      '2',
      ...(ext ? ['-extfile', ext] : []),
      '-out',
      f(`${name}.pem`),
    );
  };
  sign('server', '127.0.0.1', f('server.ext'));
  sign('device', 'tls-device');
}

let store: Store;
let server: OmadmServer;
let url: string;
const token = `admin-${randomBytes(12).toString('hex')}`;

before(async () => {
  certificates();
  store = await openStore(`sqlite:${f('omadm.db')}`, { secretKey: new Uint8Array(randomBytes(32)) });
  server = await createServer({
    store,
    logger: false,
    sweepIntervalMs: 0,
    tls: {
      cert: readFileSync(f('server.pem')),
      key: readFileSync(f('server.key')),
      ca: readFileSync(f('ca.pem')),
    },
  });
  await store.tokens.create({ name: 'admin', role: 'admin', secret: token });
  ({ url } = await server.listen({ host: '127.0.0.1', port: 0 }));
});
after(async () => {
  await server.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const api = async (method: string, path: string, body?: unknown) => {
  const { request } = await import('node:https');
  return new Promise<{ status: number; body: unknown }>((resolve, reject) => {
    const req = request(
      `${url}/api/v1${path}`,
      {
        method,
        ca: readFileSync(f('ca.pem')),
        headers: {
          authorization: `Bearer ${token}`,
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
      },
      (res) => {
        let text = '';
        res.on('data', (d) => {
          text += d;
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }),
        );
      },
    );
    req.on('error', reject);
    req.end(body ? JSON.stringify(body) : undefined);
  });
};

test('client over HTTPS with the CA; a device authenticated by its certificate alone', async () => {
  assert.equal((await api('POST', '/devices', { id: 'tls-md5', secret: 's', authType: 'md5' })).status, 201);
  assert.equal((await api('POST', '/devices', { id: 'tls-device', authType: 'transport' })).status, 201);
  const md5 = await createClient({
    devInfo: { devId: 'tls-md5' },
    http: { ca: readFileSync(f('ca.pem')) },
    accounts: [simpleAccount({ serverUrl: `${url}/dm`, name: 'tls-md5', secret: 's', auth: 'md5' })],
  });
  try {
    const r = await md5.session();
    assert.equal(r.ok, true, JSON.stringify(r));
  } finally {
    await md5.close();
  }
  // Without the CA the server is not trusted: a transport failure, never a session.
  const untrusting = await createClient({
    devInfo: { devId: 'tls-md5' },
    http: { retries: 0 },
    accounts: [simpleAccount({ serverUrl: `${url}/dm`, name: 'tls-md5', secret: 's', auth: 'md5' })],
  });
  try {
    const r = await untrusting.session();
    assert.equal(r.ok, false);
    assert.equal(r.error?.code, 'OMADM_ERR_SESSION_TRANSPORT');
  } finally {
    await untrusting.close();
  }
  const cert = await createClient({
    devInfo: { devId: 'tls-device' },
    http: {
      ca: readFileSync(f('ca.pem')),
      cert: readFileSync(f('device.pem')),
      key: readFileSync(f('device.key')),
    },
    accounts: [simpleAccount({ serverUrl: `${url}/dm`, name: 'tls-device', secret: '', auth: 'transport' })],
  });
  try {
    const r = await cert.session();
    assert.equal(r.ok, true, JSON.stringify(r));
  } finally {
    await cert.close();
  }
});

test('a fleet over HTTPS, and omadm simulate --tls --ca', async () => {
  const fleet = new Fleet({
    serverUrl: `${url}/dm`,
    devices: 50,
    prefix: 'tlsfleet-',
    timing: 'none',
    http: { ca: readFileSync(f('ca.pem')) },
  });
  try {
    // Provisioned through the API with our CA (the CLI's fetch-based API client trusts only the
    // system CAs and NODE_EXTRA_CA_CERTS).
    for (let i = 0; i < fleet.size; i++) {
      const r = await api('POST', '/devices', {
        id: fleet.deviceId(i),
        secret: fleet.secret(i),
        authType: 'md5',
      });
      assert.equal(r.status, 201);
    }
    await fleet.round();
    assert.equal(fleet.stats.ok, 50);
    assert.deepEqual(Object.fromEntries(fleet.stats.errors), {});
  } finally {
    fleet.close();
  }
  const bin = fileURLToPath(new URL('../../bin/omadm.js', import.meta.url));
  const http = url.replace('https:', 'http:');
  const { stdout } = await promisify(execFile)(process.execPath, [
    bin,
    'simulate',
    '--server',
    http,
    '--tls',
    '--ca',
    f('ca.pem'),
    '--devices',
    '50',
    '--prefix',
    'tlsfleet-',
    '--json',
  ]);
  const s = JSON.parse(stdout);
  assert.equal(s.ok, 50);
  assert.match(s.server, /^https:/);
});
