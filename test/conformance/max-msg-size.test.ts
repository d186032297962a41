/**
 * issue 20 §1: no answer exceeds the device's announced MaxMsgSize, whatever the header, Status,
 * Chal and Cred overhead. A scripted device announcing MaxMsgSize 1400 drives `omadm server` over
 * real HTTP; every answer is measured as sent.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Store } from '../../src/server/store/index.ts';
import { api, type Backend, freshBackend, type Running, startServer } from '../server/helpers.ts';
import { ScriptedDevice } from '../server/scripted-device.ts';

const enc = encodeURIComponent;

describe('MaxMsgSize of a strict device (issue 20 §1)', () => {
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
    test(`MaxMsgSize 1400 (${encoding}): every answer fits, an Atomic too big for any message fails with 413`, async () => {
      const id = `IMEI:3510000000000${encoding.length}`;
      const created = await A('POST', '/devices', {
        id,
        secret: 'client-secret',
        authType: 'basic',
        serverSecret: 'server-secret-with-some-length',
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const replace = (n: number) => ({
        type: 'Replace',
        uri: `./V/K${n}`,
        value: 'v',
      });
      // Fits alone but not after package 2's Statuses and the server's Cred.
      const atomic = await A('POST', `/devices/${enc(id)}/commands`, {
        type: 'Atomic',
        commands: [replace(1), replace(2)],
      });
      // Cannot fit in any message of 1400 bytes, and an Atomic cannot be split.
      const huge = await A('POST', `/devices/${enc(id)}/commands`, {
        type: 'Atomic',
        commands: Array.from({ length: 30 }, (_, i) => ({ ...replace(10 + i), value: 'w'.repeat(60) })),
      });
      const get = await A('POST', `/devices/${enc(id)}/commands`, { type: 'Get', uri: './DevDetail/SwV' });
      assert.equal(atomic.status, 201);
      assert.equal(huge.status, 201);

      const dev = new ScriptedDevice(`${srv.url}/dm`, { deviceId: id, secret: 'client-secret', encoding });
      // Package 1 also reports an event: one more Status in package 2.
      let a = await dev.send(
        dev.package1({
          meta: '<MaxMsgSize xmlns="syncml:metinf">1400</MaxMsgSize>',
          extra:
            '<Alert><CmdID>3</CmdID><Data>1226</Data><Item><Source><LocURI>./Battery</LocURI></Source>' +
            '<Meta><Type xmlns="syncml:metinf">com.example.battery.low</Type><Format xmlns="syncml:metinf">int</Format></Meta>' +
            '<Data>5</Data></Item></Alert>',
        }),
      );
      // Answer every command with 200 (Atomic members too), Results for the Get, until the session ends.
      for (let turn = 0; turn < 20; turn++) {
        assert.ok(a.bytes.byteLength <= 1400, `answer ${a.msg.SyncHdr.MsgID} is ${a.bytes.byteLength} bytes`);
        if (a.final && a.commands.length === 0) break;
        const parts: string[] = [dev.hdrStatus(1)];
        let n = 2;
        const ask = !a.final;
        for (const c of a.commands) {
          if (c.type === 'Alert' && c.Data === 1222) {
            parts.push(dev.status(n++, c.CmdID ?? '', 'Alert', 200));
            continue;
          }
          parts.push(dev.status(n++, c.CmdID ?? '', c.type === 'Unknown' ? c.name : c.type, 200));
          if (c.type === 'Atomic' || c.type === 'Sequence')
            for (const m of c.commands) parts.push(dev.status(n++, m.CmdID ?? '', m.type, 200));
          if (c.type === 'Get') {
            parts.push(
              `<Results><CmdID>${n++}</CmdID><MsgRef>${dev.serverMsgId}</MsgRef><CmdRef>${c.CmdID}</CmdRef>` +
                `<Item><Source><LocURI>./DevDetail/SwV</LocURI></Source><Data>1.0</Data></Item></Results>`,
            );
          }
        }
        if (ask) parts.push(`<Alert><CmdID>${n++}</CmdID><Data>1222</Data></Alert>`);
        a = await dev.send(dev.message(dev.header(), parts.join(''), a.final));
      }
      assert.ok(a.final && a.commands.length === 0, 'the session ended');
      if (encoding === 'xml') {
        // Package 2's Statuses left no room for the Atomic: it went in the next message.
        assert.ok(!dev.answers[0]!.commands.some((c) => c.type === 'Atomic'));
        assert.equal(dev.answers[0]!.final, false);
        assert.ok(dev.answers.slice(1).some((x) => x.commands.some((c) => c.type === 'Atomic')));
      }
      const got = await A('GET', `/commands/${atomic.body.id}`);
      assert.equal(got.body.state, 'succeeded');
      const g = await A('GET', `/commands/${get.body.id}`);
      assert.equal(g.body.state, 'succeeded');
      const h = await A('GET', `/commands/${huge.body.id}`);
      assert.equal(h.body.state, 'failed');
      assert.equal(h.body.status, 413);
      assert.match(h.body.detail.reason, /MaxMsgSize \(1400\)/);
    });
  }
});

describe('Statuses that do not fit the device MaxMsgSize (issue 20 §1)', () => {
  let backend: Backend;
  let store: Store;
  let srv: Running;

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

  test('a package 1 with more alerts than one answer can acknowledge: the Statuses spread over answers', async () => {
    const id = 'IMEI:351000000000009';
    assert.equal(
      (await api(srv.url, srv.admin, 'POST', '/devices', { id, secret: 's', authType: 'basic' })).status,
      201,
    );
    const dev = new ScriptedDevice(`${srv.url}/dm`, { deviceId: id, secret: 's' });
    const alerts = Array.from(
      { length: 12 },
      (_, i) =>
        `<Alert><CmdID>${3 + i}</CmdID><Data>1226</Data><Item><Source><LocURI>./Vendor/Sensors/S${i}</LocURI></Source>` +
        '<Meta><Type xmlns="syncml:metinf">com.example.sensor.reading</Type><Format xmlns="syncml:metinf">int</Format></Meta>' +
        `<Data>${i}</Data></Item></Alert>`,
    ).join('');
    let a = await dev.send(
      dev.package1({ meta: '<MaxMsgSize xmlns="syncml:metinf">1000</MaxMsgSize>', extra: alerts }),
    );
    const acknowledged = new Set<string>();
    for (let turn = 0; ; turn++) {
      assert.ok(turn < 12, 'the session ends');
      assert.ok(a.bytes.byteLength <= 1000, `answer of ${a.bytes.byteLength} bytes`);
      for (const st of a.statuses) if (st.MsgRef === '1' && st.CmdRef !== '0') acknowledged.add(st.CmdRef);
      if (a.final) break;
      // The server's package is open: the device answers, asking for more.
      a = await dev.send(
        dev.message(
          dev.header(),
          `${dev.hdrStatus(1)}<Alert><CmdID>2</CmdID><Data>1222</Data></Alert>`,
          false,
        ),
      );
    }
    assert.equal(acknowledged.size, 14, 'a Status for the Alert 1201, the Replace and every Generic Alert');
  });
});
