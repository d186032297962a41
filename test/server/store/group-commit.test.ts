/**
 * SQLite group commit (node-sqlite-dialect.ts): callers share one transaction per turn of the event
 * loop, yet each call's answer comes only after the COMMIT holding its work — checked from a second,
 * independent connection — and a failing caller's transaction (a savepoint) takes nothing of the
 * others with it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isStoreError, openStore, StoreErrorCode } from '../../../src/server/store/index.ts';

function fresh(): { path: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'omadm-group-commit-'));
  return { path: join(dir, 'omadm.db'), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

test('every answered write is committed: another connection sees it at once', async () => {
  const { path, cleanup } = fresh();
  const store = await openStore(`sqlite:${path}`);
  const reader = new DatabaseSync(path, { readOnly: true });
  try {
    const seen = reader.prepare('select count(*) as n from omadm_device where id = ?');
    const ids = Array.from({ length: 60 }, (_, i) => `IMEI:${String(i).padStart(15, '0')}`);
    // Many callers at once, so they share batches; each checks right when its own call resolves.
    await Promise.all(
      ids.map(async (id) => {
        await store.devices.create({ id, clientSecret: 's' });
        assert.equal((seen.get(id) as { n: number }).n, 1, `${id} answered but not committed`);
        await store.devices.putNonces(id, { clientNonce: 'AAAA' });
        const row = reader.prepare('select client_nonce from omadm_device where id = ?').get(id) as {
          client_nonce: string;
        };
        assert.equal(row.client_nonce, 'AAAA');
      }),
    );
  } finally {
    reader.close();
    await store.close();
    cleanup();
  }
});

test('a failing transaction rolls back only itself; the batch around it commits', async () => {
  const { path, cleanup } = fresh();
  const store = await openStore(`sqlite:${path}`);
  try {
    const good = Array.from({ length: 20 }, (_, i) => `IMEI:1${String(i).padStart(14, '0')}`);
    const results = await Promise.allSettled([
      ...good.map((id) => store.devices.create({ id, clientSecret: 's' })),
      // The device row is inserted before its tags are checked: the savepoint must undo it.
      store.devices.create({ id: 'IMEI:999999999999999', clientSecret: 's', tags: [''] }),
      ...good.map((id) => store.devices.putNonces(id, { serverNonce: 'BBBB' })),
    ]);
    const failed = results.filter((r) => r.status === 'rejected');
    assert.equal(failed.length, 1);
    const reason = (failed[0] as PromiseRejectedResult).reason as unknown;
    assert.ok(isStoreError(reason, StoreErrorCode.InvalidInput), String(reason));
    assert.equal(await store.devices.get('IMEI:999999999999999'), undefined);
    for (const id of good) {
      const c = await store.devices.credentials(id);
      assert.equal(c?.serverNonce, 'BBBB');
    }
  } finally {
    await store.close();
    cleanup();
  }
});

test('data written just before close is on disk when close resolves', async () => {
  const { path, cleanup } = fresh();
  try {
    const store = await openStore(`sqlite:${path}`);
    const writes = Array.from({ length: 10 }, (_, i) =>
      store.devices.create({ id: `IMEI:2${String(i).padStart(14, '0')}`, clientSecret: 's' }),
    );
    await Promise.all(writes);
    await store.close();
    const db = new DatabaseSync(path, { readOnly: true });
    try {
      const n = (db.prepare('select count(*) as n from omadm_device').get() as { n: number }).n;
      assert.equal(n, 10);
    } finally {
      db.close();
    }
  } finally {
    cleanup();
  }
});
