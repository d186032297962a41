/**
 * `omadm device|cmd|trace` called through main([...]) with OMADM_URL/OMADM_TOKEN pointing at a
 * test server on 127.0.0.1, checking output (tables and --json) and exit codes.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { redirectOutput } from '../../src/cli/api/output.ts';
import { main } from '../../src/cli/main.ts';
import { DeviceSim } from '../server/device-sim.ts';
import { freshBackend, type Running, startServer } from '../server/helpers.ts';
import type { Backend } from '../server/helpers.ts';
import type { Store } from '../../src/server/store/index.ts';

interface Run {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

/** Runs the CLI in-process with captured output (stderr too: main reports errors there). */
async function run(args: string[], env: Record<string, string | undefined>): Promise<Run> {
  const savedErr = process.stderr.write;
  const savedEnv = { OMADM_URL: process.env.OMADM_URL, OMADM_TOKEN: process.env.OMADM_TOKEN };
  let out = '';
  let err = '';
  const restore = redirectOutput({
    out: (t) => {
      out += t;
    },
    err: (t) => {
      err += t;
    },
  });
  process.stderr.write = ((chunk: string | Uint8Array) => {
    err += chunk.toString();
    return true;
  }) as typeof process.stderr.write;
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  try {
    process.exitCode = undefined;
    const code = await main(args);
    return { code, out, err };
  } finally {
    restore();
    process.stderr.write = savedErr;
    for (const [k, v] of Object.entries(savedEnv)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

describe('omadm device, cmd and trace against a server', () => {
  let backend: Backend;
  let store: Store;
  let srv: Running;
  let env: Record<string, string>;
  const cli = (...args: string[]) => run(args, env);

  before(async () => {
    backend = await freshBackend('sqlite');
    store = await backend.open();
    srv = await startServer(store);
    env = { OMADM_URL: srv.url, OMADM_TOKEN: srv.admin };
    // Hints name the command as the wrapper was typed (OMADM_SELF): plain `omadm` here.
    delete process.env.OMADM_SELF;
  });
  after(async () => {
    await srv?.close();
    await store?.close();
    await backend?.cleanup();
  });

  test('device add provisions in one line; list, show and --json', async () => {
    const add = await cli(
      'device',
      'add',
      'IMEI:111',
      '--secret',
      's1',
      '--auth',
      'hmac',
      '--server-secret',
      'x',
      '--tag',
      'lab',
      '--tag',
      'eu,fw1',
    );
    assert.equal(add.code, 0, add.err);
    assert.equal(add.out, 'provisioned IMEI:111 (auth hmac)\n');
    assert.equal((await cli('device', 'add', 'IMEI:222', '--secret', 's2')).code, 0);

    const list = await cli('device', 'list');
    assert.equal(list.code, 0, list.err);
    const lines = list.out.trimEnd().split('\n');
    assert.match(lines[0] ?? '', /^DEVICE\s+AUTH\s+ONLINE\s+LAST SEEN\s+SESSIONS\s+MODEL\s+TAGS$/);
    assert.match(lines[1] ?? '', /^IMEI:111\s+hmac\s+no\s+never\s+0\s+-\s+eu,fw1,lab$/);
    assert.match(lines[2] ?? '', /^IMEI:222\s+md5\s+no\s+never\s+0/);

    const tagged = await cli('device', 'list', '--tag', 'lab', '--json');
    assert.equal(tagged.code, 0);
    assert.deepEqual(
      JSON.parse(tagged.out).map((d: { id: string }) => d.id),
      ['IMEI:111'],
    );

    const show = await cli('device', 'show', 'IMEI:111');
    assert.equal(show.code, 0);
    assert.match(show.out, /^device:\s+IMEI:111$/m);
    assert.match(show.out, /^server secret:\s+set$/m);
    const showJson = JSON.parse((await cli('device', 'show', 'IMEI:111', '--json')).out);
    assert.equal(showJson.authType, 'hmac');

    // Pagination is followed: more devices than one page.
    for (let i = 0; i < 3; i++) await cli('device', 'add', `IMEI:9${i}`, '--secret', 'p');
    const limited = JSON.parse((await cli('device', 'list', '--json', '--limit', '2')).out);
    assert.equal(limited.length, 2);
  });

  test('exit codes: 2 for bad input, 69 for unreachable server or refused token', async () => {
    const dup = await cli('device', 'add', 'IMEI:111', '--secret', 's');
    assert.equal(dup.code, 2);
    assert.match(dup.err, /^omadm: .*already exists/);
    const bad = await cli('device', 'add', 'has space', '--secret', 's');
    assert.equal(bad.code, 2);
    assert.match(bad.err, /body\.id/);
    const missing = await cli('device', 'show', 'IMEI:nope');
    assert.equal(missing.code, 2);
    const noAuth = await run(['device', 'list'], { OMADM_URL: srv.url, OMADM_TOKEN: 'wrong-token' });
    assert.equal(noAuth.code, 69);
    assert.match(noAuth.err, /unknown or revoked API token/);
    const down = await run(['device', 'list'], { OMADM_URL: 'http://127.0.0.1:1', OMADM_TOKEN: 'x' });
    assert.equal(down.code, 69);
    assert.match(down.err, /cannot reach the server/);
    const noSecret = await cli('device', 'add', 'IMEI:444');
    assert.equal(noSecret.code, 2);
    assert.match(noSecret.err, /--secret is required/);
    const transport = await cli('device', 'add', 'IMEI:cert-1', '--auth', 'transport', '--json');
    assert.equal(transport.code, 0, transport.err);
    assert.equal(JSON.parse(transport.out).authType, 'transport');
    const badAuth = await cli('device', 'add', 'IMEI:445', '--secret', 's', '--auth', 'rot13');
    assert.equal(badAuth.code, 64);
    const badUrl = await run(['device', 'list', '--url', 'ftp://x'], {});
    assert.equal(badUrl.code, 2);
    const badFormat = await cli('cmd', 'replace', 'IMEI:111', './A', 'x', '--format', 'int');
    assert.equal(badFormat.code, 2);
    assert.match(badFormat.err, /not an integer/);
    // --url and --token override the environment.
    const viaFlags = await run(['device', 'list', '--json', '--url', srv.url, '--token', srv.admin], {
      OMADM_URL: 'http://127.0.0.1:1',
      OMADM_TOKEN: 'x',
    });
    assert.equal(viaFlags.code, 0, viaFlags.err);
  });

  test('cmd get/replace with --wait follow the command through a real session; trace shows it', async () => {
    await cli('device', 'add', 'IMEI:333', '--secret', 'dev-pw', '--server-secret', 'srv-pw');
    const queued = await cli('cmd', 'get', 'IMEI:333', './DevDetail/FwV', '--json');
    assert.equal(queued.code, 0, queued.err);
    const getCmd = JSON.parse(queued.out);
    assert.equal(getCmd.state, 'queued');
    const rep = await cli('cmd', 'replace', 'IMEI:333', './Vendor/Level', '7', '--format', 'int');
    assert.equal(rep.code, 0, rep.err);
    // The human form says which id it queued.
    assert.match(rep.out, /^command \d+ \(Replace \.\/Vendor\/Level on IMEI:333\): queued$/m);
    const bad = await cli('cmd', 'delete', 'IMEI:333', './Protected');

    const sim = new DeviceSim({
      deviceId: 'IMEI:333',
      secret: 'dev-pw',
      serverSecret: 'srv-pw',
      tree: { './DevDetail/FwV': 'FW-9', './Vendor/Level': '1' },
    });
    const { result } = await sim.session(`${srv.url}/dm`);
    assert.equal(result?.outcome, 'completed');

    const shown = await cli('cmd', 'show', getCmd.id, '--wait', '5');
    assert.equal(shown.code, 0, shown.err);
    assert.match(shown.out, /^command \S+ \(Get \.\/DevDetail\/FwV on IMEI:333\): succeeded, status 200 /m);
    assert.match(shown.out, /^\.\/DevDetail\/FwV\s+FW-9\s+chr$/m);
    assert.equal(sim.tree.get('./Vendor/Level')?.value, '7');

    // A command the device refuses: --wait exits 1 with the status.
    const badId = /^command (\d+) /.exec(bad.out)?.[1] as string;
    const failed = await cli('cmd', 'show', badId, '--wait');
    assert.equal(failed.code, 1);
    assert.match(failed.err, /Delete \.\/Protected failed on IMEI:333: status 404/);

    const fleet = await cli('cmd', 'list', '--state', 'failed');
    assert.equal(fleet.code, 0, fleet.err);
    assert.match(fleet.out, /^ID\s+DEVICE\s+TYPE\s+URI\s+STATE\s+STATUS\s+CREATED$/m);
    assert.match(fleet.out, /IMEI:333\s+Delete\s+\.\/Protected\s+failed\s+404/);
    const badState = await cli('cmd', 'list', '--state', 'weird');
    assert.equal(badState.code, 2);
    const list = await cli('cmd', 'list', 'IMEI:333');
    assert.equal(list.code, 0);
    assert.match(list.out, /^ID\s+TYPE\s+URI\s+STATE\s+STATUS\s+CREATED$/m);
    assert.match(list.out, /Replace\s+\.\/Vendor\/Level\s+succeeded\s+200/);

    const trace = await cli('trace', 'IMEI:333');
    assert.equal(trace.code, 0, trace.err);
    assert.match(
      trace.out,
      /^session \S+ of IMEI:333: \S+ → \S+, completed \(the session ran to its end\), 4 messages$/m,
    );
    assert.match(
      trace.out,
      /#1 device → server {2}\S+ {2}application\/vnd\.syncml\.dm\+xml {2}\d+ bytes\n<SyncML/,
    );
    assert.match(trace.out, /#2 server → device/);
    assert.match(trace.out, /<LocURI>\.\/Vendor\/Level<\/LocURI>/);
    const sessions = await cli('trace', 'IMEI:333', '--list', '--json');
    assert.equal(JSON.parse(sessions.out).length, 1);
    const none = await cli('trace', 'IMEI:222');
    assert.equal(none.code, 1);
    assert.match(none.err, /no sessions recorded/);
  });

  test('cmd --wait that runs out while the device is away exits 1 and says how to follow up', async () => {
    const r = await cli('cmd', 'exec', 'IMEI:222', './FUMO/Update', '--wait', '0.3');
    assert.equal(r.code, 1);
    assert.match(r.err, /still queued after waiting; follow it with: omadm cmd show \d+ --wait/);
    const id = /omadm cmd show (\d+)/.exec(r.err)?.[1] as string;
    const cancel = await cli('cmd', 'cancel', id);
    assert.equal(cancel.code, 0, cancel.err);
    assert.equal(cancel.out, `cancelled ${id}\n`);
    const retry = await cli('cmd', 'retry', id, '--json');
    assert.equal(retry.code, 0, retry.err);
    assert.equal(JSON.parse(retry.out).state, 'queued');
    assert.notEqual(JSON.parse(retry.out).id, id);
  });

  test('notification address: --notify on add/set, shown; device notify needs a server with bearers', async () => {
    const add = await cli(
      'device',
      'add',
      'IMEI:555',
      '--secret',
      's',
      '--server-secret',
      'x',
      '--notify',
      'udp:127.0.0.1:2948',
    );
    assert.equal(add.code, 0, add.err);
    const show = await cli('device', 'show', 'IMEI:555');
    assert.match(show.out, /^notify:\s+udp:127\.0\.0\.1:2948$/m);
    const bad = await cli('device', 'set', 'IMEI:555', '--notify', 'udp');
    assert.equal(bad.code, 2);
    assert.match(bad.err, /--notify takes BEARER:TARGET/);
    const notify = await cli('device', 'notify', 'IMEI:555');
    assert.equal(notify.code, 2);
    assert.match(notify.err, /no notification bearers configured/);
    const cleared = await cli('device', 'set', 'IMEI:555', '--notify', 'none', '--json');
    assert.equal(cleared.code, 0, cleared.err);
    assert.equal(JSON.parse(cleared.out).notify, null);
  });

  test('cmd send queues an Atomic from a JSON file; a bad body is exit 2 with the field named', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'omadm-cmd-send-'));
    try {
      const file = join(dir, 'atomic.json');
      writeFileSync(
        file,
        JSON.stringify({
          type: 'Atomic',
          commands: [
            { type: 'Add', uri: './Vendor/Cfg' },
            { type: 'Replace', uri: './Vendor/Mode', value: 'eco' },
          ],
        }),
      );
      const ok = await cli('cmd', 'send', 'IMEI:222', file, '--json');
      assert.equal(ok.code, 0, ok.err);
      const c = JSON.parse(ok.out);
      assert.equal(c.type, 'Atomic');
      assert.equal(c.request.commands.length, 2);
      writeFileSync(file, JSON.stringify({ type: 'Atomic', commands: [{ type: 'Get', uri: '.' }] }));
      const bad = await cli('cmd', 'send', 'IMEI:222', file);
      assert.equal(bad.code, 2);
      assert.match(bad.err, /Get is not allowed inside Atomic/);
      writeFileSync(file, '{');
      assert.equal((await cli('cmd', 'send', 'IMEI:222', file)).code, 2);
      assert.equal((await cli('cmd', 'send', 'IMEI:222', join(dir, 'missing.json'))).code, 2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('device set --trace switches what sessions keep; show prints it; default clears it', async () => {
    assert.equal((await cli('device', 'add', 'IMEI:444', '--secret', 's4')).code, 0);
    assert.match((await cli('device', 'show', 'IMEI:444')).out, /^trace:\s+default$/m);
    const full = await cli('device', 'set', 'IMEI:444', '--trace', 'full');
    assert.equal(full.code, 0, full.err);
    assert.equal((await store.devices.get('IMEI:444'))?.trace, 'full');
    assert.match((await cli('device', 'show', 'IMEI:444')).out, /^trace:\s+full$/m);
    assert.equal((await store.devices.credentials('IMEI:444'))?.traceMode, 'full');
    assert.equal((await cli('device', 'set', 'IMEI:444', '--trace', 'errors')).code, 0);
    assert.equal((await store.devices.get('IMEI:444'))?.trace, 'errors');
    assert.equal((await cli('device', 'set', 'IMEI:444', '--trace', 'default')).code, 0);
    assert.equal((await store.devices.get('IMEI:444'))?.trace, null);
    assert.equal((await store.devices.credentials('IMEI:444'))?.traceMode, undefined);
    // Not one of the choices: a usage error.
    assert.equal((await cli('device', 'set', 'IMEI:444', '--trace', 'loud')).code, 64);
  });

  test('cmd -q prints only the queued id; cmd list pages with --limit and says when more exist', async () => {
    await cli('device', 'add', 'IMEI:paging', '--secret', 'p');
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      const q = await cli('cmd', 'get', 'IMEI:paging', `./N${i}`, '-q');
      assert.equal(q.code, 0, q.err);
      assert.match(q.out, /^\d+\n$/);
      ids.push(q.out.trim());
    }
    const shown = await cli('cmd', 'show', ids[0] as string);
    assert.match(shown.out, new RegExp(`^command ${ids[0]} \\(Get \\./N0 on IMEI:paging\\): queued$`, 'm'));

    // Newest first, 3 of 7: the note goes to stderr, the table stays clean.
    const some = await cli('cmd', 'list', 'IMEI:paging', '--limit', '3');
    assert.equal(some.code, 0, some.err);
    const rows = some.out.trimEnd().split('\n').slice(1);
    assert.deepEqual(
      rows.map((r) => r.split(/\s+/)[0]),
      [...ids].reverse().slice(0, 3),
    );
    assert.match(some.err, /showing the newest 3 commands; more exist/);
    // --limit beyond one API page follows the cursor; all of them: no note.
    const all = await cli('cmd', 'list', 'IMEI:paging', '--limit', '0', '--json');
    assert.equal(JSON.parse(all.out).length, 7);
    assert.equal(all.err, '');
    const exact = await cli('cmd', 'list', 'IMEI:paging', '--limit', '7');
    assert.equal(exact.err, '');
    assert.equal((await cli('cmd', 'list', '--limit', '-1')).code, 2);
    // device list says so too when --limit cut it short.
    const devices = await cli('device', 'list', '--limit', '1');
    assert.match(devices.err, /showing 1 devices; more exist/);
  });

  test('device rm deletes', async () => {
    const rm = await cli('device', 'rm', 'IMEI:90', 'IMEI:91');
    assert.equal(rm.code, 0, rm.err);
    assert.equal(rm.out, 'removed IMEI:90\nremoved IMEI:91\n');
    assert.equal((await cli('device', 'show', 'IMEI:90')).code, 2);
  });
});
