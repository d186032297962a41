/**
 * The data-directory size warning: `store.size.warning` once past the configured size (repeated
 * at most hourly), nothing below it; measured on a real SQLite data directory.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { directoryBytes, SizeWatch } from '../../src/server/size-watch.ts';
import { openStore } from '../../src/server/store/index.ts';

test('store.size.warning: logged past the limit, not below, at most hourly', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'omadm-sizewatch-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = await openStore(`sqlite:${join(dir, 'omadm.db')}`);
  t.after(() => store.close());
  const lines: { obj: Record<string, unknown>; msg: string }[] = [];
  const watch = new SizeWatch(store, {
    warn: (obj, msg) => lines.push({ obj: obj as Record<string, unknown>, msg }),
  });
  const bytes = directoryBytes(dir);
  assert.ok(bytes > 0);
  const now = Date.now();
  assert.equal(await watch.check({ bytes: bytes * 10, path: dir }, now), bytes);
  assert.equal(lines.length, 0);
  // Within the minute: not measured again.
  assert.equal(await watch.check({ bytes: 1, path: dir }, now + 1000), undefined);
  await watch.check({ bytes: 1, path: dir }, now + 61_000);
  assert.equal(lines.length, 1);
  assert.equal(lines[0]!.obj.event, 'store.size.warning');
  assert.equal(lines[0]!.obj.limit, 1);
  assert.equal(lines[0]!.obj.path, dir);
  assert.ok((lines[0]!.obj.bytes as number) >= bytes);
  await watch.check({ bytes: 1, path: dir }, now + 122_000);
  assert.equal(lines.length, 1, 'not again within the hour');
  await watch.check({ bytes: 1, path: dir }, now + 61_000 + 3_600_000);
  assert.equal(lines.length, 2);
  // Without a path: the database's own size.
  const db = new SizeWatch(store, {
    warn: (obj, msg) => lines.push({ obj: obj as Record<string, unknown>, msg }),
  });
  assert.ok(((await db.check({ bytes: 1 }, now)) ?? 0) >= 4096);
  assert.equal(lines.length, 3);
});
