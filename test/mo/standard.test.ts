import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  AAuthLevel,
  accountCredentials,
  accountFromLeaves,
  accountSubtree,
  accountUrl,
  type DmAccount,
  hostDevDetail,
  hostDevInfo,
  MoId,
  openStandardTree,
  STANDARD_DDF_FILES,
  standardDdfText,
} from '../../src/mo/index.ts';
import { parseDdf, serializeDdf } from '../../src/tree/ddf/index.ts';
import { MemoryTreeStore, serverPrincipal, type TreeStore } from '../../src/tree/index.ts';
import { JournalTreeStore } from '../../src/tree/store/journal.ts';
import { decodeMessage, encodeMessage } from '../../src/representation/index.ts';
import { TreeCommandExecutor } from '../../src/tree/exec.ts';
import { LOCAL, type Principal } from '../../src/tree/index.ts';
import { tndsToXml } from '../../src/tree/tnds/index.ts';
import { addTnds, parseTnds, subtreeToTnds, tndsToSubtrees, tndsToWbxml } from '../../src/tree/tnds/index.ts';

const devInfo = {
  devId: 'IMEI:351234567890123',
  man: 'Acme',
  mod: 'Widget 3',
  dmV: 'omadm/test',
  lang: 'en-US',
};
const devDetail = { devTyp: 'phone', oem: 'Acme OEM', fwV: 'fw1', swV: 'sw2', hwV: 'hw3', lrgObj: true };

const A = serverPrincipal('alpha-dms');
const B = serverPrincipal('beta-dms');

const alpha: DmAccount = {
  serverId: 'alpha-dms',
  name: 'Alpha',
  addresses: [{ addr: 'https://alpha.example/dm', ports: [8443] }],
  authPref: 'DIGEST',
  auth: [
    {
      level: 'CLCRED',
      type: 'DIGEST',
      name: 'IMEI:351234567890123',
      secret: 'cl1ent',
      data: new Uint8Array([1, 2, 3]),
    },
    {
      level: 'SRVCRED',
      type: 'DIGEST',
      name: 'alpha-dms',
      secret: 'srv-alpha',
      data: new Uint8Array([0, 255]),
    },
  ],
};
const beta: DmAccount = {
  serverId: 'beta-dms',
  addresses: [{ addr: 'https://beta.example/dm' }],
  auth: [{ level: 'CLCRED', type: 'BASIC', name: 'dev', secret: 'b3ta-secret' }],
};

async function open(store: TreeStore = new MemoryTreeStore()) {
  return openStandardTree({ devInfo, devDetail, tree: { store } });
}

describe('shipped DDFs', () => {
  for (const file of STANDARD_DDF_FILES) {
    test(`${file} parses and round-trips`, () => {
      const ddf = parseDdf(standardDdfText(file));
      assert.deepEqual(parseDdf(serializeDdf(ddf)), ddf);
    });
  }
});

describe('DevInfo and DevDetail', () => {
  test('values from the app are readable by any server, not writable', async () => {
    const { tree } = await open();
    for (const [leaf, value] of Object.entries({
      DevId: devInfo.devId,
      Man: 'Acme',
      Mod: 'Widget 3',
      DmV: 'omadm/test',
      Lang: 'en-US',
    })) {
      const got = await tree.get(`./DevInfo/${leaf}`, A);
      assert.equal(got.status, 200);
      assert.equal(got.items[0]!.data, value);
    }
    assert.equal((await tree.get('./DevInfo?prop=Type', A)).items[0]!.data, MoId.DevInfo);
    assert.equal(await tree.replace('./DevInfo/Man', { data: 'Evil' }, A), 405);
    assert.equal(await tree.delete('./DevInfo', A), 405);
    assert.equal(await tree.add('./DevInfo/Foo', { data: 'x' }, A), 405);
  });

  test('DevDetail publishes the tree URI limits and LrgObj as bool', async () => {
    const { tree } = await open();
    assert.equal(
      (await tree.get('./DevDetail/URI/MaxDepth', A)).items[0]!.data,
      String(tree.limits.maxDepth),
    );
    assert.equal(
      (await tree.get('./DevDetail/URI/MaxTotLen', A)).items[0]!.data,
      String(tree.limits.maxTotLen),
    );
    assert.equal(
      (await tree.get('./DevDetail/URI/MaxSegLen', A)).items[0]!.data,
      String(tree.limits.maxSegLen),
    );
    const lrg = await tree.get('./DevDetail/LrgObj', A);
    assert.deepEqual(lrg.items[0], {
      uri: './DevDetail/LrgObj',
      format: 'bool',
      type: 'text/plain',
      data: 'true',
    });
    assert.equal((await tree.get('./DevDetail/FwV', A)).items[0]!.data, 'fw1');
  });

  test('host values are filled in', () => {
    const info = hostDevInfo();
    assert.ok(info.devId.length > 0 && info.dmV.startsWith('omadm/'));
    assert.equal(hostDevInfo({ devId: 'IMEI:1' }).devId, 'IMEI:1');
    assert.equal(hostDevDetail().lrgObj, true);
  });
});

