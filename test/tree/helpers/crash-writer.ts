/**
 * Child process for the kill -9 test: opens a persisted tree (journal or sqlite backend) and commits forever, printing
 * each committed step. Step k (one Atomic): Counter = k; add Log/e<k> with children a (a value
 * of varying size) and b; when k % 3 == 0 delete the subtree Log/e<k-1>. After the Atomic, a
 * single Replace sets Last = k. `expectedLog(c)` in the test derives the exact state from c.
 */
import { join } from 'node:path';
import { JournalTreeStore, ManagementTree, SqliteTreeStore } from '../../../src/tree/index.ts';

const dir = process.argv[2]!;
const compactBytes = Number(process.argv[3] ?? 4096);
const backend = process.argv[4] ?? 'journal';
const store =
  backend === 'sqlite'
    ? new SqliteTreeStore({ path: join(dir, 'tree.db'), compactBytes })
    : new JournalTreeStore({ dir, compactBytes });
const tree = await ManagementTree.open({ store });
const got = await tree.get('./Counter');
let k = got.status === 200 ? Number(got.items[0]?.data) : 0;
if (k === 0) {
  await tree.add('./Counter', { format: 'int', data: '0' });
  await tree.add('./Log', { format: 'node' });
  await tree.add('./Last', { format: 'int', data: '0' });
}
process.stdout.write(`ready ${k}\n`);
for (;;) {
  k++;
  const tx = await tree.begin();
  const steps = [
    await tx.replace('./Counter', { format: 'int', data: String(k) }),
    await tx.add(`./Log/e${k}`, { format: 'node' }),
    await tx.add(`./Log/e${k}/a`, { data: 'x'.repeat((k % 7) * 700) + k }),
    await tx.add(`./Log/e${k}/b`, { format: 'int', data: String(k) }),
  ];
  if (k % 3 === 0) steps.push(await tx.delete(`./Log/e${k - 1}`));
  if (steps.some((s) => s !== 200)) throw new Error(`step ${k} failed: ${steps}`);
  const status = await tx.commit();
  if (status !== 200) throw new Error(`commit ${k}: ${status}`);
  process.stdout.write(`${k}\n`);
  await tree.replace('./Last', { format: 'int', data: String(k) });
}
