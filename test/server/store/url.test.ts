import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isStoreError, parseStoreUrl, StoreErrorCode } from '../../../src/server/store/index.ts';

test('store URLs: sqlite forms, bare paths, postgres with and without ?schema=', () => {
  assert.deepEqual(parseStoreUrl('sqlite:/var/lib/omadm/omadm.db'), {
    backend: 'sqlite',
    path: '/var/lib/omadm/omadm.db',
  });
  assert.deepEqual(parseStoreUrl('sqlite:///var/lib/omadm.db'), {
    backend: 'sqlite',
    path: '/var/lib/omadm.db',
  });
  assert.deepEqual(parseStoreUrl('sqlite:data/omadm.db'), { backend: 'sqlite', path: 'data/omadm.db' });
  assert.deepEqual(parseStoreUrl('sqlite::memory:'), { backend: 'sqlite', path: ':memory:' });
  assert.deepEqual(parseStoreUrl('./omadm-data/omadm.db'), {
    backend: 'sqlite',
    path: './omadm-data/omadm.db',
  });
  assert.deepEqual(parseStoreUrl('postgres://u@db:5432/omadm'), {
    backend: 'postgres',
    url: 'postgres://u@db:5432/omadm',
  });
  assert.deepEqual(parseStoreUrl('postgresql://u@db/omadm?schema=fleet_a&sslmode=require'), {
    backend: 'postgres',
    url: 'postgresql://u@db/omadm?sslmode=require',
    schema: 'fleet_a',
  });
  for (const bad of ['', 'mysql://x/y', 'sqlite:']) {
    assert.throws(
      () => parseStoreUrl(bad),
      (e) => isStoreError(e, StoreErrorCode.BadUrl),
    );
  }
});
