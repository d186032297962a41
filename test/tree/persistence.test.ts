import assert from 'node:assert/strict';
import {
  appendFileSync,
  copyFileSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { StatusCode } from '../../src/representation/index.ts';
import { JournalTreeStore, ManagementTree } from '../../src/tree/index.ts';

const S = StatusCode;
const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'omadm-tree-'));
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function openAt(dir: string, compactBytes = 1 << 20) {
  return ManagementTree.open({
    store: new JournalTreeStore({ dir, compactBytes }),
    clock: () => 1_600_000_000_000,
  });
}

describe('journal store specifics', () => {
  test('a torn or corrupt journal tail is dropped: the last whole batch wins, writing goes on', async () => {
    const dir = tempDir();
    const tree = await openAt(dir);
    await tree.add('./A', { data: '1' });
    await tree.add('./B', { data: '2' });
    const good = JSON.stringify(tree.toSnapshot());
    await tree.add('./C', { data: 'x'.repeat(500) });
    await tree.close();
    const wal = join(dir, 'tree.wal');
    const size = statSync(wal).size;
    for (const cut of [1, 7, 9, 100, 500]) {
      const copy = join(dir, 'wal.copy');
      copyFileSync(wal, copy);
      truncateSync(wal, size - cut);
      const t = await openAt(dir);
      assert.equal(JSON.stringify(t.toSnapshot()), good, `cut ${cut} bytes`);
      await t.close();
      copyFileSync(copy, wal);
    }
    // flip one byte inside the last record: its CRC fails
    const bytes = readFileSync(wal);
    bytes[bytes.length - 3] = (bytes[bytes.length - 3]! ^ 0xff) & 0xff;
    writeFileSync(wal, bytes);
    const t = await openAt(dir);
    assert.equal(JSON.stringify(t.toSnapshot()), good);
    await t.add('./D', { data: '4' });
    const withD = JSON.stringify(t.toSnapshot());
    await t.close();
    appendFileSync(wal, Buffer.from([5, 0, 0])); // a torn header
    const t2 = await openAt(dir);
    assert.equal(JSON.stringify(t2.toSnapshot()), withD);
    await t2.close();
  });

  test('a crash between snapshot rename and journal truncation replays nothing twice', async () => {
    const dir = tempDir();
    const tree = await openAt(dir);
    for (let i = 0; i < 20; i++) await tree.add(`./N${i}`, { data: String(i) });
    await tree.replace('./N3', { data: 'x' });
    const state = JSON.stringify(tree.toSnapshot());
    await tree.close();
    const oldWal = readFileSync(join(dir, 'tree.wal'));
    const store = new JournalTreeStore({ dir });
    const t = await ManagementTree.open({ store });
    await store.compact(t.toSnapshot());
    await t.close();
    writeFileSync(join(dir, 'tree.wal'), oldWal); // the truncation never happened
    const again = await openAt(dir);
    assert.equal(JSON.stringify(again.toSnapshot()), state);
    await again.add('./After', { data: '1' });
    await again.close();
    const third = await openAt(dir);
    assert.equal((await third.get('./After')).status, S.Ok);
    await third.close();
  });

  test('one store per directory: a second open is refused while the first is open; the lock of a dead owner is taken over', async () => {
    const dir = tempDir();
    const first = await openAt(dir);
    await assert.rejects(openAt(dir), { code: 'tree.store-locked' });
    await first.close();
    const second = await openAt(dir);
    await second.close();
    writeFileSync(join(dir, 'tree.lock'), '2147483646'); // a pid that does not run
    const third = await openAt(dir);
    await third.add('./A', { data: '1' });
    await third.close();
  });

  test('a damaged snapshot is refused with tree.store-corrupt (never a silently wrong tree)', async () => {
    const dir = tempDir();
    const store = new JournalTreeStore({ dir });
    const tree = await ManagementTree.open({ store });
    await tree.add('./A', { data: '1' });
    await store.compact(tree.toSnapshot());
    await tree.close();
    const snap = readFileSync(join(dir, 'tree.snap'));
    snap[snap.length - 2] = 0x20;
    writeFileSync(join(dir, 'tree.snap'), snap);
    await assert.rejects(openAt(dir), { code: 'tree.store-corrupt' });
    writeFileSync(join(dir, 'tree.snap'), 'not a snapshot');
    await assert.rejects(openAt(dir), { code: 'tree.store-corrupt' });
  });
});
