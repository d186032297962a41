/**
 * FUMO with RAUC, end to end: a bundle built and signed in the test (its own openssl CA), served
 * over HTTP, installed by the `omadm client` agent through a RAUC service (a private dbus-daemon,
 * RAUC on its session bus) into file-backed A/B slots, a "reboot" onto the new slot, and the
 * result reported after it. A bundle signed by another CA is refused: 404, State 80.
 * Needs Debian's rauc, squashfs-tools and dbus-daemon (.ci/run installs them) and loop devices.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, type TestContext, test } from 'node:test';
import { type FileServer, sha256, startFileServer } from './file-server.ts';
import { type OmadmChild, spawnOmadm, startTestServer, type TestServer } from './helpers.ts';

const missing = ['rauc', 'mksquashfs', 'dbus-daemon', 'openssl'].filter((bin) => {
  try {
    execFileSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' });
    return false;
  } catch {
    return true;
  }
});

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

function sh(cmd: string, cwd: string): void {
  execFileSync('sh', ['-c', cmd], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A CA and a signing certificate issued by it (no EKU: RAUC checks the S/MIME purpose). */
function makePki(dir: string, name: string): void {
  sh(
    `openssl req -x509 -newkey rsa:2048 -nodes -keyout ${name}-ca.key -out ${name}-ca.pem -days 2 -subj "/CN=${name} test CA" -addext "basicConstraints=critical,CA:true" -addext "keyUsage=critical,keyCertSign,cRLSign" &&
     openssl req -newkey rsa:2048 -nodes -keyout ${name}-signer.key -out ${name}-signer.csr -subj "/CN=${name} signer" &&
     printf "basicConstraints=CA:false\\nkeyUsage=critical,digitalSignature\\nsubjectKeyIdentifier=hash\\nauthorityKeyIdentifier=keyid\\n" > ${name}.ext &&
     openssl x509 -req -in ${name}-signer.csr -CA ${name}-ca.pem -CAkey ${name}-ca.key -CAcreateserial -out ${name}-signer.pem -days 2 -extfile ${name}.ext`,
    dir,
  );
}

function bundle(dir: string, pki: string, image: Uint8Array, out: string): Uint8Array {
  const content = join(dir, `content-${out}`);
  mkdirSync(content, { recursive: true });
  writeFileSync(join(content, 'rootfs.img'), image);
  writeFileSync(
    join(content, 'manifest.raucm'),
    '[update]\ncompatible=omadm-test-board\nversion=2.0.0\n\n[bundle]\nformat=plain\n\n[image.rootfs]\nfilename=rootfs.img\n',
  );
  sh(
    `rauc bundle --cert=${pki}-signer.pem --key=${pki}-signer.key --keyring=${pki}-ca.pem ${content} ${out}`,
    dir,
  );
  return new Uint8Array(readFileSync(join(dir, out)));
}

function daemon(
  t: TestContext,
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  log: string,
): ChildProcess {
  const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const out: string[] = [];
  child.stdout?.on('data', (d: Buffer) => out.push(d.toString()));
  child.stderr?.on('data', (d: Buffer) => out.push(d.toString()));
  const exited = new Promise((r) => child.once('close', r));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    if (process.env.OMADM_TEST_DEBUG)
      writeFileSync(join(tmpdir(), `omadm-${log.split('/').pop()}`), out.join(''));
  });
  return child;
}

