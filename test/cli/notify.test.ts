/**
 * `omadm notify build|send`: a few runs as the real command (bin/omadm.js under this Node), the
 * rest in-process through main() (each child process costs about a second of start-up).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { decodeWspPush, listenUdpPush, UdpBearer } from '../../src/binding/push/index.ts';
import { redirectOutput } from '../../src/cli/api/output.ts';
import { main } from '../../src/cli/main.ts';
import { credentialDigest } from '../../src/protocol/auth/index.ts';
import {
  parsePackage0,
  sessionIdHex,
  verifyPackage0,
  verifyPackage0WithFallback,
} from '../../src/protocol/notification/index.ts';
import type { Store } from '../../src/server/store/index.ts';
import { api, type Backend, freshBackend, type Running, startServer } from '../server/helpers.ts';

const BIN = fileURLToPath(new URL('../../bin/omadm.js', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'omadm-notify-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const SPEC = [
  '--server-id',
  'com.mgmtsrv.manage',
  '--nonce',
  'AAAAAA==',
  '--session',
  '1234',
  '--ui-mode',
  'background',
];
const SPEC_HEX = 'aec17ae9c531ebadb7e104a8052b4d3702d0000000123412636f6d2e6d676d747372762e6d616e616765';

/**
 * Runs the command in this process; stderr and the CLI's API output (stdio.out) captured, exit
 * code returned. Commands that write process.stdout directly are checked through --out instead.
 */
async function run(args: string[]): Promise<{ code: number; stderr: string; out: string }> {
  let stderr = '';
  let out = '';
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string | Uint8Array) => {
    stderr += chunk.toString();
    return true;
  }) as typeof process.stderr.write;
  const restore = redirectOutput({
    out: (t) => {
      out += t;
    },
    err: (t) => {
      stderr += t;
    },
  });
  try {
    return { code: await main(args), stderr, out };
  } finally {
    restore();
    process.stderr.write = write;
    process.exitCode = undefined;
  }
}

