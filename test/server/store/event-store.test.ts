/**
 * The EventStore contract on SQLite and PostgreSQL: events in order, newest first with paging
 * and filters, bounded per device and by age (inline and by the sweep), hostile input refused
 * with typed errors, gone with their device.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type DeviceEventInput, isStoreError, StoreErrorCode } from '../../../src/server/store/index.ts';
import { postgresBackend, postgresUnavailable, sqliteBackend, type TestBackend } from './backends.ts';

function ev(deviceId: string, at: number, over: Partial<DeviceEventInput> = {}): DeviceEventInput {
  return {
    deviceId,
    at,
    alertCode: 1226,
    alertType: 'org.openmobilealliance.dm.firmwareupdate.update',
    format: 'int',
    mark: 'critical',
    sourceUri: './FwUpdate/x/Update',
    targetUri: null,
    correlator: null,
    data: '200',
    sessionId: '1a',
    ...over,
  };
}

function contract(backend: TestBackend): void {
  describe(`${backend.name}: device events`, () => {
    test('append keeps every field and order; list is newest first with paging and filters', async () => {
      await using f = await backend.fresh();
      const t = f.clock.t;
      const stored = await f.store.events.append([
        ev('IMEI:1', t, { correlator: 'c1' }),
        ev('IMEI:1', t + 1, { alertType: 'com.example.battery', format: 'chr', mark: null, data: 'low' }),
        ev('IMEI:2', t + 2, { alertCode: 1224, alertType: null, data: null, sourceUri: null }),
        ev('IMEI:1', t + 3, { targetUri: './T', data: 'x'.repeat(60_000) }),
      ]);
      assert.equal(stored.length, 4);
      assert.ok(stored.every((e, i) => i === 0 || e.id > stored[i - 1]!.id));
      const { id: _id, ...first } = stored[0]!;
      assert.deepEqual(first, ev('IMEI:1', t, { correlator: 'c1' }));

      const all = await f.store.events.list('IMEI:1');
      assert.deepEqual(
        all.items.map((e) => e.at),
        [t + 3, t + 1, t],
      );
      assert.equal(all.items[0]!.data?.length, 60_000);
      assert.equal(all.items[0]!.targetUri, './T');
      const p1 = await f.store.events.list('IMEI:1', { limit: 2 });
      assert.equal(p1.items.length, 2);
      const p2 = await f.store.events.list('IMEI:1', { limit: 2, cursor: p1.nextCursor! });
      assert.deepEqual(
        p2.items.map((e) => e.at),
        [t],
      );
      assert.equal(p2.nextCursor, undefined);
      assert.deepEqual(
        (await f.store.events.list('IMEI:1', { alertType: 'com.example.battery' })).items.map((e) => e.data),
        ['low'],
      );
      assert.deepEqual(
        (await f.store.events.list('IMEI:1', { correlator: 'c1' })).items.map((e) => e.at),
        [t],
      );
      assert.deepEqual(
        (await f.store.events.list('IMEI:1', { since: t + 1 })).items.map((e) => e.at),
        [t + 3, t + 1],
      );
      const other = (await f.store.events.list('IMEI:2')).items;
      assert.equal(other.length, 1);
      assert.equal(other[0]!.alertCode, 1224);
      assert.equal(other[0]!.data, null);
    });

    test('bounded per device (inline) and by age (prune, sweep)', async () => {
      await using f = await backend.fresh({
        eventRetention: { maxPerDevice: 3, maxAgeMs: 60_000 },
        pruneEvery: 1,
      });
      const t = f.clock.t;
      for (let i = 0; i < 6; i++) await f.store.events.append([ev('IMEI:1', t + i, { data: String(i) })]);
      assert.deepEqual(
        (await f.store.events.list('IMEI:1')).items.map((e) => e.data),
        ['5', '4', '3'],
      );
      await f.store.events.append([ev('IMEI:2', t, { data: 'old' })]);
      f.clock.advance(60_004);
      // t+4, t+5 are young enough; t+3 and the other device's event are not.
      const report = await f.store.sweep();
      assert.equal(report.eventsPruned, 2);
      assert.deepEqual(
        (await f.store.events.list('IMEI:1')).items.map((e) => e.data),
        ['5', '4'],
      );
      assert.equal((await f.store.events.list('IMEI:2')).items.length, 0);
      f.clock.advance(10_000);
      assert.equal(await f.store.events.prune('IMEI:1'), 2);
    });

    test('hostile input is refused with INVALID_INPUT, never stored in part', async () => {
      await using f = await backend.fresh();
      const bad: DeviceEventInput[] = [
        ev('', 1),
        ev('IMEI:1', Number.NaN),
        ev('IMEI:1', 1, { alertCode: 12.5 }),
        ev('IMEI:1', 1, { data: 'x'.repeat(64 * 1024 + 1) }),
        ev('IMEI:1', 1, { sourceUri: 'x'.repeat(5000) }),
      ];
      for (const e of bad) {
        await assert.rejects(f.store.events.append([ev('IMEI:1', 1, { data: 'fine' }), e]), (err: unknown) =>
          isStoreError(err, StoreErrorCode.InvalidInput),
        );
      }
      assert.equal((await f.store.events.list('IMEI:1')).items.length, 0);
      await assert.rejects(f.store.events.list('IMEI:1', { cursor: 'nope' }), (err: unknown) =>
        isStoreError(err, StoreErrorCode.InvalidInput),
      );
    });

    test('deleting a device deletes its events', async () => {
      await using f = await backend.fresh();
      await f.store.devices.create({ id: 'IMEI:9', clientSecret: 's' });
      await f.store.events.append([ev('IMEI:9', f.clock.t), ev('IMEI:8', f.clock.t)]);
      await f.store.devices.delete('IMEI:9');
      assert.equal((await f.store.events.list('IMEI:9')).items.length, 0);
      assert.equal((await f.store.events.list('IMEI:8')).items.length, 1);
    });
  });
}

contract(sqliteBackend);
const unavailable = await postgresUnavailable();
if (unavailable) test('device events on PostgreSQL', { skip: unavailable }, () => {});
else contract(postgresBackend);
