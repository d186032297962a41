import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type Command, type Item, StatusCode } from '../../src/representation/index.ts';
import {
  type ExecutionContext,
  ManagementTree,
  serverPrincipal,
  TreeCommandExecutor,
  type TndsHandler,
} from '../../src/tree/index.ts';

const S = StatusCode;
const A = serverPrincipal('srvA');

function ctx(extra: Partial<ExecutionContext> = {}): ExecutionContext {
  let id = 100;
  return { principal: A, msgRef: '3', nextCmdId: () => String(++id), ...extra };
}

const t = (uri: string, data?: string, meta?: Item['Meta']): Item => ({
  Target: { LocURI: uri },
  ...(meta ? { Meta: meta } : {}),
  ...(data !== undefined ? { Data: { kind: 'text', text: data } } : {}),
});

async function fixture() {
  const tree = await ManagementTree.open();
  await tree.replace('.?prop=ACL', { data: 'Add=*&Get=*&Replace=*&Delete=*&Exec=*' });
  await tree.ensure('./DevInfo/DevId', { data: 'IMEI:1', permanent: true });
  await tree.ensure('./DevInfo/Man', { data: 'ACME', permanent: true });
  return { tree, ex: new TreeCommandExecutor(tree) };
}

describe('TreeCommandExecutor', () => {
  test('Get with several Items: one Status per Item, one Results with the found ones', async () => {
    const { ex } = await fixture();
    const out = await ex.execute(
      { type: 'Get', CmdID: '4', Item: [t('./DevInfo/DevId'), t('./Nope'), t('./DevInfo/Man')] },
      ctx(),
    );
    assert.deepEqual(
      out.statuses.map((s) => [s.CmdID, s.MsgRef, s.CmdRef, s.Cmd, s.TargetRef, s.Data]),
      [
        ['101', '3', '4', 'Get', ['./DevInfo/DevId'], 200],
        ['102', '3', '4', 'Get', ['./Nope'], 404],
        ['103', '3', '4', 'Get', ['./DevInfo/Man'], 200],
      ],
    );
    assert.equal(out.results.length, 1);
    const r = out.results[0]!;
    assert.equal(r.CmdID, '104');
    assert.equal(r.CmdRef, '4');
    assert.deepEqual(r.Item, [
      {
        Source: { LocURI: './DevInfo/DevId' },
        Meta: { Format: 'chr', Type: 'text/plain' },
        Data: { kind: 'text', text: 'IMEI:1' },
      },
      {
        Source: { LocURI: './DevInfo/Man' },
        Meta: { Format: 'chr', Type: 'text/plain' },
        Data: { kind: 'text', text: 'ACME' },
      },
    ]);
  });

  test('Get of an interior node and ?list=Struct map to Items (Format node, no Type when empty)', async () => {
    const { ex } = await fixture();
    const out = await ex.execute(
      { type: 'Get', CmdID: '5', Item: [t('./DevInfo'), t('./DevInfo?list=Struct')] },
      ctx(),
    );
    const items = out.results[0]!.Item;
    assert.deepEqual(items[0], {
      Source: { LocURI: './DevInfo' },
      Meta: { Format: 'node' },
      Data: { kind: 'text', text: 'DevId/Man' },
    });
    assert.deepEqual(
      items.slice(1).map((i) => [i.Source?.LocURI, i.Meta?.Format, i.Data]),
      [
        ['./DevInfo', 'node', undefined],
        ['./DevInfo/DevId', 'chr', undefined],
        ['./DevInfo/Man', 'chr', undefined],
      ],
    );
  });

  test('Add and Replace honour item Meta over command Meta; defaults chr/text/plain; bytes stay bytes', async () => {
    const { tree, ex } = await fixture();
    const out = await ex.execute(
      {
        type: 'Add',
        CmdID: '6',
        Meta: { Format: 'int' },
        Item: [
          t('./V/n', '5'),
          t('./V/dir', undefined, { Format: 'node' }),
          t('./V/s', 'txt', { Format: 'Chr', Type: 'text/x-custom' }),
          {
            Target: { LocURI: './V/bin' },
            Meta: { Format: 'bin', Type: 'application/octet-stream' },
            Data: { kind: 'bytes', bytes: new Uint8Array([0, 1, 2]) },
          },
        ],
      },
      ctx(),
    );
    assert.deepEqual(
      out.statuses.map((s) => s.Data),
      [200, 200, 200, 200],
    );
    assert.equal((await tree.get('./V/n?prop=Format')).items[0]?.data, 'int');
    assert.equal((await tree.get('./V/dir?prop=Format')).items[0]?.data, 'node');
    assert.equal((await tree.get('./V/s?prop=Format')).items[0]?.data, 'chr', 'Format is case-folded');
    assert.equal((await tree.get('./V/s?prop=Type')).items[0]?.data, 'text/x-custom');
    assert.deepEqual((await tree.get('./V/bin')).items[0]?.data, new Uint8Array([0, 1, 2]));
    await ex.execute({ type: 'Add', CmdID: '7', Item: [t('./V/plain', 'p')] }, ctx());
    assert.equal((await tree.get('./V/plain?prop=Type')).items[0]?.data, 'text/plain');
    await ex.execute({ type: 'Replace', CmdID: '8', Item: [t('./V/n', '6')] }, ctx());
    assert.equal(
      (await tree.get('./V/n?prop=Format')).items[0]?.data,
      'int',
      'Replace without Meta keeps the format',
    );
    const bad = await ex.execute(
      { type: 'Add', CmdID: '9', Item: [t('./V/odd', '1', { Format: 'float32' })] },
      ctx(),
    );
    assert.equal(bad.statuses[0]?.Data, S.UnsupportedMediaTypeOrFormat);
  });

  test('Delete, Copy (TargetRef and SourceRef), and Items without Target → 412', async () => {
    const { tree, ex } = await fixture();
    await tree.add('./C/src', { data: 'copied' });
    const copy = await ex.execute(
      { type: 'Copy', CmdID: '10', Item: [{ Target: { LocURI: './C/dst' }, Source: { LocURI: './C/src' } }] },
      ctx(),
    );
    assert.deepEqual(
      copy.statuses.map((s) => [s.Cmd, s.TargetRef, s.SourceRef, s.Data]),
      [['Copy', ['./C/dst'], ['./C/src'], 200]],
    );
    assert.equal((await tree.get('./C/dst')).items[0]?.data, 'copied');
    const del = await ex.execute({ type: 'Delete', CmdID: '11', Item: [t('./C'), t('./C'), {}] }, ctx());
    assert.deepEqual(
      del.statuses.map((s) => s.Data),
      [200, 404, 412],
    );
    const empty = await ex.execute({ type: 'Replace', CmdID: '12', Item: [] }, ctx());
    assert.deepEqual(
      empty.statuses.map((s) => s.Data),
      [S.IncompleteCommand],
    );
  });

  test('Exec passes data and Correlator to the plugin; 202 reaches the Status', async () => {
    const { tree, ex } = await fixture();
    const seen: unknown[] = [];
    await tree.mount('./Fw', {
      async get(path) {
        return path.length === 0 ? { format: 'node', children: ['Update'] } : { format: 'null', data: '' };
      },
      async exec(path, input) {
        seen.push([path, input.data, input.correlator]);
        return S.AcceptedForProcessing;
      },
    });
    const out = await ex.execute(
      { type: 'Exec', CmdID: '13', Correlator: 'abc', Item: [t('./Fw/Update', 'go')] },
      ctx(),
    );
    assert.equal(out.statuses[0]?.Data, S.AcceptedForProcessing);
    assert.deepEqual(seen, [[['Update'], 'go', 'abc']]);
  });

  test('Sequence runs in order and returns Results of its Gets; a cancelled Alert skips the rest (215)', async () => {
    const { tree, ex } = await fixture();
    const seq: Command = {
      type: 'Sequence',
      CmdID: '20',
      commands: [
        { type: 'Add', CmdID: '21', Item: [t('./Seq/a', '1')] },
        { type: 'Get', CmdID: '22', Item: [t('./Seq/a')] },
        { type: 'Alert', CmdID: '23', Data: 1101, Item: [] },
        { type: 'Add', CmdID: '24', Item: [t('./Seq/b', '2')] },
        { type: 'Atomic', CmdID: '25', commands: [{ type: 'Add', CmdID: '26', Item: [t('./Seq/c', '3')] }] },
      ],
    };
    const cancelled = await ex.execute(seq, ctx({ alert: async () => ({ status: S.OperationCancelled }) }));
    assert.deepEqual(
      cancelled.statuses.map((s) => [s.CmdRef, s.Data]),
      [
        ['20', 200],
        ['21', 200],
        ['22', 200],
        ['23', 214],
        ['24', 215],
        ['25', 215],
        ['26', 215],
      ],
    );
    assert.equal(cancelled.results[0]?.CmdRef, '22');
    assert.equal((await tree.get('./Seq/b')).status, S.NotFound);
    await tree.delete('./Seq');
    const accepted = await ex.execute(seq, ctx({ alert: async () => ({ status: S.Ok }) }));
    assert.deepEqual(
      accepted.statuses.map((s) => s.Data),
      [200, 200, 200, 200, 200, 200, 200],
    );
    assert.equal((await tree.get('./Seq/c')).items[0]?.data, '3');
    const noUi = await ex.execute({ type: 'Alert', CmdID: '30', Data: 1101, Item: [] }, ctx());
    assert.equal(noUi.statuses[0]?.Data, S.OptionalFeatureNotSupported);
  });

  test('an Alert inside Atomic may use the tree without deadlock', async () => {
    const { tree, ex } = await fixture();
    const out = await ex.execute(
      {
        type: 'Atomic',
        CmdID: '40',
        commands: [
          { type: 'Add', CmdID: '41', Item: [t('./At/a', '1')] },
          { type: 'Alert', CmdID: '42', Data: 1101, Item: [] },
        ],
      },
      ctx({
        alert: async () => {
          const r = await tree.get('./At/a');
          return { status: r.status };
        },
      }),
    );
    assert.deepEqual(
      out.statuses.map((s) => s.Data),
      [200, 200, 200],
    );
  });

  test('unknown or malformed commands get 501/412; Status and Results are not executed', async () => {
    const { ex } = await fixture();
    const element = { name: 'Sync', ns: '', children: [] };
    const sync = await ex.execute(
      { type: 'Unknown', name: 'Sync', CmdID: '50', reason: 'DS only', element },
      ctx(),
    );
    assert.deepEqual(
      sync.statuses.map((s) => [s.Cmd, s.Data]),
      [['Sync', S.CommandNotImplemented]],
    );
    const add = await ex.execute(
      { type: 'Unknown', name: 'Add', CmdID: '51', reason: 'no Item', element },
      ctx(),
    );
    assert.deepEqual(
      add.statuses.map((s) => [s.Cmd, s.Data]),
      [['Add', S.IncompleteCommand]],
    );
    const st = await ex.execute(
      {
        type: 'Status',
        CmdID: '52',
        CmdRef: '1',
        Cmd: 'Alert',
        TargetRef: [],
        SourceRef: [],
        Data: 200,
        Item: [],
      },
      ctx(),
    );
    assert.deepEqual(st, { statuses: [], results: [] });
  });

  test('TNDS Meta Type goes to the TNDS handler; without one, embedded documents get 415', async () => {
    const { tree } = await fixture();
    const calls: unknown[] = [];
    const tnds: TndsHandler = {
      isTndsType: (type) => type === 'application/vnd.syncml.dmtnds+xml',
      add: async (_ops, target, data, { who }) => {
        calls.push(['add', target, typeof data, who]);
        return S.Ok;
      },
      replace: async (_ops, target) => {
        calls.push(['replace', target]);
        return S.Ok;
      },
    };
    const withTnds = new TreeCommandExecutor(tree, { tnds });
    const item = t('./Inbox', '<MgmtTree/>', { Format: 'xml', Type: 'application/vnd.syncml.dmtnds+xml' });
    assert.equal(
      (await withTnds.execute({ type: 'Add', CmdID: '60', Item: [item] }, ctx())).statuses[0]?.Data,
      200,
    );
    assert.equal(
      (await withTnds.execute({ type: 'Replace', CmdID: '61', Item: [item] }, ctx())).statuses[0]?.Data,
      200,
    );
    assert.deepEqual(calls, [
      ['add', './Inbox', 'string', A],
      ['replace', './Inbox'],
    ]);
    const element = {
      kind: 'element' as const,
      element: { name: 'MgmtTree', ns: 'syncml:dmddf1.2', children: [] },
    };
    const plain = new TreeCommandExecutor(tree);
    const out = await plain.execute(
      {
        type: 'Add',
        CmdID: '62',
        Item: [{ Target: { LocURI: './X' }, Meta: { Format: 'xml' }, Data: element }],
      },
      ctx(),
    );
    assert.equal(out.statuses[0]?.Data, S.UnsupportedMediaTypeOrFormat);
  });
});