describe('DMAcc', () => {
  test('accounts round-trip as plain objects, secrets and nonces included (device side)', async () => {
    const { accounts } = await open();
    const a = await accounts.put(alpha);
    assert.equal(a.id, 'alpha-dms');
    assert.equal(a.serverId, 'alpha-dms');
    assert.equal(accountUrl(a), 'https://alpha.example:8443/dm');
    assert.equal(accountCredentials(a, AAuthLevel.Client)?.secret, 'cl1ent');
    assert.deepEqual(accountCredentials(a, AAuthLevel.Server)?.data, new Uint8Array([0, 255]));
    await accounts.put(beta);
    assert.deepEqual((await accounts.list()).map((x) => x.serverId).sort(), ['alpha-dms', 'beta-dms']);
    assert.equal((await accounts.find('beta-dms'))?.auth[0]?.secret, 'b3ta-secret');
    assert.equal(await accounts.find('nobody'), undefined);
  });

  test('nonces are updated in place', async () => {
    const { accounts } = await open();
    await accounts.put(alpha);
    assert.equal(await accounts.setNonce('alpha-dms', AAuthLevel.Client, new Uint8Array([9, 9, 9, 9])), true);
    const a = await accounts.find('alpha-dms');
    assert.deepEqual(accountCredentials(a!, AAuthLevel.Client)?.data, new Uint8Array([9, 9, 9, 9]));
    assert.equal(await accounts.setNonce('beta-dms', AAuthLevel.Client, new Uint8Array([1])), false);
  });

  test('secrets are never returned to a server: Get, ?prop=Size, ?list=StructData, ?list=TNDS', async () => {
    const { tree, accounts } = await open();
    await accounts.put(alpha);
    const base = './DMAcc/alpha-dms/AppAuth/1';
    assert.equal((await tree.get(`${base}/AAuthName`, A)).items[0]!.data, 'IMEI:351234567890123');
    assert.equal((await tree.get(`${base}/AAuthSecret`, A)).status, 405);
    assert.equal((await tree.get(`${base}/AAuthData`, A)).status, 405);
    assert.equal((await tree.get(`${base}/AAuthSecret?prop=Size`, A)).status, 405);
    const struct = await tree.get('./DMAcc/alpha-dms?list=StructData', A);
    assert.equal(struct.status, 200);
    const all = JSON.stringify(struct.items.map((i) => [i.uri, typeof i.data === 'string' ? i.data : '']));
    assert.doesNotMatch(all, /cl1ent|srv-alpha|AAuthSecret|AAuthData/);
    const tnds = await tree.get('./DMAcc/alpha-dms?list=TNDS+Value', A);
    assert.equal(tnds.status, 200);
    assert.doesNotMatch(tnds.items[0]!.data as string, /cl1ent|srv-alpha|AAuthSecret|AAuthData/);
    assert.equal(
      await tree.copy('./DMAcc/alpha-dms/Name', `${base}/AAuthSecret`, A),
      405,
      'no Copy out of a secret',
    );
    assert.equal((await tree.get('./DMAcc/alpha-dms/Name', A)).items[0]!.data, 'Alpha');
    // The server may set its own secrets (AccessType Replace) without reading them.
    assert.equal(await tree.replace(`${base}/AAuthSecret`, { data: 'rotated' }, A), 200);
    assert.equal(accountCredentials((await accounts.find('alpha-dms'))!, 'CLCRED')?.secret, 'rotated');
  });

  test('two accounts are invisible to each other', async () => {
    const { tree, accounts } = await open();
    await accounts.put(alpha);
    await accounts.put(beta);
    assert.equal((await tree.get('./DMAcc/alpha-dms/ServerID', A)).items[0]!.data, 'alpha-dms');
    assert.equal((await tree.get('./DMAcc/beta-dms/ServerID', A)).status, 425);
    assert.equal((await tree.get('./DMAcc/alpha-dms/ServerID', B)).status, 425);
    assert.equal((await tree.get('./DMAcc/beta-dms?list=Struct', A)).status, 425);
    assert.equal((await tree.get('./DMAcc', A)).status, 425, 'no listing of account names');
    assert.equal(await tree.replace('./DMAcc/beta-dms/AppAddr/1/Addr', { data: 'https://evil' }, A), 425);
    assert.equal(await tree.delete('./DMAcc/beta-dms', A), 425);
    assert.equal(await tree.replace('./DMAcc/beta-dms?prop=ACL', { data: 'Get=alpha-dms' }, A), 425);
    assert.equal(await tree.replace('./DMAcc?prop=ACL', { data: 'Get=*' }, A), 425);
    assert.equal((await accounts.find('beta-dms'))?.addresses[0]?.addr, 'https://beta.example/dm');
  });

  test('server writes to its account are checked against the DMAcc DDF', async () => {
    const { tree, accounts } = await open();
    await accounts.put(alpha);
    assert.equal(await tree.replace('./DMAcc/alpha-dms/Name', { data: 'Alpha 2' }, A), 200);
    assert.equal(await tree.add('./DMAcc/alpha-dms/Colour', { data: 'red' }, A), 405);
    assert.equal(await tree.add('./DMAcc/alpha-dms/Ext/Vendor/Key', { data: 'free-form' }, A), 200);
    assert.equal(
      await tree.replace('./DMAcc/alpha-dms/AppAuth/1/AAuthData', { format: 'int', data: '1' }, A),
      415,
    );
    assert.equal((await accounts.find('alpha-dms'))?.name, 'Alpha 2');
    // put() keeps what the server stored under Ext.
    await accounts.put({ ...alpha, name: 'Alpha 3' });
    assert.equal((await tree.get('./DMAcc/alpha-dms/Ext/Vendor/Key', A)).items[0]!.data, 'free-form');
  });

  test('remove() deletes the account and strips the ServerID from ACLs', async () => {
    const { tree, accounts } = await open();
    await accounts.put(alpha);
    await accounts.put(beta);
    await tree.replace('./DevDetail?prop=ACL', { data: 'Get=alpha-dms+beta-dms' });
    assert.equal(await accounts.remove('alpha-dms'), true);
    assert.equal(await accounts.find('alpha-dms'), undefined);
    assert.equal((await tree.get('./DevDetail?prop=ACL')).items[0]!.data, 'Get=beta-dms');
    assert.equal(await accounts.remove('alpha-dms'), false);
  });

  test('accounts survive a restart (journal store); installing again keeps them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'omadm-mo-'));
    try {
      const first = await open(new JournalTreeStore({ dir, fsync: false }));
      await first.accounts.put(alpha);
      await first.tree.close();
      const second = await open(new JournalTreeStore({ dir, fsync: false }));
      const a = await second.accounts.find('alpha-dms');
      assert.equal(accountCredentials(a!, 'SRVCRED')?.secret, 'srv-alpha');
      assert.deepEqual(accountCredentials(a!, 'SRVCRED')?.data, new Uint8Array([0, 255]));
      assert.equal((await second.tree.get('./DevInfo/DevId', A)).items[0]!.data, devInfo.devId);
      assert.equal((await second.tree.get('./DMAcc/alpha-dms/AppAuth/1/AAuthSecret', A)).status, 405);
      await second.tree.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const idArb = fc.stringMatching(/^[a-z][a-z0-9.-]{0,15}$/);
  const textArb = fc.string({ minLength: 1, maxLength: 12 }).filter((s) => !/[\0-\x1f\ud800-\udfff]/.test(s));
  const accountArb: fc.Arbitrary<DmAccount> = fc.record(
    {
      serverId: idArb,
      name: textArb,
      prefConRef: textArb,
      toConRefs: fc.array(textArb, { minLength: 1, maxLength: 2 }),
      addresses: fc.array(
        fc.record({
          addr: textArb,
          addrType: fc.constantFrom('URI', 'IPv4'),
          ports: fc.array(fc.integer({ min: 0, max: 65535 }), { minLength: 1, maxLength: 2 }),
        }),
        { minLength: 1, maxLength: 2 },
      ),
      authPref: fc.constantFrom('DIGEST', 'BASIC'),
      auth: fc.array(
        fc.record(
          {
            level: fc.constantFrom('CLCRED', 'SRVCRED', 'HTTP'),
            type: fc.constantFrom('DIGEST', 'BASIC', 'HMAC', 'HTTP-DIGEST'),
            name: textArb,
            secret: textArb,
            data: fc.uint8Array({ minLength: 1, maxLength: 16 }),
          },
          { requiredKeys: ['level', 'type'] },
        ),
        { maxLength: 3 },
      ),
    },
    { requiredKeys: ['serverId', 'addresses', 'auth'] },
  );

  test('any account object round-trips through the tree (fast-check)', async () => {
    const { accounts } = await open();
    await fc.assert(
      fc.asyncProperty(accountArb, async (acc) => {
        const stored = await accounts.put(acc);
        const expected = structuredClone(acc) as DmAccount;
        expected.id = stored.id!;
        expected.addresses = expected.addresses.map((a, i) => ({ id: String(i + 1), ...a }));
        expected.auth = expected.auth.map((a, i) => ({ id: String(i + 1), ...a }));
        assert.deepEqual(stored, expected);
        assert.equal(await accounts.remove(acc.serverId), true);
      }),
      { numRuns: 60 },
    );
  });
});

describe('Inbox', () => {
  // The delivering server (alpha) keeps rights on what it delivers, as §6.4 lets the TNDS say.
  const dmaccTnds = (
    name: string,
    serverId: string,
    acl = `Add=alpha-dms&Delete=${serverId}&Get=${serverId}+alpha-dms&Replace=${serverId}+alpha-dms`,
  ) =>
    subtreeToTnds({
      name,
      format: 'node',
      type: MoId.DMAcc,
      acl,
      children: [
        { name: 'AppID', format: 'chr', data: 'w7' },
        { name: 'ServerID', format: 'chr', data: serverId },
        {
          name: 'AppAddr',
          format: 'node',
          children: [
            {
              name: '1',
              format: 'node',
              children: [{ name: 'Addr', format: 'chr', data: 'https://gamma.example/dm' }],
            },
          ],
        },
        {
          name: 'AppAuth',
          format: 'node',
          children: [
            {
              name: '1',
              format: 'node',
              children: [
                { name: 'AAuthLevel', format: 'chr', data: 'CLCRED' },
                { name: 'AAuthType', format: 'chr', data: 'DIGEST' },
                { name: 'AAuthSecret', format: 'chr', data: 'g4mma' },
              ],
            },
          ],
        },
      ],
    });

  test('a TNDS DMAcc added to ./Inbox (WBXML, as in bootstrap) is placed under ./DMAcc', async () => {
    const { tree, accounts, inbox } = await open();
    const status = await addTnds(tree, './Inbox', tndsToWbxml(dmaccTnds('gamma', 'gamma-dms')), {
      who: A,
      redirect: inbox!.redirect,
    });
    assert.equal(status, 200);
    const g = await accounts.find('gamma-dms');
    assert.equal(g?.id, 'gamma');
    assert.equal(accountCredentials(g!, 'CLCRED')?.secret, 'g4mma');
    assert.equal(
      (await tree.get('./DMAcc/gamma?prop=ACL')).items[0]!.data,
      'Add=alpha-dms&Delete=gamma-dms&Get=gamma-dms+alpha-dms&Replace=gamma-dms+alpha-dms',
    );
    assert.equal((await tree.get('./DMAcc/gamma/AppAuth/1/AAuthSecret', A)).status, 405);
    assert.equal((await tree.get('./DMAcc/gamma/ServerID', serverPrincipal('gamma-dms'))).status, 200);
    // The name is taken now: a second delivery is renamed.
    assert.equal(
      await addTnds(tree, './Inbox', tndsToWbxml(dmaccTnds('gamma', 'delta-dms')), {
        who: A,
        redirect: inbox!.redirect,
      }),
      200,
    );
    assert.equal((await accounts.find('delta-dms'))?.id, 'gamma-2');
  });

  test("a server may deliver another server's account whose ACL locks itself out", async () => {
    const { tree, accounts, inbox } = await open();
    const tnds = dmaccTnds('other', 'other-dms', 'Get=other-dms&Replace=other-dms&Delete=other-dms');
    assert.equal(
      await addTnds(tree, './Inbox', tndsToWbxml(tnds), { who: A, redirect: inbox!.redirect }),
      200,
    );
    assert.equal((await accounts.find('other-dms'))?.id, 'other');
    assert.equal((await tree.get('./DMAcc/other/ServerID', A)).status, 425);
  });

  test('a bootstrap (device side) places an account whose ACL names only its own server', async () => {
    const { tree, accounts, inbox } = await open();
    const tnds = dmaccTnds('boot', 'boot-dms', 'Get=boot-dms&Replace=boot-dms&Delete=boot-dms');
    assert.equal(await addTnds(tree, './Inbox', tndsToWbxml(tnds), { redirect: inbox!.redirect }), 200);
    assert.equal((await accounts.find('boot-dms'))?.id, 'boot');
    assert.equal((await tree.get('./DMAcc/boot/ServerID', A)).status, 425);
    assert.equal((await tree.get('./DMAcc/boot/ServerID', serverPrincipal('boot-dms'))).status, 200);
  });

  test('an unnamed TNDS node is named by the device and placed by its Type', async () => {
    const { tree, accounts, inbox } = await open();
    const tnds = dmaccTnds('', 'eps-dms');
    const xml = subtreeToTnds(tndsToSubtrees(tnds)[0]!.node);
    assert.equal(await addTnds(tree, './Inbox', tndsToWbxml(xml), { redirect: inbox!.redirect }), 200);
    assert.equal((await accounts.find('eps-dms'))?.id, 'mo1');
  });

  test('command by command: Add ./Inbox/<x> with the MO Type, then its children', async () => {
    const { tree, accounts, inbox } = await open();
    assert.equal(await tree.add('./Inbox/zeta', { format: 'node', type: MoId.DMAcc }, A), 200);
    assert.equal(inbox!.placedAt('zeta'), './DMAcc/zeta');
    assert.equal(await tree.add('./Inbox/zeta/ServerID', { data: 'zeta-dms' }, A), 200);
    assert.equal(await tree.add('./Inbox/zeta/AppID', { data: 'w7' }, A), 200);
    assert.equal(
      await tree.add('./Inbox/zeta/Bogus', { data: 'x' }, A),
      405,
      'the DMAcc DDF applies at the destination',
    );
    assert.equal((await accounts.find('zeta-dms'))?.id, 'zeta');
    assert.equal((await tree.get('./Inbox', A)).status, 405);
    assert.equal((await tree.get('./Inbox/zeta', A)).status, 405);
    assert.equal((await tree.get('./Inbox/zeta/ServerID', A)).status, 405);
  });

  test('unknown MO types and leaves are refused with 415; nothing is left behind', async () => {
    const { tree, inbox } = await open();
    assert.equal(await tree.add('./Inbox/x', { format: 'node', type: 'urn:oma:mo:unknown:1.0' }, A), 415);
    assert.equal(await tree.add('./Inbox/y', { format: 'chr', data: 'v' }, A), 415);
    const tnds = subtreeToTnds({ name: 'x', format: 'node', type: 'urn:oma:mo:unknown:1.0', children: [] });
    assert.equal((await tree.get('./DMAcc')).items[0]!.data, '');
    assert.equal(
      await addTnds(tree, './Inbox', tndsToWbxml(tnds), { who: A, redirect: inbox!.redirect }),
      415,
    );
  });

  test('a failing node inside a delivered TNDS leaves the tree unchanged', async () => {
    const { tree, accounts, inbox } = await open();
    const tnds = dmaccTnds('bad', 'bad-dms');
    tnds.nodes[0]!.children.push({ name: 'NotInDdf', rt: { format: 'chr' }, value: 'x', children: [] });
    assert.equal(
      await addTnds(tree, './Inbox', tndsToWbxml(tnds), { who: A, redirect: inbox!.redirect }),
      405,
    );
    assert.equal(await accounts.find('bad-dms'), undefined);
    assert.equal((await tree.get('./DMAcc')).items[0]!.data, '');
    assert.ok(parseTnds(tndsToWbxml(tnds)));
  });

  test('a WBXML bootstrap message (Add ./Inbox with an inline TNDS) runs through the executor', async () => {
    const { tree, accounts, tnds } = await open();
    const doc = tndsToXml(dmaccTnds('', 'boot-dms', 'Get=boot-dms&Replace=boot-dms&Delete=boot-dms'));
    const xml = `<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>0</SessionID>
      <MsgID>1</MsgID><Target><LocURI>IMEI:351234567890123</LocURI></Target><Source><LocURI>boot-dms</LocURI></Source></SyncHdr>
      <SyncBody><Add><CmdID>1</CmdID><Item><Target><LocURI>./Inbox</LocURI></Target><Meta><Format xmlns="syncml:metinf">xml</Format>
      <Type xmlns="syncml:metinf">application/vnd.syncml.dmtnds+xml</Type></Meta><Data>${doc}</Data></Item></Add><Final/></SyncBody></SyncML>`;
    const wbxml = encodeMessage(
      decodeMessage(new TextEncoder().encode(xml), 'application/vnd.syncml.dm+xml'),
      'application/vnd.syncml.dm+wbxml',
    );
    const msg = decodeMessage(wbxml, 'application/vnd.syncml.dm+wbxml');
    const exec = new TreeCommandExecutor(tree, { tnds });
    const run = async (who: Principal) => {
      let id = 0;
      const out = await exec.execute(msg.SyncBody.commands[0]!, {
        principal: who,
        nextCmdId: () => String(++id),
      });
      return out.statuses.map((st) => st.Data);
    };
    assert.deepEqual(await run(LOCAL), [200]);
    const acc = await accounts.find('boot-dms');
    assert.equal(acc?.id, 'mo1');
    assert.equal(accountCredentials(acc!, 'CLCRED')?.secret, 'g4mma');
    assert.equal(
      (await tree.get('./DMAcc/mo1/ServerID', serverPrincipal('boot-dms'))).items[0]!.data,
      'boot-dms',
    );
  });

  test('server side: accountSubtree() → TNDS → Inbox gives back the same account', async () => {
    const { tree, accounts, inbox } = await open();
    const doc = tndsToWbxml(subtreeToTnds(accountSubtree(alpha)));
    assert.equal(await addTnds(tree, './Inbox', doc, { redirect: inbox!.redirect }), 200);
    const back = await accounts.find('alpha-dms');
    assert.equal(back?.id, 'alpha-dms');
    assert.deepEqual(
      back?.auth.map((a) => [a.level, a.secret, a.data]),
      alpha.auth.map((a) => [a.level, a.secret, a.data]),
    );
    assert.equal((await tree.get('./DMAcc/alpha-dms/ServerID', A)).status, 200);
    assert.equal((await tree.get('./DMAcc/alpha-dms/ServerID', B)).status, 425);
    assert.equal(
      accountSubtree({ ...beta, serverId: 'https://dm.example/x' }).name,
      '',
      'unsafe ServerID: the device names it',
    );
  });

  test('accountFromLeaves() takes the w7 bootstrap shape', () => {
    const acc = accountFromLeaves({
      ServerID: 'acme-dms',
      Name: 'Acme DM',
      AppAddr: [{ Addr: 'https://dm.acme.example/dm', Port: ['443', 'x'] }],
      AppAuth: [
        { AAuthLevel: 'CLCRED', AAuthType: 'DIGEST', AAuthName: 'IMEI:1', AAuthSecret: 'c1ientSecret' },
        {
          AAuthLevel: 'SRVCRED',
          AAuthType: 'DIGEST',
          AAuthName: 'acme-dms',
          AAuthSecret: 's',
          AAuthData: 'bm9uY2UxMjM=',
        },
      ],
    });
    assert.deepEqual(acc.addresses, [{ addr: 'https://dm.acme.example/dm', ports: [443] }]);
    assert.equal(new TextDecoder().decode(accountCredentials(acc, 'SRVCRED')!.data), 'nonce123');
    assert.equal(acc.name, 'Acme DM');
  });
});
