import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { StatusCode } from '../../src/representation/index.ts';
import {
  type ChangeEvent,
  LOCAL,
  ManagementTree,
  type NodePath,
  type PluginNode,
  serverPrincipal,
  type TreeSchema,
} from '../../src/tree/index.ts';

const A = serverPrincipal('srvA');
const B = serverPrincipal('srvB');
const S = StatusCode;

async function value(tree: ManagementTree, uri: string): Promise<string | Uint8Array | undefined> {
  const r = await tree.get(uri);
  return r.status === S.Ok ? r.items[0]?.data : undefined;
}

async function prop(tree: ManagementTree, uri: string, name: string, who = LOCAL as typeof LOCAL | typeof A) {
  const r = await tree.get(`${uri}?prop=${name}`, who);
  return r.status === S.Ok ? r.items[0]?.data : r.status;
}

async function devTree(): Promise<ManagementTree> {
  const tree = await ManagementTree.open({ clock: () => Date.UTC(2024, 0, 2, 3, 4, 5) });
  assert.equal(
    await tree.ensure('./DevInfo/DevId', { format: 'chr', data: 'IMEI:1', permanent: true }),
    S.Ok,
  );
  assert.equal(await tree.ensure('./DevInfo/Man', { format: 'chr', data: 'ACME', permanent: true }), S.Ok);
  return tree;
}

