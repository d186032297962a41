/**
 * issue 11 (protocol defects): a command with several Items whose results differ gets one Status
 * per group of Items with the same code (TargetRef naming them, protocol.md §1.4), and a failing
 * Item never loses the others' values. The client answers so (driven by a scripted server); the
 * server reads such answers (driven by a scripted device), both over real HTTP.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openStandardTree } from '../../src/mo/index.ts';
import { DmClientSession, syncmlCodec } from '../../src/protocol/index.ts';
import type { Command, Results, Status } from '../../src/representation/index.ts';
import { treeCommandHandler } from '../../src/tree/index.ts';
import { startMemoryDmServer } from '../integration/http-harness.ts';
import { ScriptedDevice } from '../server/scripted-device.ts';
import { scriptedServer, serverHeader, statusesFor } from './scripted-server.ts';

test('client: a Get and a Delete whose Items differ get one Status per code; the found values are sent', async (t) => {
  const DEV = 'IMEI:356000000000001';
  const { tree } = await openStandardTree({
    devInfo: { devId: DEV, man: 'ExampleCorp', mod: 'EX-1', dmV: '1.2', lang: 'en' },
    devDetail: { devTyp: 'phone', oem: 'ExampleCorp', fwV: '1', swV: '2', hwV: 'A', lrgObj: true },
  });
  const item = (uri: string) => `<Item><Target><LocURI>${uri}</LocURI></Target></Item>`;
  const { url, got } = await scriptedServer(t, (r, i) => {
    if (i === 0) {
      return (
        `<SyncML xmlns="SYNCML:SYNCML1.2">${serverHeader(r, 1)}<SyncBody>${statusesFor(r)}` +
        `<Get><CmdID>4</CmdID>${item('./DevInfo/Man')}${item('./DevInfo/Nope')}${item('./DevInfo/Mod')}</Get>` +
        `<Delete><CmdID>5</CmdID>${item('./DevInfo/Gone')}${item('./DevInfo/Missing')}</Delete>` +
        '<Final/></SyncBody></SyncML>'
      );
    }
    return `<SyncML xmlns="SYNCML:SYNCML1.2">${serverHeader(r, 2)}<SyncBody>${statusesFor(r)}<Final/></SyncBody></SyncML>`;
  });
  const session = new DmClientSession({
    codec: syncmlCodec,
    deviceId: DEV,
    devInfo: { './DevInfo/DevId': DEV },
    account: { serverId: 'scripted', serverUri: url, client: { mode: 'none', name: DEV, secret: '' } },
    handler: treeCommandHandler(tree),
  });
  let req: Awaited<ReturnType<typeof session.receive>> = await session.start();
  while (req) {
    const res = await fetch(req.url, {
      method: 'POST',
      headers: { 'content-type': req.contentType },
      body: req.body,
    });
    req = await session.receive({
      body: new Uint8Array(await res.arrayBuffer()),
      contentType: res.headers.get('content-type') ?? undefined,
    });
  }
  const pkg3 = got[1]!.msg.SyncBody.commands;
  const forGet = pkg3.filter((c): c is Status => c.type === 'Status' && c.CmdRef === '4');
  assert.deepEqual(
    forGet.map((s) => [s.Data, s.TargetRef]),
    [
      [200, ['./DevInfo/Man', './DevInfo/Mod']],
      [404, ['./DevInfo/Nope']],
    ],
  );
  const values = pkg3
    .filter((c): c is Results => c.type === 'Results' && c.CmdRef === '4')
    .flatMap((r) => r.Item.map((i) => [i.Source?.LocURI, i.Data?.kind === 'text' ? i.Data.text : '']));
  assert.deepEqual(values, [
    ['./DevInfo/Man', 'ExampleCorp'],
    ['./DevInfo/Mod', 'EX-1'],
  ]);
  // Every Results follows the Statuses of its command.
  const firstResults = pkg3.findIndex((c) => c.type === 'Results');
  assert.ok(pkg3.indexOf(forGet[1]!) < firstResults);
  // Same code for both Items of the Delete: one Status.
  const forDelete = pkg3.filter((c): c is Status => c.type === 'Status' && c.CmdRef === '5');
  assert.equal(forDelete.length, 1);
});

test('server: one Status per group of Items is read in full; the first failure decides; values kept', async (t) => {
  const DEV = 'IMEI:356000000000002';
  const srv = await startMemoryDmServer();
  t.after(() => srv.http.close());
  srv.creds.put({ deviceId: DEV, clientAuth: 'basic', clientSecret: 'pw', serverAuth: 'none' });
  const get: Command = {
    type: 'Get',
    CmdID: '0',
    Item: ['./A', './B', './C'].map((u) => ({ Target: { LocURI: u } })),
  };
  const id = srv.queue.enqueue(DEV, get);
  const dev = new ScriptedDevice(srv.http.url, { deviceId: DEV, secret: 'pw' });
  const a = await dev.send(dev.package1());
  const sent = a.commands.find((c) => c.type === 'Get')!;
  // The failure comes first, then the success for the other two Items, then their values.
  const res = (uri: string, v: string, n: number) =>
    `<Results><CmdID>${n}</CmdID><MsgRef>${dev.serverMsgId}</MsgRef><CmdRef>${sent.CmdID}</CmdRef>` +
    `<Item><Source><LocURI>${uri}</LocURI></Source><Data>${v}</Data></Item></Results>`;
  const end = await dev.send(
    dev.message(
      dev.header(),
      dev.hdrStatus(1) +
        dev.status(2, sent.CmdID ?? '', 'Get', 404, '<TargetRef>./B</TargetRef>') +
        dev.status(3, sent.CmdID ?? '', 'Get', 200, '<TargetRef>./A</TargetRef><TargetRef>./C</TargetRef>') +
        res('./A', 'alpha', 4) +
        res('./C', 'gamma', 5),
      true,
    ),
  );
  assert.ok(end.final);
  const outcome = srv.queue.records.get(id)!.outcome!;
  assert.equal(outcome.status, 404, 'a failed Item is not hidden by a later success');
  assert.deepEqual(outcome.itemStatuses, [
    { status: 404, targets: ['./B'] },
    { status: 200, targets: ['./A', './C'] },
  ]);
  assert.deepEqual(
    outcome.results?.map((i) => i.Source?.LocURI),
    ['./A', './C'],
  );
});
