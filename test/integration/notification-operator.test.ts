/**
 * The operator's story of issue 7 with the real commands, each its own process, exactly as
 * docs/bootstrap.md and docs/notification.md tell it:
 *
 *   omadm server --push-udp …                      the DM server, able to notify over UDP
 *   omadm device add ID --secret … --server-secret …
 *   omadm bootstrap --profile dm --security userpin --pin … --out bs.bin
 *   omadm client --bootstrap bs.bin --content-type … --pin … --listen-udp 0
 *                                                  the device: installs, first session, listens
 *   omadm device set ID --notify udp:HOST:PORT
 *   omadm notify ID                                Package 0 now → Alert 1200 session
 *   omadm cmd get ID ./DevInfo/Mod --wait 20       queued → Package 0 → session → answered
 *
 * plus a replayed notification datagram (captured by a relay between server and device) that the
 * device must not act on.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const BIN = fileURLToPath(new URL('../../bin/omadm.js', import.meta.url));
const run = promisify(execFile);
const TOKEN = `op-${randomBytes(12).toString('hex')}`;
const DEV = 'IMEI:356938035643809';
const PIN = '24680135';

let dir: string;
const children: ChildProcess[] = [];
let url: string;

/** Runs one omadm command to completion. */
async function omadm(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  try {
    const r = await run(process.execPath, [BIN, ...args], {
      env: { ...process.env, NODE_TEST_CONTEXT: undefined, OMADM_URL: url, OMADM_TOKEN: TOKEN },
      timeout: 30_000,
    });
    return { code: 0, out: r.stdout, err: r.stderr };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof x.code === 'number' ? x.code : -1, out: x.stdout ?? '', err: x.stderr ?? '' };
  }
}

/** A long-running omadm process; `lines` collects stdout and stderr lines. */
function start(args: string[]): {
  child: ChildProcess;
  lines: string[];
  next: (re: RegExp) => Promise<string>;
} {
  const child = spawn(process.execPath, [BIN, ...args], {
    // Plain processes, not test-runner children.
    env: { ...process.env, NODE_TEST_CONTEXT: undefined, OMADM_ENROLL_SECRET: '', OMADM_TOKEN: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const lines: string[] = [];
  let waiters: { re: RegExp; from: number; resolve: (l: string) => void }[] = [];
  const exited = new Promise<never>((_r, reject) =>
    child.once('exit', (code) => reject(new Error(`${args[0]} exited ${code}:\n${lines.join('\n')}`))),
  );
  exited.catch(() => {});
  for (const s of [child.stdout!, child.stderr!]) {
    createInterface({ input: s }).on('line', (l) => {
      lines.push(l);
      const ready = waiters.filter((w) => w.re.test(l));
      waiters = waiters.filter((w) => !w.re.test(l));
      for (const w of ready) w.resolve(l);
    });
  }
  return {
    child,
    lines,
    /** The next line (from now on) matching `re`. */
    next: (re) =>
      Promise.race([new Promise<string>((resolve) => waiters.push({ re, from: 0, resolve })), exited]),
  };
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'omadm-operator-'));
  const server = start([
    'server',
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--data',
    join(dir, 'server'),
    '--token',
    TOKEN,
    '--push-udp',
    '--log-level',
    'warn',
  ]);
  const line = await server.next(/listening on \S+ /);
  url = /listening on (\S+) /.exec(line)![1]!;
});
after(async () => {
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          c.once('exit', () => resolve());
          c.kill('SIGTERM');
        }),
    ),
  );
  rmSync(dir, { recursive: true, force: true });
});

type Log = Record<string, unknown>;
const json = (l: string): Log => JSON.parse(l) as Log;

