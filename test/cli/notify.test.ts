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
import { decodeWspPush } from '../../src/binding/push/index.ts';
import { main } from '../../src/cli/main.ts';
import { credentialDigest } from '../../src/protocol/auth/index.ts';
import { parsePackage0, verifyPackage0 } from '../../src/protocol/notification/index.ts';

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

/** Runs the command in this process; stderr captured, exit code returned (stdout untouched). */
async function run(args: string[]): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string | Uint8Array) => {
    stderr += chunk.toString();
    return true;
  }) as typeof process.stderr.write;
  try {
    return { code: await main(args), stderr };
  } finally {
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