let seq = 0;
/** `notify build … --out FILE` in-process; returns the bytes written as hex. */
async function build(args: string[]): Promise<string> {
  const out = join(tmp, `out-${++seq}`);
  const r = await run(['notify', 'build', ...args, '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  return readFileSync(out).toString('hex');
}

describe('omadm notify build', () => {
  test('prints the spec Package 0 (protocol.md §5.3) as hex (real command)', () => {
    const r = spawnSync(
      process.execPath,
      [BIN, 'notify', 'build', ...SPEC, '--secret', 'srvSecret', '--initiator', 'client'],
      {
        encoding: 'utf8',
      },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `${SPEC_HEX}\n`);
  });

  test('same bytes from the credential digest and with the fallback nonce; WSP form', async () => {
    const digest = credentialDigest('com.mgmtsrv.manage', 'srvSecret');
    assert.equal(
      await build([...SPEC, '--digest', digest, '--initiator', 'client', '--nonce', 'fallback']),
      SPEC_HEX,
    );
    assert.equal(
      await build([...SPEC, '--secret', 'srvSecret', '--initiator', 'client', '--wsp']),
      `010603c4af87${SPEC_HEX}`,
    );
  });

  test('interactive, vendor data, server initiator (the default)', async () => {
    const hex = await build([...SPEC, '--secret', 'x', '--ui-mode', 'interactive', '--vendor', 'CAFE']);
    const p = parsePackage0(Buffer.from(hex, 'hex'));
    assert.equal(p.uiMode, 'user-interaction');
    assert.equal(p.initiator, 'server');
    assert.deepEqual([...p.vendor], [0xca, 0xfe]);
    assert.equal(verifyPackage0(p, credentialDigest('com.mgmtsrv.manage', 'x'), new Uint8Array(4)), true);
  });

  test('bad input exits 2 with one line; bad choices are usage errors (64)', async () => {
    for (const bad of [
      [...SPEC, '--secret', 's', '--nonce', '!!'],
      [...SPEC, '--secret', 's', '--session', '12345'],
      [...SPEC, '--secret', 's', '--vendor', 'xyz'],
      [...SPEC],
      [...SPEC, '--secret', 's', '--digest', 'd'],
      [...SPEC, '--secret', 's', '--notification-version', '5000'],
      [...SPEC, '--secret', 's', '--sms', '--out', join(tmp, 'z')],
    ]) {
      const r = await run(['notify', 'build', ...bad]);
      assert.equal(r.code, 2, `${bad.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /^omadm: .+\n$/);
    }
    const u = await run(['notify', 'build', ...SPEC.slice(0, -2), '--secret', 's', '--ui-mode', 'loud']);
    assert.equal(u.code, 64);
  });
});

describe('omadm notify send', () => {
  test('udp: the datagram carries the WSP push with the same Package 0 (real command)', async () => {
    const sink = createSocket('udp4');
    await new Promise<void>((r) => sink.bind(0, '127.0.0.1', () => r()));
    const got = new Promise<Buffer>((r) => sink.once('message', (m) => r(m)));
    const child = spawn(
      process.execPath,
      [
        BIN,
        'notify',
        'send',
        ...SPEC,
        '--secret',
        'srvSecret',
        '--initiator',
        'client',
        '--bearer',
        'udp',
        '--to',
        `127.0.0.1:${sink.address().port}`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    const push = decodeWspPush(new Uint8Array(await got));
    sink.close();
    assert.equal(code, 0);
    assert.match(out, /^accepted udp 127\.0\.0\.1:\d+ parts=1/);
    assert.equal(Buffer.from(push.body).toString('hex'), SPEC_HEX);
  });

  test('missing bearer settings and bad targets exit 2; unreachable SMSC exits 69', async () => {
    assert.equal(
      (await run(['notify', 'send', ...SPEC, '--secret', 's', '--bearer', 'smpp', '--to', '+1'])).code,
      2,
    );
    assert.equal(
      (await run(['notify', 'send', ...SPEC, '--secret', 's', '--bearer', 'udp', '--to', 'a b'])).code,
      2,
    );
    const r = await run([
      'notify',
      'send',
      ...SPEC,
      '--secret',
      's',
      '--bearer',
      'smpp',
      '--to',
      '+1',
      '--smsc',
      '127.0.0.1:1',
      '--system-id',
      'x',
      '--password',
      'y',
      '--timeout',
      '2',
    ]);
    assert.equal(r.code, 69, r.stderr);
    assert.match(r.stderr, /^omadm: SMPP: connect ECONNREFUSED/);
  });
});

describe('omadm notify DEVICE (through the server)', () => {
  let backend: Backend;
  let store: Store;
  let srv: Running;
  let listener: Awaited<ReturnType<typeof listenUdpPush>>;
  const received: Uint8Array[] = [];

  test('the server pushes Package 0 to the device address; the CLI prints the outcome and session', async () => {
    listener = await listenUdpPush({ host: '127.0.0.1', port: 0, onPackage0: (p) => received.push(p) });
    backend = await freshBackend('sqlite');
    store = await backend.open();
    srv = await startServer(store, { notify: { bearers: [new UdpBearer()] } });
    try {
      const created = await api(srv.url, srv.admin, 'POST', '/devices', {
        id: 'IMEI:cli-notify',
        secret: 'dev',
        serverSecret: 'srv-secret',
        notify: { bearer: 'udp', target: `127.0.0.1:${listener.port}` },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const r = await run(['notify', 'IMEI:cli-notify', '--url', srv.url, '--token', srv.admin]);
      assert.equal(r.code, 0, r.stderr);
      const m = /^accepted udp 127\.0\.0\.1:\d+ parts=1 .*session=([0-9A-F]+)\n$/.exec(r.out);
      assert.ok(m, r.out);
      for (let i = 0; i < 500 && received.length === 0; i++) await new Promise((res) => setTimeout(res, 10));
      assert.equal(received.length, 1, 'Package 0 reached the device listener');
      const p = parsePackage0(received[0]!);
      assert.equal(sessionIdHex(p.sessionId), m[1]);
      assert.equal(
        verifyPackage0WithFallback(p, credentialDigest(p.serverId, 'srv-secret'), undefined).ok,
        true,
      );

      const j = await run(['notify', 'IMEI:cli-notify', '--url', srv.url, '--token', srv.admin, '--json']);
      assert.equal(j.code, 0, j.stderr);
      assert.equal(JSON.parse(j.out).accepted, true);

      // unknown device → 404 → exit 2; no token → 69
      assert.equal((await run(['notify', 'IMEI:nobody', '--url', srv.url, '--token', srv.admin])).code, 2);
      assert.equal(
        (await run(['notify', 'IMEI:cli-notify', '--url', srv.url, '--token', 'x'.repeat(20)])).code,
        69,
      );
    } finally {
      await srv.close();
      await store.close();
      await backend.cleanup();
      await listener.close();
    }
  });
});
