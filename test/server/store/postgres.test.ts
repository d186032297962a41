import { test } from 'node:test';
import { postgresBackend, postgresUnavailable } from './backends.ts';
import { storeContract } from './contract.ts';
import { retentionContract } from './retention-contract.ts';

const unavailable = await postgresUnavailable();
if (unavailable) {
  test('store contract on PostgreSQL', { skip: unavailable }, () => {});
} else {
  storeContract(postgresBackend);
  retentionContract(postgresBackend);
}
