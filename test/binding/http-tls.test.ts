/**
 * HTTPS: a custom CA on the client, a required client certificate on the server whose subject CN
 * identifies the device (auth mode `transport`), and the failures when either side is missing.
 * Certificates are made with the openssl CLI into a temp dir per run.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { HttpTransport } from '../../src/binding/http/index.ts';
import { runClientSession } from '../../src/protocol/client-runner.ts';
import { SessionError } from '../../src/protocol/errors.ts';
import { getCmd } from '../protocol/helpers.ts';
import { DEVICE, makePair, type Pair } from '../protocol/session-harness.ts';
import { type RunningServer, startDmServer } from '../integration/http-harness.ts';

let dir: string;
const pem: Record<string, string> = {};

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

function issue(name: string, cn: string, ext?: string): void {
  openssl(
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.csr`,
    '-subj',
    `/CN=${cn}`,
  );
  const extArgs: string[] = [];
  if (ext) {
    writeFileSync(join(dir, `${name}.ext`), ext);
    extArgs.push('-extfile', `${name}.ext`);
  }
  openssl(
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    `${name}.crt`,
    '-days',
    '2',
    ...extArgs,
  );
  pem[`${name}.key`] = readFileSync(join(dir, `${name}.key`), 'utf8');
  pem[`${name}.crt`] = readFileSync(join(dir, `${name}.crt`), 'utf8');
}

describe('HTTPS binding', () => {
  let pair: Pair;
  let srv: RunningServer;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'omadm-tls-'));
    openssl(
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-subj',
      '/CN=omadm test CA',
      '-days',
      '2',
    );
    pem['ca.crt'] = readFileSync(join(dir, 'ca.crt'), 'utf8');
    issue('server', '127.0.0.1', 'subjectAltName=IP:127.0.0.1\n');
    issue('client', DEVICE);
    pair = makePair({ auth: 'transport', serverAuth: 'none' });
    srv = await startDmServer(
      { engine: pair.server, requireClientCertificate: true },
      { key: pem['server.key']!, cert: pem['server.crt']!, ca: pem['ca.crt']!, requestCert: true },
    );
    pair.setServerUri(srv.url);
  });
  after(async () => {
    await srv.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a device with a client certificate (CN = DevId) runs a session; the CA is custom', async () => {
    const transport = new HttpTransport({
      ca: pem['ca.crt']!,
      cert: pem['client.crt']!,
      key: pem['client.key']!,
      retries: 0,
    });
    try {
      const id = pair.queue.enqueue(DEVICE, getCmd('./DevDetail/SwV'));
      const result = await runClientSession(pair.client(), transport);
      assert.equal(result.outcome, 'completed');
      assert.equal(pair.queue.records.get(id)!.outcome!.status, 200);
      assert.ok(pair.server.limits.maxMsgSize > 0);
    } finally {
      transport.close();
    }
  });

  test('without a client certificate the endpoint answers 403', async () => {
    const transport = new HttpTransport({ ca: pem['ca.crt']!, retries: 0 });
    try {
      await assert.rejects(runClientSession(pair.client(), transport), (e: unknown) => {
        assert.ok(e instanceof SessionError);
        assert.equal(e.code, 'OMADM_ERR_SESSION_TRANSPORT');
        assert.equal(e.status, 403);
        return true;
      });
    } finally {
      transport.close();
    }
  });

  test('without the custom CA the server certificate is not trusted', async () => {
    const transport = new HttpTransport({ cert: pem['client.crt']!, key: pem['client.key']!, retries: 0 });
    try {
      await assert.rejects(runClientSession(pair.client(), transport), (e: unknown) => {
        assert.ok(e instanceof SessionError);
        assert.equal(e.code, 'OMADM_ERR_SESSION_TRANSPORT');
        return true;
      });
    } finally {
      transport.close();
    }
  });
});
