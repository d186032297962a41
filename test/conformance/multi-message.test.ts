/**
 * issue 20 §2: the multi-message handshake. A strict device never closes its package before the
 * server closes its own (§3.3), and leaves out Alert 1222 when it has Statuses and Results to send.
 * The server must continue its package then; exchanges that make no progress are capped, and such
 * a session ends with a clear outcome and gives its commands back.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Store } from '../../src/server/store/index.ts';
import { api, type Backend, freshBackend, type Running, startServer } from '../server/helpers.ts';
import { type Answer, ScriptedDevice } from '../server/scripted-device.ts';

const enc = encodeURIComponent;

describe('multi-message packages with a device that omits Alert 1222 (issue 20 §2)', () => {
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

  async function device(id: string): Promise<{ dev: ScriptedDevice; gets: string[] }> {
    const created = await A('POST', '/devices', { id, secret: 'client-secret', authType: 'basic' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const gets: string[] = [];
    for (let i = 0; i < 8; i++) {
      const r = await A('POST', `/devices/${enc(id)}/commands`, {
        type: 'Get',
        uri: `./Vendor/Counters/C${i}`,
      });
      gets.push(r.body.id);
    }
    return { dev: new ScriptedDevice(`${srv.url}/dm`, { deviceId: id, secret: 'client-secret' }), gets };
  }

  /** Statuses (and Results for Gets) for every command of `a`; no Alert 1222. */
  function answers(dev: ScriptedDevice, a: Answer): string {
    const parts = [dev.hdrStatus(1)];
    let n = 2;
    for (const c of a.commands) {
      parts.push(dev.status(n++, c.CmdID ?? '', c.type === 'Unknown' ? c.name : c.type, 200));
      if (c.type === 'Get') {
        const uri = c.Item[0]?.Target?.LocURI ?? '';
        parts.push(
          `<Results><CmdID>${n++}</CmdID><MsgRef>${dev.serverMsgId}</MsgRef><CmdRef>${c.CmdID}</CmdRef>` +
            `<Item><Source><LocURI>${uri}</LocURI></Source><Data>7</Data></Item></Results>`,
        );
      }
    }
    return parts.join('');
  }

  test('Statuses and Results without 1222 continue the server package; Final only after the server closed', async () => {
    const { dev, gets } = await device('IMEI:352000000000001');
    // Small enough that the eight Gets need several messages.
    let a = await dev.send(dev.package1({ meta: '<MaxMsgSize xmlns="syncml:metinf">1100</MaxMsgSize>' }));
    let messages = 1;
    while (!(a.final && a.commands.length === 0)) {
      assert.ok(
        messages < 12,
        `no livelock (message ${messages}: ${a.commands.map((c) => c.type).join(',')})`,
      );
      // The device may close its package only once the server closed its own.
      a = await dev.send(dev.message(dev.header(), answers(dev, a), a.final));
      messages++;
    }
    for (const id of gets) {
      const c = await A('GET', `/commands/${id}`);
      assert.equal(c.body.state, 'succeeded', `command ${id}`);
    }
  });

  test('exchanges that make no progress are capped: the session ends (1223) and its Gets are queued again', async () => {
    const { dev, gets } = await device('IMEI:352000000000002');
    let a = await dev.send(dev.package1());
    assert.ok(a.commands.some((c) => c.type === 'Get'));
    // A device stuck in a loop: only the SyncHdr Status (and the Status of any 1222), never Final.
    let messages = 1;
    for (;;) {
      const abort = a.commands.find((c) => c.type === 'Alert' && c.Data === 1223);
      if (abort) break;
      assert.ok(messages < 40, 'the server ends a session that makes no progress');
      const parts = [dev.hdrStatus(1)];
      let n = 2;
      for (const c of a.commands)
        if (c.type === 'Alert' && c.Data === 1222) parts.push(dev.status(n++, c.CmdID ?? '', 'Alert', 200));
      a = await dev.send(dev.message(dev.header(), parts.join(''), false));
      messages++;
    }
    assert.ok(a.final, '1223 closes the session');
    for (const id of gets) {
      const c = await A('GET', `/commands/${id}`);
      assert.equal(c.body.state, 'queued', `Get ${id} given back`);
    }
  });
});
