/**
 * Bootstrap end to end (issue 7, objects.md §7): the operator's `omadm bootstrap` makes the
 * protected body; a fresh device (openStandardTree) verifies it with its PIN/IMSI and installs the
 * DMAcc; the device's FIRST session — built from nothing but the installed account — runs against
 * the server engine behind the HTTP binding on 127.0.0.1 and is authenticated both ways.
 * Every profile × security. Tampered bodies, wrong MACs, wrong PINs/IMSIs, downgraded SEC,
 * unprotected bodies and half-failing DM messages are refused with the tree left exactly as it was.
 * Also: a bootstrap delivered as a WAP push over UDP, and the smart card directory.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { HttpTransport } from '../../src/binding/http/index.ts';
import { bootstrapFromPush, listenUdpPush, UdpBearer, type WspPush } from '../../src/binding/push/index.ts';
import { type BootstrapInput, installBootstrap } from '../../src/client/bootstrap.ts';
import { AAuthLevel, ownAcl } from '../../src/mo/index.ts';
import { DirectorySmartCardSource, signBootstrap } from '../../src/protocol/bootstrap/index.ts';
import { syncmlCodec } from '../../src/protocol/index.ts';
import { AlertCode, encodeWbxmlMessage } from '../../src/representation/index.ts';
import { getCmd } from '../protocol/helpers.ts';
import { type Device, omadmBootstrap, openDevice, provision } from './device-harness.ts';
import { type MemoryDmServer, startMemoryDmServer } from './http-harness.ts';

const PIN = '24680135';
const IMSI = '262011234567890';
const SERVER_ID = 'omadm';

const transport = new HttpTransport({ retries: 0, timeoutMs: 10_000 });
let dir: string;
let srv: MemoryDmServer;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'omadm-bootstrap-e2e-'));
  srv = await startMemoryDmServer();
});
after(async () => {
  transport.close();
  await srv.http.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Provisions the device on the server and returns the `omadm bootstrap` account options. */

/**
 * The first session: the server queued a Get of the device's own DMAcc ServerID (which only the
 * bootstrapped server may read) and of DevInfo/DevId; both must be answered.
 */
async function firstSession(side: MemoryDmServer, device: Device, serverId = SERVER_ID): Promise<void> {
  const acc = await device.accounts.find(serverId);
  assert.ok(acc?.id, 'account installed');
  const own = side.queue.enqueue(device.devId, getCmd(`./DMAcc/${acc.id}/ServerID`));
  const devId = side.queue.enqueue(device.devId, getCmd('./DevInfo/DevId'));
  const before = side.queue.sessions.length;
  const r = await device.session(serverId, transport);
  assert.equal(r.outcome, 'completed');
  assert.equal(r.serverAuthenticated, true, 'the device authenticated the server with SRVCRED');
  const text = (id: string) => {
    const o = side.queue.records.get(id)?.outcome;
    assert.equal(o?.status, 200, JSON.stringify(o));
    const d = o?.results?.[0]?.Data;
    return d?.kind === 'text' ? d.text : undefined;
  };
  assert.equal(text(own), serverId);
  assert.equal(text(devId), device.devId);
  const seen = side.queue.sessions.slice(before);
  assert.equal(seen.length, 1);
  assert.equal(seen[0]?.ref.deviceId, device.devId);
  assert.equal(seen[0]?.ref.initiator, AlertCode.ClientInitiatedMgmt);
  assert.equal(seen[0]?.outcome, 'completed');
  // The nonces of the session were written back into the bootstrapped account.
  const after = await device.accounts.find(serverId);
  assert.ok(after?.auth.find((a) => a.level === AAuthLevel.Client)?.data?.byteLength);
}

/** Installs; on refusal asserts the stable error code and that the tree did not change at all. */
async function refused(device: Device, input: BootstrapInput, why: string): Promise<void> {
  const pristine = device.state();
  await assert.rejects(
    installBootstrap(device.tree, device.accounts, device.tnds, input),
    { code: 'OMADM_ERR_CLIENT_BOOTSTRAP' },
    why,
  );
  assert.deepEqual(device.state(), pristine, `${why}: tree unchanged`);
  assert.deepEqual(await device.accounts.list(), [], `${why}: no account`);
}

const flipMac = (ct: string) =>
  ct.replace(/MAC=([0-9A-F])/, (_m, c: string) => `MAC=${c === '0' ? '1' : '0'}`);

type Security = 'netwpin' | 'userpin' | 'usernetwpin' | 'userpinmac';
const CASES: readonly (readonly ['dm' | 'cp', Security])[] = [
  ['dm', 'netwpin'],
  ['dm', 'userpin'],
  ['dm', 'usernetwpin'],
  ['cp', 'netwpin'],
  ['cp', 'userpin'],
  ['cp', 'usernetwpin'],
  ['cp', 'userpinmac'],
];

