import { sqliteBackend } from './backends.ts';
import { storeContract } from './contract.ts';

storeContract(sqliteBackend);
