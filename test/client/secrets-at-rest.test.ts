/**
 * Issue 22, items 1, 5 and 7 below the agent: superseded secrets leave the tree journal after a
 * re-bootstrap (or new credentials at start), the failed-MAC count and its back-off survive a
 * restart, and rejections are logged aggregated (a count per interval with a sample).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { dmBootstrapMessage } from '../../src/cli/commands/bootstrap.ts';
import {
  BootstrapGuard,
  createClient,
  type DmClient,
  RejectLog,
  simpleAccount,
} from '../../src/client/index.ts';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'omadm-at-rest-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Every byte the data directory holds, as text (what another reader of the disk would see). */
function onDisk(data: string): string {
  let out = '';
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else out += readFileSync(join(d, e.name)).toString('latin1');
    }
  };
  walk(data);
  return out;
}

const account = (secret: string, serverSecret: string) =>
  simpleAccount({ serverUrl: 'http://127.0.0.1:9/dm', name: 'dev', secret, auth: 'md5', serverSecret });

describe('superseded secrets', () => {
  test('a re-bootstrap leaves no old secret in the tree files', async () => {
    const data = join(dir, 'rebootstrap');
    let client: DmClient = await createClient({
      dataDir: data,
      devInfo: { devId: 'dev' },
      hostObject: false,
      accounts: [account('OLD-client-secret-1', 'OLD-server-secret-1')],
    });
    await client.close();
    assert.ok(onDisk(data).includes('OLD-client-secret-1'), 'the secret is stored (as the protocol needs)');
    client = await createClient({ dataDir: data, devInfo: { devId: 'dev' }, hostObject: false });
    try {
      const body = dmBootstrapMessage(
        {
          serverId: 'omadm',
          addresses: [{ addr: 'http://127.0.0.1:9/dm', addrType: 'URI' }],
          auth: [
            { level: 'CLCRED', type: 'DIGEST', name: 'dev', secret: 'NEW-client-secret-2' },
            { level: 'SRVCRED', type: 'DIGEST', name: 'omadm', secret: 'NEW-server-secret-2' },
          ],
        },
        'dev',
      );
      await client.bootstrap({ body, profile: 'dm', trusted: true });
    } finally {
      await client.close();
    }
    const bytes = onDisk(data);
    assert.ok(bytes.includes('NEW-client-secret-2'));
    assert.equal(bytes.includes('OLD-client-secret-1'), false, 'old client secret compacted away');
    assert.equal(bytes.includes('OLD-server-secret-1'), false, 'old server secret compacted away');
    assert.equal(statSync(join(data, 'tree', 'tree.snap')).mode & 0o777, 0o600);
  });

  test('new credentials given at start leave no old secret either', async () => {
    const data = join(dir, 'reconfigure');
    let client = await createClient({
      dataDir: data,
      devInfo: { devId: 'dev' },
      hostObject: false,
      accounts: [account('OLD-client-secret-3', 'srv')],
    });
    await client.close();
    client = await createClient({
      dataDir: data,
      devInfo: { devId: 'dev' },
      hostObject: false,
      accounts: [account('NEW-client-secret-4', 'srv')],
    });
    await client.close();
    assert.equal(onDisk(data).includes('OLD-client-secret-3'), false);
  });
});

describe('failed bootstrap MACs', () => {
  test('the count and its back-off survive a restart; a success starts again', () => {
    const file = join(dir, 'guard.json');
    let now = 1_000_000;
    const guard = new BootstrapGuard({ file, now: () => now });
    for (let i = 0; i < 3; i++) {
      assert.equal(guard.waitMs(), 0, 'a few mistakes are free');
      guard.failed();
    }
    assert.equal(guard.waitMs(), 0);
    guard.failed();
    assert.equal(guard.waitMs(), 5000);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    // A restart (a new process) reads the same count: no fresh set of attempts.
    now += 1000;
    const restarted = new BootstrapGuard({ file, now: () => now });
    assert.equal(restarted.failures, 4);
    assert.equal(restarted.waitMs(), 4000);
    now += 4000;
    restarted.failed();
    assert.equal(restarted.waitMs(), 10_000, 'doubled');
    assert.equal(restarted.backoffAfter(60), 24 * 3600_000, 'capped at a day');
    // Over a day at the cap: an 8-digit PIN space is out of reach.
    restarted.succeeded();
    assert.equal(new BootstrapGuard({ file, now: () => now }).failures, 0);
  });
});

describe('aggregated rejection lines', () => {
  test('a flood writes the first few of each kind, then one line with the count and a sample', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const lines: { o: Record<string, unknown>; msg: string }[] = [];
    const warn = (o: object, msg?: string) => lines.push({ o: o as Record<string, unknown>, msg: msg ?? '' });
    const log = new RejectLog({ info() {}, warn, error() {}, debug() {} }, { intervalMs: 50, burst: 2 });
    for (let i = 0; i < 10_000; i++) log.reject('x.rejected', 'rejected', { reason: 'bad', n: i });
    log.reject('x.rejected', 'rejected', { reason: 'other', n: -1 });
    assert.equal(lines.length, 3, 'two of the flood, and the first of another kind');
    t.mock.timers.tick(50);
    assert.equal(lines.length, 4);
    assert.equal(lines[3]?.o.count, 9998);
    assert.deepEqual(lines[3]?.o.sample, { reason: 'bad', n: 9999 });
    assert.equal(lines[3]?.o.event, 'x.rejected');
    // The flood goes on: one line per interval, no new burst.
    for (let i = 0; i < 100; i++) log.reject('x.rejected', 'rejected', { reason: 'bad', n: i });
    assert.equal(lines.length, 4);
    t.mock.timers.tick(50);
    assert.equal(lines.length, 5);
    assert.equal(lines[4]?.o.count, 100);
    // A quiet interval closes the kind: the next one is written at once again.
    t.mock.timers.tick(50);
    log.reject('x.rejected', 'rejected', { reason: 'bad', n: 0 });
    assert.equal(lines.length, 6);
    assert.equal(lines[5]?.o.count, undefined);
    log.reject('x.rejected', 'rejected', { reason: 'bad', n: 1 });
    log.reject('x.rejected', 'rejected', { reason: 'bad', n: 2 });
    log.close();
    assert.equal(lines.length, 8, 'the second of the burst, and what close() flushes');
    assert.equal(lines[7]?.o.count, 1);
  });
});