describe('bootstrap → install → first session', () => {
  for (const [profile, security] of CASES) {
    test(`${profile} / ${security}`, async (t) => {
      const devId = `IMEI:35000000000${CASES.findIndex(([p, s]) => p === profile && s === security)}`;
      const usesPin = security !== 'netwpin';
      const usesImsi = security === 'netwpin' || security === 'usernetwpin';
      const keys = [...(usesPin ? ['--pin', PIN] : []), ...(usesImsi ? ['--imsi', IMSI] : [])];
      const made = await omadmBootstrap(dir, `${profile}-${security}`, [
        '--profile',
        profile,
        '--security',
        security,
        ...keys,
        ...provision(srv, devId),
      ]);
      assert.equal(made.exit, 0, made.stderr);
      const { bytes: body, contentType } = made;
      const media =
        profile === 'dm' ? 'application/vnd.syncml.dm+wbxml' : 'application/vnd.wap.connectivity-wbxml';
      assert.ok(contentType.startsWith(media), contentType);
      if (security === 'userpinmac') {
        assert.doesNotMatch(contentType, /MAC=/);
        assert.match(made.userEnters ?? '', new RegExp(`^${PIN}\\d+$`));
      } else {
        assert.match(contentType, /MAC=[0-9A-F]{40}/);
      }

      const device = await openDevice(devId);
      t.after(() => device.close());
      const material = {
        ...(usesPin && security !== 'userpinmac' ? { pin: PIN } : {}),
        ...(usesImsi ? { imsi: IMSI } : {}),
        ...(security === 'userpinmac' ? { userInput: made.userEnters } : {}),
      };
      const good: BootstrapInput = { body, contentType, ...material };

      // Refused, and nothing installed.
      for (const at of [0, body.length >> 1, body.length - 2]) {
        const tampered = new Uint8Array(body);
        tampered[at]! ^= 0x01;
        await refused(device, { ...good, body: tampered }, `byte ${at} flipped`);
      }
      await refused(device, { ...good, body: body.subarray(0, body.length - 1) }, 'truncated');
      if (security === 'userpinmac') {
        const typed = made.userEnters!;
        const last = typed.at(-1)!;
        await refused(
          device,
          { ...good, userInput: `${typed.slice(0, -1)}${last === '0' ? 1 : 0}` },
          'wrong MAC digit',
        );
        await refused(device, { ...good, userInput: `13579${typed.slice(PIN.length)}` }, 'wrong PIN');
        await refused(device, { ...good, userInput: PIN }, 'PIN without the MAC digits');
      } else {
        await refused(device, { ...good, contentType: flipMac(contentType) }, 'wrong MAC');
        if (usesPin) await refused(device, { ...good, pin: '13579' }, 'wrong PIN');
        if (usesImsi) await refused(device, { ...good, imsi: '262019999999999' }, 'wrong IMSI');
        if (usesPin) {
          const { pin: _p, ...noPin } = good;
          await refused(device, noPin, 'PIN missing');
        }
        if (usesImsi) {
          const { imsi: _i, ...noImsi } = good;
          await refused(device, noImsi, 'IMSI missing');
        }
        // Downgrade: the same MAC presented under a weaker SEC.
        if (security !== 'userpin') {
          await refused(
            device,
            { ...good, contentType: contentType.replace(/SEC=[A-Z_]+/, 'SEC=USERPIN'), pin: PIN },
            'SEC downgraded to USERPIN',
          );
        }
      }
      await refused(device, { body, profile }, 'no SEC at all (unprotected)');
      await refused(device, { body, contentType: media, ...material }, 'content type without SEC/MAC');

      const r = await installBootstrap(device.tree, device.accounts, device.tnds, good);
      assert.equal(r.profile, profile);
      assert.deepEqual(r.servers, [SERVER_ID]);
      const acc = await device.accounts.find(SERVER_ID);
      assert.ok(acc?.id);
      assert.equal(acc.addresses[0]?.addr, srv.http.url);
      const cl = acc.auth.find((a) => a.level === AAuthLevel.Client);
      assert.equal(cl?.name, devId);
      assert.equal(cl?.secret, `cli-${devId}`);
      assert.equal(acc.auth.find((a) => a.level === AAuthLevel.Server)?.secret, `srv-${devId}`);
      if (profile === 'dm') {
        // Placed by the Inbox under ./DMAcc with an ACL for that server only.
        const acl = await device.tree.get(`./DMAcc/${acc.id}?prop=ACL`);
        assert.equal(acl.items[0]?.data, ownAcl(SERVER_ID));
      }
      await firstSession(srv, device);
    });
  }

  test('dm / userpinmac is refused by omadm bootstrap (the DM profile has no USERPINMAC)', async () => {
    const made = await omadmBootstrap(dir, 'dm-userpinmac', [
      '--profile',
      'dm',
      '--security',
      'userpinmac',
      '--pin',
      PIN,
      ...provision(srv, 'IMEI:359999999999999'),
    ]);
    assert.equal(made.exit, 2);
  });

  test('a signed DM bootstrap whose second command fails installs nothing (all or nothing)', async (t) => {
    const devId = 'IMEI:351111111111111';
    const made = await omadmBootstrap(dir, 'dm-partial', [
      '--profile',
      'dm',
      '--security',
      'userpin',
      '--pin',
      PIN,
      ...provision(srv, devId),
    ]);
    const msg = syncmlCodec.decode(made.bytes, 'wbxml');
    const device = await openDevice(devId);
    t.after(() => device.close());
    const resign = async (commands: typeof msg.SyncBody.commands, why: string) => {
      const body = encodeWbxmlMessage({ ...msg, SyncBody: { ...msg.SyncBody, commands } });
      const signed = signBootstrap(body, { profile: 'dm', sec: 'userpin', pin: PIN });
      await refused(device, { body, contentType: signed.contentType, pin: PIN }, why);
    };
    const add = msg.SyncBody.commands[0]!;
    assert.equal(add.type, 'Add');
    await resign(
      [
        add,
        {
          type: 'Replace',
          CmdID: '2',
          Item: [{ Target: { LocURI: './NoSuchNode/Leaf' }, Data: { kind: 'text', text: 'x' } }],
        },
      ],
      'Add then a failing Replace',
    );
    await resign(
      [add, { type: 'Delete', CmdID: '2', Item: [{ Target: { LocURI: './DevInfo/Lang' } }] }],
      'Add then a Delete (not allowed in a bootstrap)',
    );
    await resign([], 'no command: installs no account');
  });

  test('over the air: WAP push over UDP (WDP) — `omadm bootstrap --wsp` sent by a program, `--send udp` by the CLI — taken from the push, first session', async (t) => {
    const pushed: WspPush[] = [];
    let wake: (() => void) | undefined;
    const listener = await listenUdpPush({
      host: '127.0.0.1',
      port: 0,
      onPackage0: () => assert.fail('a bootstrap is not Package 0'),
      onPush: (p) => {
        pushed.push(p);
        wake?.();
      },
    });
    const bearer = new UdpBearer();
    t.after(async () => {
      await bearer.close();
      await listener.close();
    });
    for (const profile of ['cp', 'dm'] as const) {
      const devId = profile === 'cp' ? 'IMEI:352222222222221' : 'IMEI:352222222222222';
      const device = await openDevice(devId);
      t.after(() => device.close());
      const arrived = new Promise<void>((r) => {
        wake = r;
      });
      // CP: the operator writes the push PDU (--wsp) and a program sends it (UdpBearer.sendPush);
      // DM: `omadm bootstrap --send udp --to …` pushes it itself.
      const to = `127.0.0.1:${listener.port}`;
      const made = await omadmBootstrap(dir, `wsp-${profile}`, [
        '--profile',
        profile,
        '--security',
        'usernetwpin',
        '--pin',
        PIN,
        '--imsi',
        IMSI,
        ...(profile === 'cp' ? ['--wsp'] : ['--send', 'udp', '--to', to]),
        ...provision(srv, devId),
      ]);
      assert.equal(made.exit, 0, made.stderr);
      if (profile === 'cp') {
        const sent = await bearer.sendPush(to, made.bytes);
        assert.equal(sent.accepted, true);
      } else {
        assert.match(made.stdout, new RegExp(`^sent udp ${to} parts=1$`, 'm'));
      }
      await arrived;
      const got = bootstrapFromPush(pushed.shift()!);
      assert.ok(got);
      assert.equal(got.profile, profile);
      assert.equal(got.sec, 2, 'SEC as the CP integer (USERNETWPIN)');
      assert.match(got.mac ?? '', /^[0-9A-F]{40}$/);
      const input = {
        body: got.body,
        profile: got.profile,
        sec: got.sec,
        mac: got.mac!,
        pin: PIN,
        imsi: IMSI,
      };
      await refused(device, { ...input, imsi: '262019999999999' }, 'pushed, wrong IMSI');
      await refused(device, { ...input, pin: '13579' }, 'pushed, wrong PIN');
      await refused(device, { ...input, mac: flipMac(`MAC=${got.mac}`).slice(4) }, 'pushed, wrong MAC');
      const { sec: _s, ...noSec } = input;
      await refused(device, noSec, 'pushed without SEC');
      const r = await installBootstrap(device.tree, device.accounts, device.tnds, input);
      assert.deepEqual(r.servers, [SERVER_ID]);
      await firstSession(srv, device);
    }
  });

  for (const [first, second] of [
    ['dm', 'dm'],
    ['cp', 'cp'],
    ['cp', 'dm'],
    ['dm', 'cp'],
  ] as const) {
    test(`re-bootstrapping (${first} then ${second}) a server the device has replaces its account: one DMAcc per ServerID, new credentials`, async (t) => {
      const devId = `IMEI:35222222222${first === 'dm' ? 2 : 3}${second === 'dm' ? 2 : 3}2`;
      const device = await openDevice(devId);
      t.after(() => device.close());
      let id: string | undefined;
      for (const [n, profile] of [first, second].entries()) {
        const made = await omadmBootstrap(dir, `again-${first}-${second}-${n}`, [
          '--profile',
          profile,
          '--security',
          'userpin',
          '--pin',
          PIN,
          // The second bootstrap rotates the secrets: the session below only authenticates
          // (both ways) when the new account really replaced the old one.
          ...provision(srv, devId, SERVER_ID, `-g${n}`),
        ]);
        const r = await installBootstrap(device.tree, device.accounts, device.tnds, {
          body: made.bytes,
          contentType: made.contentType,
          pin: PIN,
        });
        assert.deepEqual(r.servers, [SERVER_ID]);
        const accounts = await device.accounts.list();
        assert.deepEqual(
          accounts.map((a) => a.serverId),
          [SERVER_ID],
          `after bootstrap ${n + 1}: ${JSON.stringify(await device.accounts.ids())}`,
        );
        // The account keeps its node: what refers to ./DMAcc/<x> still finds it.
        id ??= accounts[0]?.id;
        assert.equal(accounts[0]?.id, id);
        assert.equal(
          accounts[0]?.auth.find((a) => a.level === AAuthLevel.Client)?.secret,
          `cli-${devId}-g${n}`,
        );
      }
      await firstSession(srv, device);
    });
  }
});

