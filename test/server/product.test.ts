/**
 * The DM Server product end to end, on SQLite and PostgreSQL: omadm's client engine as the device
 * over real HTTP; commands queued through the REST API and followed with `?wait=`; Exec completed
 * by its Generic Alert; a restart between queueing and delivery; and two server nodes on one
 * database serving one device's session alternately.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Store } from '../../src/server/store/index.ts';
import { DeviceSim } from './device-sim.ts';
import { api, type Backend, backends, freshBackend, type Running, startServer } from './helpers.ts';

const enc = encodeURIComponent;

for (const { name, skip } of await backends()) {
  describe(`DM server product on ${name}`, { skip }, () => {
    let backend: Backend;
    let store: Store;
    let srv: Running;
    const A = (method: string, path: string, body?: unknown) => api(srv.url, srv.admin, method, path, body);

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

    for (const auth of ['md5', 'hmac', 'basic'] as const) {
      test(`a Get and a Replace queued through the API reach the device (${auth}); results via ?wait`, async () => {
        const id = `IMEI:35000000000000${auth.length}-${auth}`;
        const created = await A('POST', '/devices', {
          id,
          secret: 'client-secret',
          authType: auth,
          serverSecret: 'server-secret',
        });
        assert.equal(created.status, 201, JSON.stringify(created.body));
        const get = await A('POST', `/devices/${enc(id)}/commands`, { type: 'Get', uri: './DevDetail/SwV' });
        const rep = await A('POST', `/devices/${enc(id)}/commands`, {
          type: 'Replace',
          uri: './Vendor/Color',
          value: 'blue',
        });
        assert.equal(get.status, 201);
        assert.equal(rep.status, 201);

        // Long-poll first, then let the device connect: the waiting request answers when done.
        const waiting = A('GET', `/commands/${get.body.id}?wait=20`);
        const sim = new DeviceSim({
          deviceId: id,
          secret: 'client-secret',
          auth,
          serverSecret: 'server-secret',
          tree: { './DevDetail/SwV': '4.2.1', './Vendor/Color': 'red' },
        });
        const { result } = await sim.session(`${srv.url}/dm`);
        assert.equal(result?.outcome, 'completed');
        assert.equal(result?.serverAuthenticated, true);
        assert.deepEqual(sim.executed, ['Get ./DevDetail/SwV', 'Replace ./Vendor/Color']);
        assert.equal(sim.tree.get('./Vendor/Color')?.value, 'blue');

        const g = await waiting;
        assert.equal(g.status, 200);
        assert.equal(g.body.state, 'succeeded');
        assert.equal(g.body.status, 200);
        assert.deepEqual(g.body.results, [
          { uri: './DevDetail/SwV', value: '4.2.1', format: 'chr', type: null },
        ]);
        const r = await A('GET', `/commands/${rep.body.id}?wait=5`);
        assert.equal(r.body.state, 'succeeded');
        assert.equal(r.body.status, 200);
        assert.equal(r.body.attempts, 1);

        // Inventory and tree cache.
        const d = await A('GET', `/devices/${enc(id)}`);
        assert.equal(d.body.sessionCount, 1);
        assert.equal(d.body.online, false);
        assert.ok(d.body.lastSeen);
        assert.equal(d.body.devInfo.Mod, 'sim-1');
        assert.equal(d.body.devDetail.SwV, '4.2.1');
        const tree = await A('GET', `/devices/${enc(id)}/tree`);
        const values = Object.fromEntries(
          tree.body.items.map((v: { uri: string; value: string }) => [v.uri, v.value]),
        );
        assert.equal(values['./DevDetail/SwV'], '4.2.1');
        assert.equal(values['./Vendor/Color'], 'blue');
        assert.equal(values['./DevInfo/Man'], 'omadm-test');

        // The session and its protocol trace.
        const sessions = await A('GET', `/devices/${enc(id)}/sessions`);
        assert.equal(sessions.body.items.length, 1);
        const s = sessions.body.items[0];
        assert.equal(s.outcome, 'completed');
        const trace = await A('GET', `/sessions/${s.id}/trace`);
        assert.equal(trace.status, 200);
        const dirs = trace.body.messages.map((m: { direction: string }) => m.direction);
        assert.deepEqual(
          dirs,
          dirs.map((_: string, i: number) => (i % 2 === 0 ? 'in' : 'out')),
        );
        assert.ok(trace.body.messages.length >= 4);
        assert.match(trace.body.messages[0].xml, /<Alert>[\s\S]*<Data>1201<\/Data>/);
        assert.ok(
          trace.body.messages.some((m: { xml: string }) => /<Replace>[\s\S]*\.\/Vendor\/Color/.test(m.xml)),
        );
        assert.ok(trace.body.messages.every((m: { size: number }) => m.size > 0));
      });
    }

    test('DevInfo: repeated as is it writes nothing; a changed value reaches registry and tree cache', async () => {
      const id = 'IMEI:devinfo-1';
      await A('POST', '/devices', { id, secret: 's1', serverSecret: 'x1' });
      const sim = new DeviceSim({ deviceId: id, secret: 's1', serverSecret: 'x1' });
      const mod = async () => {
        const tree = await A('GET', `/devices/${enc(id)}/tree`);
        return (tree.body.items as { uri: string; value: string; readAt: string }[]).find(
          (v) => v.uri === './DevInfo/Mod',
        );
      };
      assert.equal((await sim.session(`${srv.url}/dm`)).result?.outcome, 'completed');
      const first = await mod();
      assert.equal(first?.value, 'sim-1');
      await new Promise((resolve) => setTimeout(resolve, 5));
      assert.equal((await sim.session(`${srv.url}/dm`)).result?.outcome, 'completed');
      // Unchanged: the cached row is the one written when the value was first seen.
      assert.deepEqual(await mod(), first);
      const seen = (await A('GET', `/devices/${enc(id)}`)).body;
      assert.equal(seen.sessionCount, 2);
      assert.ok(Date.parse(seen.lastSeen) > Date.parse(first!.readAt));

      sim.model = 'sim-2';
      assert.equal((await sim.session(`${srv.url}/dm`)).result?.outcome, 'completed');
      const changed = await mod();
      assert.equal(changed?.value, 'sim-2');
      assert.ok(Date.parse(changed!.readAt) > Date.parse(first!.readAt));
      const d = (await A('GET', `/devices/${enc(id)}`)).body;
      assert.equal(d.devInfo.Mod, 'sim-2');
      assert.equal(d.devInfo.Man, 'omadm-test');
    });

    test('WBXML device; a failed destructive command shows as failed with its status', async () => {
      const id = 'IMEI:wbxml-1';
      await A('POST', '/devices', { id, secret: 's3', serverSecret: 'x3' });
      const ok = await A('POST', `/devices/${enc(id)}/commands`, { type: 'Replace', uri: './A', value: '1' });
      const bad = await A('POST', `/devices/${enc(id)}/commands`, {
        type: 'Replace',
        uri: './Locked',
        value: '2',
      });
      const missing = await A('POST', `/devices/${enc(id)}/commands`, { type: 'Delete', uri: './Nope' });
      const sim = new DeviceSim({
        deviceId: id,
        secret: 's3',
        serverSecret: 'x3',
        encoding: 'wbxml',
        tree: { './A': '0', './Locked': 'x' },
        failReplace: { './Locked': 425 },
      });
      const { result } = await sim.session(`${srv.url}/dm`);
      assert.equal(result?.outcome, 'completed');
      assert.equal((await A('GET', `/commands/${ok.body.id}`)).body.state, 'succeeded');
      const b = (await A('GET', `/commands/${bad.body.id}`)).body;
      assert.equal(b.state, 'failed');
      assert.equal(b.status, 425);
      const m = (await A('GET', `/commands/${missing.body.id}`)).body;
      assert.equal(m.state, 'failed');
      assert.equal(m.status, 404);
      // WBXML messages are decoded for the trace.
      const s = (await A('GET', `/devices/${enc(id)}/sessions`)).body.items[0];
      const trace = (await A('GET', `/sessions/${s.id}/trace`)).body;
      assert.equal(trace.messages[0].contentType, 'application/vnd.syncml.dm+wbxml');
      assert.match(trace.messages[0].xml, /^<SyncML/);
    });

    test('an Exec answered 202 stays pending until the Generic Alert with its Correlator arrives', async () => {
      const id = 'IMEI:fumo-1';
      await A('POST', '/devices', { id, secret: 'f', serverSecret: 'g' });
      const exec = await A('POST', `/devices/${enc(id)}/commands`, { type: 'Exec', uri: './FUMO/1/Update' });
      const sim = new DeviceSim({
        deviceId: id,
        secret: 'f',
        serverSecret: 'g',
        tree: { './FUMO/1/Update': '' },
        asyncExec: ['./FUMO/1/Update'],
        deferAlerts: true,
      });
      await sim.session(`${srv.url}/dm`);
      const pending = (await A('GET', `/commands/${exec.body.id}`)).body;
      assert.equal(pending.state, 'pending');
      assert.equal(pending.status, 202);
      assert.equal(sim.pendingAlerts, 1);
      // A waiter for the final state answers once the alert has arrived.
      const waiting = A('GET', `/commands/${exec.body.id}?wait=20`);
      const { result } = await sim.session(`${srv.url}/dm`);
      assert.equal(result?.outcome, 'completed');
      assert.equal(sim.pendingAlerts, 0);
      const done = (await waiting).body;
      assert.equal(done.state, 'succeeded');
      assert.ok(Array.isArray(done.detail.alerts));
      assert.equal(done.detail.alerts[0].status, 200);
      // Nothing was executed twice.
      assert.deepEqual(sim.executed, ['Exec ./FUMO/1/Update']);
    });

    test('wrong client secret: the session fails authentication and nothing is delivered', async () => {
      const id = 'IMEI:auth-fail';
      await A('POST', '/devices', { id, secret: 'right', serverSecret: 'srv' });
      const c = await A('POST', `/devices/${enc(id)}/commands`, { type: 'Replace', uri: './A', value: '1' });
      const sim = new DeviceSim({ deviceId: id, secret: 'wrong', serverSecret: 'srv', tree: { './A': '0' } });
      await assert.rejects(sim.session(`${srv.url}/dm`), { code: 'OMADM_ERR_SESSION_AUTH_FAILED' });
      assert.deepEqual(sim.executed, []);
      assert.equal((await A('GET', `/commands/${c.body.id}`)).body.state, 'queued');
    });

    test('unknown devices are refused, or enrolled when the auto-enrollment policy allows', async () => {
      const stranger = new DeviceSim({ deviceId: 'IMEI:stranger', secret: 'factory' });
      await assert.rejects(stranger.session(`${srv.url}/dm`), { code: 'OMADM_ERR_SESSION_AUTH_FAILED' });
      assert.equal((await A('GET', `/devices/${enc('IMEI:stranger')}`)).status, 404);

      const enrolling = await startServer(store, {
        autoEnroll: { secret: 'factory', idPattern: /^IMEI:auto-/, tags: ['auto'] },
      });
      try {
        const newcomer = new DeviceSim({ deviceId: 'IMEI:auto-7', secret: 'factory' });
        const { result } = await newcomer.session(`${enrolling.url}/dm`);
        assert.equal(result?.outcome, 'completed');
        const d = await api(enrolling.url, enrolling.admin, 'GET', `/devices/${enc('IMEI:auto-7')}`);
        assert.equal(d.status, 200);
        assert.equal(d.body.enrolled, 'auto');
        assert.deepEqual(d.body.tags, ['auto']);
        // The pattern limits who is enrolled.
        const other = new DeviceSim({ deviceId: 'IMEI:other-1', secret: 'factory' });
        await assert.rejects(other.session(`${enrolling.url}/dm`), { code: 'OMADM_ERR_SESSION_AUTH_FAILED' });
        assert.equal(
          (await api(enrolling.url, enrolling.admin, 'GET', `/devices/${enc('IMEI:other-1')}`)).status,
          404,
        );
        const audit = await api(enrolling.url, enrolling.admin, 'GET', '/audit?action=device.autoenroll');
        assert.ok(audit.body.items.some((e: { target: string }) => e.target === 'IMEI:auto-7'));
      } finally {
        await enrolling.close();
      }
    });

    test('a restart between queueing and delivery loses nothing', async () => {
      const id = 'IMEI:restart-1';
      await A('POST', '/devices', { id, secret: 'r', serverSecret: 'q' });
      const c = await A('POST', `/devices/${enc(id)}/commands`, {
        type: 'Replace',
        uri: './Vendor/Mode',
        value: 'eco',
      });
      // Stop the server and close the database; start a new server process on the same data.
      await srv.close();
      await store.close();
      store = await backend.open();
      srv = await startServer(store, {}, srv.admin);
      const sim = new DeviceSim({
        deviceId: id,
        secret: 'r',
        serverSecret: 'q',
        tree: { './Vendor/Mode': 'normal' },
      });
      const { result } = await sim.session(`${srv.url}/dm`);
      assert.equal(result?.outcome, 'completed');
      assert.equal(sim.tree.get('./Vendor/Mode')?.value, 'eco');
      const done = (await A('GET', `/commands/${c.body.id}?wait=5`)).body;
      assert.equal(done.state, 'succeeded');
      assert.equal(done.attempts, 1);
    });

    test('two server nodes on one database serve one session alternately; delivered exactly once', async () => {
      const second = await backend.open();
      const nodeB = await startServer(second, {}, srv.admin);
      try {
        const id = 'IMEI:two-nodes';
        await A('POST', '/devices', { id, secret: 'n', serverSecret: 'm' });
        const ids: string[] = [];
        for (let i = 0; i < 3; i++) {
          const c = await A('POST', `/devices/${enc(id)}/commands`, {
            type: 'Replace',
            uri: `./Vendor/K${i}`,
            value: `v${i}`,
          });
          ids.push(c.body.id);
        }
        const get = await A('POST', `/devices/${enc(id)}/commands`, { type: 'Get', uri: './DevDetail/SwV' });
        const sim = new DeviceSim({
          deviceId: id,
          secret: 'n',
          serverSecret: 'm',
          tree: { './Vendor/K0': '-', './Vendor/K1': '-', './Vendor/K2': '-', './DevDetail/SwV': '9' },
        });
        const nodes = [srv.url, nodeB.url];
        const seen = new Set<string>();
        const { result, requests } = await sim.session(`${srv.url}/dm`, (req, i) => {
          const u = new URL(req.url);
          const target = new URL(nodes[i % 2]!);
          u.host = target.host;
          seen.add(u.host);
          return u.href;
        });
        assert.equal(result?.outcome, 'completed');
        assert.ok(requests >= 2);
        assert.equal(seen.size, 2);
        assert.deepEqual(
          sim.executed.filter((e) => e.startsWith('Replace')),
          ['Replace ./Vendor/K0', 'Replace ./Vendor/K1', 'Replace ./Vendor/K2'],
        );
        for (const cid of ids) {
          const c = (await api(nodeB.url, srv.admin, 'GET', `/commands/${cid}`)).body;
          assert.equal(c.state, 'succeeded');
          assert.equal(c.attempts, 1);
        }
        const g = (await api(nodeB.url, srv.admin, 'GET', `/commands/${get.body.id}?wait=5`)).body;
        assert.equal(g.state, 'succeeded');
        assert.equal(g.results[0].value, '9');
      } finally {
        await nodeB.close();
        await second.close();
      }
    });
  });
}
