/**
 * The operator REST API against SQLite and PostgreSQL (a fresh schema per run): devices CRUD,
 * validation errors, roles, pagination and filters, commands, groups, tokens, the audit log, and
 * the OpenAPI document.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { readFileSync } from 'node:fs';
import { credentialDigest } from '../../src/protocol/auth/index.ts';
import { ApiErrorCode, apiErrorStatus } from '../../src/server/errors.ts';
import type { Store } from '../../src/server/store/index.ts';
import { api, type Backend, backends, freshBackend, type Running, startServer } from './helpers.ts';

test('every API error code and its HTTP status is documented in docs/api.md', () => {
  const doc = readFileSync(new URL('../../docs/api.md', import.meta.url), 'utf8');
  for (const code of Object.values(ApiErrorCode)) {
    const status = apiErrorStatus[code];
    assert.match(
      doc,
      new RegExp(`\\|\\s*${status}\\s*\\|\\s*\`${code}\`\\s*\\|`),
      `${code} (${status}) missing from docs/api.md`,
    );
  }
});

for (const { name, skip } of await backends()) {
  describe(`operator API on ${name}`, { skip }, () => {
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
      // A long-poll in flight does not hold the close: it answers with the current state.
      const cmd = await A('POST', '/devices', { id: 'closing-dev', secret: 's' }).then(() =>
        A('POST', '/devices/closing-dev/commands', { type: 'Get', uri: '.' }),
      );
      const waiting = A('GET', `/commands/${cmd.body.id}?wait=300`);
      await new Promise((r) => setTimeout(r, 100));
      await srv?.close();
      const answered = await waiting;
      assert.equal(answered.status, 200);
      assert.equal(answered.body.state, 'queued');
      await store?.close();
      await backend?.cleanup();
    });

    test('create, get, update and delete a device; secrets stored only as digests', async () => {
      const created = await A('POST', '/devices', {
        id: 'IMEI:490154203237518',
        secret: 'client-pw',
        authType: 'md5',
        serverId: 'omadm',
        serverSecret: 'server-pw',
        tags: ['lab', 'fw-1.2'],
        groups: ['berlin'],
      });
      assert.equal(created.status, 201);
      assert.equal(created.body.id, 'IMEI:490154203237518');
      assert.equal(created.body.authType, 'md5');
      assert.equal(created.body.hasServerSecret, true);
      assert.deepEqual([...created.body.tags].sort(), ['fw-1.2', 'lab']);
      assert.deepEqual(created.body.groups, ['berlin']);
      assert.equal(created.body.enrolled, 'provisioned');
      assert.equal(created.body.online, false);
      assert.equal(JSON.stringify(created.body).includes('client-pw'), false);

      const creds = await store.devices.credentials('IMEI:490154203237518');
      assert.equal(creds?.clientDigest, credentialDigest('IMEI:490154203237518', 'client-pw'));

      const got = await A('GET', `/devices/${encodeURIComponent('IMEI:490154203237518')}`);
      assert.equal(got.status, 200);
      assert.deepEqual(got.body, created.body);

      const patched = await A('PATCH', `/devices/${encodeURIComponent('IMEI:490154203237518')}`, {
        tags: ['prod'],
        authType: 'hmac',
        secret: 'new-pw',
      });
      assert.equal(patched.status, 200);
      assert.deepEqual(patched.body.tags, ['prod']);
      assert.equal(patched.body.authType, 'hmac');
      const creds2 = await store.devices.credentials('IMEI:490154203237518');
      assert.equal(creds2?.clientDigest, credentialDigest('IMEI:490154203237518', 'new-pw'));

      const dup = await A('POST', '/devices', { id: 'IMEI:490154203237518', secret: 'x' });
      assert.equal(dup.status, 409);
      assert.equal(dup.body.error.code, 'conflict');

      const del = await A('DELETE', `/devices/${encodeURIComponent('IMEI:490154203237518')}`);
      assert.equal(del.status, 204);
      const gone = await A('GET', `/devices/${encodeURIComponent('IMEI:490154203237518')}`);
      assert.equal(gone.status, 404);
      assert.equal(gone.body.error.code, 'not_found');
      assert.equal((await A('DELETE', `/devices/${encodeURIComponent('IMEI:490154203237518')}`)).status, 404);
    });

    test('validation errors are 400 with readable details, never 500', async () => {
      const cases: [string, string, unknown, string][] = [
        ['POST', '/devices', { id: 'd1' }, 'body.secret'],
        ['POST', '/devices', { id: 'd1', secret: 5 }, 'body.secret'],
        ['POST', '/devices', { id: 'd1', secret: 's', bogus: true }, 'body.bogus'],
        ['POST', '/devices', { id: 'd1', secret: 's', authType: 'rot13' }, 'body.authType'],
        ['POST', '/devices', { id: 'has space', secret: 's' }, 'body.id'],
        ['POST', '/devices', { id: '', secret: 's' }, 'body.id'],
        ['POST', '/devices', { id: 'd1', secret: 's', tags: ['a,b'] }, 'body.tags[0]'],
        ['GET', '/devices?limit=0', undefined, 'query.limit'],
        ['GET', '/devices?limit=abc', undefined, 'query.limit'],
        ['GET', '/devices?online=maybe', undefined, 'query.online'],
        ['GET', '/devices?sort=id', undefined, 'query.sort'],
        ['GET', '/audit?limit=100000', undefined, 'query.limit'],
        ['POST', '/tokens', { name: 'x', role: 'root' }, 'body.role'],
      ];
      for (const [method, path, body, where] of cases) {
        const r = await A(method, path, body);
        assert.equal(
          r.status,
          400,
          `${method} ${path} ${JSON.stringify(body)} → ${r.status} ${JSON.stringify(r.body)}`,
        );
        assert.equal(r.body.error.code, 'validation');
        assert.equal(typeof r.body.error.message, 'string');
        assert.ok(
          r.body.error.details.some((d: { path: string }) => d.path === where),
          `${path}: ${JSON.stringify(r.body.error.details)} should name ${where}`,
        );
      }
      const badEnum = await A('POST', '/devices', { id: 'd1', secret: 's', authType: 'rot13' });
      assert.match(badEnum.body.error.message, /must be one of basic, md5, hmac, transport/);

      // Bodies that are not JSON at all.
      const notJson = await fetch(`${srv.url}/api/v1/devices`, {
        method: 'POST',
        headers: { authorization: `Bearer ${srv.admin}`, 'content-type': 'application/json' },
        body: '{"id": ',
      });
      assert.equal(notJson.status, 400);
      assert.equal(((await notJson.json()) as { error: { code: string } }).error.code, 'bad_body');
      const wrongType = await fetch(`${srv.url}/api/v1/devices`, {
        method: 'POST',
        headers: { authorization: `Bearer ${srv.admin}`, 'content-type': 'text/plain' },
        body: 'hello',
      });
      assert.equal(wrongType.status, 415);
      assert.equal(((await wrongType.json()) as { error: { code: string } }).error.code, 'bad_body');
      const big = await fetch(`${srv.url}/api/v1/devices`, {
        method: 'POST',
        headers: { authorization: `Bearer ${srv.admin}`, 'content-type': 'application/json' },
        body: JSON.stringify({ id: 'd1', secret: 'x'.repeat(3 * 1024 * 1024) }),
      });
      assert.equal(big.status, 413);

      const noRoute = await A('GET', '/nothing-here');
      assert.equal(noRoute.status, 404);
      assert.equal(noRoute.body.error.code, 'no_route');
    });

    test('commands: shape rules are 400, unknown device 404, queued with an id, cancel', async () => {
      await A('POST', '/devices', { id: 'cmd-dev', secret: 's' });
      const bad: [unknown, string][] = [
        [{ type: 'Get' }, 'body.uri'],
        [{ type: 'Replace', uri: './A' }, 'body.value'],
        [{ type: 'Get', uri: './A', value: 'x' }, 'body.value'],
        [{ type: 'Copy', uri: './A' }, 'body.source'],
        [{ type: 'Replace', uri: './A', value: 'x', format: 'int' }, 'body.value'],
        [{ type: 'Replace', uri: './A', value: '1', format: 'float32' }, 'body.format'],
        [{ type: 'Atomic' }, 'body.commands'],
        [{ type: 'Atomic', commands: [{ type: 'Get', uri: './A' }] }, 'body'],
        [{ type: 'Sequence', commands: [{ type: 'Sequence', commands: [] }] }, 'body.commands[0].type'],
        [{ type: 'Reboot', uri: './A' }, 'body.type'],
        [{ type: 'Get', uri: './A', expiresIn: 0 }, 'body.expiresIn'],
      ];
      for (const [body, where] of bad) {
        const r = await A('POST', '/devices/cmd-dev/commands', body);
        assert.equal(r.status, 400, `${JSON.stringify(body)} → ${r.status} ${JSON.stringify(r.body)}`);
        assert.ok(
          r.body.error.details === undefined ||
            r.body.error.details.some((d: { path: string }) => d.path.startsWith(where)),
          `${JSON.stringify(body)}: ${JSON.stringify(r.body.error)} should name ${where}`,
        );
      }
      const none = await A('POST', '/devices/nope/commands', { type: 'Get', uri: './DevInfo/Mod' });
      assert.equal(none.status, 404);

      const q = await A('POST', '/devices/cmd-dev/commands', {
        type: 'Replace',
        uri: './Vendor/Setting',
        value: '42',
        format: 'int',
        expiresIn: 3600,
      });
      assert.equal(q.status, 201);
      assert.equal(q.body.state, 'queued');
      assert.equal(q.body.type, 'Replace');
      assert.deepEqual(q.body.request, {
        type: 'Replace',
        uri: './Vendor/Setting',
        value: '42',
        format: 'int',
      });
      assert.ok(Date.parse(q.body.expiresAt) > Date.now());
      assert.equal(q.body.createdBy, 'admin');

      const seq = await A('POST', '/devices/cmd-dev/commands', {
        type: 'Sequence',
        commands: [
          { type: 'Get', uri: './DevDetail/SwV' },
          {
            type: 'Atomic',
            commands: [
              { type: 'Add', uri: './Vendor/X' },
              { type: 'Delete', uri: './Vendor/Y' },
            ],
          },
          { type: 'Exec', uri: './FUMO/Update' },
        ],
      });
      assert.equal(seq.status, 201, JSON.stringify(seq.body));
      const exec = (seq.body.request.commands as { type: string; correlator?: string }[])[2];
      assert.equal(exec?.type, 'Exec');
      assert.match(exec?.correlator ?? '', /^[0-9a-f]{32}$/);

      const got = await A('GET', `/commands/${q.body.id}`);
      assert.equal(got.status, 200);
      assert.equal(got.body.id, q.body.id);
      // Long-poll on a command that cannot move returns its state after the wait.
      const waited = await A('GET', `/commands/${q.body.id}?wait=0.2`);
      assert.equal(waited.status, 200);
      assert.equal(waited.body.state, 'queued');
      assert.equal((await A('GET', '/commands/999999')).status, 404);
      assert.equal((await A('GET', '/commands/abc')).status, 404);
      assert.equal((await A('GET', `/commands/${q.body.id}?wait=-1`)).status, 400);

      const list = await A('GET', '/devices/cmd-dev/commands');
      assert.equal(list.status, 200);
      assert.deepEqual(
        list.body.items.map((c: { id: string }) => c.id),
        [seq.body.id, q.body.id],
      );
      const cancelled = await A('DELETE', `/commands/${q.body.id}`);
      assert.equal(cancelled.status, 200);
      assert.equal(cancelled.body.state, 'cancelled');
      assert.equal((await A('DELETE', `/commands/${q.body.id}`)).status, 409);
      // An operator may queue a copy of a finished command.
      const retry = await A('POST', `/commands/${q.body.id}/retry`);
      assert.equal(retry.status, 201, JSON.stringify(retry.body));
      assert.notEqual(retry.body.id, q.body.id);
      assert.equal(retry.body.state, 'queued');
      assert.deepEqual(retry.body.request, q.body.request);
      assert.equal((await A('POST', `/commands/${retry.body.id}/retry`, {})).status, 409);
      assert.equal((await A('DELETE', `/commands/${retry.body.id}`)).status, 200);
      const fleetCancelled = await A('GET', '/commands?state=cancelled&limit=500');
      assert.equal(fleetCancelled.status, 200);
      assert.ok(fleetCancelled.body.items.some((c: { id: string }) => c.id === q.body.id));
      assert.ok(fleetCancelled.body.items.every((c: { state: string }) => c.state === 'cancelled'));
      const byDevice = await A('GET', '/commands?device=cmd-dev');
      assert.ok(byDevice.body.items.every((c: { deviceId: string }) => c.deviceId === 'cmd-dev'));
      assert.equal((await A('GET', '/commands?state=done')).status, 400);
      const queuedOnly = await A('GET', '/devices/cmd-dev/commands?state=queued');
      assert.deepEqual(
        queuedOnly.body.items.map((c: { id: string }) => c.id),
        [seq.body.id],
      );
    });

    test('roles: viewer reads, operator manages devices and commands, admin manages tokens and audit', async () => {
      assert.equal((await A('GET', '/devices', undefined, viewer)).status, 200);
      assert.equal((await A('GET', '/whoami', undefined, viewer)).body.role, 'viewer');
      const vCreate = await A('POST', '/devices', { id: 'role-dev', secret: 's' }, viewer);
      assert.equal(vCreate.status, 403);
      assert.equal(vCreate.body.error.code, 'forbidden');
      assert.equal((await A('POST', '/devices', { id: 'role-dev', secret: 's' }, operator)).status, 201);
      assert.equal(
        (await A('POST', '/devices/role-dev/commands', { type: 'Get', uri: '.' }, viewer)).status,
        403,
      );
      assert.equal(
        (await A('POST', '/devices/role-dev/commands', { type: 'Get', uri: '.' }, operator)).status,
        201,
      );
      assert.equal((await A('GET', '/tokens', undefined, operator)).status, 403);
      assert.equal((await A('GET', '/audit', undefined, operator)).status, 403);
      assert.equal((await A('POST', '/tokens', { name: 'x', role: 'admin' }, operator)).status, 403);

      const none = await A('GET', '/devices', undefined, 'not-a-token');
      assert.equal(none.status, 401);
      assert.equal(none.body.error.code, 'unauthorized');
      const missing = await fetch(`${srv.url}/api/v1/devices`);
      assert.equal(missing.status, 401);

      // Revoked tokens stop working at once.
      const t = await A('POST', '/tokens', { name: 'temp', role: 'operator' });
      assert.equal(t.status, 201);
      assert.equal((await A('GET', '/devices', undefined, t.body.token)).status, 200);
      const tokens = await A('GET', '/tokens');
      assert.ok(tokens.body.items.some((x: { id: string }) => x.id === t.body.id));
      assert.equal(JSON.stringify(tokens.body).includes(t.body.token), false);
      assert.equal((await A('DELETE', `/tokens/${t.body.id}`)).status, 204);
      assert.equal((await A('GET', '/devices', undefined, t.body.token)).status, 401);
      assert.equal((await A('DELETE', '/tokens/no-such-token')).status, 404);
    });

    test('listing: cursor pagination visits every device once; filters by tag, group, online and text', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 23; i++) {
        const id = `page-${String(i).padStart(2, '0')}`;
        ids.push(id);
        const r = await A('POST', '/devices', {
          id,
          secret: 's',
          tags: i % 2 === 0 ? ['even'] : ['odd'],
          groups: i < 5 ? ['first-five'] : [],
        });
        assert.equal(r.status, 201);
      }
      await store.devices.update('page-07', { devInfo: { Man: 'Acme', Mod: 'Widget 3000' } });

      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const q: string = `/devices?tag=even&limit=4${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
        const r = await A('GET', q);
        assert.equal(r.status, 200);
        assert.ok(r.body.items.length <= 4);
        seen.push(...r.body.items.map((d: { id: string }) => d.id));
        cursor = r.body.nextCursor;
        pages++;
      } while (cursor && pages < 20);
      const even = ids.filter((_, i) => i % 2 === 0);
      assert.deepEqual([...seen].sort(), even);
      assert.equal(new Set(seen).size, seen.length);
      assert.equal(pages, 3);

      const group = await A('GET', '/devices?group=first-five&limit=500');
      assert.deepEqual(
        group.body.items.map((d: { id: string }) => d.id),
        ids.slice(0, 5),
      );
      const online = await A('GET', '/devices?online=true');
      assert.deepEqual(online.body.items, []);

      const text = await A('GET', '/devices?q=widget');
      assert.deepEqual(
        text.body.items.map((d: { id: string }) => d.id),
        ['page-07'],
      );
      // Text search pages too: 23 page-* devices, 5 per page.
      const textSeen: string[] = [];
      let tc: string | null = null;
      let tp = 0;
      do {
        const r = await A('GET', `/devices?q=PAGE-&limit=5${tc ? `&cursor=${encodeURIComponent(tc)}` : ''}`);
        assert.equal(r.status, 200);
        textSeen.push(...r.body.items.map((d: { id: string }) => d.id));
        tc = r.body.nextCursor;
        tp++;
      } while (tc && tp < 20);
      assert.deepEqual([...textSeen].sort(), ids);
      assert.equal((await A('GET', '/devices?cursor=garbage!')).status, 400);

      const made = await A('POST', '/groups', { name: 'spare', description: 'not used yet' });
      assert.equal(made.status, 201);
      assert.deepEqual(made.body, { name: 'spare', description: 'not used yet', devices: 0, trace: null });
      assert.equal((await A('POST', '/groups', { name: 'spare' })).status, 409);
      assert.equal((await A('DELETE', '/groups/spare')).status, 204);
      assert.equal((await A('DELETE', '/groups/spare')).status, 404);
      const groups = await A('GET', '/groups');
      assert.ok(
        groups.body.items.some(
          (g: { name: string; devices: number }) => g.name === 'first-five' && g.devices === 5,
        ),
      );

      const fan = await A('POST', '/groups/first-five/commands', { type: 'Get', uri: './DevDetail/SwV' });
      assert.equal(fan.status, 201);
      assert.deepEqual(
        fan.body.commands.map((c: { deviceId: string }) => c.deviceId).sort(),
        ids.slice(0, 5),
      );
      assert.equal((await A('POST', '/groups/empty-group/commands', { type: 'Get', uri: '.' })).status, 404);
    });

    test('tree cache: values read from the device, by path', async () => {
      await A('POST', '/devices', { id: 'tree-dev', secret: 's' });
      const at = Date.now();
      await store.tree.put('tree-dev', [
        { uri: './DevInfo/Mod', value: 'X1', format: 'chr', type: null, readAt: at },
        { uri: './DevDetail/SwV', value: '1.2.3', format: 'chr', type: null, readAt: at },
        { uri: './DevDetail/Ext/Battery', value: '87', format: 'int', type: null, readAt: at },
      ]);
      const all = await A('GET', '/devices/tree-dev/tree');
      assert.equal(all.status, 200);
      assert.equal(all.body.items.length, 3);
      const sub = await A('GET', `/devices/tree-dev/tree?path=${encodeURIComponent('./DevDetail')}`);
      assert.deepEqual(
        sub.body.items.map((v: { uri: string; value: string }) => [v.uri, v.value]),
        [
          ['./DevDetail/Ext/Battery', '87'],
          ['./DevDetail/SwV', '1.2.3'],
        ],
      );
      assert.equal(sub.body.items[0].readAt, new Date(at).toISOString());
      assert.equal((await A('GET', '/devices/none/tree')).status, 404);
    });

    test('audit log records operator actions with the acting token, without secrets', async () => {
      await A(
        'POST',
        '/devices',
        { id: 'audit-dev', secret: 'very-secret', serverSecret: 'also-secret' },
        operator,
      );
      await A(
        'POST',
        '/devices/audit-dev/commands',
        { type: 'Replace', uri: './DMAcc/x/AppAuth/1/AAuthSecret', value: 'pw-in-tree' },
        operator,
      );
      await A('DELETE', '/devices/audit-dev', undefined, operator);
      const log = await A('GET', '/audit?actor=ops&limit=50');
      assert.equal(log.status, 200);
      const actions = log.body.items.map(
        (e: { action: string; target: string }) => `${e.action} ${e.target}`,
      );
      assert.ok(actions.includes('device.create audit-dev'), actions.join('\n'));
      assert.ok(actions.includes('command.create audit-dev'));
      assert.ok(actions.includes('device.delete audit-dev'));
      // Newest first.
      assert.equal(
        actions.indexOf('device.delete audit-dev') < actions.indexOf('device.create audit-dev'),
        true,
      );
      const text = JSON.stringify(log.body);
      for (const secret of ['very-secret', 'also-secret', 'pw-in-tree'])
        assert.equal(text.includes(secret), false);
      const byAction = await A('GET', '/audit?action=token.create');
      assert.ok(byAction.body.items.every((e: { action: string }) => e.action === 'token.create'));
      assert.ok(byAction.body.items.length >= 2);
      // Pagination of the audit log.
      const p1 = await A('GET', '/audit?limit=2');
      assert.equal(p1.body.items.length, 2);
      assert.ok(p1.body.nextCursor);
      const p2 = await A('GET', `/audit?limit=2&cursor=${encodeURIComponent(p1.body.nextCursor)}`);
      assert.notEqual(p2.body.items[0].id, p1.body.items[0].id);
    });

    test('OpenAPI document, metrics and health', async () => {
      const doc = await fetch(`${srv.url}/openapi.json`);
      assert.equal(doc.status, 200);
      const spec = (await doc.json()) as {
        openapi: string;
        paths: Record<
          string,
          Record<
            string,
            { operationId: string; responses: object; parameters?: { name: string; in: string }[] }
          >
        >;
      };
      assert.equal(spec.openapi, '3.1.0');
      for (const p of ['/api/v1/devices', '/api/v1/devices/{id}', '/api/v1/commands/{id}', '/api/v1/audit']) {
        assert.ok(spec.paths[p], `missing ${p}`);
      }
      assert.ok(spec.paths['/api/v1/devices']?.post);
      assert.ok(spec.paths['/api/v1/devices/{id}']?.delete);
      assert.ok(
        spec.paths['/api/v1/commands/{id}']?.get?.parameters?.some(
          (x) => x.name === 'wait' && x.in === 'query',
        ),
      );
      assert.equal(spec.paths['/dm'], undefined);
      // Path parameters are declared; operation ids are unique.
      const opIds = new Set<string>();
      for (const [path, ops] of Object.entries(spec.paths)) {
        const names = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
        for (const op of Object.values(ops)) {
          for (const n of names)
            assert.ok(
              op.parameters?.some((p) => p.name === n && p.in === 'path'),
              `${path} ${n}`,
            );
          assert.ok(!opIds.has(op.operationId), op.operationId);
          opIds.add(op.operationId);
        }
      }
      // Every operation documents its error answer.
      for (const ops of Object.values(spec.paths))
        for (const op of Object.values(ops)) assert.ok('default' in op.responses);

      const metrics = await fetch(`${srv.url}/metrics`);
      assert.equal(metrics.status, 200);
      assert.match(metrics.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      const text = await metrics.text();
      assert.match(text, /^# TYPE omadm_http_requests_total counter$/m);
      assert.match(
        text,
        /^omadm_http_requests_total\{method="POST",route="\/api\/v1\/devices",status="201"\} \d+$/m,
      );
      assert.match(text, /^omadm_commands\{state="queued"\} \d+$/m);
      assert.match(text, /^omadm_dm_sessions_started_total 0$/m);

      const health = await fetch(`${srv.url}/healthz`);
      assert.equal(health.status, 200);
      assert.deepEqual(await health.json(), { status: 'ok', backend: name });
    });
  });
}
