/**
 * A separate OS process for the multi-process tests: opens the store at argv[2] (PostgreSQL
 * schema argv[3] or '-') and drains device argv[4]'s queue as session argv[5], printing one line
 * per event, after waiting for a line on stdin. In `crash` mode it marks only the first command of each batch sent, prints `ready`
 * after three batches, then keeps writing until it is killed with SIGKILL.
 */
import { openStore } from '../../../src/server/store/index.ts';

const [url, schema, deviceId, session, mode] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
];
const store = await openStore(url, schema === '-' ? {} : { schema });
// Start together: report readiness, wait for the parent's go (one line on stdin).
process.stdout.write('open\n');
await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
process.stdin.pause();
let batches = 0;
for (;;) {
  const batch = await store.queue.claim(deviceId, session, { limit: 2, leaseUntil: Date.now() + 3_600_000 });
  if (!batch.length) break;
  for (const [i, c] of batch.entries()) {
    if (mode === 'crash' && i > 0) {
      process.stdout.write(`claimed ${c.id}\n`);
      continue;
    }
    await store.queue.markSent(c.id, session, { msgId: 1, cmdId: String(c.id) });
    process.stdout.write(`sent ${c.id}\n`);
  }
  if (mode === 'crash' && ++batches === 3) {
    process.stdout.write('ready\n');
    for (;;) await store.queue.renewLease(deviceId, session, Date.now() + 3_600_000);
  }
}
await store.close();
process.stdout.write('done\n');