describe('nodes', () => {
  test('root exists with the default ACL; Get of an interior node lists its children', async () => {
    const tree = await devTree();
    assert.equal(await prop(tree, '.', 'ACL'), 'Add=*&Get=*');
    assert.deepEqual(await tree.get('./DevInfo', A), {
      status: S.Ok,
      items: [{ uri: './DevInfo', format: 'node', type: '', data: 'DevId/Man' }],
    });
    assert.equal(await value(tree, 'DevInfo/DevId'), 'IMEI:1', 'relative URI form');
    assert.equal(await value(tree, './DevInfo/DevId/'), 'IMEI:1', 'one trailing slash tolerated');
  });

  test('Add: 418 when existing, 405 under a leaf, implicit interior ancestors, empty interior lists nothing', async () => {
    const tree = await devTree();
    assert.equal(await tree.add('./DevInfo', { format: 'node' }, A), S.AlreadyExists);
    assert.equal(await tree.add('.', { format: 'node' }, A), S.AlreadyExists);
    assert.equal(await tree.add('./DevInfo/DevId/x', { data: '1' }, A), S.CommandNotAllowed);
    assert.equal(await tree.add('./Vendor/Acme/Setting', { format: 'int', data: '7' }, A), S.Ok);
    assert.equal(await prop(tree, './Vendor', 'Format'), 'node');
    assert.equal(await prop(tree, './Vendor/Acme/Setting', 'Format'), 'int');
    assert.equal(await prop(tree, './Vendor/Acme/Setting', 'Type'), 'text/plain');
    assert.equal(await tree.add('./Empty', { format: 'node' }, A), S.Ok);
    assert.deepEqual((await tree.get('./Empty', A)).items[0]?.data, '');
    assert.equal(await tree.add('./Bad', { format: 'node', data: 'x' }, A), S.BadRequest);
  });

  test('implicit Add can be switched off (404 for a missing parent)', async () => {
    const tree = await ManagementTree.open({ implicitAdd: false });
    assert.equal(await tree.add('./X/Y', { data: '1' }, A), S.NotFound);
    assert.equal(await tree.add('./X', { format: 'node' }, A), S.Ok);
    assert.equal(await tree.add('./X/Y', { data: '1' }, A), S.Ok);
  });

  test('Replace: 404 on missing, never creates; sets value, format and type; keeps them without Meta', async () => {
    const tree = await devTree();
    await tree.add('./V/N', { format: 'int', data: '1', type: 'text/plain' }, LOCAL);
    await tree.replace('./V?prop=ACL', { data: 'Add=*&Get=*&Replace=*&Delete=*' });
    assert.equal(await tree.replace('./V/Missing', { data: 'x' }, A), S.NotFound);
    assert.equal((await tree.get('./V/Missing', A)).status, S.NotFound);
    assert.equal(await tree.replace('./V/N', { data: '2' }, A), S.Ok);
    assert.equal(await prop(tree, './V/N', 'Format'), 'int');
    assert.equal(await tree.replace('./V/N', { format: 'bool', type: 'text/x-flag', data: 'true' }, A), S.Ok);
    assert.equal(await prop(tree, './V/N', 'Format'), 'bool');
    assert.equal(await prop(tree, './V/N', 'Type'), 'text/x-flag');
    assert.equal(
      await tree.replace('./V', { format: 'node' }, A),
      S.CommandNotAllowed,
      'Replace of an interior node',
    );
    assert.equal(
      await tree.replace('./V/N', { format: 'node' }, A),
      S.CommandNotAllowed,
      'leaf cannot become interior',
    );
    assert.equal(await tree.replace('./V/N', { format: 'chr', data: 'x'.repeat(10) }, A), S.Ok);
  });

  test('values: bytes, b64 and Size', async () => {
    const tree = await devTree();
    await tree.add('./Bin', { format: 'bin', data: new Uint8Array([1, 2, 3, 0, 255]) });
    await tree.add('./B64', { format: 'b64', data: Buffer.from('hello world').toString('base64') });
    await tree.add('./Txt', { format: 'chr', data: 'héllo' });
    assert.deepEqual(await value(tree, './Bin'), new Uint8Array([1, 2, 3, 0, 255]));
    assert.equal(await prop(tree, './Bin', 'Size'), '5');
    assert.equal(await prop(tree, './B64', 'Size'), '11');
    assert.equal(await prop(tree, './Txt', 'Size'), '6');
    assert.equal(
      await prop(tree, './DevInfo', 'Size'),
      S.OptionalFeatureNotSupported,
      'no Size on interior nodes',
    );
  });

  test('413 for a value over maxValueSize, 415 for an unknown format', async () => {
    const tree = await ManagementTree.open({ maxValueSize: 10 });
    assert.equal(await tree.add('./Big', { data: 'x'.repeat(11) }, A), S.RequestEntityTooLarge);
    assert.equal(await tree.add('./Ok', { data: 'x'.repeat(10) }, A), S.Ok);
    assert.equal(
      await tree.add('./Odd', { format: 'weird' as 'chr', data: '1' }, A),
      S.UnsupportedMediaTypeOrFormat,
    );
  });

  test('Delete removes the whole subtree; the root and permanent nodes are protected (405)', async () => {
    const tree = await devTree();
    await tree.replace('.?prop=ACL', { data: 'Add=*&Get=*&Delete=*&Replace=*' });
    for (const uri of ['./P/a/b/c', './P/a/d', './P/e'])
      assert.equal(await tree.add(uri, { data: uri }, A), S.Ok);
    const before = tree.size;
    assert.equal(await tree.delete('./P/a', A), S.Ok);
    assert.equal(tree.size, before - 4);
    assert.equal((await tree.get('./P/a/b/c', A)).status, S.NotFound);
    assert.equal(await value(tree, './P/e'), './P/e');
    assert.equal(await tree.delete('./P/a', A), S.NotFound);
    assert.equal(await tree.delete('.', A), S.CommandNotAllowed);
    assert.equal(await tree.delete('./DevInfo/DevId', A), S.CommandNotAllowed);
    assert.equal(await tree.delete('./DevInfo', A), S.CommandNotAllowed);
    // a dynamic node holding a permanent one cannot be deleted by a server either
    await tree.add('./Dyn', { format: 'node' }, LOCAL);
    await tree.add('./Dyn/Fixed', { data: '1', permanent: true }, LOCAL);
    assert.equal(await tree.delete('./Dyn', A), S.CommandNotAllowed);
    assert.equal(await tree.delete('./Dyn', LOCAL), S.Ok, 'the device itself may');
  });

  test('permanent nodes: no rename, no format/type change, value replace allowed', async () => {
    const tree = await devTree();
    await tree.replace('./DevInfo?prop=ACL', { data: 'Get=*&Replace=*' });
    assert.equal(await tree.replace('./DevInfo/Man?prop=Name', { data: 'Maker' }, A), S.CommandNotAllowed);
    assert.equal(await tree.replace('./DevInfo/Man', { format: 'int', data: '1' }, A), S.CommandNotAllowed);
    assert.equal(
      await tree.replace('./DevInfo/Man', { type: 'text/html', data: '1' }, A),
      S.CommandNotAllowed,
    );
    assert.equal(await tree.replace('./DevInfo/Man', { data: 'Other' }, A), S.Ok);
    assert.equal(await value(tree, './DevInfo/Man'), 'Other');
  });

  test('Copy: leaf to new or existing leaf, needs Get on source and Add/Replace on target', async () => {
    const tree = await devTree();
    await tree.add('./W', { format: 'node', acl: 'Add=srvA&Get=srvA+srvB&Replace=srvA' });
    await tree.add('./W/src', { format: 'int', data: '42' });
    await tree.add('./W/dst', { data: 'old' });
    assert.equal(await tree.copy('./W/new', './W/src', A), S.Ok);
    assert.equal(await value(tree, './W/new'), '42');
    assert.equal(await prop(tree, './W/new', 'Format'), 'int');
    assert.equal(await tree.copy('./W/dst', './W/src', A), S.Ok);
    assert.equal(await value(tree, './W/dst'), '42');
    assert.equal(await tree.copy('./W/dst2', './W/src', B), S.PermissionDenied, 'B has Get but no Add');
    assert.equal(await tree.copy('./W/x', './W/missing', A), S.NotFound);
    assert.equal(await tree.copy('./W/x', './W', A), S.CommandNotAllowed, 'interior source');
    assert.equal(await tree.copy('./W', './W/src', A), S.CommandNotAllowed, 'interior target');
  });

  test('Exec on a node without code → 405', async () => {
    const tree = await devTree();
    await tree.replace('.?prop=ACL', { data: 'Add=*&Get=*&Exec=*' });
    assert.equal(await tree.exec('./DevInfo/DevId', {}, A), S.CommandNotAllowed);
    assert.equal(await tree.exec('./Nope', {}, A), S.NotFound);
  });

  test('names are case-sensitive unless the node is CaseSense CIS', async () => {
    const tree = await devTree();
    await tree.add('./Apps', { format: 'node', caseSense: 'CIS' });
    await tree.add('./Apps/Mail', { data: 'm', caseSense: 'CIS' });
    assert.equal(await value(tree, './APPS/mail'), 'm');
    assert.equal(await prop(tree, './apps', 'CaseSense'), 'CIS');
    assert.equal(await tree.add('./Apps/MAIL', { data: 'x' }, A), S.AlreadyExists);
    assert.equal((await tree.get('./devinfo', A)).status, S.NotFound);
    assert.equal(await prop(tree, './DevInfo', 'CaseSense'), S.OptionalFeatureNotSupported);
  });
});

