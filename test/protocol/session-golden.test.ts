/**
 * The golden session in ../shared/vectors/packages (pkg1..pkg4, credentials of protocol.md §1.9)
 * as a scripted exchange: the server engine answers the golden package 1 with the golden package
 * 2's commands and server Cred, correlates the golden package 3 and ends with package 4; the
 * client engine produces the golden MD5 Cred, verifies the golden server Cred and answers
 * package 2 with package 3's statuses and results.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { DmClientSession } from '../../src/protocol/client-session.ts';
import { syncmlCodec } from '../../src/protocol/default-codec.ts';
import {
  MemoryCommandSource,
  MemoryCredentialSource,
  MemorySessionStore,
} from '../../src/protocol/memory-sources.ts';
import { DmServerEngine } from '../../src/protocol/server-session.ts';
import { type Command, decodeMessage, type SyncML } from '../../src/representation/index.ts';
import { MapTree } from './helpers.ts';

const pkgs = new URL('../../../shared/vectors/packages/', import.meta.url);
const read = (name: string) => new Uint8Array(readFileSync(new URL(name, pkgs)));
const DEVICE = 'IMEI:490154203237518';

function commandsOf(m: SyncML, from = 0): Command[] {
  return m.SyncBody.commands.slice(from) as Command[];
}

for (const ext of ['xml', 'wbxml'] as const) {
  describe(`golden packages (${ext})`, () => {
    const pkg1 = read(`pkg1.${ext}`);
    const pkg2 = read(`pkg2.${ext}`);
    const pkg3 = read(`pkg3.${ext}`);
    const golden2 = decodeMessage(pkg2);
    const golden4 = decodeMessage(read(`pkg4.${ext}`));
    const contentType = `application/vnd.syncml.dm+${ext}`;

    test('server: pkg1 → pkg2 (server Cred, 212 + Chal, statuses, queued Get/Replace), pkg3 → pkg4', async () => {
      const creds = new MemoryCredentialSource();
      creds.put({
        deviceId: DEVICE,
        clientAuth: 'md5',
        clientName: 'dev1',
        clientSecret: 'devpass',
        clientNonce: 'MTIzNDU2Nzg5MA==',
        serverAuth: 'md5',
        serverName: 'srv1',
        serverSecret: 'srvpass',
        serverNonce: 'c2VydmVyTm9uY2U=',
      });
      const queue = new MemoryCommandSource();
      // The server product queued exactly what golden package 2 carries.
      const ids = commandsOf(golden2, 3)
        .filter((c) => c.type !== 'Status')
        .map((c) => queue.enqueue(DEVICE, c));
      const server = new DmServerEngine({
        codec: syncmlCodec,
        credentials: creds,
        commands: queue,
        sessions: new MemorySessionStore(),
      });
      const respUri = (t: string) => `https://dm.example.com/dm?s=${t}`;

      const r2 = await server.handle({ body: pkg1, contentType, respUri });
      const ours2 = decodeMessage(r2.body);
      assert.equal(ours2.SyncHdr.SessionID, '1A2B');
      assert.deepEqual(
        ours2.SyncHdr.Cred,
        golden2.SyncHdr.Cred,
        'server Cred = golden (md5 over the stored server nonce)',
      );
      assert.equal(ours2.SyncHdr.Source.LocName, 'srv1');
      const hdr = ours2.SyncBody.commands[0]!;
      assert.ok(hdr.type === 'Status' && hdr.Data === 212 && hdr.Chal?.Meta.NextNonce);
      // Everything after the SyncHdr status is the golden package's body (statuses, Get, Replace).
      const strip = (cs: Command[]) =>
        cs.map((c) => (c.type === 'Status' ? { ...c, TargetRef: [], SourceRef: [] } : c));
      assert.deepEqual(strip(commandsOf(ours2, 1)), strip(commandsOf(golden2, 1)));
      assert.equal(ours2.SyncBody.Final, true);
      assert.equal(r2.done, false);

      const token = new URL(ours2.SyncHdr.RespURI!).searchParams.get('s')!;
      const r4 = await server.handle({ body: pkg3, contentType, respUri, sessionToken: token });
      const ours4 = decodeMessage(r4.body);
      assert.deepEqual(commandsOf(ours4), commandsOf(golden4), 'package 4 = golden');
      assert.equal(r4.done, true);
      const get = queue.records.get(ids[0]!)!.outcome!;
      assert.equal(get.status, 200);
      assert.equal(get.results?.[0]?.Data?.kind === 'text' && get.results[0].Data.text, '4.2.1');
      assert.equal(queue.records.get(ids[1]!)!.outcome!.status, 200);
      // The next-session nonce was persisted.
      assert.equal(
        (await creds.lookup(DEVICE))!.clientNonce,
        hdr.type === 'Status' ? hdr.Chal?.Meta.NextNonce : '',
      );
    });

    test('client: golden MD5 Cred in pkg1; verifies the golden server Cred; answers pkg2 like pkg3', async () => {
      const tree = new MapTree({ './DevDetail/SwV': '4.2.1', './Vendor/Example/PollInterval': '60' });
      const saved: { clientNonce?: string; serverNonce?: string } = {};
      const client = new DmClientSession({
        codec: syncmlCodec,
        encoding: ext,
        deviceId: DEVICE,
        sessionId: '1A2B',
        devInfo: { './DevInfo/DevId': DEVICE, './DevInfo/Man': 'ExampleCorp' },
        account: {
          serverId: 'srv1',
          serverUri: 'https://dm.example.com/dm',
          client: { mode: 'md5', name: 'dev1', secret: 'devpass' },
          server: { mode: 'md5', name: 'srv1', secret: 'srvpass' },
          clientNonce: 'MTIzNDU2Nzg5MA==',
          serverNonce: 'c2VydmVyTm9uY2U=',
        },
        accountState: { saveNonces: async (n) => void Object.assign(saved, n) },
        handler: tree,
      });
      const req1 = await client.start();
      const ours1 = decodeMessage(req1.body);
      assert.deepEqual(ours1.SyncHdr.Cred, decodeMessage(pkg1).SyncHdr.Cred, 'client Cred = golden');
      const req3 = await client.receive({ body: pkg2, contentType });
      assert.ok(req3);
      assert.equal(req3.url, 'https://dm.example.com/dm?s=7f3c', 'follows RespURI');
      const ours3 = decodeMessage(req3.body);
      const golden3 = decodeMessage(pkg3);
      const hdr = ours3.SyncBody.commands[0]!;
      assert.ok(hdr.type === 'Status' && hdr.Data === 212, 'server authenticated');
      assert.deepEqual(
        commandsOf(ours3, 1),
        commandsOf(golden3, 1),
        'statuses and results = golden package 3',
      );
      assert.equal(tree.values.get('./Vendor/Example/PollInterval'), '3600');
      assert.equal(
        saved.clientNonce,
        'bmV4dENsaWVudE5vbmNl',
        'NextNonce from the authenticated server persisted',
      );
      // Package 4 ends the session without an answer.
      assert.equal(await client.receive({ body: read(`pkg4.${ext}`), contentType }), undefined);
      assert.equal(client.result?.outcome, 'completed');
    });
  });
}
