/**
 * `omadm server` as a real process (bin/omadm.js): first start prints the URLs and a generated
 * admin token once; a restart on the same data keeps it; --token imports a token; PostgreSQL via
 * --db; bad options exit 2; SIGTERM stops it cleanly.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { PG_URL, postgresReachable } from '../server/helpers.ts';

const BIN = fileURLToPath(new URL('../../bin/omadm.js', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'omadm-server-cli-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

interface Started {
  readonly child: ChildProcess;
  readonly url: string;
  readonly banner: string;
  stop(): Promise<number | null>;
}

/** Starts `omadm server` and resolves once it printed its banner. */
function start(args: string[], env: Record<string, string> = {}): Promise<Started> {
  const child = spawn(process.execPath, [BIN, 'server', '--host', '127.0.0.1', '--port', '0', ...args], {
    env: { ...process.env, OMADM_TOKEN: '', OMADM_ENROLL_SECRET: '', OMADM_SECRET_KEY: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (\S+) /.exec(out);
      if (m && out.includes('omadm device list')) {
        resolve({
          child,
          url: m[1] as string,
          banner: out,
          stop: () => {
            child.kill('SIGTERM');
            return exited;
          },
        });
      }
    });
    void exited.then((code) =>
      reject(new Error(`server exited with ${code} before starting:\n${out}\n${err}`)),
    );
  });
}

async function get(url: string, token: string): Promise<number> {
  const r = await fetch(`${url}/api/v1/whoami`, { headers: { authorization: `Bearer ${token}` } });
  await r.body?.cancel();
  return r.status;
}