async function waitFor(t: TestContext, check: () => boolean, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (t.signal.aborted || Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

test('RAUC: signed bundle → inactive slot → restart onto it → 200, State 100; a foreign signature → 404, State 80', {
  timeout: 120_000,
  skip: missing.length > 0 ? `not installed: ${missing.join(', ')} (see .ci/run)` : false,
}, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'omadm-fumo-rauc-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  makePki(dir, 'good');
  makePki(dir, 'evil');
  const image = new Uint8Array(randomBytes(64 * 1024));
  const good = bundle(dir, 'good', image, 'good.raucb');
  const evil = bundle(dir, 'evil', new Uint8Array(randomBytes(64 * 1024)), 'evil.raucb');

  // The "board": two 1 MiB file slots, a bootloader backend keeping its state in files.
  writeFileSync(join(dir, 'slotA.img'), new Uint8Array(1024 * 1024));
  writeFileSync(join(dir, 'slotB.img'), new Uint8Array(1024 * 1024));
  const boot = join(dir, 'boot');
  mkdirSync(boot);
  writeFileSync(
    join(dir, 'bootloader.sh'),
    `#!/bin/sh
d=${JSON.stringify(boot)}
case "$1" in
  get-primary) cat "$d/primary" 2>/dev/null || echo A ;;
  set-primary) echo "$2" > "$d/primary"; echo good > "$d/state-$2" ;;
  get-state) cat "$d/state-$2" 2>/dev/null || echo good ;;
  set-state) echo "$3" > "$d/state-$2" ;;
  get-current) cat "$d/primary" 2>/dev/null || echo A ;;
  *) exit 1 ;;
esac
`,
  );
  chmodSync(join(dir, 'bootloader.sh'), 0o755);
  mkdirSync(join(dir, 'rauc-data'));
  mkdirSync(join(dir, 'mnt'));
  writeFileSync(
    join(dir, 'system.conf'),
    `[system]
compatible=omadm-test-board
bootloader=custom
data-directory=${join(dir, 'rauc-data')}

[keyring]
path=${join(dir, 'good-ca.pem')}

[handlers]
bootloader-custom-backend=${join(dir, 'bootloader.sh')}

[slot.rootfs.0]
device=${join(dir, 'slotA.img')}
type=raw
bootname=A

[slot.rootfs.1]
device=${join(dir, 'slotB.img')}
type=raw
bootname=B
`,
  );

  // A private D-Bus: RAUC's service and client use the session bus when DBUS_STARTER_BUS_TYPE=session.
  const sock = join(dir, 'bus.sock');
  writeFileSync(
    join(dir, 'bus.conf'),
    `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>session</type><listen>unix:path=${sock}</listen><auth>EXTERNAL</auth>
<policy context="default"><allow send_destination="*"/><allow receive_sender="*"/><allow own="*"/></policy></busconfig>`,
  );
  const env = {
    ...process.env,
    DBUS_SESSION_BUS_ADDRESS: `unix:path=${sock}`,
    DBUS_STARTER_BUS_TYPE: 'session',
  };
  daemon(
    t,
    'dbus-daemon',
    [`--config-file=${join(dir, 'bus.conf')}`, '--nofork'],
    env,
    join(dir, 'dbus.log'),
  );
  await waitFor(t, () => existsSync(sock), 'the bus socket');
  const raucService = (booted: string) => {
    const child = daemon(
      t,
      'rauc',
      [
        'service',
        `--conf=${join(dir, 'system.conf')}`,
        `--mount=${join(dir, 'mnt')}`,
        `--override-boot-slot=${booted}`,
      ],
      env,
      join(dir, `rauc-${booted}.log`),
    );
    return child;
  };
  const raucStatus = () =>
    JSON.parse(
      execFileSync('rauc', ['status', '--output-format=json'], {
        env,
        stdio: ['ignore', 'pipe', 'ignore'],
      }).toString(),
    ) as {
      booted: string;
      boot_primary: string;
    };
  const waitService = async () => {
    await waitFor(
      t,
      () => {
        try {
          raucStatus();
          return true;
        } catch {
          return false;
        }
      },
      'the RAUC service',
    );
  };
  let service = raucService('A');
  await waitService();
  assert.equal(raucStatus().booted, 'A');

  // The agent reaches RAUC through a wrapper naming the private bus (`--fumo-rauc PATH`).
  const wrapper = join(dir, 'rauc-wrapper.sh');
  writeFileSync(
    wrapper,
    `#!/bin/sh\nexport DBUS_SESSION_BUS_ADDRESS=unix:path=${sock} DBUS_STARTER_BUS_TYPE=session\nexec rauc "$@"\n`,
  );
  chmodSync(wrapper, 0o755);

  const id = `fumo-rauc-${randomBytes(3).toString('hex')}`;
  const secret = randomBytes(8).toString('hex');
  assert.equal((await srv.api('POST', '/devices', { id, secret, authType: 'md5' })).status, 201);
  const queue = async (cmd: Record<string, unknown>) => {
    const r = await srv.api('POST', `/devices/${id}/commands`, cmd);
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body.id as string;
  };
  const settled = async (cmdId: string, agent: OmadmChild) => {
    for (;;) {
      const r = await srv.api('GET', `/commands/${cmdId}`);
      if (['succeeded', 'failed', 'expired', 'canceled', 'unknown'].includes(r.body.state)) return r.body;
      if (agent.child.exitCode !== null || t.signal.aborted)
        throw new Error(`agent gone:\n${agent.stderr.join('\n')}`);
      await new Promise((res) => setTimeout(res, 25));
    }
  };
  const readState = async (agent: OmadmChild) => {
    const q = await queue({ type: 'Get', uri: './FUMO/State' });
    agent.child.kill('SIGUSR1');
    return (await settled(q, agent)).results[0].value as string;
  };
  const marker = join(dir, 'reboot-requested');
  const data = join(dir, 'agent');
  files.put(`/rauc/${id}/good.raucb`, { body: good });
  files.put(`/rauc/${id}/evil.raucb`, { body: evil });

  // 1. A bundle signed by a CA the device does not trust: RAUC refuses it.
  await queue({
    type: 'Replace',
    uri: './FUMO/DownloadAndUpdate/PkgURL',
    value: `${files.url}/rauc/${id}/evil.raucb#sha256=${sha256(evil)}`,
  });
  const bad = await queue({ type: 'Exec', uri: './FUMO/DownloadAndUpdate' });
  const first = spawnOmadm(t, [
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
    '--fumo-rauc',
    wrapper,
    '--fumo-reboot-command',
    `touch ${marker}`,
  ]);
  const refused = await settled(bad, first);
  assert.equal(refused.state, 'failed');
  assert.equal(refused.detail.alerts[0].status, 404, 'failed package validation');
  assert.equal(await readState(first), '80');
  assert.equal(raucStatus().boot_primary, 'rootfs.0', 'nothing changed on the board');

  // 2. The good bundle: installed into slot B, which becomes primary; the agent asks for a restart.
  await queue({ type: 'Replace', uri: './FUMO/PkgVersion', value: '2.0.0' });
  await queue({
    type: 'Replace',
    uri: './FUMO/DownloadAndUpdate/PkgURL',
    value: `${files.url}/rauc/${id}/good.raucb#sha256=${sha256(good)}`,
  });
  const exec = await queue({ type: 'Exec', uri: './FUMO/DownloadAndUpdate' });
  first.child.kill('SIGUSR1');
  await waitFor(t, () => existsSync(marker), 'the reboot command', 60_000);
  assert.deepEqual(
    readFileSync(join(dir, 'slotB.img')).subarray(0, image.byteLength),
    Buffer.from(image),
    'slot B holds the image',
  );
  assert.equal(raucStatus().boot_primary, 'rootfs.1');
  assert.equal(
    (await srv.api('GET', `/commands/${exec}`)).body.state,
    'pending',
    'not reported before the restart',
  );
  assert.equal(await readState(first), '60');

  // 3. "Reboot": the agent and RAUC go down, the board comes up from its primary slot (B).
  first.child.kill('SIGKILL');
  await first.exited;
  service.kill('SIGTERM');
  await new Promise((r) => service.once('close', r));
  service = raucService(readFileSync(join(boot, 'primary'), 'utf8').trim());
  await waitService();
  assert.equal(raucStatus().booted, 'B');
  const second = spawnOmadm(t, ['client', '--data', data]);
  const done = await settled(exec, second);
  assert.equal(done.state, 'succeeded', JSON.stringify(done));
  assert.equal(done.detail.alerts[0].status, 200);
  assert.equal(await readState(second), '100');
  assert.equal(readFileSync(join(boot, 'state-B'), 'utf8').trim(), 'good', 'marked good after the restart');
});
