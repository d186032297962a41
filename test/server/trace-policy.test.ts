/**
 * What DM sessions leave on disk (issue 21), through real sessions over HTTP on both backends: a
 * heartbeat keeps one compact session-log row and no raw messages; a session with commands, or
 * one that failed authentication, keeps its full trace; the per-device and per-group switch
 * (`full`, `errors`, `off`, set through the REST API) changes that.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Store } from '../../src/server/store/index.ts';
import { DeviceSim } from './device-sim.ts';
import { api, backends, freshBackend, startServer } from './helpers.ts';

async function traceCount(store: Store, deviceId: string): Promise<number> {
  return (await store.traces.list(deviceId, { limit: 1000 })).items.length;
}

async function lastLog(store: Store, deviceId: string) {
  const entry = (await store.sessionLog.list(deviceId, { limit: 1 })).items[0];
  assert.ok(entry, `a session-log row for ${deviceId}`);
  return entry;
}

for (const b of await backends()) {
  describe(`${b.name}: trace policy of DM sessions`, { skip: b.skip }, () => {
    test('heartbeat: compact record only; commands, failed auth and the trace switch keep raw messages', async (t) => {
      const backend = await freshBackend(b.name);
      const store = await backend.open();
      const srv = await startServer(store);
      t.after(async () => {
        await srv.close();
        await store.close();
        await backend.cleanup();
      });
      const A = (method: string, path: string, body?: unknown) => api(srv.url, srv.admin, method, path, body);
      const id = 'IMEI:356938035643809';
      assert.equal(
        (await A('POST', '/devices', { id, secret: 'dev-pw', serverSecret: 'srv-pw' })).status,
        201,
      );
      const sim = new DeviceSim({
        deviceId: id,
        secret: 'dev-pw',
        serverSecret: 'srv-pw',
        tree: { './Vendor/Level': '1' },
      });
      const session = async () => {
        const { result } = await sim.session(`${srv.url}/dm`);
        assert.equal(result?.outcome, 'completed');
      };

      // The first session brings DevInfo the registry did not have: a change, traced.
      await session();
      const first = await lastLog(store, id);
      assert.notEqual(first.kind, 'heartbeat');
      assert.equal(first.sessionId !== null, true);
      const afterFirst = await traceCount(store, id);
      assert.ok(afterFirst >= 2);

      // A heartbeat: nothing queued, nothing changed.
      await session();
      const hb = await lastLog(store, id);
      assert.equal(hb.kind, 'heartbeat');
      assert.equal(hb.outcome, 'completed');
      assert.equal(hb.messages, 1);
      assert.equal(hb.sessionId, null);
      assert.ok(hb.bytes > 200, `bytes ${hb.bytes}`);
      assert.equal(await traceCount(store, id), afterFirst);
      const records = await A('GET', `/devices/${encodeURIComponent(id)}/session-records?limit=2`);
      assert.equal(records.status, 200);
      assert.deepEqual(
        records.body.items.map((r: { kind: string; traced: string | null }) => [r.kind, r.traced === null]),
        [
          ['heartbeat', true],
          [first.kind, false],
        ],
      );
      assert.equal(records.body.items[0].bytes, hb.bytes);

      // A session with a command keeps every message.
      assert.equal(
        (
          await A('POST', `/devices/${encodeURIComponent(id)}/commands`, {
            type: 'Replace',
            uri: './Vendor/Level',
            value: '2',
          })
        ).status,
        201,
      );
      await session();
      const cmd = await lastLog(store, id);
      assert.equal(cmd.kind, 'commands');
      assert.ok(cmd.messages >= 2);
      assert.ok(cmd.sessionId);
      assert.equal(
        (await store.traces.list(id, { sessionId: cmd.sessionId, limit: 100 })).items.length,
        2 * cmd.messages,
      );
      assert.equal(
        cmd.bytes,
        (await store.traces.list(id, { sessionId: cmd.sessionId })).items.reduce((s, e) => s + e.size, 0),
      );

      // full: heartbeats too, shown in the device view.
      const on = await A('PATCH', `/devices/${encodeURIComponent(id)}`, { trace: 'full' });
      assert.equal(on.status, 200);
      assert.equal(on.body.trace, 'full');
      let before = await traceCount(store, id);
      await session();
      const traced = await lastLog(store, id);
      assert.equal(traced.kind, 'heartbeat');
      assert.ok(traced.sessionId);
      assert.equal(await traceCount(store, id), before + 2);

      // off: not even a session with commands.
      assert.equal(
        (await A('PATCH', `/devices/${encodeURIComponent(id)}`, { trace: 'off' })).body.trace,
        'off',
      );
      await A('POST', `/devices/${encodeURIComponent(id)}/commands`, {
        type: 'Replace',
        uri: './Vendor/Level',
        value: '3',
      });
      before = await traceCount(store, id);
      await session();
      assert.equal((await lastLog(store, id)).kind, 'commands');
      assert.equal((await lastLog(store, id)).sessionId, null);
      assert.equal(await traceCount(store, id), before);

      // errors: a session with commands that went well is written while it runs, then dropped.
      await A('PATCH', `/devices/${encodeURIComponent(id)}`, { trace: 'errors' });
      await A('POST', `/devices/${encodeURIComponent(id)}/commands`, {
        type: 'Replace',
        uri: './Vendor/Level',
        value: '4',
      });
      await session();
      assert.equal((await lastLog(store, id)).sessionId, null);
      assert.equal(await traceCount(store, id), before);
      assert.equal(sim.tree.get('./Vendor/Level')?.value, '4');

      // Back to the default, then a group switch applies to its devices.
      const reset = await A('PATCH', `/devices/${encodeURIComponent(id)}`, { trace: null, groups: ['lab'] });
      assert.equal(reset.body.trace, null);
      const g = await A('PATCH', '/groups/lab', { trace: 'full' });
      assert.equal(g.status, 200);
      assert.equal(g.body.trace, 'full');
      assert.equal(
        (await A('GET', '/groups')).body.items.find((x: { name: string }) => x.name === 'lab').trace,
        'full',
      );
      await session();
      assert.ok((await lastLog(store, id)).sessionId);
      assert.equal(await traceCount(store, id), before + 2);
      // The device's own switch wins over its group's.
      await A('PATCH', `/devices/${encodeURIComponent(id)}`, { trace: 'off' });
      await session();
      assert.equal((await lastLog(store, id)).sessionId, null);
      assert.equal(await traceCount(store, id), before + 2);
      assert.equal((await A('PATCH', '/groups/nope', { trace: 'full' })).status, 404);
      assert.equal((await A('PATCH', '/groups/lab', { trace: 'loud' })).status, 400);
      assert.equal((await A('PATCH', `/devices/${encodeURIComponent(id)}`, { trace: 'loud' })).status, 400);
    });

    test('a refused package 1 keeps no trace and no session record (issue 11: bounded metadata only)', async (t) => {
      const backend = await freshBackend(b.name);
      const store = await backend.open();
      const srv = await startServer(store);
      t.after(async () => {
        await srv.close();
        await store.close();
        await backend.cleanup();
      });
      const id = 'IMEI:490154203237518';
      await store.devices.create({
        id,
        authType: 'md5',
        clientSecret: 'right',
        serverAuthName: 'omadm',
        serverSecret: 'x',
      });
      const sim = new DeviceSim({ deviceId: id, secret: 'wrong', serverSecret: 'x' });
      await sim.session(`${srv.url}/dm`).catch(() => undefined);
      const entries = (await store.traces.list(id, { limit: 100 })).items;
      assert.equal(entries.length, 0, 'an unauthenticated sender is not traced');
      const log = (await store.sessionLog.list(id)).items;
      assert.equal(log.length, 0, 'nor recorded as a session');
      const seen = srv.server.dm.unauthenticated.list().find((c) => c.deviceId === id);
      assert.ok(seen && seen.count > 0, 'only bounded metadata of the refusal is kept');
    });
  });
}
