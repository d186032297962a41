import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { buildPackage0, UiMode } from '../../src/protocol/index.ts';
import type { TreeCommand } from '../../src/protocol/index.ts';
import { Fleet, provisionFleet, simHandler, standardTemplate, summarize } from '../../src/simulator/index.ts';
import { startTestServer, type TestServer } from '../client/helpers.ts';

let srv: TestServer;
before(async () => {
  srv = await startTestServer();
});
after(async () => {
  await srv.close();
});

describe('fleet against the omadm server', () => {
  test('1,000 provisioned devices complete a round of sessions with zero errors', async () => {
    const fleet = new Fleet({
      serverUrl: srv.dm,
      devices: 1000,
      prefix: 'fleet-',
      auth: 'md5',
      timing: 'none',
      concurrency: 64,
    });
    try {
      const p = await provisionFleet(fleet, { url: srv.url, token: srv.token, auth: 'md5', parallel: 32 });
      assert.equal(p.created, 1000);
      const t0 = performance.now();
      await fleet.round();
      const s = summarize(fleet, (performance.now() - t0) / 1000);
      assert.equal(s.sessions, 1000);
      assert.deepEqual(s.errors, {});
      assert.equal(s.ok, 1000);
      assert.ok(
        s.latencyMs.p50 > 0 && s.latencyMs.p50 <= s.latencyMs.p95 && s.latencyMs.p95 <= s.latencyMs.p99,
      );
      const list = (await srv.api('GET', '/devices?limit=3&q=fleet-')).body.items;
      assert.equal(list[0].id, 'fleet-000001');
      assert.equal(list[0].sessionCount, 1);
      assert.equal(list[0].devInfo.Man, 'omadm-sim');
    } finally {
      fleet.close();
    }
  });

  for (const [auth, encoding] of [
    ['hmac', 'wbxml'],
    ['basic', 'xml'],
  ] as const) {
    test(`${auth}/${encoding}, mutual auth: devices answer Get, Replace, Exec (202 + Generic Alert) and keep their changes`, async () => {
      const fleet = new Fleet({
        serverUrl: srv.dm,
        devices: 3,
        prefix: `m-${auth}-`,
        auth,
        encoding,
        serverSecret: 'fleet-srv',
        asyncExecMs: 10,
      });
      try {
        await provisionFleet(fleet, { url: srv.url, token: srv.token, auth, serverSecret: 'fleet-srv' });
        await fleet.round();
        assert.equal(fleet.stats.ok, 3);
        const dev = fleet.deviceId(1);
        const q = async (c: unknown) => (await srv.api('POST', `/devices/${dev}/commands`, c)).body.id;
        const get = await q({ type: 'Get', uri: './DevDetail/FwV' });
        const rep = await q({ type: 'Replace', uri: './Vendor/omadm/Agent/Label', value: 'lab-7' });
        const ro = await q({ type: 'Replace', uri: './DevInfo/Man', value: 'x' });
        const exec = await q({ type: 'Exec', uri: './Vendor/omadm/Agent/SelfTest' });
        const r = await fleet.session(1);
        assert.equal(r.ok, true, JSON.stringify(r));
        assert.equal(r.commands, 4);
        const cmd = async (id: string) => (await srv.api('GET', `/commands/${id}`)).body;
        assert.equal((await cmd(get)).results[0].value, '1.0.0');
        assert.equal((await cmd(rep)).state, 'succeeded');
        assert.equal((await cmd(ro)).status, 405);
        assert.equal((await cmd(exec)).state, 'pending');
        assert.equal(fleet.valueOf(1, './Vendor/omadm/Agent/Label'), 'lab-7');
        assert.equal(
          fleet.valueOf(0, './Vendor/omadm/Agent/Label'),
          '',
          'other devices keep the template value',
        );
        await new Promise((res) => setTimeout(res, 30));
        assert.equal(fleet.pendingAlertsOf(1), 1);
        assert.equal((await fleet.session(1)).ok, true);
        assert.equal(fleet.pendingAlertsOf(1), 0);
        assert.equal((await cmd(exec)).state, 'succeeded');
      } finally {
        fleet.close();
      }
    });
  }

  test('Atomic on a simulated device: all or nothing', async () => {
    const fleet = new Fleet({ serverUrl: srv.dm, devices: 1, prefix: 'atomic-', timing: 'none' });
    try {
      await provisionFleet(fleet, { url: srv.url, token: srv.token, auth: 'md5' });
      const dev = fleet.deviceId(0);
      const q = async (c: unknown) => (await srv.api('POST', `/devices/${dev}/commands`, c)).body.id;
      const bad = await q({
        type: 'Atomic',
        commands: [
          { type: 'Add', uri: './App/Mode', value: 'eco' },
          { type: 'Replace', uri: './DevInfo/Man', value: 'x' },
        ],
      });
      const good = await q({
        type: 'Atomic',
        commands: [
          { type: 'Add', uri: './App/Level', value: '3' },
          { type: 'Replace', uri: './FUMO/PkgName', value: 'fw-2' },
        ],
      });
      assert.equal((await fleet.session(0)).ok, true);
      const b = (await srv.api('GET', `/commands/${bad}`)).body;
      assert.equal(b.state, 'failed');
      assert.equal(b.status, 507);
      assert.equal(fleet.valueOf(0, './App/Mode'), undefined, 'rolled back');
      assert.equal((await srv.api('GET', `/commands/${good}`)).body.state, 'succeeded');
      assert.equal(fleet.valueOf(0, './App/Level'), '3');
      assert.equal(fleet.valueOf(0, './FUMO/PkgName'), 'fw-2');
    } finally {
      fleet.close();
    }
  });

  test('a device accepts a Package 0 signed with its server secret and nonce', async () => {
    const fleet = new Fleet({
      serverUrl: srv.dm,
      devices: 2,
      prefix: 'n-',
      serverSecret: 'n-srv',
      timing: 'none',
    });
    try {
      await provisionFleet(fleet, { url: srv.url, token: srv.token, auth: 'md5', serverSecret: 'n-srv' });
      await fleet.round();
      // After a session the device's SRVCRED nonce is not known here: use the re-sync nonce.
      const pkg0 = buildPackage0({
        serverId: 'omadm',
        sessionId: 0x42,
        uiMode: UiMode.Background,
        secret: 'n-srv',
        nonce: new Uint8Array(4),
      });
      const r = await fleet.notify(0, pkg0);
      assert.ok('ok' in r && r.ok, JSON.stringify(r));
      assert.deepEqual(await fleet.notify(0, pkg0), { ignored: 'duplicate' });
      const bad = buildPackage0({
        serverId: 'omadm',
        sessionId: 0x43,
        uiMode: UiMode.Background,
        secret: 'wrong',
        nonce: new Uint8Array(4),
      });
      assert.deepEqual(await fleet.notify(0, bad), { ignored: 'bad-digest' });
      assert.equal(fleet.stats.notifications, 1);
    } finally {
      fleet.close();
    }
  });
});

