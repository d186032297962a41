/**
 * The contract every TreeStore backend meets (journal file, SQLite): state survives restarts with
 * and without compaction, batches after a compaction replay on top of it, and a SIGKILL of a
 * writing process at random moments never leaves a partial batch or loses an acknowledged one.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { StatusCode } from '../../src/representation/index.ts';
import {
  JournalTreeStore,
  ManagementTree,
  type NodePath,
  SqliteTreeStore,
  serverPrincipal,
  type TreeStore,
} from '../../src/tree/index.ts';

const S = StatusCode;

interface Backend {
  readonly name: 'journal' | 'sqlite';
  make(dir: string, compactBytes: number): TreeStore;
}

const backends: Backend[] = [
  { name: 'journal', make: (dir, compactBytes) => new JournalTreeStore({ dir, compactBytes }) },
  {
    name: 'sqlite',
    make: (dir, compactBytes) => new SqliteTreeStore({ path: join(dir, 'tree.db'), compactBytes }),
  },
];

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'omadm-tree-store-'));
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Exercises every kind of mutation, plugin overlays included. */
async function workload(tree: ManagementTree): Promise<void> {
  const A = serverPrincipal('srvA');
  await tree.replace('.?prop=ACL', { data: 'Add=*&Get=*&Replace=*&Delete=*' });
  await tree.ensure('./DevInfo/DevId', { data: 'IMEI:1', permanent: true });
  await tree.add('./Apps', { format: 'node', caseSense: 'CIS' });
  for (let i = 0; i < 40; i++) {
    await tree.add(`./Apps/app${i}/Name`, { data: `App ${i}` }, A);
    await tree.add(`./Apps/app${i}/Blob`, { format: 'bin', data: new Uint8Array([i, 0, 255, i]) }, A);
  }
  for (let i = 0; i < 40; i += 3) await tree.delete(`./Apps/app${i}`, A);
  await tree.replace('./Apps/app1/Name', { data: 'renamed value ü' }, A);
  await tree.replace('./Apps/app2?prop=Name', { data: 'second' }, A);
  await tree.replace('./Apps/app4?prop=ACL', { data: 'Get=srvA&Replace=srvA' });
  await tree.replace('./Apps/app5?prop=Title', { data: 'Five' });
  await tree.mount('./Live', {
    async get(path: NodePath) {
      return path.length === 0 ? { format: 'node', children: ['x'] } : { format: 'chr', data: 'live' };
    },
  });
  await tree.replace('./Live/x?prop=ACL', { data: 'Get=srvB' });
  await tree.transaction(async (tx) => {
    await tx.add('./Tx/a', { data: '1' });
    await tx.add('./Tx/b', { data: '2' });
  });
}

for (const backend of backends) {
  describe(`${backend.name} store: contract`, () => {
    const openAt = (dir: string, compactBytes: number) =>
      ManagementTree.open({ store: backend.make(dir, compactBytes), clock: () => 1_600_000_000_000 });

    for (const compactBytes of [1 << 20, 512]) {
      test(`state survives a restart (compactBytes ${compactBytes})`, async () => {
        const dir = tempDir();
        const tree = await openAt(dir, compactBytes);
        await workload(tree);
        const before = JSON.stringify(tree.toSnapshot());
        await tree.close();
        const again = await openAt(dir, compactBytes);
        assert.equal(JSON.stringify(again.toSnapshot()), before);
        assert.deepEqual((await again.get('./APPS/app1/Name')).items[0]?.data, 'renamed value ü');
        assert.deepEqual(
          (await again.get('./Apps/app7/Blob')).items[0]?.data,
          new Uint8Array([7, 0, 255, 7]),
        );
        assert.equal((await again.get('./Apps/second/Name')).status, S.Ok);
        await again.add('./AfterRestart', { data: '1' });
        const more = JSON.stringify(again.toSnapshot());
        await again.close();
        const third = await openAt(dir, compactBytes);
        assert.equal(
          JSON.stringify(third.toSnapshot()),
          more,
          'batches after a reopen (and compaction) replay',
        );
        await third.close();
      });
    }

    test('a new store is an empty tree with the root only', async () => {
      const tree = await openAt(tempDir(), 1 << 20);
      assert.equal(tree.size, 1);
      assert.equal((await tree.get('.?prop=ACL')).items[0]?.data, 'Add=*&Get=*');
      await tree.close();
    });
  });
}

/** The exact Log children after counter c (see helpers/crash-writer.ts). */
function expectedLog(c: number): string[] {
  const present = new Set<number>();
  for (let k = 1; k <= c; k++) {
    present.add(k);
    if (k % 3 === 0) present.delete(k - 1);
  }
  return [...present].map((k) => `e${k}`);
}

/** Small deterministic PRNG (mulberry32) for the kill moments. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function runAndKill(dir: string, killAfterMs: number, backend: Backend): Promise<number> {
  const script = fileURLToPath(new URL('./helpers/crash-writer.ts', import.meta.url));
  const child = spawn(process.execPath, [script, dir, '3000', backend.name], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let lastCommitted = -1;
  let buffered = '';
  let stderr = '';
  let timer: NodeJS.Timeout | undefined;
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  child.stdout.on('data', (d: Buffer) => {
    buffered += d.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) {
      if (line.startsWith('ready')) {
        lastCommitted = Number(line.split(' ')[1]);
        timer ??= setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      } else if (line) {
        lastCommitted = Number(line);
      }
    }
  });
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.on('exit', (c, s) => resolve([c, s])),
  );
  clearTimeout(timer);
  assert.equal(signal, 'SIGKILL', `the writer died on its own (code ${code}): ${stderr}`);
  return lastCommitted;
}

for (const backend of backends) {
  describe(`${backend.name} store: kill -9 during writes`, () => {
    test('after each SIGKILL the tree reopens whole: every acknowledged commit, no partial one', async () => {
      const dir = tempDir();
      const rand = prng(20240607);
      let previous = 0;
      for (let round = 0; round < 6; round++) {
        const acknowledged = await runAndKill(dir, 40 + Math.floor(rand() * 160), backend);
        const tree = await ManagementTree.open({ store: backend.make(dir, 3000) });
        const counter = Number((await tree.get('./Counter')).items[0]?.data);
        assert.ok(
          counter >= acknowledged,
          `round ${round}: counter ${counter} lost acknowledged ${acknowledged}`,
        );
        assert.ok(counter <= acknowledged + 1, `round ${round}: counter ${counter} beyond ${acknowledged}+1`);
        assert.ok(counter >= previous, 'never goes back');
        const log = await tree.get('./Log');
        assert.equal(
          log.items[0]?.data,
          expectedLog(counter).join('/'),
          `round ${round}: Log matches counter ${counter}`,
        );
        for (const name of expectedLog(counter).slice(-3)) {
          const k = Number(name.slice(1));
          assert.equal((await tree.get(`./Log/${name}/b`)).items[0]?.data, String(k));
          assert.equal((await tree.get(`./Log/${name}/a`)).items[0]?.data, 'x'.repeat((k % 7) * 700) + k);
        }
        const last = Number((await tree.get('./Last')).items[0]?.data);
        assert.ok(last === counter || last === counter - 1, `Last ${last} vs Counter ${counter}`);
        await tree.close();
        previous = counter;
      }
      assert.ok(previous > 0, 'the writer made progress');
    });
  });
}
