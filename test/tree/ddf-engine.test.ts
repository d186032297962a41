/** The DDF and TNDS layers plugged into the tree engine: what a server sees. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DdfSchema, ddfTreeSchema, installSkeleton, parseDdf } from '../../src/tree/ddf/index.ts';
import { ManagementTree, serverPrincipal } from '../../src/tree/index.ts';
import {
  addTnds,
  parseTnds,
  replaceTnds,
  tndsListSerializer,
  tndsToSubtrees,
} from '../../src/tree/tnds/index.ts';

const DDF = `<MgmtTree><VerDTD>1.2</VerDTD>
<Node><NodeName>Vendor</NodeName><Path>.</Path>
  <DFProperties><AccessType><Add/><Get/></AccessType><DFFormat><node/></DFFormat><Scope><Permanent/></Scope>
  <DFType><DDFName>com.acme/1.0/Vendor</DDFName></DFType></DFProperties>
  <Node><NodeName>Volume</NodeName>
    <DFProperties><AccessType><Get/><Replace/></AccessType><DefaultValue>5</DefaultValue><DFFormat><int/></DFFormat>
    <Scope><Permanent/></Scope><DFType><MIME>text/plain</MIME></DFType></DFProperties></Node>
  <Node><NodeName>Users</NodeName>
    <DFProperties><AccessType><Add/><Get/></AccessType><DFFormat><node/></DFFormat><Scope><Permanent/></Scope>
    <DFType><DDFName/></DFType></DFProperties>
    <Node><NodeName/>
      <DFProperties><AccessType><Add/><Delete/><Get/><Replace/></AccessType><DFFormat><node/></DFFormat>
      <Occurrence><ZeroOrN>2</ZeroOrN></Occurrence><DFType><DDFName/></DFType></DFProperties>
      <Node><NodeName>Login</NodeName>
        <DFProperties><AccessType><Add/><Delete/><Get/><Replace/></AccessType><DFFormat><chr/></DFFormat>
        <DFType><MIME>text/plain</MIME></DFType></DFProperties></Node>
      <Node><NodeName>Pin</NodeName>
        <DFProperties><AccessType><Add/><Delete/><Replace/></AccessType><DFFormat><int/></DFFormat><Occurrence><ZeroOrOne/></Occurrence>
        <DFType><MIME>text/plain</MIME></DFType></DFProperties></Node>
    </Node>
  </Node>
</Node></MgmtTree>`;

const srv = serverPrincipal('srv');

async function setup() {
  const schema = new DdfSchema([parseDdf(DDF)]);
  const tree = await ManagementTree.open({ schema: ddfTreeSchema(schema) });
  tree.registerListFormat('TNDS', tndsListSerializer({ schema }));
  assert.equal(await installSkeleton(tree, schema), 200);
  await tree.replace('./Vendor?prop=ACL', { data: 'Add=srv&Get=srv&Replace=srv&Delete=srv' });
  return { schema, tree };
}

describe('DDF in the engine', () => {
  test('the skeleton is built: permanent nodes with formats, types and default values', async () => {
    const { tree } = await setup();
    const got = await tree.get('./Vendor/Volume', srv);
    assert.equal(got.status, 200);
    assert.deepEqual(got.items[0], { uri: './Vendor/Volume', format: 'int', type: 'text/plain', data: '5' });
    assert.equal((await tree.get('./Vendor?prop=Type', srv)).items[0]!.data, 'com.acme/1.0/Vendor');
    assert.equal(await tree.delete('./Vendor/Volume', srv), 405, 'permanent');
    assert.equal(await installSkeleton(tree, new DdfSchema([parseDdf(DDF)])), 200, 'idempotent');
    assert.equal((await tree.get('./Vendor/Volume', srv)).items[0]!.data, '5');
  });

  test('server writes are validated: a wrong format is refused, not written', async () => {
    const { tree } = await setup();
    assert.equal(await tree.replace('./Vendor/Volume', { format: 'int', data: '7' }, srv), 200);
    assert.equal(await tree.replace('./Vendor/Volume', { format: 'int', data: 'loud' }, srv), 415);
    assert.equal(await tree.replace('./Vendor/Volume', { format: 'bool', data: 'true' }, srv), 405);
    assert.equal((await tree.get('./Vendor/Volume', srv)).items[0]!.data, '7');
    assert.equal(await tree.add('./Vendor/Users/ann', { format: 'node' }, srv), 200);
    assert.equal(await tree.add('./Vendor/Users/ann/Login', { data: 'ann' }, srv), 200);
    assert.equal(await tree.add('./Vendor/Users/ann/Shoe', { data: '42' }, srv), 405);
    assert.equal(await tree.add('./Vendor/Users/ann/Pin', { format: 'int', data: 'x1' }, srv), 415);
    assert.equal(await tree.add('./Vendor/Users/ann/Pin', { format: 'int', data: '1234' }, srv), 200);
    assert.equal(
      await tree.add('./Vendor/Users/bob', {}, srv),
      200,
      'no Meta Format: interior, as the DDF says',
    );
    assert.equal(await tree.add('./Vendor/Users/bob/Pin', { data: '77' }, srv), 200);
    assert.equal((await tree.get('./Vendor/Users/bob/Pin?prop=Format', srv)).items[0]!.data, 'int');
    assert.equal(await tree.add('./Vendor/Users/cid', { format: 'node' }, srv), 420, 'ZeroOrN 2');
    assert.equal(await tree.add('./Vendor/Users/bob', { format: 'chr', data: 'x' }, srv), 418);
  });

  test('AccessType without Get: 405 on Get, absent from ?list= and TNDS; the device itself still reads it', async () => {
    const { tree } = await setup();
    await tree.add('./Vendor/Users/ann', { format: 'node' }, srv);
    await tree.add('./Vendor/Users/ann/Pin', { format: 'int', data: '1234' }, srv);
    assert.equal((await tree.get('./Vendor/Users/ann/Pin', srv)).status, 405);
    assert.equal((await tree.get('./Vendor/Users/ann/Pin?prop=Size', srv)).status, 405);
    assert.equal((await tree.get('./Vendor/Users/ann/Pin')).items[0]!.data, '1234');
    const struct = await tree.get('./Vendor?list=StructData', srv);
    assert.equal(struct.status, 200);
    assert.ok(!struct.items.some((i) => i.uri.endsWith('/Pin')));
    const tnds = await tree.get('./Vendor?list=TNDS+Value', srv);
    assert.equal(tnds.status, 200);
    assert.doesNotMatch(tnds.items[0]!.data as string, /1234/);
  });

  test('?list=TNDS answers a TNDS of the readable subtree; bad selections are 406', async () => {
    const { tree } = await setup();
    const got = await tree.get('./Vendor?list=TNDS', srv);
    assert.equal(got.status, 200);
    assert.equal(got.items[0]!.type, 'application/vnd.syncml.dmtnds+xml');
    const [top] = tndsToSubtrees(parseTnds(got.items[0]!.data as string));
    assert.equal(top!.node.name, 'Vendor');
    assert.equal(top!.node.acl, 'Add=srv&Get=srv&Replace=srv&Delete=srv');
    assert.deepEqual(
      top!.node.children!.map((c) => [c.name, c.format, c.data]),
      [
        ['Volume', 'int', '5'],
        ['Users', 'node', undefined],
      ],
    );
    assert.equal((await tree.get('./Vendor?list=TNDS+Colour', srv)).status, 406);
  });

  test('Add with a TNDS creates the whole subtree, validated, all or nothing', async () => {
    const { tree } = await setup();
    const doc = (pin: string) => `<MgmtTree xmlns="syncml:dmddf1.2"><VerDTD>1.2</VerDTD>
      <Node><NodeName>ann</NodeName><RTProperties><Format><node/></Format><Type><DDFName/></Type></RTProperties>
        <Node><NodeName>Login</NodeName><RTProperties><Format><chr/></Format><Type><MIME>text/plain</MIME></Type></RTProperties><Value>ann</Value></Node>
        <Node><NodeName>Pin</NodeName><RTProperties><Format><int/></Format><Type><MIME>text/plain</MIME></Type></RTProperties><Value>${pin}</Value></Node>
      </Node></MgmtTree>`;
    assert.equal(await addTnds(tree, './Vendor/Users', doc('12x'), { who: srv }), 415);
    assert.equal((await tree.get('./Vendor/Users/ann', srv)).status, 404, 'nothing left behind');
    assert.equal(await addTnds(tree, './Vendor/Users', doc('1234'), { who: srv }), 200);
    assert.equal((await tree.get('./Vendor/Users/ann/Login', srv)).items[0]!.data, 'ann');
    assert.equal(await addTnds(tree, './Vendor/Users', '<MgmtTree><Node>', { who: srv }), 400);
  });

  test('several top nodes are all-or-nothing too', async () => {
    const { tree } = await setup();
    const node = (n: string) =>
      `<Node><NodeName>${n}</NodeName><RTProperties><Format><node/></Format><Type><DDFName/></Type></RTProperties></Node>`;
    const three = `<MgmtTree><VerDTD>1.2</VerDTD>${node('a')}${node('b')}${node('c')}</MgmtTree>`;
    assert.equal(await addTnds(tree, './Vendor/Users', three, { who: srv }), 420);
    assert.equal((await tree.get('./Vendor/Users', srv)).items[0]!.data, '', 'a and b rolled back');
  });

  test('Replace with a TNDS makes the subtree equal to the document', async () => {
    const { tree } = await setup();
    await tree.add('./Vendor/Users/ann', { format: 'node' }, srv);
    await tree.add('./Vendor/Users/ann/Login', { data: 'ann' }, srv);
    await tree.add('./Vendor/Users/ann/Pin', { format: 'int', data: '1' }, srv);
    const doc = `<MgmtTree><VerDTD>1.2</VerDTD><Node><NodeName>ann</NodeName>
      <RTProperties><Format><node/></Format><Type><DDFName/></Type></RTProperties>
      <Node><NodeName>Login</NodeName><RTProperties><Format><chr/></Format><Type><MIME>text/plain</MIME></Type></RTProperties><Value>anna</Value></Node>
      </Node></MgmtTree>`;
    assert.equal(await replaceTnds(tree, './Vendor/Users/ann', doc, { who: srv }), 200);
    assert.equal((await tree.get('./Vendor/Users/ann', srv)).items[0]!.data, 'Login');
    assert.equal((await tree.get('./Vendor/Users/ann/Login', srv)).items[0]!.data, 'anna');
  });
});
