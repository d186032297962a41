/**
 * Bootstrap into the client: bodies made by `omadm bootstrap` (DM profile: WBXML message adding a
 * DMAcc TNDS to ./Inbox; CP profile: w7 document), verified with the PIN/IMSI, installed, and the
 * first session against the omadm server succeeds. A wrong PIN or a tampered body installs nothing.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { main } from '../../src/cli/main.ts';
import { createClient } from '../../src/client/index.ts';
import { DirectorySmartCardSource } from '../../src/protocol/bootstrap/index.ts';
import { startTestServer, type TestServer } from './helpers.ts';

let srv: TestServer;
before(async () => {
  srv = await startTestServer();
});
after(async () => {
  await srv.close();
});

/** Runs `omadm bootstrap …` in-process; returns the body and the printed Content-Type line. */
async function makeBootstrap(
  name: string,
  args: string[],
): Promise<{ body: Uint8Array; contentType: string }> {
  const out = join(srv.dir, `${name}.bin`);
  let printed = '';
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string | Uint8Array) => {
    printed += chunk.toString();
    return true;
  }) as typeof process.stdout.write;
  try {
    process.exitCode = undefined;
    assert.equal(await main(['bootstrap', ...args, '--out', out]), 0);
  } finally {
    process.stdout.write = write;
    process.exitCode = undefined;
  }
  const m = /Content-Type: (.+)/.exec(printed);
  assert.ok(m, printed);
  return { body: new Uint8Array(readFileSync(out)), contentType: m[1]!.trim() };
}

async function provision(id: string) {
  const r = await srv.api('POST', '/devices', {
    id,
    secret: `s-${id}`,
    authType: 'md5',
    serverSecret: `srv-${id}`,
  });
  assert.equal(r.status, 201);
}

const accountArgs = (id: string) => [
  '--server-id',
  'omadm',
  '--addr',
  srv.dm,
  '--device',
  id,
  '--client-secret',
  `s-${id}`,
  '--server-secret',
  `srv-${id}`,
];

describe('bootstrap', () => {
  for (const [profile, security, keys] of [
    ['dm', 'userpin', ['--pin', '1234']],
    ['dm', 'netwpin', ['--imsi', '262011234567890']],
    ['dm', 'usernetwpin', ['--pin', '1234', '--imsi', '262011234567890']],
    ['cp', 'userpin', ['--pin', '1234']],
    ['cp', 'netwpin', ['--imsi', '262011234567890']],
  ] as const) {
    test(`${profile} / ${security}: verified, installed, first session succeeds; tampering installs nothing`, async (t) => {
      const id = `bs-${profile}-${security}`;
      await provision(id);
      const { body, contentType } = await makeBootstrap(id, [
        '--profile',
        profile,
        '--security',
        security,
        ...keys,
        ...accountArgs(id),
      ]);
      const client = await createClient({ devInfo: { devId: id } });
      t.after(() => client.close());
      const flags: readonly string[] = keys;
      const pin = flags.includes('--pin') ? '1234' : undefined;
      const imsi = flags.includes('--imsi') ? '262011234567890' : undefined;
      const material = { ...(pin ? { pin } : {}), ...(imsi ? { imsi } : {}) };

      const tampered = new Uint8Array(body);
      tampered[tampered.length - 3]! ^= 0x01;
      await assert.rejects(client.bootstrap({ body: tampered, contentType, ...material }), {
        code: 'OMADM_ERR_CLIENT_BOOTSTRAP',
      });
      await assert.rejects(
        client.bootstrap({
          body,
          contentType,
          ...material,
          ...(pin ? { pin: '9999' } : { imsi: '262019999999999' }),
        }),
        {
          code: 'OMADM_ERR_CLIENT_BOOTSTRAP',
        },
      );
      await assert.rejects(
        client.bootstrap({ body, profile }),
        { code: 'OMADM_ERR_CLIENT_BOOTSTRAP' },
        'no SEC: refused',
      );
      assert.equal((await client.accounts.list()).length, 0, 'nothing installed');

      const r = await client.bootstrap({ body, contentType, ...material });
      assert.deepEqual(r.servers, ['omadm']);
      assert.equal(r.profile, profile);
      const s = await client.session();
      assert.equal(s.ok, true, JSON.stringify(s));
      assert.equal(s.serverAuthenticated, true);
    });
  }

  test('smart card directory (trusted): installed at start', async (t) => {
    const id = 'bs-card';
    await provision(id);
    const { body } = await makeBootstrap(id, [
      '--profile',
      'dm',
      '--security',
      'userpin',
      '--pin',
      '1234',
      ...accountArgs(id),
    ]);
    const card = join(srv.dir, 'card');
    mkdirSync(card);
    writeFileSync(join(card, 'card-id'), '8949000000000000001\n');
    writeFileSync(join(card, 'dm-1.wbxml'), body);
    const client = await createClient({ devInfo: { devId: id } });
    t.after(() => client.close());
    const r = await client.bootstrapFromCard(new DirectorySmartCardSource(card));
    assert.equal(r?.length, 1);
    assert.deepEqual(r?.[0]?.servers, ['omadm']);
    assert.equal((await client.session()).ok, true);
    assert.equal(
      await client.bootstrapFromCard(new DirectorySmartCardSource(join(srv.dir, 'no-card'))),
      undefined,
    );
  });

  test('omadm client --bootstrap: first start from a bootstrap file, then restarts from the data dir', async () => {
    const id = 'bs-cli';
    await provision(id);
    const { contentType } = await makeBootstrap(id, [
      '--profile',
      'dm',
      '--security',
      'userpin',
      '--pin',
      '24680',
      ...accountArgs(id),
    ]);
    const file = join(srv.dir, `${id}.bin`);
    const run = async (...argv: string[]) => {
      process.exitCode = undefined;
      try {
        return await main([...argv, '--log-level', 'silent']);
      } finally {
        process.exitCode = undefined;
      }
    };
    const data = join(srv.dir, 'bs-cli-data');
    const base = [
      'client',
      '--data',
      data,
      '--device-id',
      id,
      '--bootstrap',
      file,
      '--content-type',
      contentType,
    ];
    assert.equal(await run(...base, '--pin', '13579', '--once'), 1, 'wrong PIN: refused');
    assert.equal(await run(...base, '--pin', '24680', '--once'), 0);
    const config = JSON.parse(readFileSync(join(data, 'agent.json'), 'utf8'));
    assert.equal(config.server, srv.dm);
    assert.equal(config.auth, 'md5');
    assert.equal(await run('client', '--data', data, '--once'), 0);
    assert.equal(
      await run('client', '--data', join(srv.dir, 'bs-none'), '--bootstrap', file, '--once'),
      2,
      'needs --device-id',
    );
  });
});
