/**
 * FUMO end to end over real HTTP: an omadm server (the `omadm server` process for the full path,
 * in-process for the others), the `omadm client` agent as a process with the hook backend, and a
 * file server on loopback. Commands are queued through the REST API exactly as a server-side FUMO
 * workflow will queue them (Replace PkgURL, Exec DownloadAndUpdate); the final Generic Alert is
 * what the server records for the Exec, and the State is read back with a Get.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, type TestContext, test } from 'node:test';
import { type FileServer, sha256, startFileServer } from './file-server.ts';
import { type OmadmChild, spawnOmadm, startTestServer, type TestServer } from './helpers.ts';

let srv: TestServer;
let files: FileServer;
before(async () => {
  srv = await startTestServer();
  files = await startFileServer();
});
after(async () => {
  await files.close();
  await srv.close();
});

const IMAGE = new Uint8Array(randomBytes(64 * 1024));

/** A hook that copies the package to OUT/installed.bin and records its environment. */
function writeHook(dir: string): string {
  const hook = join(dir, 'hook.sh');
  writeFileSync(
    hook,
    `#!/bin/sh
OUT=${JSON.stringify(dir)}
echo "$1 $OMADM_FUMO_PKG_NAME $OMADM_FUMO_PKG_VERSION $OMADM_FUMO_CORRELATOR $OMADM_FUMO_SHA256" >> "$OUT/calls"
case "$1" in
  install)
    echo "progress 50"
    cp "$2" "$OUT/installed.bin" || exit 1
    if [ -f "$OUT/needs-restart" ]; then echo pending > "$OUT/pending"; exit 10; fi
    echo "progress 100"
    exit 0 ;;
  confirm)
    if [ -f "$OUT/booted-new" ]; then exit 0; fi
    exit 10 ;;
esac
exit 1
`,
  );
  chmodSync(hook, 0o755);
  return hook;
}

interface Device {
  readonly id: string;
  readonly dir: string;
  readonly hook: string;
  start(extra?: readonly string[]): OmadmChild;
  queue(cmd: Record<string, unknown>): Promise<string>;
  /** Waits until the command is in a final state; returns it. */
  settled(
    id: string,
    agent: OmadmChild,
  ): Promise<{
    state: string;
    status: number;
    detail: { alerts?: { status: number; correlator: string }[] };
    results?: { value: string }[];
  }>;
  /** Queues a Get of State, runs a session, returns the value. */
  state(agent: OmadmChild): Promise<string>;
}

type ServerHandle = Pick<TestServer, 'dm' | 'api'>;