describe('simulated device tree', () => {
  const template = standardTemplate();
  const item = (uri: string, data?: string) => ({
    Target: { LocURI: uri },
    ...(data === undefined ? {} : { Data: { kind: 'text' as const, text: data } }),
  });
  const cmd = (type: TreeCommand['type'], uri: string, data?: string) =>
    ({ type, CmdID: '1', Item: [item(uri, data)] }) as unknown as TreeCommand;
  const ctx = { serverId: 'omadm', sessionId: '1' };

  test('statuses of a real tree: 404, 405, 418, interior listings, Delete of a subtree', async () => {
    const device = { ov: undefined, al: undefined } as { ov: Map<string, never> | undefined; al: undefined };
    const h = simHandler({
      template,
      device,
      view: { devId: 'd1' },
      timing: 'none',
      random: Math.random,
      asyncExecMs: 0,
      nextAlertId: () => '1',
    });
    const st = async (c: TreeCommand) => (await h.execute(c, ctx)).status;
    assert.equal(await st(cmd('Get', './Nope')), 404);
    assert.equal(await st(cmd('Replace', './DevDetail/FwV', '2')), 405);
    assert.equal(await st(cmd('Replace', './Nope', '2')), 404);
    assert.equal(await st(cmd('Add', './Vendor/omadm/Agent/Label', 'x')), 418);
    assert.equal(await st(cmd('Add', './App/Cfg/Mode', 'eco')), 200);
    const got = await h.execute(cmd('Get', './App'), ctx);
    assert.equal(got.results?.[0]?.Data?.kind === 'text' && got.results[0].Data.text, 'Cfg');
    const devInfo = await h.execute(cmd('Get', './DevInfo/DevId'), ctx);
    assert.equal(devInfo.results?.[0]?.Data?.kind === 'text' && devInfo.results[0].Data.text, 'd1');
    assert.equal(await st(cmd('Delete', './FUMO')), 200);
    assert.equal(await st(cmd('Get', './FUMO/State')), 404);
    assert.equal(await st(cmd('Delete', './DevInfo')), 405);
    assert.equal(await st(cmd('Exec', './DevDetail/FwV')), 405);
    assert.equal(await st(cmd('Exec', './Vendor/omadm/Agent/Ping')), 200);
    assert.equal(await st(cmd('Get', './DevDetail/FwV?prop=Format')), 200);
    assert.equal(await st(cmd('Get', './DevDetail/FwV?prop=ACL')), 406);
    // The template itself never changes.
    assert.equal(template.nodes.get('./FUMO/State')?.v, '10');
  });
});

describe('memory', () => {
  test('an idle simulated device stays far below 20 KB (child process, 20,000 devices)', () => {
    const bench = fileURLToPath(new URL('../../bench/sections/simulator.ts', import.meta.url));
    const out = execFileSync(process.execPath, ['--expose-gc', bench, '--child', 'memory', '20000'], {
      encoding: 'utf8',
      env: { ...process.env, NODE_TEST_CONTEXT: undefined },
    });
    const m = JSON.parse(out.trim().split('\n')[0]!) as { devices: number; marginalPerDeviceBytes: number };
    assert.equal(m.devices, 20000);
    // Measured ≈ 0.4–0.6 KiB; the bound leaves room for allocator noise, not for a per-device tree.
    assert.ok(m.marginalPerDeviceBytes < 4096, `${m.marginalPerDeviceBytes} bytes per idle device`);
  });
});
