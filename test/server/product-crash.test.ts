/**
 * Crash safety of the server product with real processes: `omadm server` is killed with SIGKILL
 * in the middle of a DM session (after it sent the commands, before the device answered); a new
 * process on the same database continues the session, and every command completes exactly once.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { DeviceSim } from './device-sim.ts';
import { api, PG_URL, postgresReachable } from './helpers.ts';

const BIN = fileURLToPath(new URL('../../bin/omadm.js', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'omadm-crash-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

interface Proc {
  readonly child: ChildProcess;
  readonly url: string;
  readonly exited: Promise<number | null>;
}

function startServer(args: string[], env: Record<string, string>): Promise<Proc> {
  const child = spawn(process.execPath, [BIN, 'server', '--host', '127.0.0.1', '--port', '0', ...args], {
    env: { ...process.env, OMADM_ENROLL_SECRET: '', ...env },
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
      if (m && out.includes('omadm device list')) resolve({ child, url: m[1] as string, exited });
    });
    void exited.then((code) => reject(new Error(`server exited with ${code}:\n${out}\n${err}`)));
  });
}

const targets: {
  name: string;
  db: () => Promise<{ args: string[]; cleanup: () => Promise<void> } | string>;
}[] = [
  {
    name: 'sqlite',
    db: async () => ({
      args: ['--data', join(tmp, `d-${randomBytes(4).toString('hex')}`)],
      cleanup: async () => {},
    }),
  },
  {
    name: 'postgres',
    db: async () => {
      if (!(await postgresReachable())) return `PostgreSQL not reachable at ${PG_URL}`;
      const schema = `t_${randomBytes(6).toString('hex')}`;
      return {
        args: ['--data', join(tmp, `p-${schema}`), '--db', `${PG_URL}?schema=${schema}`],
        cleanup: async () => {
          const c = new pg.Client({ connectionString: PG_URL });
          await c.connect();
          await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
          await c.end();
        },
      };
    },
  },
];

describe('kill -9 during a DM session', () => {
  for (const target of targets) {
    test(`a new server process completes the session cleanly (${target.name})`, async (t) => {
      const db = await target.db();
      if (typeof db === 'string') {
        t.skip(db);
        return;
      }
      const token = `tok-${randomBytes(16).toString('hex')}`;
      const env = { OMADM_TOKEN: token };
      const first = await startServer(db.args, env);
      let second: Proc | undefined;
      try {
        const A = (base: string, method: string, path: string, body?: unknown) =>
          api(base, token, method, path, body);
        const id = 'IMEI:crash-1';
        assert.equal(
          (await A(first.url, 'POST', '/devices', { id, secret: 'c', serverSecret: 'd' })).status,
          201,
        );
        const rep = await A(first.url, 'POST', `/devices/${encodeURIComponent(id)}/commands`, {
          type: 'Replace',
          uri: './Vendor/Power',
          value: 'low',
        });
        const get = await A(first.url, 'POST', `/devices/${encodeURIComponent(id)}/commands`, {
          type: 'Get',
          uri: './DevDetail/SwV',
        });
        const sim = new DeviceSim({
          deviceId: id,
          secret: 'c',
          serverSecret: 'd',
          tree: { './Vendor/Power': 'high', './DevDetail/SwV': '3.0' },
        });
        const { result } = await sim.session(`${first.url}/dm`, async (req, i) => {
          if (i === 0) return req.url;
          if (!second) {
            // The first process answered package 1 with the commands: kill it before the device answers.
            first.child.kill('SIGKILL');
            await first.exited;
            second = await startServer(db.args, env);
          }
          const u = new URL(req.url);
          u.host = new URL(second.url).host;
          return u.href;
        });
        assert.ok(second, 'the session went on after the kill');
        assert.equal(result?.outcome, 'completed');
        assert.deepEqual(sim.executed, ['Replace ./Vendor/Power', 'Get ./DevDetail/SwV']);
        const r = (await A(second.url, 'GET', `/commands/${rep.body.id}?wait=5`)).body;
        assert.equal(r.state, 'succeeded');
        assert.equal(r.attempts, 1);
        const g = (await A(second.url, 'GET', `/commands/${get.body.id}?wait=5`)).body;
        assert.equal(g.state, 'succeeded');
        assert.equal(g.results[0].value, '3.0');
        // A later session finds nothing left to do: nothing is sent twice.
        const again = await sim.session(`${second.url}/dm`);
        assert.equal(again.result?.outcome, 'completed');
        assert.deepEqual(sim.executed, ['Replace ./Vendor/Power', 'Get ./DevDetail/SwV']);
      } finally {
        if (first.child.exitCode === null && first.child.signalCode === null) first.child.kill('SIGKILL');
        if (second) {
          second.child.kill('SIGTERM');
          await second.exited;
        }
        await db.cleanup();
      }
    });
  }
});
