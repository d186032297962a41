/**
 * issue 11 (protocol defects): Meta/Format is explicit on every Add and Replace omadm sends, and
 * an Add of an interior node carries Data, because widely used clients crash otherwise. The server
 * is driven by a scripted device, the client by a scripted server, both over real HTTP.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Command, Item } from '../../src/representation/index.ts';
import type { Store } from '../../src/server/store/index.ts';
import { DeviceSim } from '../server/device-sim.ts';
import { api, type Backend, freshBackend, type Running, startServer } from '../server/helpers.ts';
import { ScriptedDevice } from '../server/scripted-device.ts';
import { scriptedServer, serverHeader, statusesFor } from './scripted-server.ts';

const enc = encodeURIComponent;

function addReplaceItems(cmds: readonly Command[]): { type: string; item: Item }[] {
  const out: { type: string; item: Item }[] = [];
  for (const c of cmds) {
    if (c.type === 'Atomic' || c.type === 'Sequence') out.push(...addReplaceItems(c.commands));
    if (c.type === 'Add' || c.type === 'Replace') for (const item of c.Item) out.push({ type: c.type, item });
  }
  return out;
}

describe('explicit Format on Add/Replace (issue 11)', () => {
  let backend: Backend;
  let store: Store;
  let srv: Running;
  const A = (method: string, path: string, body?: unknown) => api(srv.url, srv.admin, method, path, body);

  before(async () => {
    backend = await freshBackend('sqlite');
    store = await backend.open();
    srv = await startServer(store);
  });
  after(async () => {
    await srv?.close();
    await store?.close();
    await backend?.cleanup();
  });

  for (const encoding of ['xml', 'wbxml'] as const) {
    test(`server (${encoding}): every Add/Replace Item carries Meta/Format; an interior Add carries Data`, async () => {
      const id = `IMEI:35400000000000${encoding.length}`;
      assert.equal((await A('POST', '/devices', { id, secret: 's', authType: 'basic' })).status, 201);
      const q = (body: unknown) => A('POST', `/devices/${enc(id)}/commands`, body);
      await q({ type: 'Add', uri: './Vendor/Profiles' });
      await q({ type: 'Add', uri: './Vendor/Profiles/Name', value: 'office' });
      await q({ type: 'Replace', uri: './Vendor/Interval', value: '60' });
      await q({ type: 'Replace', uri: './Vendor/Enabled', value: 'true', format: 'bool' });
      await q({
        type: 'Atomic',
        commands: [
          { type: 'Add', uri: './Vendor/A' },
          { type: 'Replace', uri: './Vendor/A/B', value: 'x' },
        ],
      });
      const dev = new ScriptedDevice(`${srv.url}/dm`, { deviceId: id, secret: 's', encoding });
      const a = await dev.send(dev.package1());
      const items = addReplaceItems(a.commands);
      assert.equal(items.length, 6);
      const formats = items.map((i) => [
        i.type,
        i.item.Target?.LocURI,
        i.item.Meta?.Format,
        i.item.Data !== undefined,
      ]);
      assert.deepEqual(formats, [
        ['Add', './Vendor/Profiles', 'node', true],
        ['Add', './Vendor/Profiles/Name', 'chr', true],
        ['Replace', './Vendor/Interval', 'chr', true],
        ['Replace', './Vendor/Enabled', 'bool', true],
        ['Add', './Vendor/A', 'node', true],
        ['Replace', './Vendor/A/B', 'chr', true],
      ]);
    });
  }

  test('client: the DevInfo Replace of package 1 carries Meta/Format on every Item', async (t) => {
    const { url, got } = await scriptedServer(t, (r) => {
      // Package 2 with statuses only and Final: the session ends.
      return `<SyncML xmlns="SYNCML:SYNCML1.2">${serverHeader(r, 1)}<SyncBody>${statusesFor(r)}<Final/></SyncBody></SyncML>`;
    });
    const sim = new DeviceSim({ deviceId: 'IMEI:354000000000009', secret: 'x', auth: 'transport' });
    const { result } = await sim.session(url);
    assert.equal(result?.outcome, 'completed');
    const items = addReplaceItems(got[0]!.msg.SyncBody.commands);
    assert.ok(items.length >= 5);
    for (const i of items) assert.equal(i.item.Meta?.Format, 'chr', i.item.Source?.LocURI);
  });
});