test('bootstrap a device, then wake it with Package 0 over UDP for notify and for queued commands', async () => {
  // 1. Provision on the server, make the bootstrap.
  const added = await omadm('device', 'add', DEV, '--secret', 'dev-s3cret', '--server-secret', 'srv-s3cret');
  assert.equal(added.code, 0, added.err);
  const bs = join(dir, 'bs.bin');
  const made = await omadm(
    'bootstrap',
    '--profile',
    'dm',
    '--security',
    'userpin',
    '--pin',
    PIN,
    '--server-id',
    'omadm',
    '--addr',
    `${url}/dm`,
    '--device',
    DEV,
    '--client-secret',
    'dev-s3cret',
    '--server-secret',
    'srv-s3cret',
    '--out',
    bs,
  );
  assert.equal(made.code, 0, made.err);
  const contentType = /Content-Type: (.+)/.exec(made.out)![1]!.trim();
  assert.match(contentType, /^application\/vnd\.syncml\.dm\+wbxml; SEC=USERPIN; MAC=[0-9A-F]{40}$/);

  // 2. A wrong PIN: the device refuses and does not start.
  const wrong = await omadm(
    'client',
    '--data',
    join(dir, 'device-wrong'),
    '--device-id',
    DEV,
    '--bootstrap',
    bs,
    '--content-type',
    contentType,
    '--pin',
    '13579',
    '--once',
    '--log-level',
    'silent',
  );
  assert.equal(wrong.code, 1, `${wrong.out}${wrong.err}`);

  // 3. The device starts from the bootstrap and listens for notifications.
  const device = start([
    'client',
    '--data',
    join(dir, 'device'),
    '--device-id',
    DEV,
    '--bootstrap',
    bs,
    '--content-type',
    contentType,
    '--pin',
    PIN,
    '--listen-udp',
    '0',
    '--interval',
    '0',
    '--log-level',
    'info',
  ]);
  const firstDone = device.next(/"session (completed|failed)"/);
  const running = json(await device.next(/agent running/));
  const port = running.udp as number;
  assert.ok(port > 0, JSON.stringify(running));
  const first = json(await firstDone);
  assert.equal(first.msg, 'session completed', JSON.stringify(first));

  // 4. A relay between server and device keeps a copy of every notification datagram.
  const captured: Buffer[] = [];
  const relay = createSocket('udp4');
  await new Promise<void>((r) => relay.bind(0, '127.0.0.1', () => r()));
  relay.on('message', (msg) => {
    captured.push(msg);
    relay.send(msg, port, '127.0.0.1');
  });
  const forward = async (msg: Buffer) =>
    new Promise<void>((r, reject) => relay.send(msg, port, '127.0.0.1', (e) => (e ? reject(e) : r())));
  try {
    const set = await omadm('device', 'set', DEV, '--notify', `udp:127.0.0.1:${relay.address().port}`);
    assert.equal(set.code, 0, set.err);

    // 5. `omadm notify ID`: Package 0 now; the device opens the session the server named.
    const received = device.next(/"notification received"/);
    const ended = device.next(/"session (completed|failed)"/);
    const notified = await omadm('notify', DEV);
    assert.equal(notified.code, 0, notified.err);
    const m = /^accepted udp 127\.0\.0\.1:\d+ parts=1 .*session=([0-9A-F]+)$/m.exec(notified.out);
    assert.ok(m, notified.out);
    const sessionId = m[1]!;
    const got = json(await received);
    assert.equal(got.sessionId, sessionId);
    assert.equal(got.serverId, 'omadm');
    assert.equal(got.accepted, true);
    const s = json(await ended);
    assert.equal(s.msg, 'session completed', JSON.stringify(s));
    assert.equal(s.sessionId, sessionId);

    // 6. A queued command notifies by itself and is answered.
    const before = captured.length;
    const get = await omadm('cmd', 'get', DEV, './DevInfo/DevId', '--wait', '20', '--json');
    assert.equal(get.code, 0, `${get.out}${get.err}`);
    const view = JSON.parse(get.out);
    assert.equal(view.state, 'succeeded', get.out);
    assert.equal(view.results[0].value, DEV);
    assert.equal(captured.length, before + 1, 'one notification for the queued command');

    // 7. Replaying the captured datagram starts nothing (the session rotated the nonce it was signed
    // with; a copy still within the same session would be dropped as a duplicate).
    const ignored = device.next(/"notification ignored"/);
    await forward(captured.at(-1)!);
    const why = json(await ignored);
    assert.ok(['duplicate', 'bad-digest'].includes(why.reason as string), JSON.stringify(why));
    const sessions = device.lines.filter((l) => l.includes('"session completed"')).length;
    assert.equal(sessions, 3, 'bootstrap session, notify session, queued-command session');

    // 8. Forged: same bytes with the digest altered.
    const forged = Buffer.from(captured.at(-1)!);
    forged[10]! ^= 0xff; // inside the digest (the WSP push header is 6 bytes)
    const ignored2 = device.next(/"notification ignored"/);
    await forward(forged);
    assert.equal(json(await ignored2).reason, 'bad-digest');

    // The server recorded each attempt.
    const audit = await fetch(`${url}/api/v1/audit?action=device.notify`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    const items = ((await audit.json()) as { items: { target: string }[] }).items;
    assert.ok(items.filter((i) => i.target === DEV).length >= 2, JSON.stringify(items));
  } finally {
    relay.close();
  }
});
