import { sqliteBackend } from './backends.ts';
import { storeContract } from './contract.ts';
import { retentionContract } from './retention-contract.ts';

storeContract(sqliteBackend);
retentionContract(sqliteBackend);
