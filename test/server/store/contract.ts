/**
 * The store contract: one suite every backend must pass (undici/Leshan style — the backend test
 * files only pick the backend). Each test opens a fresh, empty database.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { sql } from 'kysely';
import {
  CommandState,
  credentialDigest,
  type ExecCommand,
  hashToken,
  isStoreError,
  type RecoveryReport,
  type SqlStore,
  type Store,
  StoreErrorCode,
} from '../../../src/server/store/index.ts';
import type { Fixture, TestBackend } from './backends.ts';

const KEY = new Uint8Array(32).fill(7);
const OTHER_KEY = new Uint8Array(32).fill(9);

async function rejectsWith(p: Promise<unknown>, code: StoreErrorCode): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isStoreError(e), `expected a StoreError, got ${String(e)}`);
    assert.equal(e.code, code);
    return true;
  });
}

/** Every text cell of every row of a table, for "no plaintext at rest" checks. */
async function rawText(store: Store, table: string): Promise<string> {
  const { rows } = await sql.raw(`select * from ${table}`).execute((store as SqlStore).kysely);
  return JSON.stringify(rows);
}

async function device(store: Store, id = 'IMEI:1') {
  return store.devices.create({ id, clientSecret: 'client-secret' });
}

/** Claims everything for a session and marks it sent, as an engine would. */
async function deliver(f: Fixture, store: Store, sessionId: string, deviceId = 'IMEI:1') {
  const claimed = await store.queue.claim(deviceId, sessionId, { limit: 50, leaseUntil: f.clock.t + 60_000 });
  let cmdId = 1;
  const sent = [];
  for (const c of claimed)
    sent.push(await store.queue.markSent(c.id, sessionId, { msgId: 2, cmdId: String(cmdId++) }));
  return sent;
}

/** The counts of a recovery report (without the ids behind them). */
function counts(r: RecoveryReport): Omit<RecoveryReport, 'ids'> {
  return { requeued: r.requeued, resent: r.resent, unknown: r.unknown, expired: r.expired };
}

