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
import { type TestContext, test } from 'node:test';
import { encodeBootstrapPush, encodeWspPush, UdpBearer } from '../../src/binding/push/index.ts';
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

/** Resolves once `check()` holds; stops polling (and rejects) when the test ends, so it never hangs. */
function until(t: TestContext, check: () => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const poll = () => {
      if (t.signal.aborted) return reject(new Error('test ended while waiting'));
      if (check()) return resolve();
      setTimeout(poll, 5);
    };
    poll();
  });
}

test('backoff doubles while the server is down; the agent attaches when it comes up', {
  timeout: 20_000,
}, async (t) => {
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
  // Stopped and closed whatever happens below (registered before anything can fail).
  t.after(async () => {
    await agent.stop();
    await client.close();
  });
  await agent.start();
  await until(t, () => retries.length >= 4);
  assert.deepEqual(retries.slice(0, 4), [10, 20, 40, 40]);
  assert.ok(reports.every((r) => !r.ok && r.error?.code === 'OMADM_ERR_SESSION_TRANSPORT'));

  const store = await openStore(`sqlite:${join(dir, 'omadm.db')}`, {
    secretKey: new Uint8Array(randomBytes(32)),
  });
  const server = await createServer({ store, logger: false, sweepIntervalMs: 0 });
  await store.devices.create({ id: 'agent-1', clientSecret: 's1' });
  t.after(async () => {
    await server.close();
    await store.close();
  });
  await server.listen({ host: '127.0.0.1', port });
  await until(t, () => reports.some((r) => r.ok));
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
  await until(t, () => reports.filter((r) => r.ok).length >= 2);
  assert.equal((await store.queue.get(cmd.id))?.state, 'succeeded');
  assert.equal(await agent.intervalSeconds(), 2);
});

test('bootstrap pushes: an unprotected or unverifiable one installs nothing, other pushes are ignored; no account, no session', {
  timeout: 20_000,
}, async (t) => {
  const client = await createClient({ devInfo: { devId: 'agent-push' } });
  const logs: { level: string; msg: string; o: Record<string, unknown> }[] = [];
  const log =
    (level: string) =>
    (o: object, msg?: string): void => {
      logs.push({ level, msg: msg ?? '', o: o as Record<string, unknown> });
    };
  const agent = new DmAgent({
    client,
    intervalSeconds: 0,
    udp: { host: '127.0.0.1', port: 0 },
    bootstrapKeys: { pin: '24680135' },
    logger: { info: log('info'), warn: log('warn'), error: log('error'), debug: log('debug') },
  });
  const bearer = new UdpBearer();
  t.after(async () => {
    await bearer.close();
    await agent.stop();
    await client.close();
  });
  const sessions: SessionReport[] = [];
  client.on('sessionEnd', (r) => sessions.push(r));
  await agent.start();
  assert.ok(logs.some((l) => l.msg === 'no DM account yet: waiting for a bootstrap'));
  const to = `127.0.0.1:${agent.udpAddress!.port}`;
  const body = new TextEncoder().encode('<SyncML/>');
  // No SEC: unprotected, refused before anything is decoded.
  await bearer.sendPush(to, encodeBootstrapPush({ profile: 'dm', body }));
  // A SEC and a MAC that is not the body's.
  await bearer.sendPush(
    to,
    encodeBootstrapPush({ profile: 'cp', sec: 'userpin', mac: '0'.repeat(40), body }),
  );
  // Not a bootstrap at all.
  await bearer.sendPush(to, encodeWspPush({ contentType: 'text/plain', body }));
  const refused = () => logs.filter((l) => l.msg === 'bootstrap push refused: nothing installed');
  await until(t, () => refused().length === 2 && logs.some((l) => l.msg === 'push ignored: not a bootstrap'));
  assert.deepEqual(
    refused().map((l) => [l.level, l.o.profile, l.o.code]),
    [
      ['warn', 'dm', 'OMADM_ERR_CLIENT_BOOTSTRAP'],
      ['warn', 'cp', 'OMADM_ERR_CLIENT_BOOTSTRAP'],
    ],
  );
  assert.match(String(refused()[0]?.o.err), /without SEC/);
  assert.match(String(refused()[1]?.o.err), /MAC does not verify/);
  assert.deepEqual(await client.accounts.list(), []);
  assert.equal(logs.filter((l) => l.msg === 'bootstrap push installed').length, 0);
  assert.deepEqual(sessions, [], 'no session without an account');
});
