import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type Command, type Item, StatusCode } from '../../src/representation/index.ts';
import {
  type ChangeEvent,
  LOCAL,
  type LoadedTree,
  ManagementTree,
  type ManagementObject,
  type Mutation,
  type NodePath,
  serverPrincipal,
  type TreeSnapshot,
  type TreeStore,
  TreeCommandExecutor,
} from '../../src/tree/index.ts';

const S = StatusCode;
const A = serverPrincipal('srvA');

/** A transactional MO: ./Kv/<key> leaves; writes apply at once and are undone per txId on rollback. */
function kvPlugin(options: { prepare?: () => StatusCode; failRollback?: boolean } = {}) {
  const data = new Map<string, string>([['seed', 's']]);
  const undo = new Map<number, Array<() => void>>();
  const log: string[] = [];
  const remember = (txId: number, fn: () => void) => {
    const list = undo.get(txId) ?? [];
    undo.set(txId, list);
    list.push(fn);
  };
  const mo: ManagementObject = {
    async get(path: NodePath) {
      if (path.length === 0) return { format: 'node', children: [...data.keys()] };
      const v = path.length === 1 ? data.get(path[0]!) : undefined;
      return v === undefined ? S.NotFound : { format: 'chr', data: v };
    },
    async add(path, input, ctx) {
      if (input.format === 'node') return S.CommandNotAllowed;
      const key = path[0]!;
      data.set(key, String(input.data ?? ''));
      remember(ctx.txId, () => data.delete(key));
      return S.Ok;
    },
    async replace(path, input, ctx) {
      const key = path[0]!;
      const old = data.get(key)!;
      data.set(key, String(input.data ?? ''));
      remember(ctx.txId, () => data.set(key, old));
      return S.Ok;
    },
    async delete(path, ctx) {
      const key = path[0]!;
      const old = data.get(key)!;
      data.delete(key);
      remember(ctx.txId, () => data.set(key, old));
      return S.Ok;
    },
    async prepare(txId) {
      log.push(`prepare ${txId}`);
      return options.prepare?.() ?? S.Ok;
    },
    async commit(txId) {
      log.push(`commit ${txId}`);
      undo.delete(txId);
    },
    async rollback(txId) {
      log.push(`rollback ${txId}`);
      if (options.failRollback) throw new Error('cannot undo');
      for (const fn of (undo.get(txId) ?? []).reverse()) fn();
      undo.delete(txId);
    },
  };
  return { mo, data, log };
}

async function fixture(plugin = kvPlugin()) {
  const tree = await ManagementTree.open({ clock: () => 1_700_000_000_000 });
  await tree.replace('.?prop=ACL', { data: 'Add=*&Get=*&Replace=*&Delete=*' });
  await tree.add('./Base/Keep/a', { data: '1' });
  await tree.add('./Base/Keep/b', { format: 'int', data: '2' });
  await tree.add('./Base/Gone/x/y/z', { data: 'deep' });
  await tree.add('./Base/Renamed', { data: 'r' });
  await tree.mount('./Kv', plugin.mo);
  return { tree, plugin };
}

const item = (uri: string, data?: string, format?: string): Item => ({
  Target: { LocURI: uri },
  ...(format ? { Meta: { Format: format } } : {}),
  ...(data !== undefined ? { Data: { kind: 'text', text: data } } : {}),
});

/** The Atomic members used for failure injection: every kind of change, plugin ones included. */
function members(): Command[] {
  let id = 10;
  const c = (type: 'Add' | 'Replace' | 'Delete', items: Item[]): Command => ({
    type,
    CmdID: String(id++),
    Item: items,
  });
  return [
    c('Add', [item('./New/Interior', undefined, 'node')]),
    c('Add', [item('./New/Interior/leaf', 'v')]),
    c('Replace', [item('./Base/Keep/a', 'changed')]),
    c('Delete', [item('./Base/Gone')]),
    c('Replace', [item('./Base/Renamed?prop=Name', 'NewName')]),
    c('Replace', [item('./Base/Keep?prop=ACL', 'Get=*&Replace=srvA')]),
    c('Replace', [item('./Base/Keep/b?prop=Title', 'title')]),
    c('Add', [item('./Kv/k1', 'plugin-add')]),
    c('Replace', [item('./Kv/seed', 'plugin-replace')]),
    c('Delete', [item('./Kv/seed')]),
    {
      type: 'Copy',
      CmdID: String(id++),
      Item: [{ Target: { LocURI: './New/copy' }, Source: { LocURI: './Base/Keep/b' } }],
    },
  ];
}

function state(tree: ManagementTree, plugin: ReturnType<typeof kvPlugin>): string {
  return JSON.stringify({ tree: tree.toSnapshot(), kv: [...plugin.data] });
}