/** `omadm server` as a process (SQLite in a temp dir, an imported admin token), killed at the test's end. */
async function spawnServer(t: TestContext): Promise<ServerHandle> {
  const data = mkdtempSync(join(tmpdir(), 'omadm-fumo-server-'));
  const token = `tok-${randomBytes(16).toString('hex')}`;
  const child = spawn(
    process.execPath,
    [
      new URL('../../bin/omadm.js', import.meta.url).pathname,
      'server',
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--data',
      data,
      '--token',
      token,
    ],
    {
      env: { ...process.env, NODE_TEST_CONTEXT: undefined, OMADM_TOKEN: '', OMADM_SECRET_KEY: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const exited = new Promise((r) => child.once('close', r));
  t.after(async () => {
    child.kill('SIGTERM');
    await exited;
    rmSync(data, { recursive: true, force: true });
  });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (\S+) /.exec(out);
      if (m) resolve(m[1]!);
    });
    void exited.then(() => reject(new Error(`omadm server exited:\n${out}`)));
  });
  return {
    dm: `${url}/dm`,
    async api(method, path, body) {
      const res = await fetch(`${url}/api/v1${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined };
    },
  };
}

async function device(t: TestContext, name: string, server: ServerHandle = srv): Promise<Device> {
  const srv = server;
  const dir = mkdtempSync(join(tmpdir(), `omadm-fumo-${name}-`));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const id = `fumo-${name}-${randomBytes(3).toString('hex')}`;
  const secret = randomBytes(8).toString('hex');
  const created = await srv.api('POST', '/devices', { id, secret, authType: 'md5' });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const hook = writeHook(dir);
  const data = join(dir, 'data');
  let first = true;
  const d: Device = {
    id,
    dir,
    hook,
    start(extra = []) {
      const args = first
        ? [
            'client',
            '--data',
            data,
            '--server',
            srv.dm,
            '--device-id',
            id,
            '--secret',
            secret,
            '--interval',
            '0',
            '--fumo-hook',
            hook,
            ...extra,
          ]
        : ['client', '--data', data, ...extra];
      first = false;
      return spawnOmadm(t, args);
    },
    async queue(cmd) {
      const r = await srv.api('POST', `/devices/${id}/commands`, cmd);
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return r.body.id as string;
    },
    async settled(cmdId, agent) {
      for (;;) {
        if (t.signal.aborted) throw new Error('test ended');
        const r = await srv.api('GET', `/commands/${cmdId}`);
        if (['succeeded', 'failed', 'expired', 'canceled', 'unknown'].includes(r.body.state)) return r.body;
        if (agent.child.exitCode !== null) throw new Error(`agent exited:\n${agent.stderr.join('\n')}`);
        await new Promise((res) => setTimeout(res, 25));
      }
    },
    async state(agent) {
      const q = await d.queue({ type: 'Get', uri: './FUMO/State' });
      agent.child.kill('SIGUSR1');
      const c = await d.settled(q, agent);
      assert.equal(c.state, 'succeeded');
      return c.results?.[0]?.value ?? '';
    },
  };
  return d;
}

async function running(agent: OmadmChild): Promise<void> {
  await agent.until(
    () => agent.count('agent running (SIGUSR1: session now; SIGINT/SIGTERM: stop)') > 0,
    'agent running',
  );
}

describe('FUMO end to end with the hook backend', () => {
  test('Download Descriptor → download → hash check → hook → 200, State 100, install notification 900', {
    timeout: 60_000,
  }, async (t) => {
    const server = await spawnServer(t);
    const dev = await device(t, 'ok', server);
    const tag = randomBytes(3).toString('hex');
    files.put(`/fw/${tag}.bin`, { body: IMAGE });
    files.put(`/fw/${tag}.dd`, {
      contentType: 'application/vnd.oma.dd+xml',
      body: new TextEncoder().encode(
        `<?xml version="1.0"?>
<media xmlns="http://www.openmobilealliance.org/xmlns/dd">
  <DDVersion>1.0</DDVersion><name>fw ${tag}</name><type>application/octet-stream</type>
  <size>${IMAGE.byteLength}</size><objectURI>${tag}.bin</objectURI>
  <installNotifyURI>/notify/${tag}</installNotifyURI><sha256>${sha256(IMAGE)}</sha256>
</media>`,
      ),
    });
    await dev.queue({ type: 'Replace', uri: './FUMO/PkgName', value: 'fw' });
    await dev.queue({ type: 'Replace', uri: './FUMO/PkgVersion', value: '2.0.1' });
    await dev.queue({
      type: 'Replace',
      uri: './FUMO/DownloadAndUpdate/PkgURL',
      value: `${files.url}/fw/${tag}.dd`,
    });
    const exec = await dev.queue({ type: 'Exec', uri: './FUMO/DownloadAndUpdate' });
    const agent = dev.start();
    const done = await dev.settled(exec, agent);
    assert.equal(done.state, 'succeeded', JSON.stringify(done));
    assert.equal(done.status, 202);
    assert.equal(done.detail.alerts?.[0]?.status, 200);
    assert.deepEqual(
      readFileSync(join(dev.dir, 'installed.bin')),
      Buffer.from(IMAGE),
      'the hook installed the very bytes',
    );
    const calls = readFileSync(join(dev.dir, 'calls'), 'utf8').trim().split('\n');
    assert.equal(calls.length, 1);
    assert.match(
      calls[0]!,
      new RegExp(`^install fw 2\\.0\\.1 ${done.detail.alerts?.[0]?.correlator} ${sha256(IMAGE)}$`),
    );
    assert.equal(await dev.state(agent), '100');
    assert.deepEqual(
      files.notifications.filter((n) => n.path === `/notify/${tag}`).map((n) => n.body.trim()),
      ['900 Success'],
    );
    const alertLog = agent.logs.find((l) => l.event === 'fumo.alert.queued');
    assert.equal(alertLog?.resultCode, 200);
    const config = JSON.parse(readFileSync(join(dev.dir, 'data', 'agent.json'), 'utf8'));
    assert.deepEqual(config.fumo, { hook: dev.hook }, 'the FUMO settings are kept for later starts');
  });

  test('a corrupt image (402), a descriptor with the wrong size (402, notify 905) and a 404 (411) end in State 20; nothing is installed', {
    timeout: 60_000,
  }, async (t) => {
    const dev = await device(t, 'bad');
    const tag = randomBytes(3).toString('hex');
    files.put(`/fw/${tag}.bin`, { body: IMAGE });
    const agent = dev.start();
    await running(agent);
    const run = async (url: string) => {
      await dev.queue({ type: 'Replace', uri: './FUMO/DownloadAndUpdate/PkgURL', value: url });
      const exec = await dev.queue({ type: 'Exec', uri: './FUMO/DownloadAndUpdate' });
      agent.child.kill('SIGUSR1');
      return dev.settled(exec, agent);
    };
    const corrupt = await run(`${files.url}/fw/${tag}.bin#sha256=${'0'.repeat(64)}`);
    assert.equal(corrupt.state, 'failed');
    assert.equal(corrupt.detail.alerts?.[0]?.status, 402);
    assert.equal(await dev.state(agent), '20');
    files.put(`/fw/${tag}-short.dd`, {
      contentType: 'application/vnd.oma.dd+xml',
      body: new TextEncoder().encode(
        `<media xmlns="http://www.openmobilealliance.org/xmlns/dd"><objectURI>${tag}.bin</objectURI><size>${IMAGE.byteLength + 1}</size><installNotifyURI>/notify/${tag}-short</installNotifyURI></media>`,
      ),
    });
    const short = await run(`${files.url}/fw/${tag}-short.dd`);
    assert.equal(short.detail.alerts?.[0]?.status, 402);
    assert.match(files.notifications.find((n) => n.path === `/notify/${tag}-short`)?.body ?? '', /^905 /);
    const missing = await run(`${files.url}/fw/${tag}-missing.bin`);
    assert.equal(missing.state, 'failed');
    assert.equal(missing.detail.alerts?.[0]?.status, 411);
    assert.equal(await dev.state(agent), '20');
    assert.equal(existsSync(join(dev.dir, 'calls')), false, 'the hook never ran');
  });

  test('kill -9 mid-download: the restarted agent resumes with Range and reports 200', {
    timeout: 90_000,
  }, async (t) => {
    const dev = await device(t, 'resume');
    const tag = randomBytes(3).toString('hex');
    const big = new Uint8Array(randomBytes(256 * 1024));
    files.put(`/fw/${tag}.bin`, { body: big, throttle: { bytes: 8 * 1024, tickMs: 50 } });
    await dev.queue({ type: 'Replace', uri: './FUMO/Ext/SHA256', value: sha256(big) });
    await dev.queue({
      type: 'Replace',
      uri: './FUMO/DownloadAndUpdate/PkgURL',
      value: `${files.url}/fw/${tag}.bin`,
    });
    const exec = await dev.queue({ type: 'Exec', uri: './FUMO/DownloadAndUpdate' });
    const first = dev.start();
    const part = join(dev.dir, 'data', 'fumo', 'package.part');
    await first.until(() => existsSync(part) && statSync(part).size >= 64 * 1024, 'a quarter downloaded');
    first.child.kill('SIGKILL');
    await first.exited;
    const had = statSync(part).size;
    assert.ok(had > 0 && had < big.byteLength, `partial file of ${had} bytes`);
    const second = dev.start();
    const done = await dev.settled(exec, second);
    assert.equal(done.state, 'succeeded', JSON.stringify(done));
    assert.equal(done.detail.alerts?.[0]?.status, 200);
    const gets = files.requests.filter((r) => r.path === `/fw/${tag}.bin`);
    assert.equal(gets[0]?.range, undefined);
    const resumed = gets.find((r) => r.range !== undefined);
    assert.ok(resumed, `a Range request after the restart: ${JSON.stringify(gets)}`);
    const from = Number(/^bytes=(\d+)-$/.exec(resumed.range!)?.[1]);
    assert.ok(from >= had - 0 && from > 0, `resumed from ${from}, had ${had}`);
    assert.equal(resumed.status, 206);
    const total = gets.reduce((n, r) => n + r.sent, 0);
    assert.ok(total < big.byteLength * 1.5, `not downloaded twice (${total} bytes sent)`);
    assert.deepEqual(readFileSync(join(dev.dir, 'installed.bin')), Buffer.from(big));
    assert.equal(await dev.state(second), '100');
  });

  test('in-band delivery: Replace Update/PkgData (48 KiB as b64) then Exec Update → 200, the same bytes installed', {
    timeout: 60_000,
  }, async (t) => {
    const dev = await device(t, 'inband');
    const pkg = new Uint8Array(randomBytes(48 * 1024));
    await dev.queue({ type: 'Replace', uri: './FUMO/Ext/SHA256', value: sha256(pkg) });
    const put = await dev.queue({
      type: 'Replace',
      uri: './FUMO/Update/PkgData',
      value: Buffer.from(pkg).toString('base64'),
      format: 'b64',
    });
    const exec = await dev.queue({ type: 'Exec', uri: './FUMO/Update' });
    const agent = dev.start();
    assert.equal((await dev.settled(put, agent)).status, 200);
    const done = await dev.settled(exec, agent);
    assert.equal(done.detail.alerts?.[0]?.status, 200, JSON.stringify(done));
    assert.deepEqual(readFileSync(join(dev.dir, 'installed.bin')), Buffer.from(pkg));
    assert.equal(await dev.state(agent), '100');
  });

  test('an update applied by a restart is reported after the restart, not before', {
    timeout: 90_000,
  }, async (t) => {
    const dev = await device(t, 'reboot');
    const tag = randomBytes(3).toString('hex');
    files.put(`/fw/${tag}.bin`, { body: IMAGE });
    writeFileSync(join(dev.dir, 'needs-restart'), '');
    const marker = join(dev.dir, 'reboot-requested');
    await dev.queue({
      type: 'Replace',
      uri: './FUMO/DownloadAndUpdate/PkgURL',
      value: `${files.url}/fw/${tag}.bin#sha256=${sha256(IMAGE)}`,
    });
    const exec = await dev.queue({ type: 'Exec', uri: './FUMO/DownloadAndUpdate' });
    const first = dev.start(['--fumo-reboot-command', `touch ${marker}`]);
    await first.until(() => existsSync(marker), 'the reboot command ran');
    await first.until(() => first.logs.some((l) => l.event === 'fumo.reboot'), 'reboot logged');
    assert.equal(
      (await srv.api('GET', `/commands/${exec}`)).body.state,
      'pending',
      'no result before the restart',
    );
    assert.equal(await dev.state(first), '60', 'Update Progressing until the restart');
    first.child.kill('SIGKILL'); // the device restarts
    await first.exited;
    writeFileSync(join(dev.dir, 'booted-new'), '');
    const second = dev.start();
    const done = await dev.settled(exec, second);
    assert.equal(done.state, 'succeeded', JSON.stringify(done));
    assert.equal(done.detail.alerts?.[0]?.status, 200);
    assert.deepEqual(
      readFileSync(join(dev.dir, 'calls'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => l.split(' ')[0]),
      ['install', 'confirm'],
    );
    assert.equal(await dev.state(second), '100');
  });
});

test('omadm client refuses bad FUMO options with exit 2', { timeout: 30_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'omadm-fumo-opts-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const base = ['client', '--data', dir, '--server', srv.dm, '--device-id', 'x', '--secret', 'y', '--once'];
  const size = spawnOmadm(t, [...base, '--fumo-hook', '/bin/true', '--fumo-max-size', 'lots']);
  assert.equal(await size.exited, 2);
  assert.match(size.stderr.join('\n'), /--fumo-max-size/);
  const both = spawnOmadm(t, [...base, '--fumo-hook', '/bin/true', '--fumo-rauc']);
  assert.equal(await both.exited, 2);
});