describe('properties (?prop=)', () => {
  test('Get of every property; unsupported → 406; Add/Delete on a property → 405', async () => {
    const tree = await devTree();
    await tree.add('./N', { format: 'int', type: 'text/plain', data: '12' }, A);
    assert.equal(await prop(tree, './N', 'Format'), 'int');
    assert.equal(await prop(tree, './N', 'Name'), 'N');
    assert.equal(await prop(tree, './N', 'Size'), '2');
    assert.equal(await prop(tree, './N', 'Title'), '');
    assert.equal(await prop(tree, './N', 'TStamp'), '20240102T030405Z');
    assert.equal(await prop(tree, './N', 'Type'), 'text/plain');
    assert.equal(await prop(tree, './N', 'VerNo'), '0');
    assert.equal(await prop(tree, './N', 'ACL'), '', 'empty ACL is returned empty, not the inherited one');
    assert.equal(await prop(tree, './N', 'Color'), S.OptionalFeatureNotSupported);
    assert.equal(await tree.add('./N?prop=Title', { data: 'x' }), S.CommandNotAllowed);
    assert.equal(await tree.delete('./N?prop=Title'), S.CommandNotAllowed);
    assert.deepEqual((await tree.get('./N?prop=Name', A)).items[0], {
      uri: './N?prop=Name',
      format: 'chr',
      type: 'text/plain',
      data: 'N',
    });
  });

  test('Replace of Title, Name (rename, 418 on clash); read-only properties → 405', async () => {
    const tree = await devTree();
    await tree.replace('.?prop=ACL', { data: 'Add=*&Get=*&Replace=*' });
    await tree.add('./N', { data: '1' }, A);
    await tree.add('./M', { data: '2' }, A);
    assert.equal(await tree.replace('./N?prop=Title', { data: 'A title' }, A), S.Ok);
    assert.equal(await prop(tree, './N', 'Title'), 'A title');
    assert.equal(await tree.replace('./N?prop=Title', { data: 'x'.repeat(256) }, A), S.RequestEntityTooLarge);
    assert.equal(await tree.replace('./N?prop=Name', { data: 'M' }, A), S.AlreadyExists);
    assert.equal(await tree.replace('./N?prop=Name', { data: 'K' }, A), S.Ok);
    assert.equal(await value(tree, './K'), '1');
    assert.equal((await tree.get('./N', A)).status, S.NotFound);
    assert.equal(await prop(tree, './K', 'Title'), 'A title');
    for (const p of ['Format', 'Size', 'TStamp', 'Type', 'VerNo']) {
      assert.equal(await tree.replace(`./K?prop=${p}`, { data: '1' }, A), S.CommandNotAllowed, p);
    }
    assert.equal(await tree.replace('./K?prop=Bogus', { data: '1' }, A), S.OptionalFeatureNotSupported);
    assert.equal(await tree.replace('./K?prop=Name', { data: 'a/b' }, A), S.BadRequest);
  });

  test('VerNo and TStamp move on change, on the node and its ancestors; VerNo wraps at 0xFFFF', async () => {
    let now = Date.UTC(2020, 0, 1);
    const tree = await ManagementTree.open({ clock: () => now });
    await tree.add('./X/Y', { data: '1' });
    const v0 = Number(await prop(tree, './X', 'VerNo'));
    now = Date.UTC(2021, 5, 6, 7, 8, 9);
    await tree.replace('./X/Y', { data: '2' });
    assert.equal(await prop(tree, './X/Y', 'VerNo'), '1');
    assert.equal(await prop(tree, './X', 'VerNo'), String(v0 + 1));
    assert.equal(await prop(tree, './X/Y', 'TStamp'), '20210606T070809Z');
    assert.equal(await prop(tree, './X', 'TStamp'), '20210606T070809Z');
    for (let i = 0; i < 0xffff; i++) await tree.replace('./X/Y', { data: String(i) });
    assert.equal(await prop(tree, './X/Y', 'VerNo'), '0', 'wrapped');
  });
});