describe('Atomic through the executor', () => {
  const n = members().length;
  for (let k = 0; k <= n; k++) {
    test(
      k === n
        ? 'no failure: all members 200, committed'
        : `failure injected at member ${k}: tree exactly as before`,
      async () => {
        const { tree, plugin } = await fixture();
        const events: ChangeEvent[] = [];
        tree.onChange((e) => events.push(e));
        const before = state(tree, plugin);
        const cmds = members();
        if (k < n) cmds.splice(k, 0, { type: 'Replace', CmdID: '99', Item: [item('./Does/Not/Exist', 'x')] });
        const ex = new TreeCommandExecutor(tree);
        let cmdId = 0;
        const out = await ex.execute(
          { type: 'Atomic', CmdID: '1', commands: cmds },
          { principal: A, msgRef: '2', nextCmdId: () => String(++cmdId) },
        );
        const codes = out.statuses.map((s) => s.Data);
        assert.equal(out.statuses[0]?.Cmd, 'Atomic');
        assert.deepEqual(
          out.statuses.map((s) => s.CmdID),
          out.statuses.map((_, i) => String(i + 1)),
        );
        assert.ok(out.statuses.every((s) => s.MsgRef === '2'));
        if (k === n) {
          assert.deepEqual(codes, [S.Ok, ...cmds.map(() => S.Ok)]);
          assert.notEqual(state(tree, plugin), before);
          assert.equal((await tree.get('./New/Interior/leaf')).items[0]?.data, 'v');
          assert.equal(plugin.data.get('k1'), 'plugin-add');
          assert.equal(plugin.data.has('seed'), false);
          assert.ok(events.length >= cmds.length);
          assert.ok(plugin.log.some((l) => l.startsWith('commit')));
        } else {
          const expected = [
            S.AtomicFailed,
            ...cmds.map((_, i) => (i < k ? S.AtomicRollbackOk : i === k ? S.NotFound : S.NotExecuted)),
          ];
          assert.deepEqual(codes, expected);
          assert.equal(state(tree, plugin), before, 'rolled back');
          assert.deepEqual(events, [], 'no events for a rolled-back Atomic');
          if (k > 7) assert.ok(plugin.log.some((l) => l.startsWith('rollback')));
        }
      },
    );
  }

  test('Get, Exec and nested Atomic inside Atomic are refused with 500 and fail the Atomic', async () => {
    const { tree, plugin } = await fixture();
    const before = state(tree, plugin);
    const ex = new TreeCommandExecutor(tree);
    let id = 0;
    for (const bad of [
      { type: 'Get', CmdID: '3', Item: [item('./Base')] },
      { type: 'Exec', CmdID: '3', Item: [item('./Base/Keep/a')] },
      { type: 'Atomic', CmdID: '3', commands: [{ type: 'Add', CmdID: '4', Item: [item('./Z', 'z')] }] },
    ] as Command[]) {
      const out = await ex.execute(
        {
          type: 'Atomic',
          CmdID: '1',
          commands: [{ type: 'Add', CmdID: '2', Item: [item('./Y', 'y')] }, bad],
        },
        { principal: A, nextCmdId: () => String(++id) },
      );
      assert.equal(out.statuses[0]?.Data, S.AtomicFailed);
      assert.equal(out.statuses[1]?.Data, S.AtomicRollbackOk);
      assert.equal(out.statuses[2]?.Data, S.CommandFailed);
      assert.equal(state(tree, plugin), before);
    }
  });

  test('a plugin refusing prepare fails the Atomic (507, members 216) and rolls everything back', async () => {
    const plugin = kvPlugin({ prepare: () => S.DeviceFull });
    const { tree } = await fixture(plugin);
    const before = state(tree, plugin);
    let id = 0;
    const out = await new TreeCommandExecutor(tree).execute(
      {
        type: 'Atomic',
        CmdID: '1',
        commands: [
          { type: 'Add', CmdID: '2', Item: [item('./Q', 'q')] },
          { type: 'Add', CmdID: '3', Item: [item('./Kv/k', 'v')] },
        ],
      },
      { principal: A, nextCmdId: () => String(++id) },
    );
    assert.deepEqual(
      out.statuses.map((s) => s.Data),
      [S.AtomicFailed, S.AtomicRollbackOk, S.AtomicRollbackOk],
    );
    assert.equal(state(tree, plugin), before);
    assert.deepEqual(
      plugin.log.slice(-2).map((l) => l.split(' ')[0]),
      ['prepare', 'rollback'],
    );
  });

  test('a plugin failing its rollback turns members into 516', async () => {
    const plugin = kvPlugin({ failRollback: true });
    const { tree } = await fixture(plugin);
    let id = 0;
    const out = await new TreeCommandExecutor(tree).execute(
      {
        type: 'Atomic',
        CmdID: '1',
        commands: [
          { type: 'Add', CmdID: '2', Item: [item('./Kv/k', 'v')] },
          { type: 'Delete', CmdID: '3', Item: [item('./Missing')] },
        ],
      },
      { principal: A, nextCmdId: () => String(++id) },
    );
    assert.deepEqual(
      out.statuses.map((s) => s.Data),
      [S.AtomicFailed, S.AtomicRollbackFailed, S.NotFound],
    );
    assert.equal((await tree.get('./Kv')).status, S.Ok, 'the tree is usable afterwards');
  });

  test('a plugin without rollback cannot take part in an Atomic (500)', async () => {
    const tree = await ManagementTree.open();
    const data = new Map<string, string>();
    await tree.mount('./Plain', {
      async get(path) {
        return path.length === 0 ? { format: 'node', children: [...data.keys()] } : S.NotFound;
      },
      async add(path, input) {
        data.set(path[0]!, String(input.data));
        return S.Ok;
      },
    });
    assert.equal(await tree.add('./Plain/a', { data: '1' }), S.Ok, 'fine outside a transaction');
    const tx = await tree.begin();
    assert.equal(await tx.add('./Plain/b', { data: '2' }), S.CommandFailed);
    await tx.rollback();
    assert.deepEqual([...data.keys()], ['a']);
  });
});

