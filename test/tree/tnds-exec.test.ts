/** TNDS through the DM command executor: the vectors' Add-with-TNDS messages, XML and WBXML. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { decodeMessage } from '../../src/representation/index.ts';
import { TreeCommandExecutor } from '../../src/tree/exec.ts';
import { ManagementTree, serverPrincipal } from '../../src/tree/index.ts';
import { tndsHandler } from '../../src/tree/tnds/index.ts';

const vectors = new URL('../../../shared/vectors/packages/', import.meta.url);
const vector = (name: string) => new Uint8Array(readFileSync(new URL(name, vectors)));

async function run(file: string, contentType: string, tnds = true) {
  const tree = await ManagementTree.open();
  await tree.ensure('./Vendor', { format: 'node' });
  const exec = new TreeCommandExecutor(tree, tnds ? { tnds: tndsHandler() } : {});
  const msg = decodeMessage(vector(file), contentType);
  let id = 0;
  const statuses = [];
  for (const cmd of msg.SyncBody.commands) {
    const out = await exec.execute(cmd, {
      principal: serverPrincipal('https://dm.example.com'),
      nextCmdId: () => String(++id),
    });
    statuses.push(...out.statuses.map((s) => s.Data));
  }
  return { tree, statuses };
}

describe('Add with TNDS through the executor', () => {
  for (const [file, type] of [
    ['tndsmsg.xml', 'application/vnd.syncml.dm+xml'],
    ['tndsmsg.wbxml', 'application/vnd.syncml.dm+wbxml'],
  ] as const) {
    test(`${file}: one status 200, ./Vendor/X created with its value, format and type`, async () => {
      const { tree, statuses } = await run(file, type);
      assert.deepEqual(statuses, [200]);
      const got = await tree.get('./Vendor/X');
      assert.deepEqual(got.items[0], { uri: './Vendor/X', format: 'chr', type: 'text/plain', data: 'v' });
    });
  }

  test('without TNDS support the same command is refused with 415', async () => {
    const { tree, statuses } = await run('tndsmsg.xml', 'application/vnd.syncml.dm+xml', false);
    assert.deepEqual(statuses, [415]);
    assert.equal((await tree.get('./Vendor/X')).status, 404);
  });
});