describe('?list=', () => {
  test('Struct and StructData list the subtree (start node included), only readable nodes', async () => {
    const tree = await devTree();
    await tree.add('./L/a', { format: 'int', data: '1' });
    await tree.add('./L/b/c', { data: 'deep' });
    await tree.add('./L/secret', { data: 'hidden', acl: 'Get=srvB' });
    const struct = await tree.get('./L?list=Struct', A);
    assert.equal(struct.status, S.Ok);
    assert.deepEqual(
      struct.items.map((i) => [i.uri, i.format, i.data]),
      [
        ['./L', 'node', undefined],
        ['./L/a', 'int', undefined],
        ['./L/b', 'node', undefined],
        ['./L/b/c', 'chr', undefined],
      ],
    );
    const data = await tree.get('./L?list=StructData', A);
    assert.deepEqual(
      data.items.map((i) => [i.uri, i.data]),
      [
        ['./L', undefined],
        ['./L/a', '1'],
        ['./L/b', undefined],
        ['./L/b/c', 'deep'],
      ],
    );
    const forB = await tree.get('./L?list=StructData', B);
    assert.ok(forB.items.some((i) => i.uri === './L/secret' && i.data === 'hidden'));
    assert.equal((await tree.get('./L?list=Nope', A)).status, S.OptionalFeatureNotSupported);
    assert.equal(
      (await tree.get('./L?list=TNDS', A)).status,
      S.OptionalFeatureNotSupported,
      'no serializer yet',
    );
  });

  test('a registered list format gets the readable snapshot and its args', async () => {
    const tree = await devTree();
    await tree.add('./L/a', { data: '1', acl: 'Get=srvB' });
    await tree.add('./L/b', { data: '2' });
    let seen: unknown;
    tree.registerListFormat('TNDS', (snap, uri, args) => {
      seen = { snap, uri, args };
      return { uri, format: 'xml', type: 'application/vnd.syncml.dmtnds+xml', data: '<MgmtTree/>' };
    });
    const out = await tree.get('./L?list=TNDS+ACL+Value', A);
    assert.equal(out.status, S.Ok);
    assert.equal(out.items[0]?.type, 'application/vnd.syncml.dmtnds+xml');
    const s = seen as { snap: { name: string; children: { name: string }[] }; uri: string; args: string };
    assert.equal(s.uri, './L');
    assert.equal(s.args, '+ACL+Value');
    assert.deepEqual(
      s.snap.children.map((c) => c.name),
      ['b'],
    );
  });
});

describe('URIs', () => {
  test('malformed → 400, too deep/long → 414, unknown query → 406', async () => {
    const tree = await ManagementTree.open({ limits: { maxDepth: 3, maxSegLen: 5, maxTotLen: 18 } });
    assert.equal((await tree.get('./a//b')).status, S.BadRequest);
    assert.equal((await tree.get('../a')).status, S.BadRequest);
    assert.equal((await tree.get('./a/./b')).status, S.BadRequest);
    assert.equal((await tree.get('/a')).status, S.BadRequest);
    assert.equal((await tree.get('./a%zz')).status, S.BadRequest);
    assert.equal(await tree.add('./a/b/c/d', { data: '1' }), S.UriTooLong);
    assert.equal(await tree.add('./abcdef', { data: '1' }), S.UriTooLong);
    assert.equal(await tree.add('./abcde/abcde/abcde', { data: '1' }), S.UriTooLong);
    assert.equal(await tree.add('./abcde/abcde/abc', { data: '1' }), S.Ok);
    assert.equal((await tree.get('./abcde?foo=bar')).status, S.OptionalFeatureNotSupported);
    assert.deepEqual(tree.limits, { maxDepth: 3, maxSegLen: 5, maxTotLen: 18 });
  });

  test('escaped names are stored decoded and listed escaped', async () => {
    const tree = await ManagementTree.open();
    assert.equal(await tree.add('./Dir/a%2Fb', { data: 'x' }), S.BadRequest, 'no "/" in names');
    assert.equal(await tree.add('./Dir/with%20space', { data: 'x' }), S.Ok);
    assert.equal(await tree.add('./Dir/ünï', { data: 'y' }), S.Ok);
    assert.equal((await tree.get('./Dir')).items[0]?.data, 'with%20space/ünï');
    assert.equal(await value(tree, './Dir/%C3%BCn%C3%AF'), 'y');
  });
});

