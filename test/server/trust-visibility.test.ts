/**
 * What a read-only user, a log reader or someone with a copy of the database can learn: attacks
 * from the REST API side with a viewer token, over real DM sessions on loopback (issue 11, items
 * 2, 6 and 7). Each test is the attack it stops.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import type { SqlStore, Store } from '../../src/server/store/index.ts';
import { DeviceSim } from './device-sim.ts';
import { api, type Backend, backends, freshBackend, type Running, startServer } from './helpers.ts';

const SECRET_URI = './DMAcc/omadm/AppAuth/ClientSide/AAuthSecret';
const SECRET = 'Tr0ub4dor&3-horse-staple';

/** Every string the database holds in the given table, as one text (what a dump would show). */
async function dump(store: Store, table: string): Promise<string> {
  const db = (store as SqlStore).kysely;
  const rows = (await sql.raw(`SELECT * FROM ${table}`).execute(db)).rows as Record<string, unknown>[];
  return rows
    .map((r) =>
      Object.values(r)
        .map((v) => (v instanceof Uint8Array ? Buffer.from(v).toString('latin1') : String(v)))
        .join('|'),
    )
    .join('\n');
}

for (const { name, skip } of await backends()) {
  describe(`what viewers and dumps see, on ${name}`, { skip }, () => {
    let backend: Backend;
    let store: Store;
    let srv: Running;
    let operator: string;
    let viewer: string;
    const A = (method: string, path: string, body?: unknown, token?: string) =>
      api(srv.url, token ?? srv.admin, method, path, body);

    before(async () => {
      backend = await freshBackend(name);
      store = await backend.open();
      srv = await startServer(store);
      operator = (await A('POST', '/tokens', { name: 'ops', role: 'operator' })).body.token;
      viewer = (await A('POST', '/tokens', { name: 'watcher', role: 'viewer' })).body.token;
    });
    after(async () => {
      await srv?.close();
      await store?.close();
      await backend?.cleanup();
    });

    for (const encoding of ['xml', 'wbxml'] as const) {
      test(`a viewer cannot obtain the RespURI session token (${encoding})`, async () => {
        const id = `IMEI:token-${encoding}`;
        await A('POST', '/devices', { id, secret: 's1', serverSecret: 'x1' }, operator);
        await A('POST', `/devices/${encodeURIComponent(id)}/commands`, { type: 'Get', uri: './A' }, operator);
        const sim = new DeviceSim({
          deviceId: id,
          secret: 's1',
          serverSecret: 'x1',
          encoding,
          tree: { './A': '1' },
        });
        const tokens = new Set<string>();
        const { result } = await sim.session(`${srv.url}/dm`, (req) => {
          const t = new URL(req.url).searchParams.get('s');
          if (t) tokens.add(t);
          return req.url;
        });
        assert.equal(result?.outcome, 'completed');
        assert.ok(tokens.size > 0, 'the server handed out a RespURI token');

        const sessions = await A('GET', `/devices/${encodeURIComponent(id)}/sessions`, undefined, viewer);
        assert.equal(sessions.status, 200);
        assert.equal(sessions.body.items.length, 1);
        const sid = sessions.body.items[0].id as string;
        const trace = await A('GET', `/sessions/${sid}/trace`, undefined, viewer);
        assert.equal(trace.status, 200);
        assert.ok(trace.body.messages.length >= 2);
        assert.match(JSON.stringify(trace.body), /RespURI/);
        const shown = [
          JSON.stringify(sessions.body),
          Buffer.from(sid, 'base64url').toString('utf8'),
          JSON.stringify(trace.body),
          JSON.stringify(
            (await A('GET', `/devices/${encodeURIComponent(id)}/commands`, undefined, viewer)).body,
          ),
          await dump(store, 'omadm_trace'),
        ].join('\n');
        for (const t of tokens) assert.equal(shown.includes(t), false, `token ${t} is visible`);
      });
    }

    for (const encoding of ['xml', 'wbxml'] as const) {
      test(`a secret written to the device is seen by no viewer, trace or dump (${encoding})`, async () => {
        const id = `IMEI:secret-${encoding}`;
        await A('POST', '/devices', { id, secret: 's1', serverSecret: 'x1' }, operator);
        const queued = await A(
          'POST',
          `/devices/${encodeURIComponent(id)}/commands`,
          { type: 'Replace', uri: SECRET_URI, value: SECRET },
          operator,
        );
        assert.equal(queued.status, 201);
        assert.equal(JSON.stringify(queued.body).includes(SECRET), false, 'the answer to the operator');
        assert.equal(queued.body.request.secret, true);
        // Stored sealed: a copy of the database does not give it away.
        assert.equal((await dump(store, 'omadm_command')).includes(SECRET), false, 'the queue at rest');

        const sim = new DeviceSim({
          deviceId: id,
          secret: 's1',
          serverSecret: 'x1',
          encoding,
          tree: { [SECRET_URI]: 'old' },
        });
        const { result } = await sim.session(`${srv.url}/dm`);
        assert.equal(result?.outcome, 'completed');
        // The device got the real value.
        assert.equal(sim.tree.get(SECRET_URI)?.value, SECRET);

        const cmd = await A('GET', `/commands/${queued.body.id}`, undefined, viewer);
        assert.equal(cmd.body.state, 'succeeded');
        const sessions = await A('GET', `/devices/${encodeURIComponent(id)}/sessions`, undefined, viewer);
        const trace = await A('GET', `/sessions/${sessions.body.items[0].id}/trace`, undefined, viewer);
        assert.match(JSON.stringify(trace.body), /\[redacted\]/);
        const shown = [
          JSON.stringify(cmd.body),
          JSON.stringify(trace.body),
          JSON.stringify((await A('GET', `/devices/${encodeURIComponent(id)}/tree`, undefined, viewer)).body),
          JSON.stringify(
            (await A('GET', `/devices/${encodeURIComponent(id)}/commands`, undefined, operator)).body,
          ),
          JSON.stringify((await A('GET', '/audit')).body),
          await dump(store, 'omadm_command'),
          await dump(store, 'omadm_trace'),
          await dump(store, 'omadm_tree_value'),
        ].join('\n');
        assert.equal(shown.includes(SECRET), false, 'the secret is visible');
      });
    }

    test('a secret leaf a device returns to a Get is neither shown nor stored', async () => {
      const id = 'IMEI:secret-get';
      await A('POST', '/devices', { id, secret: 's1' }, operator);
      const get = await A(
        'POST',
        `/devices/${encodeURIComponent(id)}/commands`,
        { type: 'Get', uri: SECRET_URI },
        operator,
      );
      // A device that ignores its DDF and answers a Get on AAuthSecret.
      const sim = new DeviceSim({ deviceId: id, secret: 's1', tree: { [SECRET_URI]: SECRET } });
      await sim.session(`${srv.url}/dm`);
      const cmd = await A('GET', `/commands/${get.body.id}`, undefined, viewer);
      assert.equal(cmd.body.state, 'succeeded');
      assert.equal(cmd.body.results[0].value, '[redacted]');
      const shown = [
        JSON.stringify(cmd.body),
        JSON.stringify((await A('GET', `/devices/${encodeURIComponent(id)}/tree`, undefined, viewer)).body),
        await dump(store, 'omadm_command'),
        await dump(store, 'omadm_tree_value'),
        await dump(store, 'omadm_trace'),
      ].join('\n');
      assert.equal(shown.includes(SECRET), false);
    });

    test('a retried secret command is sealed again and still reaches the device', async () => {
      const id = 'IMEI:secret-retry';
      await A('POST', '/devices', { id, secret: 's1' }, operator);
      const first = await A(
        'POST',
        `/devices/${encodeURIComponent(id)}/commands`,
        { type: 'Replace', uri: SECRET_URI, value: SECRET },
        operator,
      );
      await A('DELETE', `/commands/${first.body.id}`, undefined, operator);
      const again = await A('POST', `/commands/${first.body.id}/retry`, undefined, operator);
      assert.equal(again.status, 201);
      assert.equal(JSON.stringify(again.body).includes(SECRET), false);
      const sim = new DeviceSim({ deviceId: id, secret: 's1', tree: { [SECRET_URI]: 'old' } });
      await sim.session(`${srv.url}/dm`);
      assert.equal(sim.tree.get(SECRET_URI)?.value, SECRET);
    });

    test('a Basic credential (the device password) never reaches the trace', async () => {
      const id = 'IMEI:basic-cred';
      await A('POST', '/devices', { id, secret: 'basic-pw-123', authType: 'basic' }, operator);
      const sim = new DeviceSim({ deviceId: id, secret: 'basic-pw-123', auth: 'basic' });
      await sim.session(`${srv.url}/dm`);
      const cred = Buffer.from(`${id}:basic-pw-123`).toString('base64');
      const sessions = await A('GET', `/devices/${encodeURIComponent(id)}/sessions`, undefined, viewer);
      const trace = await A('GET', `/sessions/${sessions.body.items[0].id}/trace`, undefined, viewer);
      assert.equal(JSON.stringify(trace.body).includes(cred), false);
      assert.equal((await dump(store, 'omadm_trace')).includes(cred), false);
    });

    test('a value XML cannot carry is refused on entry with a 400 in the API error shape', async () => {
      const id = 'IMEI:bad-values';
      await A('POST', '/devices', { id, secret: 's1' }, operator);
      const post = (body: unknown) =>
        A('POST', `/devices/${encodeURIComponent(id)}/commands`, body, operator);
      const cases: unknown[] = [
        { type: 'Replace', uri: './A', value: 'bell\u0007' },
        { type: 'Replace', uri: './A', value: 'nul\u0000', format: 'chr' },
        { type: 'Replace', uri: './A', value: 'lone \ud800 surrogate' },
        { type: 'Replace', uri: './A', value: '\uffff' },
        { type: 'Add', uri: './A', value: 'x\u001b[31m', format: 'xml' },
        { type: 'Replace', uri: './A', value: 'not base64!', format: 'b64' },
        { type: 'Replace', uri: './A', value: 'abc', format: 'bin' },
        { type: 'Atomic', commands: [{ type: 'Replace', uri: './A', value: '\u0001' }] },
      ];
      for (const body of cases) {
        const res = await post(body);
        assert.equal(res.status, 400, JSON.stringify(body));
        assert.equal(res.body.error.code, 'validation', JSON.stringify(body));
        assert.equal(typeof res.body.error.message, 'string');
        assert.match(JSON.stringify(res.body.error.details ?? []), /value/, JSON.stringify(body));
      }
      // Tab, newline, CR, astral characters and valid base64 are fine.
      for (const body of [
        { type: 'Replace', uri: './A', value: 'a\tb\nc\r\u{1F600}' },
        { type: 'Replace', uri: './A', value: 'AAEC', format: 'b64' },
        { type: 'Replace', uri: './A', value: 'AAECAw==', format: 'bin' },
      ]) {
        assert.equal((await post(body)).status, 201, JSON.stringify(body));
      }
      const list = await A('GET', `/devices/${encodeURIComponent(id)}/commands`, undefined, viewer);
      assert.equal(list.body.items.length, 3, 'nothing refused was queued');
    });
  });
}