export function storeContract(backend: TestBackend): void {
  const fresh = backend.fresh.bind(backend);

  describe(`${backend.name}: devices`, () => {
    test('creates a device storing only the credential digest, never the secret', async () => {
      await using f = await fresh({ secretKey: KEY });
      const d = await f.store.devices.create({
        id: 'IMEI:490154203237518',
        authType: 'md5',
        clientAuthName: 'Bruce2',
        clientSecret: 'OhBehave',
        serverAuthName: 'omadm-server',
        serverSecret: 'srv-secret-42',
        tags: ['lab', 'beta', 'lab'],
      });
      assert.equal(d.hasClientCredential, true);
      assert.equal(d.hasServerCredential, true);
      assert.deepEqual(d.tags, ['beta', 'lab']);
      const creds = await f.store.devices.credentials(d.id);
      assert.ok(creds);
      assert.equal(creds.clientDigest, credentialDigest('Bruce2', 'OhBehave'));
      // The stored digest yields the spec's MD5 credential (protocol.md §4.2 vector).
      const md5cred = createHash('md5').update(`${creds.clientDigest}:Nonce`).digest('base64');
      assert.equal(md5cred, 'Zz6EivR3yeaaENcRN6lpAQ==');
      assert.equal(creds.serverDigest, credentialDigest('omadm-server', 'srv-secret-42'));
      assert.equal(creds.serverSecret, null);
      const raw = await rawText(f.store, 'omadm_device');
      assert.ok(!raw.includes('OhBehave'));
      assert.ok(!raw.includes('srv-secret-42'));
      // Sealed with the key: the server digest itself is not readable at rest.
      assert.ok(!raw.includes(creds.serverDigest!));
    });

    test('keeps a Basic server secret only sealed, and refuses it without a key', async () => {
      await using f = await fresh();
      await rejectsWith(
        f.store.devices.create({ id: 'D1', authType: 'basic', serverAuthName: 's', serverSecret: 'p' }),
        StoreErrorCode.SecretKey,
      );
      assert.equal(await f.store.devices.get('D1'), undefined);
      const keyed = await f.open({ secretKey: KEY });
      await keyed.devices.create({
        id: 'D1',
        authType: 'basic',
        serverAuthName: 's',
        serverSecret: 'plain-pass',
      });
      assert.equal((await keyed.devices.credentials('D1'))?.serverSecret, 'plain-pass');
      assert.ok(!(await rawText(keyed, 'omadm_device')).includes('plain-pass'));
      const wrongKey = await f.open({ secretKey: OTHER_KEY });
      await rejectsWith(wrongKey.devices.credentials('D1'), StoreErrorCode.SecretKey);
    });

    test('rejects duplicates, returns what put/update/delete displaced', async () => {
      await using f = await fresh();
      await device(f.store, 'A');
      await rejectsWith(device(f.store, 'A'), StoreErrorCode.AlreadyExists);
      const before = await f.store.devices.put({ id: 'A', clientSecret: 'new', tags: ['x'] });
      assert.equal(before?.id, 'A');
      assert.deepEqual(before?.tags, []);
      assert.equal(await f.store.devices.put({ id: 'B' }), undefined);
      const [prev, next] = await f.store.devices.update('A', { tags: ['y'], devDetail: { SwV: '1.0' } });
      assert.deepEqual(prev.tags, ['x']);
      assert.deepEqual(next.tags, ['y']);
      assert.deepEqual(next.devDetail, { SwV: '1.0' });
      const [, cleared] = await f.store.devices.update('A', { devDetail: { SwV: null, FwV: '2' } });
      assert.deepEqual(cleared.devDetail, { FwV: '2' });
      await rejectsWith(f.store.devices.update('nope', {}), StoreErrorCode.NotFound);
      await rejectsWith(f.store.devices.create({ id: '' }), StoreErrorCode.InvalidInput);
      await rejectsWith(
        f.store.devices.create({ id: 'C', authType: 'kerberos' as 'md5' }),
        StoreErrorCode.InvalidInput,
      );
    });

    test('credential rotation: new secrets replace digests; names need their secret', async () => {
      await using f = await fresh({ secretKey: KEY });
      await f.store.devices.create({
        id: 'D',
        clientSecret: 'one',
        serverAuthName: 'srv',
        serverSecret: 'a',
      });
      await f.store.devices.update('D', { clientSecret: 'two', serverSecret: 'b' });
      let c = await f.store.devices.credentials('D');
      assert.equal(c?.clientDigest, credentialDigest('D', 'two'));
      assert.equal(c?.serverDigest, credentialDigest('srv', 'b'));
      await rejectsWith(
        f.store.devices.update('D', { clientAuthName: 'other' }),
        StoreErrorCode.InvalidInput,
      );
      await rejectsWith(f.store.devices.update('D', { serverAuthName: 'srv2' }), StoreErrorCode.InvalidInput);
      await rejectsWith(f.store.devices.update('D', { authType: 'basic' }), StoreErrorCode.InvalidInput);
      await f.store.devices.update('D', {
        clientAuthName: 'other',
        clientSecret: 'three',
        serverAuthName: 'srv2',
        serverSecret: 'c',
      });
      c = await f.store.devices.credentials('D');
      assert.equal(c?.clientAuthName, 'other');
      assert.equal(c?.clientDigest, credentialDigest('other', 'three'));
      assert.equal(c?.serverDigest, credentialDigest('srv2', 'c'));
      const digest = credentialDigest('D', 'imported');
      await f.store.devices.update('D', { clientAuthName: 'D', clientDigest: digest, serverSecret: null });
      c = await f.store.devices.credentials('D');
      assert.equal(c?.clientDigest, digest);
      assert.equal(c?.serverDigest, null);
      assert.equal((await f.store.devices.get('D'))?.hasServerCredential, false);
      await rejectsWith(
        f.store.devices.update('D', { clientDigest: 'not-a-digest' }),
        StoreErrorCode.InvalidInput,
      );
      await f.store.devices.update('D', { clientSecret: null });
      assert.equal((await f.store.devices.get('D'))?.hasClientCredential, false);
      // put replaces provisioning: credentials not given are gone, history stays.
      await f.store.devices.noteSessionStart('D', {
        sessionId: 's',
        at: f.clock.t,
        onlineUntil: f.clock.t + 1,
      });
      await f.store.devices.put({ id: 'D', clientSecret: 'p' });
      const after = await f.store.devices.get('D');
      assert.equal(after?.sessionCount, 1);
      assert.equal(after?.serverAuthName, null);
      assert.equal((await f.store.devices.credentials('D'))?.clientDigest, credentialDigest('D', 'p'));
    });

    test('delete removes the device with its queue, tree cache, sessions and traces', async () => {
      await using f = await fresh();
      await device(f.store);
      await f.store.queue.enqueue('IMEI:1', { kind: 'Get', target: './DevInfo/Mod' });
      await f.store.tree.put('IMEI:1', [
        { uri: './DevInfo/Mod', value: 'X', format: 'chr', type: null, readAt: 1 },
      ]);
      await f.store.sessions.create({
        deviceId: 'IMEI:1',
        sessionId: 's',
        state: {},
        expiresAt: f.clock.t + 1000,
      });
      await f.store.traces.append({
        deviceId: 'IMEI:1',
        sessionId: 's',
        direction: 'in',
        contentType: 'application/vnd.syncml.dm+xml',
        body: new Uint8Array([1]),
        at: f.clock.t,
      });
      const removed = await f.store.devices.delete('IMEI:1');
      assert.equal(removed?.id, 'IMEI:1');
      assert.equal(await f.store.devices.delete('IMEI:1'), undefined);
      assert.equal((await f.store.queue.list()).items.length, 0);
      assert.equal((await f.store.tree.list('IMEI:1')).length, 0);
      assert.equal((await f.store.sessions.listByDevice('IMEI:1')).length, 0);
      assert.equal((await f.store.traces.list('IMEI:1')).items.length, 0);
    });

    test('nonces: setNonces returns the previous values', async () => {
      await using f = await fresh();
      await device(f.store);
      const prev = await f.store.devices.setNonces('IMEI:1', { clientNonce: 'AAAA', serverNonce: 'BBBB' });
      assert.deepEqual(prev, { clientNonce: null, serverNonce: null });
      const prev2 = await f.store.devices.setNonces('IMEI:1', { clientNonce: 'CCCC' });
      assert.deepEqual(prev2, { clientNonce: 'AAAA', serverNonce: 'BBBB' });
      const c = await f.store.devices.credentials('IMEI:1');
      assert.equal(c?.clientNonce, 'CCCC');
      assert.equal(c?.serverNonce, 'BBBB');
    });

    test('session bookkeeping: count, last seen, DevInfo, online with a TTL', async () => {
      await using f = await fresh();
      await device(f.store);
      const d = await f.store.devices.noteSessionStart('IMEI:1', {
        sessionId: 's1',
        at: f.clock.t,
        onlineUntil: f.clock.t + 30_000,
        devInfo: { Man: 'Acme', Mod: 'R1', DmV: '1.2' },
      });
      assert.equal(d.sessionCount, 1);
      assert.equal(d.online, true);
      assert.equal(d.currentSession, 's1');
      assert.deepEqual(d.devInfo, { Man: 'Acme', Mod: 'R1', DmV: '1.2' });
      assert.equal((await f.store.devices.list({ online: true })).items.length, 1);
      f.clock.advance(31_000);
      // A server that crashed never called noteSessionEnd: the TTL still takes the device offline.
      assert.equal((await f.store.devices.get('IMEI:1'))?.online, false);
      await f.store.devices.noteSessionStart('IMEI:1', {
        sessionId: 's2',
        at: f.clock.t,
        onlineUntil: f.clock.t + 30_000,
      });
      await f.store.devices.noteSessionEnd('IMEI:1', 's1', f.clock.t); // stale session: no effect
      assert.equal((await f.store.devices.get('IMEI:1'))?.online, true);
      await f.store.devices.noteSessionEnd('IMEI:1', 's2', f.clock.t);
      const after = await f.store.devices.get('IMEI:1');
      assert.equal(after?.online, false);
      assert.equal(after?.sessionCount, 2);
      assert.equal(after?.lastSeenAt, f.clock.t);
      assert.equal(after?.devInfo.Man, 'Acme');
    });

    test('lists with filters and cursor pagination', async () => {
      await using f = await fresh();
      await f.store.devices.createGroup('north', 'northern sites');
      for (let i = 0; i < 25; i++) {
        await f.store.devices.create({
          id: `IMEI:${String(i).padStart(3, '0')}`,
          authType: i % 2 ? 'hmac' : 'md5',
          tags: i % 3 === 0 ? ['a', 'b'] : ['a'],
          ...(i < 5 ? { groups: ['north'] } : {}),
        });
      }
      await f.store.devices.create({ id: 'MAC:x', tags: ['b'] });
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await f.store.devices.list({
          limit: 10,
          idPrefix: 'IMEI:',
          ...(cursor ? { cursor } : {}),
        });
        seen.push(...page.items.map((d) => d.id));
        cursor = page.nextCursor;
        pages++;
      } while (cursor);
      assert.equal(pages, 3);
      assert.equal(seen.length, 25);
      assert.deepEqual(seen, [...seen].sort());
      assert.equal(new Set(seen).size, 25);
      assert.equal((await f.store.devices.list({ tags: ['a', 'b'] })).items.length, 9);
      assert.equal((await f.store.devices.list({ tags: ['b'] })).items.length, 10);
      assert.equal((await f.store.devices.list({ authType: 'hmac' })).items.length, 12);
      assert.equal((await f.store.devices.list({ group: 'north' })).items.length, 5);
      assert.equal((await f.store.devices.list({ group: 'north', tags: ['b'] })).items.length, 2);
      assert.equal((await f.store.devices.list({ idPrefix: 'imei' })).items.length, 0);
      await rejectsWith(f.store.devices.list({ cursor: 'garbage!' }), StoreErrorCode.InvalidInput);
    });

    test('groups: sizes, membership, unknown members, delete', async () => {
      await using f = await fresh();
      await device(f.store, 'A');
      await device(f.store, 'B');
      await f.store.devices.createGroup('g1');
      await rejectsWith(f.store.devices.createGroup('g1'), StoreErrorCode.AlreadyExists);
      assert.equal(await f.store.devices.addToGroup('g1', ['A', 'B']), 2);
      assert.equal(await f.store.devices.addToGroup('g1', ['A']), 0);
      await rejectsWith(f.store.devices.addToGroup('g1', ['Z']), StoreErrorCode.NotFound);
      await rejectsWith(f.store.devices.addToGroup('nope', ['A']), StoreErrorCode.NotFound);
      assert.deepEqual((await f.store.devices.get('A'))?.groups, ['g1']);
      assert.deepEqual(
        (await f.store.devices.listGroups()).map((g) => [g.name, g.size]),
        [['g1', 2]],
      );
      assert.equal(await f.store.devices.removeFromGroup('g1', ['B']), 1);
      assert.equal((await f.store.devices.deleteGroup('g1'))?.size, 1);
      assert.deepEqual((await f.store.devices.get('A'))?.groups, []);
      await rejectsWith(f.store.devices.create({ id: 'C', groups: ['ghost'] }), StoreErrorCode.NotFound);
    });
  });

  describe(`${backend.name}: tree cache`, () => {
    test('upserts values, returns what they replaced, lists and deletes subtrees', async () => {
      await using f = await fresh();
      await device(f.store);
      const v = (uri: string, value: string, readAt = 1) => ({
        uri,
        value,
        format: 'chr',
        type: null,
        readAt,
      });
      assert.deepEqual(
        await f.store.tree.put('IMEI:1', [
          v('./DevDetail/SwV', '1.0'),
          v('./DevDetail/Ext/A', 'a'),
          v('./DevDetail2', 'z'),
        ]),
        [],
      );
      const replaced = await f.store.tree.put('IMEI:1', [v('./DevDetail/SwV', '1.1', 2)]);
      assert.deepEqual(
        replaced.map((r) => [r.uri, r.value, r.readAt]),
        [['./DevDetail/SwV', '1.0', 1]],
      );
      assert.equal((await f.store.tree.get('IMEI:1', './DevDetail/SwV/'))?.value, '1.1');
      // Without the previous values: the same upsert, nothing read back (small and large puts).
      assert.deepEqual(
        await f.store.tree.put('IMEI:1', [v('./DevDetail/SwV', '1.2', 3)], { previous: false }),
        [],
      );
      assert.deepEqual(await f.store.tree.get('IMEI:1', './DevDetail/SwV'), v('./DevDetail/SwV', '1.2', 3));
      const many = Array.from({ length: 40 }, (_, i) => v(`./Many/${i}`, `${i}`, 4));
      assert.deepEqual(await f.store.tree.put('IMEI:1', many, { previous: false }), []);
      assert.equal(
        (
          await f.store.tree.put(
            'IMEI:1',
            many.map((m) => ({ ...m, readAt: 5 })),
          )
        ).length,
        40,
      );
      assert.equal((await f.store.tree.list('IMEI:1', './Many')).length, 40);
      await f.store.tree.deleteSubtree('IMEI:1', './Many');
      assert.deepEqual(
        (await f.store.tree.list('IMEI:1', './DevDetail')).map((r) => r.uri),
        ['./DevDetail/Ext/A', './DevDetail/SwV'],
      );
      assert.equal((await f.store.tree.list('IMEI:1')).length, 3);
      // `%` and `_` are plain characters, not patterns.
      await f.store.tree.put('IMEI:1', [v('./A_B/x', '1'), v('./AxB/x', '2')]);
      assert.deepEqual(
        (await f.store.tree.list('IMEI:1', './A_B')).map((r) => r.uri),
        ['./A_B/x'],
      );
      assert.equal(await f.store.tree.deleteSubtree('IMEI:1', './DevDetail'), 2);
      assert.equal((await f.store.tree.get('IMEI:1', './DevDetail2'))?.value, 'z');
    });
  });

  describe(`${backend.name}: command queue`, () => {
    test('validates commands before queueing them', async () => {
      await using f = await fresh();
      await device(f.store);
      const q = f.store.queue;
      await rejectsWith(
        q.enqueue('IMEI:1', { kind: 'Frobnicate', target: './x' }),
        StoreErrorCode.InvalidInput,
      );
      await rejectsWith(q.enqueue('IMEI:1', { kind: 'Get' }), StoreErrorCode.InvalidInput);
      await rejectsWith(q.enqueue('IMEI:1', { kind: 'Replace', target: './x' }), StoreErrorCode.InvalidInput);
      await rejectsWith(
        q.enqueue('IMEI:1', { kind: 'Atomic', commands: [{ kind: 'Get', target: './x' }] }),
        StoreErrorCode.InvalidInput,
      );
      await rejectsWith(
        q.enqueue('IMEI:1', { kind: 'Atomic', commands: [{ kind: 'Exec', target: './x' }] }),
        StoreErrorCode.InvalidInput,
      );
      await rejectsWith(q.enqueue('IMEI:1', { kind: 'Sequence', commands: [] }), StoreErrorCode.InvalidInput);
      await rejectsWith(q.enqueue('nobody', { kind: 'Get', target: './x' }), StoreErrorCode.NotFound);
      const c = await q.enqueue(
        'IMEI:1',
        {
          kind: 'Sequence',
          commands: [
            { kind: 'Replace', target: './FUMO/1/PkgURL', data: 'http://x/fw', junk: true },
            { kind: 'Exec', target: './FUMO/1/DownloadAndUpdate' },
          ],
        },
        { createdBy: 'alice' },
      );
      assert.equal(c.state, CommandState.Queued);
      assert.equal(c.destructive, true);
      assert.equal(c.uri, './FUMO/1/PkgURL');
      assert.equal(c.value, 'http://x/fw');
      assert.equal(c.createdBy, 'alice');
      assert.equal(c.command.kind, 'Sequence');
      const members = c.command.kind === 'Sequence' ? c.command.commands : [];
      assert.ok(!('junk' in members[0]!));
      assert.match((members[1] as ExecCommand).correlator!, /^[0-9a-f]{32}$/);
      const get = await q.enqueue('IMEI:1', { kind: 'Get', target: './DevInfo/Mod' });
      assert.equal(get.destructive, false);
    });

    test('claims in order, assigns the CmdID when sent, stores status and results', async () => {
      await using f = await fresh();
      await device(f.store);
      const q = f.store.queue;
      const a = await q.enqueue('IMEI:1', { kind: 'Get', target: './DevDetail/SwV' });
      const b = await q.enqueue('IMEI:1', { kind: 'Replace', target: './Cfg/x', data: '1' });
      const c = await q.enqueue('IMEI:1', { kind: 'Delete', target: './Cfg/y' });
      const first = await q.claim('IMEI:1', 's1', { limit: 2, leaseUntil: f.clock.t + 1000 });
      assert.deepEqual(
        first.map((r) => r.id),
        [a.id, b.id],
      );
      assert.ok(
        first.every(
          (r) => r.state === 'claimed' && r.sessionId === 's1' && r.attempts === 1 && r.cmdId === null,
        ),
      );
      const sentA = await q.markSent(a.id, 's1', { msgId: 2, cmdId: '4' });
      assert.equal(sentA.state, 'sent');
      assert.equal(sentA.cmdId, '4');
      assert.equal((await q.findSent('IMEI:1', 's1', { msgId: 2, cmdId: '4' }))?.id, a.id);
      const okA = await q.settle(a.id, {
        status: 200,
        results: [{ uri: './DevDetail/SwV', value: '2.1', format: 'chr' }],
      });
      assert.equal(okA.state, 'succeeded');
      assert.equal(okA.status, 200);
      assert.deepEqual(okA.results, [{ uri: './DevDetail/SwV', value: '2.1', format: 'chr' }]);
      await q.markSent(b.id, 's1', { msgId: 2, cmdId: '5' });
      const failB = await q.settle(b.id, { status: 405 });
      assert.equal(failB.state, 'failed');
      assert.equal(failB.status, 405);
      await rejectsWith(q.settle(b.id, { status: 200 }), StoreErrorCode.InvalidState);
      await rejectsWith(q.settle(c.id, { status: 200 }), StoreErrorCode.InvalidState);
      const next = await q.claim('IMEI:1', 's1', { limit: 10, leaseUntil: f.clock.t + 1000 });
      assert.deepEqual(
        next.map((r) => r.id),
        [c.id],
      );
      assert.deepEqual(await q.counts('IMEI:1'), { succeeded: 1, failed: 1, claimed: 1 });
    });

    test('a failed destructive command never shows as success', async () => {
      await using f = await fresh();
      await device(f.store);
      const q = f.store.queue;
      const cases: [unknown, Parameters<typeof q.settle>[1], string][] = [
        [{ kind: 'Replace', target: './a', data: '1' }, { status: 215 }, 'failed'],
        [{ kind: 'Replace', target: './a', data: '1' }, { status: 216 }, 'failed'],
        [{ kind: 'Replace', target: './a', data: '1' }, { status: 202 }, 'unknown'],
        [
          {
            kind: 'Atomic',
            commands: [
              { kind: 'Add', target: './a' },
              { kind: 'Delete', target: './b' },
            ],
          },
          { status: 507, members: [{ status: 216 }, { status: 404 }] },
          'failed',
        ],
        [
          { kind: 'Atomic', commands: [{ kind: 'Add', target: './a' }] },
          { status: 200, members: [{ status: 200 }] },
          'succeeded',
        ],
        // A Sequence says 200 once execution started: its members decide.
        [
          {
            kind: 'Sequence',
            commands: [
              { kind: 'Replace', target: './a', data: '1' },
              { kind: 'Delete', target: './b' },
            ],
          },
          { status: 200, members: [{ status: 200 }, { status: 404 }] },
          'failed',
        ],
        [{ kind: 'Sequence', commands: [{ kind: 'Delete', target: './b' }] }, { status: 200 }, 'unknown'],
        [{ kind: 'Exec', target: './x' }, { status: 500 }, 'failed'],
        [{ kind: 'Exec', target: './x' }, { status: 200 }, 'succeeded'],
      ];
      for (const [command, outcome, expected] of cases) {
        const c = await q.enqueue('IMEI:1', command);
        await q.claim('IMEI:1', 's', { limit: 1, leaseUntil: f.clock.t + 1000 });
        await q.markSent(c.id, 's', { msgId: 1, cmdId: String(c.id) });
        const r = await q.settle(c.id, outcome);
        assert.equal(r.state, expected, `${JSON.stringify(command)} with ${JSON.stringify(outcome)}`);
      }
    });

    test('Exec answered 202 stays pending until the Generic Alert with its Correlator', async () => {
      await using f = await fresh();
      await device(f.store);
      const q = f.store.queue;
      const exec = await q.enqueue('IMEI:1', {
        kind: 'Exec',
        target: './FUMO/1/Update',
        correlator: 'fw-42',
      });
      await deliver(f, f.store, 's1');
      const pending = await q.settle(exec.id, { status: 202 });
      assert.equal(pending.state, 'pending');
      assert.equal(pending.completedAt, null);
      // Unknown correlator, or another device's: nothing matches.
      assert.equal(await q.completeByCorrelator('IMEI:1', 'other', { status: 200 }), undefined);
      await device(f.store, 'IMEI:2');
      assert.equal(await q.completeByCorrelator('IMEI:2', 'fw-42', { status: 200 }), undefined);
      // The session is over long before the alert comes (possibly to another server process).
      assert.equal((await q.releaseSession('IMEI:1', 's1')).unknown, 0);
      f.clock.advance(3_600_000);
      const second = await f.open();
      const done = await second.queue.completeByCorrelator('IMEI:1', 'fw-42', { status: 200, data: '200' });
      assert.equal(done?.state, 'succeeded');
      assert.equal(done?.completedAt, f.clock.t);
      assert.deepEqual(done?.detail?.alerts, [{ correlator: 'fw-42', status: 200, data: '200' }]);
      // A repeated alert (device retried) changes nothing.
      const again = await q.completeByCorrelator('IMEI:1', 'fw-42', { status: 410 });
      assert.equal(again?.state, 'succeeded');
      // The correlator may be reused once its command is finished.
      const reuse = await q.enqueue('IMEI:1', {
        kind: 'Exec',
        target: './FUMO/1/Update',
        correlator: 'fw-42',
      });
      await rejectsWith(
        q.enqueue('IMEI:1', { kind: 'Exec', target: './FUMO/1/Update', correlator: 'fw-42' }),
        StoreErrorCode.InvalidInput,
      );
      await deliver(f, f.store, 's2');
      await q.settle(reuse.id, { status: 202 });
      const failed = await q.completeByCorrelator('IMEI:1', 'fw-42', { status: 410, data: '410' });
      assert.equal(failed?.state, 'failed');
    });

    test('a Generic Alert is judged by the verdict of its type; without a table the Exec ends unknown', async () => {
      await using f = await fresh();
      await device(f.store);
      const q = f.store.queue;
      const cases = [
        { correlator: 'sc-1', status: 1200, verdict: 'success', state: 'succeeded' },
        { correlator: 'sc-2', status: 1405, verdict: 'failure', state: 'failed' },
        { correlator: 'vx-1', status: 200, verdict: 'none', state: 'unknown' },
        { correlator: 'vx-2', verdict: 'none', state: 'unknown' },
      ] as const;
      for (const [i, c] of cases.entries()) {
        const exec = await q.enqueue('IMEI:1', { kind: 'Exec', target: './Op', correlator: c.correlator });
        await deliver(f, f.store, `v${i}`);
        await q.settle(exec.id, { status: 202 });
        const type = 'urn:oma:at:scomo:1.0:OperationComplete';
        const done = await q.completeByCorrelator('IMEI:1', c.correlator, {
          ...('status' in c ? { status: c.status } : {}),
          type,
          verdict: c.verdict,
        });
        assert.equal(done?.state, c.state, c.correlator);
        assert.deepEqual(done?.detail?.alerts, [
          {
            correlator: c.correlator,
            ...('status' in c ? { status: c.status } : {}),
            type,
            verdict: c.verdict,
          },
        ]);
        if (c.state === 'unknown') assert.match(done?.detail?.reason ?? '', /no result table/);
      }
    });

    test('an alert processed before the 202 Status still completes the Exec', async () => {
      await using f = await fresh();
      await device(f.store);
      const q = f.store.queue;
      const seq = await q.enqueue('IMEI:1', {
        kind: 'Sequence',
        commands: [
          { kind: 'Replace', target: './FUMO/1/PkgURL', data: 'u' },
          { kind: 'Exec', target: './FUMO/1/DownloadAndUpdate', correlator: 'c1' },
          { kind: 'Exec', target: './Reboot', correlator: 'c2' },
        ],
      });
      await deliver(f, f.store, 's1');
      const early = await q.completeByCorrelator('IMEI:1', 'c1', { status: 200 });
      assert.equal(early?.state, 'sent');
      // c2 answered 200 synchronously: only c1 was accepted, and its alert is already here.
      const r = await q.settle(seq.id, {
        status: 200,
        members: [{ status: 200 }, { status: 202 }, { status: 200 }],
      });
      assert.equal(r.state, 'succeeded');
      const seq2 = await q.enqueue('IMEI:1', {
        kind: 'Sequence',
        commands: [
          { kind: 'Exec', target: './A', correlator: 'd1' },
          { kind: 'Exec', target: './B', correlator: 'd2' },
        ],
      });
      await deliver(f, f.store, 's2');
      assert.equal(
        (await q.settle(seq2.id, { status: 200, members: [{ status: 202 }, { status: 202 }] })).state,
        'pending',
      );
      assert.equal((await q.completeByCorrelator('IMEI:1', 'd2', { status: 200 }))?.state, 'pending');
      assert.equal((await q.completeByCorrelator('IMEI:1', 'd1', { status: 200 }))?.state, 'succeeded');
    });

    test('each queued command is claimed exactly once by concurrent sessions of two store instances', async () => {
      await using f = await fresh();
      const other = await f.open();
      await device(f.store);
      const N = 60;
      const ids = new Set<number>();
      for (let i = 0; i < N; i++)
        ids.add((await f.store.queue.enqueue('IMEI:1', { kind: 'Delete', target: `./n/${i}` })).id);
      const got: number[] = [];
      const worker = async (store: Store, name: string) => {
        for (;;) {
          const batch = await store.queue.claim('IMEI:1', name, { limit: 3, leaseUntil: f.clock.t + 60_000 });
          if (!batch.length) return;
          assert.ok(batch.length <= 3, `claim returned ${batch.length} commands for a limit of 3`);
          for (const c of batch) {
            await store.queue.markSent(c.id, name, { msgId: 1, cmdId: String(c.id) });
            got.push(c.id);
          }
        }
      };
      await Promise.all([
        worker(f.store, 'a1'),
        worker(other, 'b1'),
        worker(f.store, 'a2'),
        worker(other, 'b2'),
        worker(other, 'b3'),
      ]);
      assert.equal(got.length, N, 'no command claimed twice');
      assert.deepEqual(new Set(got), ids);
      assert.deepEqual(await f.store.queue.counts(), { sent: N });
    });

    test('claim never returns more than its limit, however long the queue', async () => {
      await using f = await fresh();
      await device(f.store);
      for (let i = 0; i < 40; i++) await f.store.queue.enqueue('IMEI:1', { kind: 'Get', target: `./n/${i}` });
      const sizes: number[] = [];
      for (;;) {
        const batch = await f.store.queue.claim('IMEI:1', 's', { limit: 7, leaseUntil: f.clock.t + 1000 });
        if (!batch.length) break;
        sizes.push(batch.length);
      }
      assert.deepEqual(sizes, [7, 7, 7, 7, 7, 5]);
    });

    test('a restart between queueing and delivery loses nothing', async () => {
      await using f = await fresh();
      await device(f.store);
      const c = await f.store.queue.enqueue('IMEI:1', { kind: 'Replace', target: './x', data: 'v' });
      await f.store.close();
      const restarted = await f.open();
      const claimed = await restarted.queue.claim('IMEI:1', 's', { limit: 5, leaseUntil: f.clock.t + 1000 });
      assert.deepEqual(
        claimed.map((r) => [r.id, r.command]),
        [[c.id, { kind: 'Replace', target: './x', data: 'v' }]],
      );
    });

    test('crash recovery: unsent claims are re-delivered, sent destructive commands become unknown, sent Gets are re-sent', async () => {
      await using f = await fresh();
      await device(f.store);
      const q = f.store.queue;
      const get = await q.enqueue('IMEI:1', { kind: 'Get', target: './DevInfo/Mod' });
      const del = await q.enqueue('IMEI:1', { kind: 'Delete', target: './Apps/x' });
      const rep = await q.enqueue('IMEI:1', { kind: 'Replace', target: './Cfg', data: '1' });
      await q.claim('IMEI:1', 'dead', { limit: 3, leaseUntil: f.clock.t + 10_000 });
      await q.markSent(get.id, 'dead', { msgId: 2, cmdId: '3' });
      await q.markSent(del.id, 'dead', { msgId: 2, cmdId: '4' });
      // The process dies here (rep was claimed, never written). Another process sweeps later.
      await f.store.close();
      const survivor = await f.open();
      assert.deepEqual(counts(await survivor.queue.recover()), {
        requeued: 0,
        resent: 0,
        unknown: 0,
        expired: 0,
      });
      f.clock.advance(10_001);
      const recovered = await survivor.queue.recover();
      assert.deepEqual(counts(recovered), { requeued: 1, resent: 1, unknown: 1, expired: 0 });
      // The ids behind the counts (the sweep logs them).
      assert.deepEqual(recovered.ids, {
        requeued: [rep.id],
        resent: [get.id],
        unknown: [del.id],
        expired: [],
      });
      const unknown = await survivor.queue.get(del.id);
      assert.equal(unknown?.state, 'unknown');
      assert.match(unknown?.detail?.reason ?? '', /died/);
      // The dead session can no longer send what it had claimed.
      await rejectsWith(
        survivor.queue.markSent(rep.id, 'dead', { msgId: 3, cmdId: '1' }),
        StoreErrorCode.InvalidState,
      );
      const again = await survivor.queue.claim('IMEI:1', 'new', {
        limit: 10,
        leaseUntil: f.clock.t + 10_000,
      });
      assert.deepEqual(
        again.map((r) => [r.id, r.attempts]),
        [
          [get.id, 2],
          [rep.id, 2],
        ],
      );
      // A late Status for the unknown command is still recorded.
      assert.equal((await survivor.queue.settle(del.id, { status: 200 })).state, 'succeeded');
      // An operator may decide to retry an unknown command: it is a new command.
      const u2 = await survivor.queue.enqueue('IMEI:1', {
        kind: 'Exec',
        target: './Reboot',
        correlator: 'r1',
      });
      await survivor.queue.claim('IMEI:1', 'n2', { limit: 1, leaseUntil: f.clock.t + 10 });
      await survivor.queue.markSent(u2.id, 'n2', { msgId: 1, cmdId: '1' });
      assert.equal((await survivor.queue.releaseSession('IMEI:1', 'n2')).unknown, 1);
      const retry = await survivor.queue.requeue(u2.id, { createdBy: 'bob' });
      assert.equal(retry.state, 'queued');
      assert.notEqual((retry.command as ExecCommand).correlator, 'r1');
      assert.equal(retry.createdBy, 'bob');
    });

    test('leases are renewed by a live session and released at its end', async () => {
      await using f = await fresh();
      await device(f.store);
      const q = f.store.queue;
      const a = await q.enqueue('IMEI:1', { kind: 'Add', target: './a' });
      const b = await q.enqueue('IMEI:1', { kind: 'Add', target: './b' });
      await q.claim('IMEI:1', 's', { limit: 2, leaseUntil: f.clock.t + 1000 });
      await q.markSent(a.id, 's', { msgId: 1, cmdId: '1' });
      f.clock.advance(900);
      assert.equal(await q.renewLease('IMEI:1', 's', f.clock.t + 1000), 2);
      f.clock.advance(900);
      assert.deepEqual(counts(await q.recover()), { requeued: 0, resent: 0, unknown: 0, expired: 0 });
      assert.equal((await q.release(b.id, 's')).state, 'queued');
      await q.claim('IMEI:1', 's', { limit: 1, leaseUntil: f.clock.t + 1000 });
      const refused = await q.reject(b.id, 's', { status: 413, reason: 'larger than MaxObjSize' });
      assert.equal(refused.state, 'failed');
      assert.equal(refused.status, 413);
      assert.equal(refused.sentAt, null);
      await rejectsWith(q.reject(a.id, 's', { status: 413 }), StoreErrorCode.InvalidState);
      await q.settle(a.id, { status: 200 });
      assert.deepEqual(counts(await q.releaseSession('IMEI:1', 's')), {
        requeued: 0,
        resent: 0,
        unknown: 0,
        expired: 0,
      });
    });

    test('expiry: an undelivered command past its expiry is never sent', async () => {
      await using f = await fresh();
      await device(f.store);
      const q = f.store.queue;
      const soon = await q.enqueue(
        'IMEI:1',
        { kind: 'Replace', target: './a', data: '1' },
        { expiresAt: f.clock.t + 1000 },
      );
      const later = await q.enqueue(
        'IMEI:1',
        { kind: 'Replace', target: './b', data: '1' },
        { expiresAt: f.clock.t + 5000 },
      );
      const never = await q.enqueue('IMEI:1', { kind: 'Replace', target: './c', data: '1' });
      f.clock.advance(1000);
      const claimed = await q.claim('IMEI:1', 's', { limit: 10, leaseUntil: f.clock.t + 100 });
      assert.deepEqual(
        claimed.map((c) => c.id),
        [later.id, never.id],
      );
      assert.equal((await q.get(soon.id))?.state, 'expired');
      // Claimed commands do not expire under a live session; released ones expire by the sweep.
      await q.releaseSession('IMEI:1', 's');
      f.clock.advance(5000);
      assert.equal((await q.recover()).expired, 1);
      assert.equal((await q.get(later.id))?.state, 'expired');
      assert.equal((await q.get(never.id))?.state, 'queued');
    });

    test('cancel only before delivery (or while pending)', async () => {
      await using f = await fresh();
      await device(f.store);
      const q = f.store.queue;
      const a = await q.enqueue('IMEI:1', { kind: 'Delete', target: './a' });
      const b = await q.enqueue('IMEI:1', { kind: 'Delete', target: './b' });
      const cancelled = await q.cancel(a.id, 'changed my mind');
      assert.equal(cancelled.state, 'cancelled');
      assert.equal(cancelled.detail?.reason, 'changed my mind');
      await deliver(f, f.store, 's');
      await rejectsWith(q.cancel(b.id), StoreErrorCode.InvalidState);
      await rejectsWith(q.cancel(9999), StoreErrorCode.NotFound);
      assert.equal((await q.claim('IMEI:1', 's2', { limit: 5, leaseUntil: f.clock.t + 1 })).length, 0);
    });

    test('waitFor resolves on a change made by another store instance, or times out', async () => {
      await using f = await fresh();
      const other = await f.open();
      await device(f.store);
      const c = await f.store.queue.enqueue('IMEI:1', { kind: 'Get', target: './DevInfo/Lang' });
      const timedOut = await f.store.queue.waitFor(c.id, { timeoutMs: 30 });
      assert.equal(timedOut?.state, 'queued');
      assert.equal(await f.store.queue.waitFor(424242, { timeoutMs: 10 }), undefined);
      const waiting = f.store.queue.waitFor(c.id, { timeoutMs: 20_000 });
      await other.queue.claim('IMEI:1', 's', { limit: 1, leaseUntil: f.clock.t + 1000 });
      await other.queue.markSent(c.id, 's', { msgId: 1, cmdId: '1' });
      await other.queue.settle(c.id, { status: 200, results: [{ uri: './DevInfo/Lang', value: 'en' }] });
      const done = await waiting;
      assert.equal(done?.state, 'succeeded');
      // In-process: an Exec waited on until final passes through pending.
      const e = await f.store.queue.enqueue('IMEI:1', { kind: 'Exec', target: './x', correlator: 'w' });
      await deliver(f, f.store, 's2');
      await f.store.queue.settle(e.id, { status: 202 });
      assert.equal((await f.store.queue.waitFor(e.id, { timeoutMs: 10 }))?.state, 'pending');
      const final = f.store.queue.waitFor(e.id, { until: 'final', timeoutMs: 20_000 });
      await f.store.queue.completeByCorrelator('IMEI:1', 'w', { status: 200 });
      assert.equal((await final)?.state, 'succeeded');
    });

    test('finished commands are purged after the retention period, live ones never', async () => {
      await using f = await fresh({ commandRetentionMs: 86_400_000 });
      await device(f.store);
      const q = f.store.queue;
      const done = await q.enqueue('IMEI:1', { kind: 'Exec', target: './Reboot', correlator: 'x' });
      const pending = await q.enqueue('IMEI:1', { kind: 'Exec', target: './FUMO/1/Update', correlator: 'y' });
      await deliver(f, f.store, 's');
      await q.settle(done.id, { status: 200 });
      await q.settle(pending.id, { status: 202 });
      const waiting = await q.enqueue('IMEI:1', { kind: 'Get', target: './a' });
      f.clock.advance(86_400_000 - 1);
      assert.equal((await f.store.sweep()).commandsPurged, 0);
      f.clock.advance(2);
      assert.equal((await f.store.sweep()).commandsPurged, 1);
      assert.equal(await q.get(done.id), undefined);
      assert.equal((await q.get(pending.id))?.state, 'pending');
      assert.equal((await q.get(waiting.id))?.state, 'queued');
      // Its correlator is free again.
      await q.enqueue('IMEI:1', { kind: 'Exec', target: './Reboot', correlator: 'x' });
    });

    test('lists commands with filters and pagination', async () => {
      await using f = await fresh();
      await device(f.store, 'A');
      await device(f.store, 'B');
      for (let i = 0; i < 7; i++)
        await f.store.queue.enqueue(i % 2 ? 'A' : 'B', { kind: 'Get', target: `./n${i}` });
      const p1 = await f.store.queue.list({ deviceId: 'B', limit: 3 });
      assert.equal(p1.items.length, 3);
      assert.ok(p1.nextCursor);
      const p2 = await f.store.queue.list({ deviceId: 'B', limit: 3, cursor: p1.nextCursor! });
      assert.equal(p2.items.length, 1);
      assert.equal(p2.nextCursor, undefined);
      const newest = await f.store.queue.list({ newestFirst: true, limit: 2 });
      assert.ok(newest.items[0]!.id > newest.items[1]!.id);
      assert.equal((await f.store.queue.list({ states: ['succeeded'] })).items.length, 0);
    });
  });

  describe(`${backend.name}: sessions`, () => {
    test('optimistic locking: of two writers from one version exactly one wins', async () => {
      await using f = await fresh();
      const other = await f.open();
      const s = await f.store.sessions.create({
        deviceId: 'IMEI:1',
        sessionId: 'S1',
        state: { phase: 'setup', msgId: 1 },
        expiresAt: f.clock.t + 60_000,
      });
      assert.equal(s.version, 1);
      await rejectsWith(
        f.store.sessions.create({ deviceId: 'IMEI:1', sessionId: 'S1', state: {}, expiresAt: f.clock.t + 1 }),
        StoreErrorCode.AlreadyExists,
      );
      const read = await other.sessions.get<{ phase: string }>('IMEI:1', 'S1');
      assert.deepEqual(read?.state, { phase: 'setup', msgId: 1 });
      const results = await Promise.allSettled([
        f.store.sessions.update('IMEI:1', 'S1', 1, { phase: 'mgmt', by: 'a' }, f.clock.t + 60_000),
        other.sessions.update('IMEI:1', 'S1', 1, { phase: 'mgmt', by: 'b' }, f.clock.t + 60_000),
      ]);
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r) => r.status === 'rejected');
      assert.equal(won.length, 1);
      assert.equal(lost.length, 1);
      assert.ok(isStoreError((lost[0] as PromiseRejectedResult).reason, StoreErrorCode.VersionConflict));
      const now = await f.store.sessions.get('IMEI:1', 'S1');
      assert.equal(now?.version, 2);
      assert.deepEqual(now?.state, (won[0] as PromiseFulfilledResult<{ state: unknown }>).value.state);
      const v3 = await other.sessions.update('IMEI:1', 'S1', 2, { phase: 'done' }, f.clock.t + 60_000);
      assert.equal(v3.version, 3);
      await rejectsWith(
        f.store.sessions.update('IMEI:1', 'S2', 1, {}, f.clock.t + 60_000),
        StoreErrorCode.NotFound,
      );
      assert.equal((await f.store.sessions.delete('IMEI:1', 'S1'))?.version, 3);
    });

    test('head and last answer: written in columns, read apart from the state; cleared by a write without them', async () => {
      await using f = await fresh();
      const other = await f.open();
      const reply = new Uint8Array([0x02, 0x00, 0x00, 0x6a, 0xff, 0x00, 0x80]);
      const head = { dmSessionId: 'A1', phase: 'closed', clientMsgId: 1, requestHash: 'h1' };
      await f.store.sessions.create({
        deviceId: 'IMEI:1',
        sessionId: 'T1',
        state: { n: 1 },
        expiresAt: f.clock.t + 60_000,
        head,
        reply,
      });
      f.clock.advance(1);
      await f.store.sessions.create({
        deviceId: 'IMEI:1',
        sessionId: 'T2',
        state: { n: 2 },
        expiresAt: f.clock.t + 60_000,
        head: { dmSessionId: 'A2', phase: 'authenticating', clientMsgId: 0 },
      });
      // The latest (T2): its head (no request hash given), no state.
      const h2 = await other.sessions.latestHead('IMEI:1');
      assert.deepEqual(
        { ...h2 },
        {
          deviceId: 'IMEI:1',
          sessionId: 'T2',
          version: 1,
          updatedAt: f.clock.t,
          expiresAt: f.clock.t + 60_000,
          head: { dmSessionId: 'A2', phase: 'authenticating', clientMsgId: 0 },
        },
      );
      assert.equal(await other.sessions.reply('IMEI:1', 'T2'), undefined);
      assert.deepEqual(await other.sessions.reply('IMEI:1', 'T1'), reply);
      // T1 advanced: it becomes the latest, with its head and its new answer.
      f.clock.advance(1);
      const next = new Uint8Array([0x02, 0x00, 0x00, 0x6a, 0x01]);
      const head2 = { ...head, clientMsgId: 2, requestHash: 'h2' };
      const v2 = await f.store.sessions.update('IMEI:1', 'T1', 1, { n: 3 }, f.clock.t + 60_000, {
        head: head2,
        reply: next,
      });
      assert.equal(v2.version, 2);
      const h1 = await other.sessions.latestHead('IMEI:1');
      assert.equal(h1?.sessionId, 'T1');
      assert.equal(h1?.version, 2);
      assert.deepEqual(h1?.head, head2);
      assert.equal(h1?.state, undefined);
      const bytes = await other.sessions.reply('IMEI:1', 'T1');
      assert.ok(bytes instanceof Uint8Array);
      assert.deepEqual(bytes, next);
      assert.equal(await other.sessions.reply('IMEI:2', 'T1'), undefined, 'another device');
      for (const rec of [
        await other.sessions.get('IMEI:1', 'T1'),
        await other.sessions.getByKey('T1'),
        await other.sessions.latest('IMEI:1'),
      ]) {
        assert.deepEqual(rec?.state, { n: 3 });
        assert.equal(rec?.version, 2);
      }
      // A write without head and answer clears them: readers then go by the state.
      f.clock.advance(1);
      await f.store.sessions.update('IMEI:1', 'T1', 2, { n: 4 }, f.clock.t + 60_000);
      const bare = await other.sessions.latestHead<{ n: number }>('IMEI:1');
      assert.equal(bare?.head, undefined);
      assert.deepEqual(bare?.state, { n: 4 });
      assert.equal(await other.sessions.reply('IMEI:1', 'T1'), undefined);
      // Expired sessions have neither.
      f.clock.advance(60_000);
      assert.equal(await other.sessions.latestHead('IMEI:1'), undefined);
      assert.equal(await other.sessions.reply('IMEI:1', 'T2'), undefined);
    });

    test('a row written before the head columns existed reads by its state', async () => {
      await using f = await fresh();
      const state = {
        sessionId: 'A1',
        phase: 'closed',
        clientMsgId: 1,
        lastReply: {
          requestHash: 'h',
          body: 'AgAAag==',
          mediaType: 'application/vnd.syncml.dm+wbxml',
          done: true,
        },
      };
      // Only the columns of 0001: what such a row holds.
      await sql`insert into omadm_session (device_id, session_id, state, version, created_at, updated_at, expires_at)
        values (${'IMEI:1'}, ${'T0'}, ${JSON.stringify(state)}, ${3}, ${f.clock.t}, ${f.clock.t}, ${f.clock.t + 60_000})`.execute(
        (f.store as SqlStore).kysely,
      );
      const h = await f.store.sessions.latestHead('IMEI:1');
      assert.equal(h?.sessionId, 'T0');
      assert.equal(h?.version, 3);
      assert.equal(h?.head, undefined);
      assert.deepEqual(h?.state, state);
      const rec = await f.store.sessions.getByKey('T0');
      assert.deepEqual(rec?.state, state);
      assert.equal(await f.store.sessions.reply('IMEI:1', 'T0'), undefined);
      // It is updated like any other (now with a head).
      const head = { dmSessionId: 'A1', phase: 'closed', clientMsgId: 2, requestHash: 'h2' };
      await f.store.sessions.update('IMEI:1', 'T0', 3, { n: 1 }, f.clock.t + 60_000, { head });
      assert.deepEqual((await f.store.sessions.latestHead('IMEI:1'))?.head, head);
    });

    test('idle sessions expire; the sweep gives their commands back to the queue', async () => {
      await using f = await fresh();
      await device(f.store);
      await f.store.sessions.create({
        deviceId: 'IMEI:1',
        sessionId: 'S',
        state: { n: 1 },
        expiresAt: f.clock.t + 5000,
      });
      const c = await f.store.queue.enqueue('IMEI:1', { kind: 'Replace', target: './a', data: '1' });
      const d = await f.store.queue.enqueue('IMEI:1', { kind: 'Replace', target: './b', data: '1' });
      await f.store.queue.claim('IMEI:1', 'S', { limit: 2, leaseUntil: f.clock.t + 600_000 });
      await f.store.queue.markSent(d.id, 'S', { msgId: 2, cmdId: '2' });
      f.clock.advance(5000);
      assert.equal(await f.store.sessions.get('IMEI:1', 'S'), undefined);
      await rejectsWith(
        f.store.sessions.update('IMEI:1', 'S', 1, {}, f.clock.t + 1),
        StoreErrorCode.NotFound,
      );
      const report = await f.store.sweep();
      assert.deepEqual(report, {
        sessionsExpired: 1,
        sessions: [{ deviceId: 'IMEI:1', sessionId: 'S', dmSessionId: null, phase: null }],
        requeued: 1,
        resent: 0,
        unknown: 1,
        expired: 0,
        // The ids behind the counts, for the sweep's log line.
        ids: { requeued: [c.id], resent: [], unknown: [d.id], expired: [] },
        tracesPruned: 0,
        eventsPruned: 0,
        commandsPurged: 0,
        pruned: {},
      });
      assert.equal((await f.store.queue.get(c.id))?.state, 'queued');
      assert.equal((await f.store.queue.get(d.id))?.state, 'unknown');
      // An expired key can be reused by a new session.
      await f.store.sessions.create({
        deviceId: 'IMEI:1',
        sessionId: 'S',
        state: {},
        expiresAt: f.clock.t + 5000,
      });
      assert.equal((await f.store.sessions.listByDevice('IMEI:1')).length, 1);
    });
  });

  describe(`${backend.name}: traces`, () => {
    test('keeps raw bytes, lists newest first with pagination, bounded per device and by age', async () => {
      await using f = await fresh({ traceRetention: { maxSessionsPerDevice: 3, maxAgeMs: 60_000 } });
      const bodies: Uint8Array[] = [];
      for (let i = 0; i < 8; i++) {
        const body = new Uint8Array([0x02, 0x00, i, 0xff, 0x00]);
        bodies.push(body);
        await f.store.traces.append({
          deviceId: 'IMEI:1',
          sessionId: `s${i >> 1}`,
          direction: i % 2 ? 'out' : 'in',
          contentType: 'application/vnd.syncml.dm+wbxml',
          body,
          at: f.clock.t + i,
        });
      }
      await f.store.traces.append({
        deviceId: 'IMEI:2',
        sessionId: null,
        direction: 'in',
        contentType: 'application/vnd.syncml.dm+xml',
        body: new TextEncoder().encode('<SyncML/>'),
        at: f.clock.t,
      });
      // Appends never prune (the DM path does not wait for it); retention keeps the 3 newest sessions.
      assert.equal((await f.store.traces.list('IMEI:1', { limit: 100 })).items.length, 8);
      assert.equal(await f.store.traces.prune('IMEI:1'), 2);
      const all = await f.store.traces.list('IMEI:1', { limit: 100 });
      assert.deepEqual(
        all.items.map((e) => e.body[2]),
        [7, 6, 5, 4, 3, 2],
      );
      assert.deepEqual(all.items[0]!.body, bodies[7]);
      assert.equal(all.items[0]!.size, 5);
      assert.equal(all.items[0]!.direction, 'out');
      const p1 = await f.store.traces.list('IMEI:1', { limit: 2, oldestFirst: true });
      const p2 = await f.store.traces.list('IMEI:1', { limit: 2, oldestFirst: true, cursor: p1.nextCursor! });
      assert.deepEqual(
        [...p1.items, ...p2.items].map((e) => e.body[2]),
        [2, 3, 4, 5],
      );
      assert.equal((await f.store.traces.list('IMEI:1', { sessionId: 's3' })).items.length, 2);
      // Messages at t+2..t+7 remain; 60 s after t+7 only the one at t+7 is young enough.
      f.clock.advance(60_007);
      assert.equal(await f.store.traces.prune(), 6);
      assert.deepEqual(
        (await f.store.traces.list('IMEI:1')).items.map((e) => e.body[2]),
        [7],
      );
      assert.equal((await f.store.traces.list('IMEI:2')).items.length, 0);
    });
  });

  describe(`${backend.name}: audit log and tokens`, () => {
    test('audit entries are listed newest first with filters and pagination', async () => {
      await using f = await fresh();
      for (let i = 0; i < 5; i++) {
        await f.store.audit.append({
          actor: i % 2 ? 'alice' : 'bob',
          action: 'command.enqueue',
          target: `IMEI:${i}`,
          details: { i },
        });
      }
      const p1 = await f.store.audit.list({ limit: 2 });
      assert.deepEqual(
        p1.items.map((e) => e.details?.i),
        [4, 3],
      );
      const p2 = await f.store.audit.list({ limit: 2, cursor: p1.nextCursor! });
      assert.deepEqual(
        p2.items.map((e) => e.details?.i),
        [2, 1],
      );
      assert.equal((await f.store.audit.list({ actor: 'alice' })).items.length, 2);
      assert.equal((await f.store.audit.list({ target: 'IMEI:0' })).items[0]?.actor, 'bob');
      assert.equal(p1.items[0]?.at, f.clock.t);
      await rejectsWith(f.store.audit.append({ actor: '', action: 'x' }), StoreErrorCode.InvalidInput);
    });

    test('API tokens are stored hashed, verified, revoked', async () => {
      await using f = await fresh();
      const { token, secret } = await f.store.tokens.create({
        name: 'ci',
        role: 'operator',
        createdBy: 'admin',
      });
      assert.match(secret, /^omadm_[A-Za-z0-9_-]{43}$/);
      const raw = await rawText(f.store, 'omadm_token');
      assert.ok(!raw.includes(secret));
      assert.ok(raw.includes(hashToken(secret)));
      assert.equal((await f.store.tokens.verify(secret))?.id, token.id);
      assert.equal((await f.store.tokens.verify(secret))?.lastUsedAt, f.clock.t);
      assert.equal(await f.store.tokens.verify(`${secret}x`), undefined);
      const imported = randomBytes(24).toString('hex');
      const admin = await f.store.tokens.create({ name: 'boot', role: 'admin', secret: imported });
      assert.equal((await f.store.tokens.verify(imported))?.role, 'admin');
      await rejectsWith(
        f.store.tokens.create({ name: 'dup', role: 'admin', secret: imported }),
        StoreErrorCode.AlreadyExists,
      );
      await rejectsWith(
        f.store.tokens.create({ name: 'x', role: 'root' as 'admin' }),
        StoreErrorCode.InvalidInput,
      );
      assert.equal((await f.store.tokens.revoke(token.id))?.revokedAt, null);
      assert.equal(await f.store.tokens.verify(secret), undefined);
      assert.deepEqual(
        (await f.store.tokens.list()).map((t) => t.id),
        [admin.token.id],
      );
      assert.equal((await f.store.tokens.list({ includeRevoked: true })).length, 2);
      assert.equal(await f.store.tokens.revoke('nope'), undefined);
    });
  });
}