describe('ACLs between two servers', () => {
  async function shared(): Promise<ManagementTree> {
    const tree = await devTree();
    await tree.add('./Acct', { format: 'node' });
    await tree.add('./Acct/A', {
      format: 'node',
      acl: 'Add=srvA&Delete=srvA&Get=srvA&Replace=srvA&Exec=srvA',
    });
    await tree.add('./Acct/A/Secret', { data: 'a-secret' });
    await tree.add('./Acct/B', { format: 'node', acl: 'Add=srvB&Delete=srvB&Get=srvB&Replace=srvB' });
    await tree.add('./Acct/B/Secret', { data: 'b-secret' });
    return tree;
  }

  test('each server reaches only its own subtree (425 otherwise)', async () => {
    const tree = await shared();
    assert.equal((await tree.get('./Acct/A/Secret', A)).items[0]?.data, 'a-secret');
    assert.equal((await tree.get('./Acct/A/Secret', B)).status, S.PermissionDenied);
    assert.equal((await tree.get('./Acct/B/Secret', A)).status, S.PermissionDenied);
    assert.equal(await tree.replace('./Acct/B/Secret', { data: 'x' }, A), S.PermissionDenied);
    assert.equal(await tree.delete('./Acct/B', A), S.PermissionDenied);
    assert.equal(await tree.add('./Acct/B/New', { data: 'x' }, A), S.PermissionDenied);
    assert.equal(await tree.add('./Acct/A/New', { data: 'x' }, A), S.Ok);
    assert.equal(await tree.replace('./Acct/A/Secret', { data: 'a2' }, A), S.Ok);
    assert.equal(await tree.delete('./Acct/A/New', A), S.Ok);
    assert.equal((await tree.get('./Acct', A)).status, S.Ok, 'root default Get=* inherited');
    assert.equal(await tree.replace('./Acct/A/Secret', { data: 'x' }, B), S.PermissionDenied);
    assert.equal(
      (await tree.get('./Acct?list=Struct', B)).items.some((i) => i.uri.startsWith('./Acct/A')),
      false,
    );
  });

  test('wildcard * grants every server; inheritance is all-or-nothing', async () => {
    const tree = await shared();
    await tree.add('./Pub', { format: 'node', acl: 'Get=*&Replace=srvA' });
    await tree.add('./Pub/Leaf', { data: '1' });
    assert.equal((await tree.get('./Pub/Leaf', B)).status, S.Ok);
    assert.equal(await tree.replace('./Pub/Leaf', { data: '2' }, B), S.PermissionDenied);
    assert.equal(await tree.replace('./Pub/Leaf', { data: '2' }, A), S.Ok);
    // an explicit ACL on the leaf replaces (not merges with) the inherited one
    await tree.replace('./Pub/Leaf?prop=ACL', { data: 'Replace=srvB' });
    assert.equal((await tree.get('./Pub/Leaf', B)).status, S.PermissionDenied);
    assert.equal(await tree.replace('./Pub/Leaf', { data: '3' }, B), S.Ok);
  });

  test('Replace of an ACL: interior needs Replace on itself or the parent; a leaf needs it on the parent', async () => {
    const tree = await shared();
    await tree.add('./Q', { format: 'node', acl: 'Get=*&Replace=srvB' });
    await tree.add('./Q/I', { format: 'node', acl: 'Get=*&Replace=srvA' });
    await tree.add('./Q/L', { data: '1', acl: 'Get=*&Replace=srvA' });
    assert.equal(
      await tree.replace('./Q/I?prop=ACL', { data: 'Get=*&Replace=srvA+srvB' }, A),
      S.Ok,
      'on itself',
    );
    assert.equal(
      await tree.replace('./Q/L?prop=ACL', { data: 'Get=*' }, A),
      S.PermissionDenied,
      'leaf: own ACL does not cover itself',
    );
    assert.equal(await tree.replace('./Q/L?prop=ACL', { data: 'Get=*' }, B), S.Ok, 'leaf: via the parent');
    assert.equal(
      await tree.replace('./Q/L?prop=ACL', { data: 'Get=' }, B),
      S.BadRequest,
      'command without ids',
    );
    assert.equal(await tree.replace('./Q/L?prop=ACL', { data: 'Copy=*' }, B), S.BadRequest, 'no Copy entry');
    // Rights on the parent do not give the value
    await tree.replace('./Q/L?prop=ACL', { data: 'Get=srvA' }, B);
    assert.equal((await tree.get('./Q/L', B)).status, S.PermissionDenied);
    assert.equal(await prop(tree, './Q/L', 'ACL', A), 'Get=srvA');
  });

  test('root ACL keeps Add=* (405 otherwise); the root default is Add=*&Get=*', async () => {
    const tree = await ManagementTree.open({ rootAcl: 'Add=*&Get=*&Replace=srvA' });
    assert.equal(await tree.replace('.?prop=ACL', { data: 'Get=*&Replace=srvA' }, A), S.CommandNotAllowed);
    assert.equal(await tree.replace('.?prop=ACL', { data: 'Add=*&Get=*&Replace=srvA+srvB' }, A), S.Ok);
    assert.equal(
      await tree.replace('.?prop=ACL', { data: 'Add=*&Get=*' }, serverPrincipal('srvC')),
      S.PermissionDenied,
    );
    assert.equal(await prop(await ManagementTree.open(), '.', 'ACL'), 'Add=*&Get=*');
  });

  test('a server adding an interior node without Replace on the parent gets Add/Delete/Get/Replace on it', async () => {
    const tree = await devTree();
    assert.equal(await tree.add('./Mine', { format: 'node' }, A), S.Ok);
    assert.equal(await prop(tree, './Mine', 'ACL', A), 'Add=srvA&Delete=srvA&Get=srvA&Replace=srvA');
    assert.equal(await tree.add('./Mine/leaf', { data: '1' }, A), S.Ok);
    assert.equal(await prop(tree, './Mine/leaf', 'ACL', A), '', 'leaves inherit');
    assert.equal(await tree.delete('./Mine', A), S.Ok);
    assert.equal(await tree.add('./Leafy', { data: '1' }, A), S.Ok);
    assert.equal(await prop(tree, './Leafy', 'ACL', A), '');
    await tree.replace('.?prop=ACL', { data: 'Add=*&Get=*&Replace=srvB' });
    assert.equal(await tree.add('./Theirs', { format: 'node' }, B), S.Ok);
    assert.equal(await prop(tree, './Theirs', 'ACL', B), '', 'B had Replace on the parent');
  });

  test('removeServer strips an id everywhere; root commands left empty become *', async () => {
    const tree = await shared();
    await tree.replace('.?prop=ACL', { data: 'Add=*&Get=*&Replace=srvA' });
    assert.equal(await tree.removeServer('srvA'), S.Ok);
    assert.equal(await prop(tree, '.', 'ACL'), 'Add=*&Get=*&Replace=*');
    assert.equal(await prop(tree, './Acct/A', 'ACL'), '');
    assert.equal(await prop(tree, './Acct/B', 'ACL'), 'Add=srvB&Delete=srvB&Get=srvB&Replace=srvB');
  });

  test('LOCAL bypasses ACLs', async () => {
    const tree = await shared();
    assert.equal(await value(tree, './Acct/B/Secret'), 'b-secret');
    assert.equal(await tree.replace('./Acct/A/Secret', { data: 'dev' }), S.Ok);
  });
});

