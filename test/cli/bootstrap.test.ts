/**
 * `omadm bootstrap`, run as the real command: the written bytes verify with the printed SEC/MAC,
 * the DM-profile message installs the account on a device tree (executor + Inbox TNDS), the CP
 * document maps back to the account; wrong key → refused.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { decodeWspPush, WspParam } from '../../src/binding/push/index.ts';
import { main } from '../../src/cli/main.ts';
import { accountCredentials, accountUrl, openStandardTree } from '../../src/mo/index.ts';
import {
  decodeCpWbxml,
  dmAccountsFromCp,
  parseBootstrapContentType,
  verifyBootstrap,
} from '../../src/protocol/bootstrap/index.ts';
import { decodeMessage } from '../../src/representation/index.ts';
import { TreeCommandExecutor } from '../../src/tree/exec.ts';
import { LOCAL } from '../../src/tree/index.ts';

const BIN = fileURLToPath(new URL('../../bin/omadm.js', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'omadm-bootstrap-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const omadm = (args: string[]) => {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};

/** Runs the command in this process (no child start-up cost); stderr captured. */
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

const IMSI = '262011234567890';
const ACCOUNT = [
  '--server-id',
  'acme-dms',
  '--addr',
  'https://dm.acme.example/dm',
  '--port',
  '443',
  '--name',
  'Acme DM',
  '--device',
  'IMEI:351234567890123',
  '--client-secret',
  'c1ientSecret',
  '--server-secret',
  'serv3rSecret',
  '--server-nonce',
  'bm9uY2UxMjM=',
];

describe('omadm bootstrap', () => {
  test('dm profile, NETWPIN: MAC verifies, and the message installs the account on a device tree', async () => {
    const out = join(tmp, 'dm.wbxml');
    const r = omadm([
      'bootstrap',
      '--profile',
      'dm',
      '--security',
      'netwpin',
      '--imsi',
      IMSI,
      ...ACCOUNT,
      '--out',
      out,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const ct = parseBootstrapContentType(r.stdout.replace(/^Content-Type: /, '').trim());
    assert.equal(ct.media, 'application/vnd.syncml.dm+wbxml');
    assert.equal(ct.sec, 'netwpin');
    // It carries the account's secrets: readable by its owner only.
    assert.equal(statSync(out).mode & 0o777, 0o600);
    const body = new Uint8Array(readFileSync(out));
    assert.equal(verifyBootstrap(body, { profile: 'dm', sec: ct.sec!, mac: ct.mac, imsi: IMSI }), true);
    assert.equal(
      verifyBootstrap(body, { profile: 'dm', sec: ct.sec!, mac: ct.mac, imsi: '262011234567891' }),
      false,
    );

    // device side: decode the WBXML message and run its Add through the tree executor
    const msg = decodeMessage(body, 'application/vnd.syncml.dm+wbxml');
    assert.equal(msg.SyncHdr.Target.LocURI, 'IMEI:351234567890123');
    const { tree, accounts, tnds } = await openStandardTree({
      devInfo: { devId: 'IMEI:351234567890123', man: 'Acme', mod: 'W', dmV: 'omadm/test', lang: 'en' },
      devDetail: { devTyp: 'phone', oem: 'Acme', fwV: '1', swV: '1', hwV: '1', lrgObj: true },
    });
    const exec = new TreeCommandExecutor(tree, { tnds });
    let id = 0;
    const result = await exec.execute(msg.SyncBody.commands[0]!, {
      principal: LOCAL,
      nextCmdId: () => String(++id),
    });
    assert.deepEqual(
      result.statuses.map((s) => s.Data),
      [200],
    );
    const acc = await accounts.find('acme-dms');
    assert.ok(acc);
    assert.equal(accountUrl(acc), 'https://dm.acme.example/dm');
    assert.deepEqual(
      acc.addresses.map((a) => a.ports),
      [[443]],
    );
    assert.equal(accountCredentials(acc, 'CLCRED')?.secret, 'c1ientSecret');
    assert.equal(accountCredentials(acc, 'CLCRED')?.name, 'IMEI:351234567890123');
    assert.equal(new TextDecoder().decode(accountCredentials(acc, 'SRVCRED')?.data), 'nonce123');
  });

  test('cp profile, USERNETWPIN, as a WAP push PDU: SEC/MAC parameters verify and the w7 account maps back', () => {
    const out = join(tmp, 'cp.push');
    const r = omadm([
      'bootstrap',
      '--profile',
      'cp',
      '--security',
      'usernetwpin',
      '--imsi',
      IMSI,
      '--pin',
      '1234',
      '--init',
      ...ACCOUNT,
      '--wsp',
      '--out',
      out,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /^Content-Type: application\/vnd\.wap\.connectivity-wbxml; SEC=USERNETWPIN; MAC=[0-9A-F]{40}\n$/,
    );
    const push = decodeWspPush(new Uint8Array(readFileSync(out)));
    assert.equal(push.contentType.code, 0x36);
    assert.equal(push.contentType.params.get(WspParam.Sec), 2);
    const mac = String(push.contentType.params.get(WspParam.Mac));
    assert.equal(verifyBootstrap(push.body, { profile: 'cp', sec: 2, mac, imsi: IMSI, pin: '1234' }), true);
    assert.equal(verifyBootstrap(push.body, { profile: 'cp', sec: 2, mac, imsi: IMSI, pin: '1235' }), false);
    const [acc] = dmAccountsFromCp(decodeCpWbxml(push.body));
    assert.equal(acc!.serverId, 'acme-dms');
    assert.equal(acc!.init, true);
    assert.deepEqual(acc!.addresses, [{ addr: 'https://dm.acme.example/dm', addrType: 'URI', ports: [443] }]);
  });

  test('cp USERPINMAC prints what the user types; bad input exits 2', async () => {
    const r = omadm([
      'bootstrap',
      '--profile',
      'cp',
      '--security',
      'userpinmac',
      '--pin',
      '13579',
      ...ACCOUNT,
      '--out',
      join(tmp, 'x'),
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /User enters: 13579\d{5}\n$/);
    const typed = /User enters: (\d+)/.exec(r.stdout)![1]!;
    assert.equal(
      verifyBootstrap(new Uint8Array(readFileSync(join(tmp, 'x'))), {
        profile: 'cp',
        sec: 'userpinmac',
        userInput: typed,
      }),
      true,
    );
    for (const bad of [
      ['--profile', 'dm', '--security', 'userpinmac', '--pin', '13579'],
      ['--profile', 'dm', '--security', 'netwpin'],
      ['--profile', 'cp', '--security', 'userpin'],
      ['--profile', 'cp', '--security', 'netwpin', '--imsi', '12x'],
      ['--profile', 'cp', '--security', 'netwpin', '--imsi', IMSI, '--port', '0'],
    ]) {
      const b = await run(['bootstrap', ...ACCOUNT, ...bad, '--out', join(tmp, 'y')]);
      assert.equal(b.code, 2, `${bad.join(' ')}: ${b.stderr}`);
    }
  });
});
