/**
 * Upgrading a database that has live data: a SQLite file at migration 0003 with a DM session in it
 * opens with today's code, the session row keeps its state, and the head columns come before the
 * state in the rebuilt table (so a head read never walks the state's overflow pages).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';
import { Kysely } from 'kysely';
import { Migrator } from 'kysely/migration';
import { migrations } from '../../../src/server/store/migrations.ts';
import { NodeSqliteDialect } from '../../../src/server/store/node-sqlite-dialect.ts';
import { openStore } from '../../../src/server/store/index.ts';

test('sqlite: a session written at 0003 survives the 0004 rebuild, head columns before the state', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'omadm-upgrade-'));
  const path = join(dir, 'omadm.db');
  try {
    // biome-ignore lint/suspicious/noExplicitAny: the schema of an older release.
    const old = new Kysely<any>({ dialect: new NodeSqliteDialect({ path, checkpointWorker: false }) });
    const all = migrations('sqlite');
    const upTo3 = Object.fromEntries(Object.entries(all).filter(([name]) => name < '0004'));
    const r = await new Migrator({
      db: old,
      provider: { getMigrations: async () => upTo3 },
      migrationTableName: 'omadm_migration',
      migrationLockTableName: 'omadm_migration_lock',
    }).migrateToLatest();
    assert.equal(r.error, undefined);
    const state = { deviceId: 'IMEI:1', sessionId: '1A', big: 'x'.repeat(20_000) };
    const now = Date.now();
    await old
      .insertInto('omadm_session')
      .values({
        device_id: 'IMEI:1',
        session_id: 'token-1',
        state: JSON.stringify(state),
        version: 3,
        created_at: now,
        updated_at: now,
        expires_at: now + 60_000,
      })
      .execute();
    await old.destroy();

    const store = await openStore(`sqlite:${path}`);
    try {
      const rec = await store.sessions.getByKey<typeof state>('token-1');
      assert.equal(rec?.version, 3);
      assert.deepEqual(rec?.state, state);
    } finally {
      await store.close();
    }
    const db = new DatabaseSync(path, { readOnly: true });
    try {
      const cols = (db.prepare('pragma table_info(omadm_session)').all() as { name: string }[]).map(
        (c) => c.name,
      );
      assert.ok(cols.indexOf('request_hash') < cols.indexOf('state'), cols.join(','));
      assert.equal(cols.at(-1), 'reply');
      const indexes = (db.prepare('pragma index_list(omadm_session)').all() as { name: string }[])
        .map((i) => i.name)
        .sort();
      for (const name of ['omadm_session_device_updated', 'omadm_session_expires', 'omadm_session_key'])
        assert.ok(indexes.includes(name), `${name} missing: ${indexes.join(',')}`);
    } finally {
      db.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
