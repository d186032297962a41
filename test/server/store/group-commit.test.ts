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
import { isStoreError, openStore, type SqlStore, StoreErrorCode } from '../../../src/server/store/index.ts';

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

// Prepared statements (context.ts `prepared`) run on the connection directly when it is free
// (NodeSqliteDialect.execute); these check they never slip into someone else's transaction and
// still wait for a lock held by another connection.

test('a direct statement never runs inside another caller’s open transaction', async () => {
  const { path, cleanup } = fresh();
  const store = await openStore(`sqlite:${path}`);
  try {
    await store.devices.create({ id: 'IMEI:300000000000001', clientSecret: 's' });
    await store.devices.create({ id: 'IMEI:300000000000002', clientSecret: 's' });
    let inside!: () => void;
    const entered = new Promise<void>((resolve) => {
      inside = resolve;
    });
    let finish!: () => void;
    const hold = new Promise<void>((resolve) => {
      finish = resolve;
    });
    // A transaction that writes, holds the connection across an await, then rolls back.
    const tx = (store as SqlStore).kysely
      .transaction()
      .execute(async (trx) => {
        await trx
          .updateTable('omadm_device')
          .set({ server_nonce: 'ROLLED' })
          .where('id', '=', 'IMEI:300000000000001')
          .execute();
        inside();
        await hold;
        throw new Error('roll back');
      })
      .catch((err: Error) => err.message);
    await entered;
    let directDone = false;
    const direct = store.devices.putNonces('IMEI:300000000000002', { serverNonce: 'KEPT' }).then((r) => {
      directDone = true;
      return r;
    });
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.equal(directDone, false, 'ran while another caller held the connection');
    finish();
    assert.equal(await tx, 'roll back');
    assert.equal(await direct, true);
    // The rollback took only its own write; the direct statement was not part of it.
    assert.equal((await store.devices.credentials('IMEI:300000000000001'))?.serverNonce ?? null, null);
    assert.equal((await store.devices.credentials('IMEI:300000000000002'))?.serverNonce, 'KEPT');
  } finally {
    await store.close();
    cleanup();
  }
});

test('a direct statement waits for another connection’s write lock, then commits', async () => {
  const { path, cleanup } = fresh();
  const store = await openStore(`sqlite:${path}`);
  const other = new DatabaseSync(path, { timeout: 0 });
  try {
    await store.devices.create({ id: 'IMEI:300000000000003', clientSecret: 's' });
    await new Promise((resolve) => setTimeout(resolve, 5)); // let the batch commit
    other.exec('BEGIN IMMEDIATE');
    let done = false;
    const write = store.devices.putNonces('IMEI:300000000000003', { clientNonce: 'CCCC' }).then((r) => {
      done = true;
      return r;
    });
    await new Promise((resolve) => setTimeout(resolve, 40));
    assert.equal(done, false, 'wrote while another connection held the write lock');
    other.exec('COMMIT');
    assert.equal(await write, true);
    const row = other
      .prepare('select client_nonce from omadm_device where id = ?')
      .get('IMEI:300000000000003') as {
      client_nonce: string;
    };
    assert.equal(row.client_nonce, 'CCCC', 'answered before it was committed');
  } finally {
    other.close();
    await store.close();
    cleanup();
  }
});
