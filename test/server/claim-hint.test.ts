/**
 * A DM message claims from the queue only when its credentials read said something was queued
 * (dm-adapters `nothingQueued`): a command queued after that read is not lost — it is left queued
 * for the next message — and a session superseded in the same message still has its commands
 * offered again (covered in store/session-head.test.ts).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Store } from '../../src/server/store/index.ts';
import { DeviceSim } from './device-sim.ts';
import { type Backend, backends, freshBackend, type Running, startServer } from './helpers.ts';

for (const { name, skip } of await backends()) {
  describe(`claim hint on ${name}`, { skip }, () => {
    let backend: Backend;
    let store: Store;
    let srv: Running;
    before(async () => {
      backend = await freshBackend(name);
      store = await backend.open();
      srv = await startServer(store);
    });
    after(async () => {
      await srv?.close();
      await store?.close();
      await backend?.cleanup();
    });

    test('a command queued after a message read the credentials waits for the next session', async () => {
      const id = 'IMEI:claim-hint-1';
      await store.devices.create({ id, clientSecret: 's', serverSecret: 'x', serverAuthName: 'omadm' });
      const sim = new DeviceSim({
        deviceId: id,
        secret: 's',
        serverSecret: 'x',
        tree: { './DevInfo/Man': 'm' },
      });
      // Queue a command right after the first message's credentials read (nothing queued then).
      const credentials = store.devices.credentials.bind(store.devices);
      let queued: number | undefined;
      store.devices.credentials = async (deviceId: string) => {
        const c = await credentials(deviceId);
        if (queued === undefined) {
          assert.equal(c?.hasQueued, false);
          queued = (await store.queue.enqueue(id, { kind: 'Get', target: './DevInfo/Man' })).id;
        }
        return c;
      };
      try {
        const first = await sim.session(`${srv.url}/dm`);
        assert.equal(first.result?.outcome, 'completed');
        assert.deepEqual(sim.executed, []);
        assert.equal((await store.queue.get(queued!))?.state, 'queued');
        const second = await sim.session(`${srv.url}/dm`);
        assert.equal(second.result?.outcome, 'completed');
        assert.deepEqual(sim.executed, ['Get ./DevInfo/Man']);
        assert.equal((await store.queue.get(queued!))?.state, 'succeeded');
      } finally {
        store.devices.credentials = credentials;
      }
    });

    test('credentials say whether anything is queued', async () => {
      const id = 'IMEI:claim-hint-2';
      await store.devices.create({ id, clientSecret: 's' });
      assert.equal((await store.devices.credentials(id))?.hasQueued, false);
      const c = await store.queue.enqueue(id, { kind: 'Get', target: './DevInfo/Mod' });
      assert.equal((await store.devices.credentials(id))?.hasQueued, true);
      await store.queue.cancel(c.id, 'test');
      assert.equal((await store.devices.credentials(id))?.hasQueued, false);
    });
  });
}
