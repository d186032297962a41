/**
 * Device events over real sessions: a Generic Alert of any type, with or without a Correlator,
 * is kept and shown (REST API with a viewer token, `omadm device events`), and an Exec completed
 * by its Generic Alert is counted once by the metrics (issue 11, protocol defects).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { redirectOutput } from '../../src/cli/api/output.ts';
import { main } from '../../src/cli/main.ts';
import type { Alert } from '../../src/representation/index.ts';
import type { Store } from '../../src/server/store/index.ts';
import { DeviceSim } from './device-sim.ts';
import { api, type Backend, backends, freshBackend, type Running, startServer } from './helpers.ts';

/** Runs the CLI in-process with captured stdout. */
async function cli(args: string[], env: Record<string, string>): Promise<{ code: number; out: string }> {
  let out = '';
  const restore = redirectOutput({
    out: (t) => {
      out += t;
    },
    err: () => undefined,
  });
  const saved = { OMADM_URL: process.env.OMADM_URL, OMADM_TOKEN: process.env.OMADM_TOKEN };
  Object.assign(process.env, env);
  try {
    return { code: await main(args), out };
  } finally {
    restore();
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

function genericAlert(
  type: string,
  data: string,
  options: { correlator?: string; mark?: string } = {},
): Alert {
  return {
    type: 'Alert',
    CmdID: '0',
    Data: 1226,
    ...(options.correlator ? { Correlator: options.correlator } : {}),
    Item: [
      {
        Source: { LocURI: './Vendor/Battery/Level' },
        Meta: { Type: type, Format: 'chr', ...(options.mark ? { Mark: options.mark } : {}) },
        Data: { kind: 'text', text: data },
      },
    ],
  };
}

/** `omadm_commands_completed_total` by state, from /metrics. */
async function completed(url: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^omadm_commands_completed_total\{state="(\w+)"\} (\d+)/gm))
    out[m[1]!] = Number(m[2]);
  return out;
}

