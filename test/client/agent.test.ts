/**
 * DmAgent: reconnect with exponential backoff while the server is down, then attach once it is up;
 * the poll interval a server writes into ./Vendor/omadm/Agent/PollInterval takes effect.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as netServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  createClient,
  DmAgent,
  POLL_INTERVAL_URI,
  type SessionReport,
  simpleAccount,
} from '../../src/client/index.ts';
import { createServer } from '../../src/server/index.ts';
import { openStore } from '../../src/server/store/index.ts';

async function freePort(): Promise<number> {
  const s = netServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as { port: number };
  await new Promise((r) => s.close(r));
  return port;
}

function until(check: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const poll = () => (check() ? resolve() : setTimeout(poll, 5));
    poll();
  });
}

test('backoff doubles while the server is down; the agent attaches when it comes up', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'omadm-agent-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const port = await freePort();
  const client = await createClient({
    devInfo: { devId: 'agent-1' },
    http: { retries: 0 },
    accounts: [
      simpleAccount({ serverUrl: `http://127.0.0.1:${port}/dm`, name: 'agent-1', secret: 's1', auth: 'md5' }),
    ],
  });
  const retries: number[] = [];
  const logger = {
    info() {},
    debug() {},
    error() {},
    warn(o: object, msg?: string) {
      if (msg === 'server unreachable; retrying') retries.push((o as { retryInMs: number }).retryInMs);
    },
  };
  const reports: SessionReport[] = [];
  client.on('sessionEnd', (r) => reports.push(r));
  // random() = 1: the jitter picks the top of each range, so the delays are exactly base.
  const agent = new DmAgent({
    client,
    intervalSeconds: 3600,
    minBackoffMs: 10,
    maxBackoffMs: 40,
    logger,
    random: () => 1,
  });
  await agent.start();
  await until(() => retries.length >= 4);
  assert.deepEqual(retries.slice(0, 4), [10, 20, 40, 40]);
  assert.ok(reports.every((r) => !r.ok && r.error?.code === 'OMADM_ERR_SESSION_TRANSPORT'));

  const store = await openStore(`sqlite:${join(dir, 'omadm.db')}`, {
    secretKey: new Uint8Array(randomBytes(32)),
  });
  const server = await createServer({ store, logger: false, sweepIntervalMs: 0 });
  await store.devices.create({ id: 'agent-1', clientSecret: 's1' });
  await server.listen({ host: '127.0.0.1', port });
  t.after(async () => {
    await agent.stop();
    await client.close();
    await server.close();
    await store.close();
  });
  await until(() => reports.some((r) => r.ok));
  const failuresBefore = retries.length;
  // Attached: the next session is an interval away, no more retries.
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(retries.length, failuresBefore);
  assert.equal(await agent.intervalSeconds(), 3600);

  // A server tunes the interval (a Replace the device's ACL allows); it is read after each session.
  const cmd = await store.queue.enqueue('agent-1', {
    kind: 'Replace',
    target: POLL_INTERVAL_URI,
    data: '2',
    format: 'int',
  });
  agent.trigger('test');
  await until(() => reports.filter((r) => r.ok).length >= 2);
  assert.equal((await store.queue.get(cmd.id))?.state, 'succeeded');
  assert.equal(await agent.intervalSeconds(), 2);
});
