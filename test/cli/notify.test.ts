/**
 * `omadm notify build|send`, run as the real command (bin/omadm.js under this Node).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { decodeWspPush } from '../../src/binding/push/index.ts';
import { credentialDigest } from '../../src/protocol/auth/index.ts';
import { parsePackage0, verifyPackage0 } from '../../src/protocol/notification/index.ts';

const BIN = fileURLToPath(new URL('../../bin/omadm.js', import.meta.url));
const omadm = (args: string[]) => {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};
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

describe('omadm notify build', () => {
  test('prints the spec Package 0 (protocol.md §5.3), from the secret or its digest', () => {
    const a = omadm(['notify', 'build', ...SPEC, '--secret', 'srvSecret', '--initiator', 'client']);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(a.stdout, `${SPEC_HEX}\n`);
    const digest = credentialDigest('com.mgmtsrv.manage', 'srvSecret');
    const b = omadm([
      'notify',
      'build',
      ...SPEC,
      '--digest',
      digest,
      '--initiator',
      'client',
      '--nonce',
      'fallback',
    ]);
    assert.equal(b.stdout, `${SPEC_HEX}\n`);
  });

  test('--wsp and --sms forms; interactive, vendor data and server initiator', () => {
    const w = omadm(['notify', 'build', ...SPEC, '--secret', 'srvSecret', '--initiator', 'client', '--wsp']);
    assert.equal(w.stdout, `010603c4af87${SPEC_HEX}\n`);
    const s = omadm(['notify', 'build', ...SPEC, '--secret', 'srvSecret', '--initiator', 'client', '--sms']);
    assert.equal(s.stdout, `0605040b84c002010603c4af87${SPEC_HEX}\n`);
    const v = omadm([
      'notify',
      'build',
      ...SPEC,
      '--secret',
      'x',
      '--ui-mode',
      'interactive',
      '--vendor',
      'CAFE',
    ]);
    const p = parsePackage0(Buffer.from(v.stdout.trim(), 'hex'));
    assert.equal(p.uiMode, 'user-interaction');
    assert.equal(p.initiator, 'server');
    assert.deepEqual([...p.vendor], [0xca, 0xfe]);
    assert.equal(verifyPackage0(p, credentialDigest('com.mgmtsrv.manage', 'x'), new Uint8Array(4)), true);
  });

  test('bad input exits 2 with one line', () => {
    for (const bad of [
      [...SPEC, '--secret', 's', '--nonce', '!!'],
      [...SPEC, '--secret', 's', '--session', '12345'],
      [...SPEC, '--secret', 's', '--vendor', 'xyz'],
      [...SPEC],
      [...SPEC, '--secret', 's', '--digest', 'd'],
      [...SPEC, '--secret', 's', '--notification-version', '5000'],
    ]) {
      const r = omadm(['notify', 'build', ...bad]);
      assert.equal(r.code, 2, `${bad.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /^omadm: .+\n$/);
    }
    assert.equal(
      omadm(['notify', 'build', ...SPEC.slice(0, -2), '--secret', 's', '--ui-mode', 'loud']).code,
      64,
    );
  });
});

describe('omadm notify send', () => {
  test('udp: the datagram carries the WSP push with the same Package 0', async () => {
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

  test('missing bearer settings and bad targets exit 2; unreachable SMSC exits 69', () => {
    assert.equal(
      omadm(['notify', 'send', ...SPEC, '--secret', 's', '--bearer', 'smpp', '--to', '+1']).code,
      2,
    );
    assert.equal(
      omadm(['notify', 'send', ...SPEC, '--secret', 's', '--bearer', 'udp', '--to', 'a b']).code,
      2,
    );
    const r = omadm([
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
  });
});