for (const { name, skip } of await backends()) {
  describe(`device events on ${name}`, { skip }, () => {
    let backend: Backend;
    let store: Store;
    let srv: Running;
    let viewer: string;
    const A = (method: string, path: string, body?: unknown, token?: string) =>
      api(srv.url, token ?? srv.admin, method, path, body);

    before(async () => {
      backend = await freshBackend(name);
      store = await backend.open();
      srv = await startServer(store);
      viewer = (await A('POST', '/tokens', { name: 'watcher', role: 'viewer' })).body.token;
    });
    after(async () => {
      await srv?.close();
      await store?.close();
      await backend?.cleanup();
    });

    test('a Generic Alert that is not FUMO/SCOMO, or has no Correlator, is kept and shown', async () => {
      const id = 'IMEI:events-1';
      await A('POST', '/devices', { id, secret: 's1' });
      const sim = new DeviceSim({ deviceId: id, secret: 's1' });
      sim.queueAlert(genericAlert('com.example.battery.low', '7', { mark: 'warning' }));
      sim.queueAlert(genericAlert('com.example.reboot', 'watchdog', { correlator: 'no-such-exec' }));
      sim.queueAlert({
        type: 'Alert',
        CmdID: '0',
        Data: 1224,
        Item: [{ Source: { LocURI: './Vendor/Button' }, Data: { kind: 'text', text: 'pressed' } }],
      });
      const { result } = await sim.session(`${srv.url}/dm`);
      assert.equal(result?.outcome, 'completed');

      const res = await A('GET', `/devices/${encodeURIComponent(id)}/events`, undefined, viewer);
      assert.equal(res.status, 200);
      const items = res.body.items as Record<string, unknown>[];
      assert.equal(items.length, 3);
      // Newest first.
      assert.deepEqual(
        items.map((e) => [e.alertCode, e.alertType, e.correlator, e.data]),
        [
          [1224, null, null, 'pressed'],
          [1226, 'com.example.reboot', 'no-such-exec', 'watchdog'],
          [1226, 'com.example.battery.low', null, '7'],
        ],
      );
      const low = items[2]!;
      assert.equal(low.mark, 'warning');
      assert.equal(low.format, 'chr');
      assert.equal(low.sourceUri, './Vendor/Battery/Level');
      assert.equal(low.deviceId, id);
      assert.equal(typeof low.sessionId, 'string');
      assert.ok(!Number.isNaN(Date.parse(low.at as string)));

      // Paging and filters.
      const p1 = await A('GET', `/devices/${encodeURIComponent(id)}/events?limit=2`, undefined, viewer);
      assert.equal(p1.body.items.length, 2);
      const p2 = await A(
        'GET',
        `/devices/${encodeURIComponent(id)}/events?limit=2&cursor=${p1.body.nextCursor}`,
        undefined,
        viewer,
      );
      assert.equal(p2.body.items.length, 1);
      assert.equal(p2.body.nextCursor, null);
      assert.deepEqual(
        [...p1.body.items, ...p2.body.items].map((e: { id: string }) => e.id),
        items.map((e) => e.id),
      );
      const typed = await A(
        'GET',
        `/devices/${encodeURIComponent(id)}/events?type=com.example.reboot`,
        undefined,
        viewer,
      );
      assert.deepEqual(
        typed.body.items.map((e: { data: string }) => e.data),
        ['watchdog'],
      );
      assert.equal((await A('GET', '/devices/IMEI:nobody/events', undefined, viewer)).status, 404);
      const bad = await A('GET', `/devices/${encodeURIComponent(id)}/events?cursor=zzz`, undefined, viewer);
      assert.equal(bad.status, 400);
      assert.equal(bad.body.error.code, 'validation');

      // The CLI shows them too.
      const env = { OMADM_URL: srv.url, OMADM_TOKEN: viewer };
      const table = await cli(['device', 'events', id], env);
      assert.equal(table.code, 0);
      assert.match(table.out, /com\.example\.battery\.low/);
      assert.match(table.out, /watchdog/);
      assert.match(table.out, /1224/);
      const asJson = await cli(['device', 'events', id, '--json', '--limit', '1'], env);
      assert.equal(asJson.code, 0);
      assert.deepEqual(
        JSON.parse(asJson.out).map((e: { data: string }) => e.data),
        ['pressed'],
      );
    });

    test('device data with terminal control sequences is shown escaped by the CLI', async () => {
      const id = 'IMEI:events-ansi';
      await A('POST', '/devices', { id, secret: 's1' });
      // WBXML strings carry any byte: a hostile device can put escape sequences in its alerts.
      const sim = new DeviceSim({ deviceId: id, secret: 's1', encoding: 'wbxml' });
      sim.queueAlert(genericAlert('x.y', 'evil\u001b]0;pwned\u0007'));
      await sim.session(`${srv.url}/dm`);
      const stored = await store.events.list(id);
      assert.equal(stored.items[0]?.data, 'evil\u001b]0;pwned\u0007');
      const out = (await cli(['device', 'events', id], { OMADM_URL: srv.url, OMADM_TOKEN: viewer })).out;
      assert.match(out, /evil/);
      assert.equal(out.includes('\u001b'), false);
      assert.equal(out.includes('\u0007'), false);
      // The trace printout too.
      const traced = (await cli(['trace', id], { OMADM_URL: srv.url, OMADM_TOKEN: viewer })).out;
      assert.match(traced, /device → server/);
      assert.equal(traced.includes('\u001b'), false);
    });

    test('an Exec completed by its Generic Alert in the same message as its Status is counted once', async () => {
      const id = 'IMEI:events-exec';
      await A('POST', '/devices', { id, secret: 's1' });
      const before = await completed(srv.url);
      const cmd = await A('POST', `/devices/${encodeURIComponent(id)}/commands`, {
        type: 'Exec',
        uri: './FUMO/Update',
      });
      // The device answers 202 and sends the Generic Alert with the Correlator in the same message.
      const sim = new DeviceSim({ deviceId: id, secret: 's1', asyncExec: ['./FUMO/Update'] });
      await sim.session(`${srv.url}/dm`);
      const done = await A('GET', `/commands/${cmd.body.id}`);
      assert.equal(done.body.state, 'succeeded');
      const after = await completed(srv.url);
      const delta = Object.fromEntries(
        Object.entries(after)
          .map(([k, v]) => [k, v - (before[k] ?? 0)] as const)
          .filter(([, v]) => v !== 0),
      );
      assert.deepEqual(delta, { succeeded: 1 });
      // The alert is an event too (FUMO type, with its Correlator).
      const events = await A('GET', `/devices/${encodeURIComponent(id)}/events`, undefined, viewer);
      assert.equal(events.body.items.length, 1);
      assert.equal(events.body.items[0].correlator, done.body.request.correlator);
      assert.equal(events.body.items[0].alertType, 'org.openmobilealliance.dm.firmwareupdate.update');
    });

    test('a device deleted takes its events with it', async () => {
      const id = 'IMEI:events-gone';
      await A('POST', '/devices', { id, secret: 's1' });
      const sim = new DeviceSim({ deviceId: id, secret: 's1' });
      sim.queueAlert(genericAlert('x.y', '1'));
      await sim.session(`${srv.url}/dm`);
      assert.equal((await store.events.list(id)).items.length, 1);
      await A('DELETE', `/devices/${encodeURIComponent(id)}`);
      assert.equal((await store.events.list(id)).items.length, 0);
    });
  });
}
