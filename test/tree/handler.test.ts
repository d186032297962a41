/** The tree plugged into the client session engine's executor (protocol/client-executor.ts). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type CommandHandler, executeCommand } from '../../src/protocol/index.ts';
import { type Command, type Item, StatusCode } from '../../src/representation/index.ts';
import { ManagementTree, treeCommandHandler } from '../../src/tree/index.ts';

const S = StatusCode;
const t = (uri: string, data?: string): Item => ({
  Target: { LocURI: uri },
  ...(data !== undefined ? { Data: { kind: 'text', text: data } } : {}),
});

async function setup() {
  const tree = await ManagementTree.open();
  await tree.replace('.?prop=ACL', { data: 'Add=*&Get=*&Replace=*&Delete=*' });
  await tree.add('./Keep/a', { data: '1' });
  await tree.add('./Mine', { format: 'node', acl: 'Get=srvA&Replace=srvA' });
  await tree.add('./Mine/v', { data: 'mine' });
  const handler: CommandHandler = treeCommandHandler(tree); // type-checks against protocol's interface
  const run = (cmd: Command, serverId = 'srvA') =>
    executeCommand(cmd, '1', { handler, ctx: { serverId, sessionId: '1' }, uiTimeoutMs: 1000 });
  return { tree, run };
}

test('Get through the session executor: Status then Results with the tree values; ACL per server', async () => {
  const { run } = await setup();
  const out = await run({ type: 'Get', CmdID: '2', Item: [t('./Mine/v')] });
  assert.deepEqual(
    out.map((c) => c.type),
    ['Status', 'Results'],
  );
  const status = out[0] as Extract<Command, { type: 'Status' }>;
  assert.equal(status.Data, S.Ok);
  const results = out[1] as Extract<Command, { type: 'Results' }>;
  assert.deepEqual(results.Item[0]?.Data, { kind: 'text', text: 'mine' });
  const denied = await run({ type: 'Get', CmdID: '3', Item: [t('./Mine/v')] }, 'srvB');
  assert.equal((denied[0] as Extract<Command, { type: 'Status' }>).Data, S.PermissionDenied);
});

test('Atomic driven by the session executor rolls the tree back on a failing member', async () => {
  const { tree, run } = await setup();
  const before = JSON.stringify(tree.toSnapshot());
  const out = await run({
    type: 'Atomic',
    CmdID: '4',
    commands: [
      { type: 'Add', CmdID: '5', Item: [t('./New/x', '1')] },
      { type: 'Delete', CmdID: '6', Item: [t('./Keep')] },
      { type: 'Replace', CmdID: '7', Item: [t('./Missing', '1')] },
    ],
  });
  assert.deepEqual(
    out.map((c) => (c as Extract<Command, { type: 'Status' }>).Data),
    [S.AtomicFailed, S.AtomicRollbackOk, S.AtomicRollbackOk, S.NotFound],
  );
  assert.equal(JSON.stringify(tree.toSnapshot()), before);
  const ok = await run({
    type: 'Atomic',
    CmdID: '8',
    commands: [
      { type: 'Add', CmdID: '9', Item: [t('./New/x', '1')] },
      { type: 'Delete', CmdID: '10', Item: [t('./Keep')] },
    ],
  });
  assert.deepEqual(
    ok.map((c) => (c as Extract<Command, { type: 'Status' }>).Data),
    [S.Ok, S.Ok, S.Ok],
  );
  assert.equal((await tree.get('./Keep')).status, S.NotFound);
  assert.equal((await tree.get('./New/x')).items[0]?.data, '1');
});