describe('smart card (DM-3)', () => {
  test('a card directory read at first start installs both accounts; the first sessions succeed', async (t) => {
    const devId = 'IMEI:353333333333333';
    const other = await startMemoryDmServer();
    const device = await openDevice(devId);
    t.after(async () => {
      await device.close();
      await other.http.close();
    });
    const dm = await omadmBootstrap(dir, 'card-dm', [
      '--profile',
      'dm',
      '--security',
      'userpin',
      '--pin',
      PIN,
      ...provision(srv, devId),
    ]);
    const cp = await omadmBootstrap(dir, 'card-cp', [
      '--profile',
      'cp',
      '--security',
      'netwpin',
      '--imsi',
      IMSI,
      ...provision(other, devId, 'operator-b'),
    ]);
    const card = join(dir, 'card');
    mkdirSync(card);
    writeFileSync(join(card, 'card-id'), '8949000000000000001\n');
    writeFileSync(join(card, 'cp-1.wbxml'), cp.bytes);
    writeFileSync(join(card, 'dm-1.wbxml'), dm.bytes);
    writeFileSync(join(card, 'README'), 'ignored');

    assert.equal(await new DirectorySmartCardSource(join(dir, 'no-card')).read(), undefined, 'no card');
    const contents = await new DirectorySmartCardSource(card).read();
    assert.ok(contents);
    assert.equal(contents.cardId, '8949000000000000001');
    assert.deepEqual(
      contents.documents.map((d) => d.profile),
      ['dm', 'cp'],
      'DM documents first, then CP',
    );
    // The card is a trusted channel: no MAC to check (the PIN/IMSI are not even known here).
    for (const d of contents.documents) {
      await installBootstrap(device.tree, device.accounts, device.tnds, {
        body: d.bytes,
        profile: d.profile,
        trusted: true,
      });
    }
    assert.deepEqual((await device.accounts.list()).map((a) => a.serverId).sort(), ['omadm', 'operator-b']);
    await firstSession(srv, device, 'omadm');
    await firstSession(other, device, 'operator-b');
  });

  test('a corrupt card document installs nothing', async (t) => {
    const device = await openDevice('IMEI:354444444444444');
    t.after(() => device.close());
    const card = join(dir, 'bad-card');
    mkdirSync(card);
    writeFileSync(join(card, 'dm-1.wbxml'), new Uint8Array([0x02, 0x00, 0x00, 0x6a, 0xff, 0x01]));
    const contents = await new DirectorySmartCardSource(card).read();
    const doc = contents?.documents[0];
    assert.ok(doc);
    await refused(device, { body: doc.bytes, profile: doc.profile, trusted: true }, 'corrupt card document');
  });
});