describe('single commands with plugins', () => {
  test('a command failing half-way rolls the plugin back too (no partial subtree replace)', async () => {
    const { tree, plugin } = await fixture();
    const before = state(tree, plugin);
    const status = await tree.replaceSubtree('./Kv', {
      name: 'Kv',
      format: 'node',
      children: [
        { name: 'a', format: 'chr', data: '1' },
        { name: 'b', format: 'node', children: [] },
      ],
    });
    assert.equal(status, S.CommandNotAllowed);
    assert.equal(state(tree, plugin), before, 'seed restored, a removed');
    assert.deepEqual(
      plugin.log.slice(-1).map((l) => l.split(' ')[0]),
      ['rollback'],
    );
  });
});

describe('Transaction API', () => {
  test('rollback restores subtree deletes, renames, ACLs, overlays and VerNo exactly', async () => {
    const { tree, plugin } = await fixture();
    await tree.replace('./Kv/seed?prop=ACL', { data: 'Get=srvA' });
    const before = state(tree, plugin);
    const tx = await tree.begin();
    assert.equal(await tx.delete('./Base'), S.Ok);
    assert.equal((await tx.get('./Base/Keep/a')).status, S.NotFound, 'changes are visible inside');
    assert.equal(await tx.add('./Base', { format: 'node' }), S.Ok);
    assert.equal(await tx.replace('./Kv/seed?prop=ACL', { data: 'Get=*' }), S.Ok);
    assert.equal(await tx.delete('./Kv/seed'), S.Ok);
    assert.equal(await tx.rollback(), S.Ok);
    assert.equal(state(tree, plugin), before);
    assert.equal(tx.open, false);
    await assert.rejects(tx.add('./X', { data: '1' }), { code: 'tree.closed' });
  });

  test('other callers wait while a transaction is open', async () => {
    const { tree } = await fixture();
    const order: string[] = [];
    const tx = await tree.begin();
    await tx.replace('./Base/Keep/a', { data: 'inside' });
    const outside = tree.get('./Base/Keep/a').then((r) => {
      order.push(`outside saw ${r.items[0]?.data}`);
    });
    await new Promise((r) => setTimeout(r, 10));
    order.push('commit');
    assert.equal(await tx.commit(), S.Ok);
    await outside;
    assert.deepEqual(order, ['commit', 'outside saw inside']);
  });

  test('transaction(fn) commits on success and rolls back on throw', async () => {
    const { tree, plugin } = await fixture();
    const before = state(tree, plugin);
    await assert.rejects(
      tree.transaction(async (tx) => {
        await tx.add('./T', { data: '1' });
        throw new Error('abort');
      }),
      /abort/,
    );
    assert.equal(state(tree, plugin), before);
    await tree.transaction(async (tx) => {
      await tx.add('./T', { data: '1' });
    });
    assert.equal((await tree.get('./T')).items[0]?.data, '1');
  });

  test('a failing store write undoes the change and answers 510', async () => {
    let fail = false;
    const store: TreeStore = {
      load: async (): Promise<LoadedTree> => ({ snapshot: undefined, batches: [] }),
      commit: async (_b: readonly Mutation[], _s: () => TreeSnapshot) => {
        if (fail) throw new Error('disk full');
      },
      close: async () => {},
    };
    const tree = await ManagementTree.open({ store });
    await tree.add('./A', { data: '1' });
    const before = JSON.stringify(tree.toSnapshot());
    fail = true;
    assert.equal(await tree.replace('./A', { data: '2' }), S.DataStoreFailure);
    assert.equal(await tree.add('./B', { data: '2' }), S.DataStoreFailure);
    assert.equal(JSON.stringify(tree.toSnapshot()), before);
    const tx = await tree.begin();
    await tx.add('./C', { data: '3' }, LOCAL);
    assert.equal(await tx.commit(), S.DataStoreFailure);
    assert.equal(JSON.stringify(tree.toSnapshot()), before);
  });
});
