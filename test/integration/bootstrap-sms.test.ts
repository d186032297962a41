/**
 * Over-the-air bootstrap by WAP Push over SMS (objects.md §7.1 server-initiated bootstrap):
 * `omadm bootstrap … --send smpp` submits the protected bootstrap to an independently written SMSC
 * (test/fixtures/smsc.pl, Debian's libnet-smpp-perl) as concatenated 8-bit SMS to port 2948. The
 * handset reassembles the short messages, decodes the WSP push, takes profile/SEC/MAC from it,
 * verifies with its PIN/IMSI, installs the account in a fresh standard tree and opens its first
 * session against the server engine over HTTP. A wrong PIN installs nothing.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { HttpTransport } from '../../src/binding/http/index.ts';
import {
  bootstrapFromPush,
  decodeWspPush,
  SmsReassembler,
  WAP_PUSH_PORT,
} from '../../src/binding/push/index.ts';
import { installBootstrap } from '../../src/client/bootstrap.ts';
import { Smsc, type SmscEvent } from '../binding/push-smsc.ts';
import { getCmd } from '../protocol/helpers.ts';
import { omadmBootstrap, openDevice, provision } from './device-harness.ts';
import { type MemoryDmServer, startMemoryDmServer } from './http-harness.ts';

const MSISDN = '+491709876543';
const IMSI = '262017654321098';
const PIN = '80808080';

let srv: MemoryDmServer;
const transport = new HttpTransport({ retries: 0, timeoutMs: 10_000 });
const smsc = new Smsc('omadm-bs', 'pw-bs');
let dir: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'omadm-bootstrap-sms-'));
  await smsc.start();
  srv = await startMemoryDmServer();
});
after(async () => {
  await smsc.stop();
  transport.close();
  await srv?.http.close();
  rmSync(dir, { recursive: true, force: true });
});

for (const profile of ['dm', 'cp'] as const) {
  test(`${profile} profile (USERNETWPIN) over SMS → reassembled → verified → installed → first session`, async (t) => {
    const devId = profile === 'dm' ? 'IMEI:357000000000001' : 'IMEI:357000000000002';
    const from = smsc.events.length;
    const made = await omadmBootstrap(dir, `sms-${profile}`, [
      '--profile',
      profile,
      '--security',
      'usernetwpin',
      '--pin',
      PIN,
      '--imsi',
      IMSI,
      ...provision(srv, devId),
      '--send',
      'smpp',
      '--to',
      MSISDN,
      '--smsc',
      `127.0.0.1:${smsc.port}`,
      '--system-id',
      'omadm-bs',
      '--password',
      'pw-bs',
      '--source-addr',
      '+4930999',
    ]);
    assert.equal(made.exit, 0, made.stderr);
    const m = /^sent sms-smpp \S+ parts=(\d+) ids=(\S+)$/m.exec(made.stdout);
    assert.ok(m, made.stdout);
    const ids = m[2]!.split(',');
    assert.equal(ids.length, Number(m[1]));
    if (profile === 'dm') assert.ok(ids.length > 1, 'a DM bootstrap with its TNDS needs several SMS');

    // The handset: segments in reverse order.
    const segments: SmscEvent[] = [];
    for (const id of ids) segments.push(await smsc.next((e) => e.event === 'segment' && e.id === id, from));
    const reassembler = new SmsReassembler();
    let done: ReturnType<SmsReassembler['push']>;
    for (const s of segments.reverse())
      done = reassembler.push(String(s.source), Buffer.from(String(s.ud), 'hex'));
    assert.ok(done);
    assert.equal(done.ports?.destination, WAP_PUSH_PORT);
    const got = bootstrapFromPush(decodeWspPush(done.payload));
    assert.ok(got);
    assert.equal(got.profile, profile);

    const device = await openDevice(devId);
    t.after(() => device.close());
    const input = { body: got.body, profile: got.profile, sec: got.sec!, mac: got.mac!, imsi: IMSI };
    const pristine = device.state();
    await assert.rejects(
      installBootstrap(device.tree, device.accounts, device.tnds, { ...input, pin: '11111' }),
      {
        code: 'OMADM_ERR_CLIENT_BOOTSTRAP',
      },
    );
    assert.deepEqual(device.state(), pristine, 'wrong PIN: nothing installed');
    const r = await installBootstrap(device.tree, device.accounts, device.tnds, { ...input, pin: PIN });
    assert.deepEqual(r.servers, ['omadm']);

    const get = srv.queue.enqueue(devId, getCmd('./DevInfo/DevId'));
    const s = await device.session('omadm', transport);
    assert.equal(s.outcome, 'completed');
    assert.equal(s.serverAuthenticated, true);
    const out = srv.queue.records.get(get)?.outcome;
    assert.equal(out?.status, 200);
    assert.equal(out?.results?.[0]?.Data?.kind === 'text' && out.results[0].Data.text, devId);
  });
}

test('--send smpp to a number the SMSC refuses exits 1', async () => {
  const made = await omadmBootstrap(dir, 'sms-refused', [
    '--profile',
    'cp',
    '--security',
    'userpin',
    '--pin',
    PIN,
    '--server-id',
    'omadm',
    '--addr',
    srv.http.url,
    '--send',
    'smpp',
    '--to',
    '999',
    '--smsc',
    `127.0.0.1:${smsc.port}`,
    '--system-id',
    'omadm-bs',
    '--password',
    'pw-bs',
  ]);
  assert.equal(made.exit, 1, made.stderr);
  assert.match(made.stdout, /^refused sms-smpp 999 .*status=/m);
});
