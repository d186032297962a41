/** LISTEN/NOTIFY wake-ups between two nodes (PostgreSQL only); no timing, only delivery. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import { test } from 'node:test';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { pgRemote } from '../../../src/server/store/pg-remote.ts';
import type { Database } from '../../../src/server/store/schema.ts';
import { PG_URL, postgresUnavailable } from './backends.ts';

const unavailable = await postgresUnavailable();

test('a command id published by one node reaches the listeners of its schema only', {
  skip: unavailable,
}, async () => {
  const schema = `omadm_test_${randomBytes(6).toString('hex')}`;
  const db = new Kysely<Database>({
    dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: PG_URL }) }),
  });
  const nodeA = new EventEmitter();
  const nodeB = new EventEmitter();
  const other = new EventEmitter();
  const a = pgRemote(db, PG_URL, nodeA, schema);
  const b = pgRemote(db, PG_URL, nodeB, schema);
  const c = pgRemote(db, PG_URL, other, `${schema}_x`);
  try {
    await Promise.all([b.subscribe(), c.subscribe()]);
    let foreign = 0;
    other.on('command:42', () => foreign++);
    const got = Promise.all([once(nodeB, 'command:42'), once(nodeB, 'command:43')]);
    a.publish([42, 43]);
    await got;
    // A later notification on the other channel proves the first one was not delivered there.
    const marker = once(other, 'command:7');
    pgRemote(db, PG_URL, new EventEmitter(), `${schema}_x`).publish([7]);
    await marker;
    assert.equal(foreign, 0);
  } finally {
    await Promise.all([a.close(), b.close(), c.close()]);
    await db.destroy();
  }
});