describe('schema hook', () => {
  test('its refusal wins before the ACL check; local calls are flagged', async () => {
    const seen: string[] = [];
    const schema: TreeSchema = {
      check(req) {
        seen.push(`${req.op}:${req.path.join('/')}:${req.local}`);
        if (req.op === 'Get' && req.path[0] === 'Inbox') return S.CommandNotAllowed;
        if (
          req.op === 'Add' &&
          req.format === 'int' &&
          req.data !== undefined &&
          !/^-?\d+$/.test(String(req.data))
        ) {
          return S.OptionalFeatureNotSupported;
        }
        return undefined;
      },
      defaultsFor: (path) => (path[0] === 'Apps' && path.length === 2 ? { caseSense: 'CIS' } : undefined),
    };
    const tree = await ManagementTree.open({ schema });
    await tree.add('./Inbox', { format: 'node' });
    assert.equal((await tree.get('./Inbox', B)).status, S.CommandNotAllowed);
    assert.equal(await tree.add('./N', { format: 'int', data: 'x' }, A), S.OptionalFeatureNotSupported);
    assert.equal(await tree.add('./Apps/Mail', { data: '1' }, A), S.Ok);
    assert.equal(await value(tree, './Apps/MAIL'), '1');
    assert.ok(seen.includes('Add:N:false'));
    assert.ok(seen.includes('Get:Inbox:false'));
  });
});