describe('omadm server', () => {
  test('first start generates and prints the admin token once; a restart keeps it', async () => {
    const data = join(tmp, 'data1');
    const first = await start(['--data', data]);
    try {
      assert.match(
        first.banner,
        /^omadm server listening on http:\/\/127\.0\.0\.1:\d+ \(SQLite .*omadm\.db\)$/m,
      );
      assert.match(first.banner, /^ {2}DM endpoint {3}http:\/\/127\.0\.0\.1:\d+\/dm$/m);
      assert.match(first.banner, /^ {2}REST API {6}http:\/\/127\.0\.0\.1:\d+\/api\/v1/m);
      const token = /Admin token {3}(\S+)/.exec(first.banner)?.[1] as string;
      assert.match(token, /^\S{20,}$/);
      assert.equal(await get(first.url, token), 200);
      assert.match(first.banner, new RegExp(`export OMADM_URL=${first.url} OMADM_TOKEN=${token}`));
      assert.ok(existsSync(join(data, 'omadm.db')));
      assert.equal(statSync(join(data, 'secret.key')).mode & 0o777, 0o600);
    } finally {
      assert.equal(await first.stop(), 0);
    }
    const second = await start(['--data', data]);
    try {
      assert.match(second.banner, /Admin token {3}already set up/);
      assert.doesNotMatch(second.banner, /Secret key/);
    } finally {
      assert.equal(await second.stop(), 0);
    }
  });

  test('listens on loopback by default; on every interface it lists the real addresses and says the API is reachable', async () => {
    const local = await start(['--data', join(tmp, 'data-host')]);
    try {
      assert.doesNotMatch(local.banner, /Network|every IPv4/);
    } finally {
      assert.equal(await local.stop(), 0);
    }
    // The default (start() always passes --host): loopback.
    const help = execFileSync(process.execPath, [BIN, 'server', '--help'], {
      encoding: 'utf8',
      env: { ...process.env, OMADM_HOST: '' },
    });
    assert.match(help.replace(/\s+/g, ' '), /--host <host> .*\(default: "127\.0\.0\.1"\)/);
    const all = await start(['--data', join(tmp, 'data-host'), '--host', '0.0.0.0']);
    try {
      assert.match(all.banner, /^omadm server listening on every IPv4 interface, port \d+ \(SQLite /m);
      const addresses = /^ {2}Addresses {5}(.+)$/m.exec(all.banner)?.[1]?.split(/\s+/) ?? [];
      assert.ok(addresses[0]?.startsWith('http://127.0.0.1:'), all.banner);
      for (const a of addresses) assert.doesNotMatch(a, /0\.0\.0\.0/);
      // Every address printed answers.
      for (const a of addresses) assert.equal((await fetch(`${a}/healthz`)).status, 200);
      assert.match(
        all.banner,
        /^ {2}Network {7}reachable beyond this machine, REST API included — over plain HTTP/m,
      );
    } finally {
      assert.equal(await all.stop(), 0);
    }
  });

  test('the data directory and every file in it are private (0700/0600), also ones left readable before', async () => {
    const data = join(tmp, 'data-modes');
    // As an older version (or a permissive umask) left it: directory and database readable by all.
    mkdirSync(data, { mode: 0o755 });
    chmodSync(data, 0o755);
    writeFileSync(join(data, 'omadm.db'), '', { mode: 0o644 });
    chmodSync(join(data, 'omadm.db'), 0o644);
    const token = `tok-${randomBytes(16).toString('hex')}`;
    const s = await start(['--data', data], { OMADM_TOKEN: token });
    try {
      // A write, so the WAL and shared-memory files exist.
      const r = await fetch(`${s.url}/api/v1/devices`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ id: 'IMEI:modes', secret: 's' }),
      });
      assert.equal(r.status, 201);
      assert.equal(statSync(data).mode & 0o777, 0o700);
      const files = readdirSync(data);
      for (const f of ['omadm.db', 'omadm.db-wal', 'omadm.db-shm', 'secret.key'])
        assert.ok(files.includes(f), f);
      for (const f of files) assert.equal(statSync(join(data, f)).mode & 0o777, 0o600, f);
    } finally {
      assert.equal(await s.stop(), 0);
    }
  });

  test('--token (or OMADM_TOKEN) imports the admin token; serves the API and /dm', async () => {
    const token = `tok-${randomBytes(16).toString('hex')}`;
    const s = await start(['--data', join(tmp, 'data2'), '--push-udp'], { OMADM_TOKEN: token });
    try {
      assert.match(s.banner, /Admin token {3}the one given/);
      assert.match(s.banner, /^ {2}Notification {2}udp \(also when commands are queued\)$/m);
      assert.equal(await get(s.url, token), 200);
      assert.equal(await get(s.url, 'other'), 401);
      const dm = await fetch(`${s.url}/dm`, {
        method: 'POST',
        headers: { 'content-type': 'application/vnd.syncml.dm+xml' },
        body: 'not syncml',
      });
      assert.equal(dm.status, 400);
      await dm.body?.cancel();
    } finally {
      assert.equal(await s.stop(), 0);
    }
  });

  test('bad options exit 2 with a one-line reason', () => {
    const cases: [string[], RegExp][] = [
      [['--port', 'eighty'], /--port must be 0\.\.65535/],
      [['--tls-cert', '/nonexistent.pem'], /--tls-cert and --tls-key go together/],
      [['--tls-cert', '/nonexistent.pem', '--tls-key', '/nonexistent.key'], /cannot read TLS certificate/],
      [['--require-client-cert'], /need --tls-cert/],
      [['--db', 'mysql://x/y'], /unsupported database URL scheme/],
      [['--auto-enroll-pattern', '(('], /--auto-enroll-pattern/],
      [['--auth-backoff', 'lockForever=1'], /--auth-backoff: expected k=v pairs/],
      [['--auth-backoff', 'baseDelayMs=-5'], /--auth-backoff/],
      [['--push-smpp', 'http://smsc:2775'], /--push-smpp takes smpp:\/\//],
      [['--push-pap', 'not a url'], /--push-pap needs/],
      [['--data', join(tmp, 'd3'), '--token', 'short'], /at least 16 characters/],
    ];
    for (const [args, message] of cases) {
      const r = spawnSync(
        process.execPath,
        [BIN, 'server', '--port', '0', '--data', join(tmp, 'd4'), ...args],
        {
          env: { ...process.env, OMADM_TOKEN: '' },
          timeout: 20_000,
        },
      );
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr.toString(), message);
    }
  });

  test('--db postgres://… runs on PostgreSQL', async (t) => {
    if (!(await postgresReachable())) {
      t.skip(`PostgreSQL not reachable at ${PG_URL}`);
      return;
    }
    const schema = `t_${randomBytes(6).toString('hex')}`;
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    try {
      const url = `${PG_URL}?schema=${schema}`;
      const token = `tok-${randomBytes(16).toString('hex')}`;
      const s = await start(['--data', join(tmp, 'data5'), '--db', url, '--token', token]);
      try {
        assert.match(s.banner, new RegExp(`\\(PostgreSQL postgres://\\S+ schema ${schema}\\)`));
        assert.equal(await get(s.url, token), 200);
        const tables = await c.query(
          'select count(*)::int as n from information_schema.tables where table_schema = $1',
          [schema],
        );
        assert.ok(tables.rows[0].n >= 5);
      } finally {
        assert.equal(await s.stop(), 0);
      }
    } finally {
      await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await c.end();
    }
  });
});
