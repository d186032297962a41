/**
 * Property tests: random operation sequences (some inside transactions that commit or roll back)
 * against a plain Map model; then the journal batches are replayed into a fresh tree, which must
 * equal the live one.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { StatusCode } from '../../src/representation/index.ts';
import {
  type LoadedTree,
  ManagementTree,
  type Mutation,
  type TreeOps,
  type TreeSnapshot,
  type TreeStore,
} from '../../src/tree/index.ts';

const S = StatusCode;

type Entry = { kind: 'leaf'; data: string } | { kind: 'node' };
type Model = Map<string, Entry>; // key: path joined with '/', '' = root

type Op =
  | { op: 'add'; path: string[]; interior: boolean; data: string }
  | { op: 'replace'; path: string[]; data: string }
  | { op: 'delete'; path: string[] }
  | { op: 'rename'; path: string[]; to: string }
  | { op: 'get'; path: string[] };

type Step = { tx: false; op: Op } | { tx: true; ops: Op[]; commit: boolean };

const name = fc.constantFrom('a', 'b', 'c');
const path = fc.array(name, { minLength: 0, maxLength: 3 });
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    op: fc.constant('add' as const),
    path,
    interior: fc.boolean(),
    data: fc.string({ maxLength: 4 }),
  }),
  fc.record({ op: fc.constant('replace' as const), path, data: fc.string({ maxLength: 4 }) }),
  fc.record({ op: fc.constant('delete' as const), path }),
  fc.record({ op: fc.constant('rename' as const), path, to: name }),
  fc.record({ op: fc.constant('get' as const), path }),
);
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: op.map((o) => ({ tx: false as const, op: o })) },
  {
    weight: 1,
    arbitrary: fc.record({
      tx: fc.constant(true as const),
      ops: fc.array(op, { maxLength: 6, size: 'max' }),
      commit: fc.boolean(),
    }),
  },
);

const key = (p: readonly string[]) => p.join('/');
const uri = (p: readonly string[]) => (p.length === 0 ? '.' : `./${p.join('/')}`);

function modelApply(m: Model, o: Op): StatusCode {
  const k = key(o.path);
  switch (o.op) {
    case 'get':
      return m.has(k) ? S.Ok : S.NotFound;
    case 'add': {
      if (m.has(k)) return S.AlreadyExists;
      let i = o.path.length - 1;
      while (!m.has(key(o.path.slice(0, i)))) i--;
      if (m.get(key(o.path.slice(0, i)))?.kind === 'leaf') return S.CommandNotAllowed;
      for (let j = i + 1; j < o.path.length; j++) m.set(key(o.path.slice(0, j)), { kind: 'node' });
      m.set(k, o.interior ? { kind: 'node' } : { kind: 'leaf', data: o.data });
      return S.Ok;
    }
    case 'replace': {
      const e = m.get(k);
      if (!e) return S.NotFound;
      if (e.kind === 'node') return S.CommandNotAllowed;
      m.set(k, { kind: 'leaf', data: o.data });
      return S.Ok;
    }
    case 'delete': {
      if (o.path.length === 0) return S.CommandNotAllowed;
      if (!m.has(k)) return S.NotFound;
      for (const x of [...m.keys()]) if (x === k || x.startsWith(`${k}/`)) m.delete(x);
      return S.Ok;
    }
    case 'rename': {
      if (!m.has(k)) return S.NotFound;
      if (o.path.length === 0) return S.CommandNotAllowed;
      const target = key([...o.path.slice(0, -1), o.to]);
      if (target === k) return S.Ok;
      if (m.has(target)) return S.AlreadyExists;
      for (const [x, v] of [...m]) {
        if (x === k || x.startsWith(`${k}/`)) {
          m.delete(x);
          m.set(target + x.slice(k.length), v);
        }
      }
      return S.Ok;
    }
  }
}

async function treeApply(t: TreeOps, o: Op): Promise<StatusCode> {
  switch (o.op) {
    case 'get':
      return (await t.get(uri(o.path))).status;
    case 'add':
      return t.add(uri(o.path), o.interior ? { format: 'node' } : { data: o.data });
    case 'replace':
      return t.replace(uri(o.path), { data: o.data });
    case 'delete':
      return t.delete(uri(o.path));
    case 'rename':
      return t.replace(`${uri(o.path)}?prop=Name`, { data: o.to });
  }
}

/** The tree's content as a model (Struct walk). */
async function contents(t: ManagementTree): Promise<Model> {
  const out: Model = new Map();
  const r = await t.get('.?list=StructData');
  for (const item of r.items) {
    const k = item.uri === '.' ? '' : item.uri.slice(2);
    out.set(k, item.format === 'node' ? { kind: 'node' } : { kind: 'leaf', data: String(item.data) });
  }
  return out;
}

function sorted(m: Model): [string, Entry][] {
  return [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Records committed batches, and can serve them back as a load. */
class RecordingStore implements TreeStore {
  readonly batches: Mutation[][] = [];
  async load(): Promise<LoadedTree> {
    return {
      snapshot: undefined,
      batches: this.batches.map((b) => JSON.parse(JSON.stringify(b)) as Mutation[]),
    };
  }
  async commit(batch: readonly Mutation[], _s: () => TreeSnapshot): Promise<void> {
    this.batches.push(JSON.parse(JSON.stringify(batch)) as Mutation[]);
  }
  async close(): Promise<void> {}
}

test('random operation sequences agree with a Map model; journal replay reproduces the tree', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(step, { minLength: 5, maxLength: 60, size: 'max' }), async (steps) => {
      const store = new RecordingStore();
      const tree = await ManagementTree.open({ store, clock: () => 1_000 });
      let model: Model = new Map([['', { kind: 'node' }]]);
      for (const s of steps) {
        if (!s.tx) {
          assert.equal(await treeApply(tree, s.op), modelApply(model, s.op), JSON.stringify(s.op));
          continue;
        }
        const draft: Model = new Map(model);
        const tx = await tree.begin();
        for (const o of s.ops)
          assert.equal(await treeApply(tx, o), modelApply(draft, o), `in tx: ${JSON.stringify(o)}`);
        if (s.commit) {
          assert.equal(await tx.commit(), S.Ok);
          model = draft;
        } else {
          assert.equal(await tx.rollback(), S.Ok);
        }
        assert.deepEqual(sorted(await contents(tree)), sorted(model));
      }
      assert.deepEqual(sorted(await contents(tree)), sorted(model));
      const replayed = await ManagementTree.open({ store, clock: () => 1_000 });
      assert.equal(JSON.stringify(replayed.toSnapshot()), JSON.stringify(tree.toSnapshot()));
    }),
    { numRuns: 150, seed: 4242 },
  );
});