describe('plugins', () => {
  /** A small live MO: ./Live/{Counter (Get/Replace), Items/<x> (Add/Delete), Reboot (Exec)}. */
  function livePlugin() {
    const state = { counter: 0, items: new Map<string, string>(), execs: [] as string[] };
    return {
      state,
      mo: {
        async get(path: NodePath): Promise<PluginNode | typeof S.NotFound> {
          const key = path.join('/');
          if (key === '')
            return { format: 'node', type: 'urn:test:live', children: ['Counter', 'Items', 'Reboot'] };
          if (key === 'Counter') return { format: 'int', data: String(state.counter), permanent: true };
          if (key === 'Items') return { format: 'node', children: [...state.items.keys()], permanent: true };
          if (key === 'Reboot') return { format: 'null', data: '', permanent: true };
          if (path[0] === 'Items' && path.length === 2 && state.items.has(path[1]!)) {
            return { format: 'chr', data: state.items.get(path[1]!)! };
          }
          return S.NotFound;
        },
        async replace(path: NodePath, input: { data?: string | Uint8Array }) {
          if (path.join('/') !== 'Counter') return S.CommandNotAllowed;
          state.counter = Number(input.data);
          return S.Ok;
        },
        async add(path: NodePath, input: { data?: string | Uint8Array }) {
          if (path[0] !== 'Items' || path.length !== 2) return S.CommandNotAllowed;
          state.items.set(path[1]!, String(input.data ?? ''));
          return S.Ok;
        },
        async delete(path: NodePath) {
          if (path[0] !== 'Items' || path.length !== 2) return S.CommandNotAllowed;
          state.items.delete(path[1]!);
          return S.Ok;
        },
        async exec(
          path: NodePath,
          input: { data?: string | Uint8Array; correlator?: string },
          ctx: { report: (r: { resultCode: number }) => void },
        ) {
          state.execs.push(`${path.join('/')}:${input.data}:${input.correlator}`);
          setImmediate(() => ctx.report({ resultCode: 1200 }));
          return S.AcceptedForProcessing;
        },
      },
    };
  }

  test('get/list/add/replace/delete/exec go to code; ACLs and properties stay with the engine', async () => {
    const tree = await devTree();
    const { state, mo } = livePlugin();
    await tree.mount('./Live', mo);
    await tree.replace('./Live?prop=ACL', { data: 'Add=srvA&Delete=srvA&Get=*&Replace=srvA&Exec=srvA' });
    assert.deepEqual((await tree.get('./Live', B)).items[0], {
      uri: './Live',
      format: 'node',
      type: 'urn:test:live',
      data: 'Counter/Items/Reboot',
    });
    assert.equal(await tree.replace('./Live/Counter', { data: '5' }, B), S.PermissionDenied);
    assert.equal(await tree.replace('./Live/Counter', { data: '5' }, A), S.Ok);
    assert.equal(state.counter, 5);
    assert.equal((await tree.get('./Live/Counter', B)).items[0]?.data, '5');
    assert.equal(await tree.add('./Live/Items/x', { data: 'ex' }, A), S.Ok);
    assert.equal(await tree.add('./Live/Items/x', { data: 'ex' }, A), S.AlreadyExists);
    assert.equal(await tree.add('./Live/Counter/x', { data: 'ex' }, A), S.CommandNotAllowed);
    assert.equal(await tree.replace('./Live/Items/x?prop=Title', { data: 'An item' }, A), S.Ok);
    assert.equal(await prop(tree, './Live/Items/x', 'Title'), 'An item');
    assert.equal(await prop(tree, './Live/Items/x', 'VerNo'), '1', 'engine-kept VerNo of a plugin node');
    assert.equal(await tree.replace('./Live/Counter', { data: '6' }, A), S.Ok);
    assert.equal(await prop(tree, './Live/Counter', 'VerNo'), '2', 'second Replace');
    await tree.replace('./Live/Items/x?prop=ACL', { data: 'Get=srvA&Delete=srvA' }, A);
    assert.equal((await tree.get('./Live/Items/x', B)).status, S.PermissionDenied, 'overlay ACL enforced');
    assert.deepEqual(
      (await tree.get('./Live?list=Struct', B)).items.map((i) => i.uri),
      ['./Live', './Live/Counter', './Live/Items', './Live/Reboot'],
    );
    assert.equal(await tree.delete('./Live/Counter', A), S.CommandNotAllowed, 'permanent plugin node');
    assert.equal(await tree.delete('./Live', A), S.CommandNotAllowed, 'mount node');
    assert.equal(await tree.delete('./Live/Items/x', A), S.Ok);
    assert.equal(state.items.size, 0);
    const results: unknown[] = [];
    tree.onExecResult((r) => results.push(r));
    assert.equal(await tree.exec('./Live/Reboot', { data: 'now', correlator: 'c-1' }, B), S.PermissionDenied);
    assert.equal(
      await tree.exec('./Live/Reboot', { data: 'now', correlator: 'c-1' }, A),
      S.AcceptedForProcessing,
    );
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(state.execs, ['Reboot:now:c-1']);
    assert.deepEqual(results, [
      { uri: './Live/Reboot', serverId: 'srvA', correlator: 'c-1', resultCode: 1200 },
    ]);
  });

  test('a missing plugin method answers 405; a throwing plugin answers 500', async () => {
    const tree = await devTree();
    await tree.mount('./RO', {
      async get(path) {
        if (path.length === 0) return { format: 'node', children: ['v', 'boom'] };
        if (path[0] === 'v') return { format: 'chr', data: 'ro' };
        throw new Error('device exploded');
      },
    });
    await tree.replace('.?prop=ACL', { data: 'Add=*&Get=*&Replace=*&Delete=*&Exec=*' });
    assert.equal(await tree.replace('./RO/v', { data: 'x' }, A), S.CommandNotAllowed);
    assert.equal(await tree.add('./RO/w', { data: 'x' }, A), S.CommandFailed, 'existence check threw');
    assert.equal(await tree.exec('./RO/v', {}, A), S.CommandNotAllowed);
    assert.equal((await tree.get('./RO/boom', A)).status, S.CommandFailed);
    await assert.rejects(tree.mount('./RO/v', { get: async () => S.NotFound }), {
      code: 'tree.mount-conflict',
    });
  });

  test('a plugin may call the tree from its handler (joins the running command, no deadlock)', async () => {
    const tree = await devTree();
    await tree.add('./Cfg/Target', { data: 'fw-1.2' });
    await tree.mount('./Act', {
      async get(path) {
        return path.length === 0 ? { format: 'node', children: ['Go'] } : { format: 'null', data: '' };
      },
      async exec(_path, _input, ctx) {
        const target = await ctx.tree.get('./Cfg/Target');
        await tree.replace('./Cfg/Last', { data: 'ignored' }); // the public API joins too (404 here)
        const status = await ctx.tree.add('./Cfg/Last', { data: String(target.items[0]?.data) });
        return status;
      },
    });
    assert.equal(await tree.exec('./Act/Go'), S.Ok);
    assert.equal(await value(tree, './Cfg/Last'), 'fw-1.2');
  });
});

describe('change events', () => {
  test('every successful change emits { uri, op, serverId }; failures and reads emit nothing', async () => {
    const tree = await devTree();
    const events: ChangeEvent[] = [];
    const off = tree.onChange((e) => events.push(e));
    await tree.replace('.?prop=ACL', { data: 'Add=*&Get=*&Replace=*&Delete=*' });
    await tree.add('./E/x', { data: '1' }, A);
    await tree.replace('./E/x', { data: '2' }, B);
    await tree.get('./E/x', A);
    await tree.replace('./E/missing', { data: '2' }, B);
    await tree.replace('./E/x?prop=Name', { data: 'y' }, A);
    await tree.delete('./E', B);
    tree.notifyChange({ uri: './Live/State', op: 'Replace', serverId: undefined });
    off();
    await tree.add('./F', { data: '1' });
    tree.notifyChange({ uri: './Live/State', op: 'Replace', serverId: undefined });
    assert.deepEqual(events, [
      { uri: '.', op: 'Replace', serverId: undefined, prop: 'ACL' },
      { uri: './E', op: 'Add', serverId: 'srvA' },
      { uri: './E/x', op: 'Add', serverId: 'srvA' },
      { uri: './E/x', op: 'Replace', serverId: 'srvB' },
      { uri: './E/x', op: 'Rename', serverId: 'srvA', prop: 'Name', newUri: './E/y' },
      { uri: './E', op: 'Delete', serverId: 'srvB' },
      { uri: './Live/State', op: 'Replace', serverId: undefined },
    ]);
  });
});
