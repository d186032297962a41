import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  AccessTypes,
  type Ddf,
  type DdfNode,
  DdfSchema,
  type DfProperties,
  MgmtTreeError,
  NodeFormats,
  type Occurrence,
  parseDdf,
  serializeDdf,
  type TreeView,
} from '../../src/tree/ddf/index.ts';

const SAMPLE = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE MgmtTree PUBLIC "-//OMA//DTD-DM-DDF 1.2//EN" "http://www.openmobilealliance.org/tech/DTD/dm_ddf-v1_2.dtd">
<MgmtTree>
  <VerDTD>1.2</VerDTD>
  <Man>Acme</Man>
  <Mod>Widget</Mod>
  <Node>
    <NodeName>Vendor</NodeName>
    <Path>.</Path>
    <DFProperties>
      <AccessType><Get/></AccessType>
      <DFFormat><node/></DFFormat>
      <Occurrence><One/></Occurrence>
      <Scope><Permanent/></Scope>
      <DFType><DDFName>com.acme/1.0/Vendor</DDFName></DFType>
    </DFProperties>
    <Node>
      <NodeName>Volume</NodeName>
      <DFProperties>
        <AccessType><Get/><Replace/></AccessType>
        <DefaultValue>5</DefaultValue>
        <Description>Speaker volume 0..10</Description>
        <DFFormat><int/></DFFormat>
        <Occurrence><One/></Occurrence>
        <Scope><Permanent/></Scope>
        <DFTitle>Volume</DFTitle>
        <DFType><MIME>text/plain</MIME></DFType>
      </DFProperties>
    </Node>
    <Node>
      <NodeName>Profiles</NodeName>
      <DFProperties>
        <AccessType><Get/></AccessType>
        <DFFormat><node/></DFFormat>
        <Scope><Permanent/></Scope>
        <DFType><DDFName></DDFName></DFType>
      </DFProperties>
      <Node>
        <NodeName/>
        <DFProperties>
          <AccessType><Add/><Delete/><Get/><Replace/></AccessType>
          <DFFormat><node/></DFFormat>
          <Occurrence><ZeroOrN>2</ZeroOrN></Occurrence>
          <Scope><Dynamic/></Scope>
          <DFType><DDFName></DDFName></DFType>
        </DFProperties>
        <Node>
          <NodeName>Enabled</NodeName>
          <DFProperties>
            <AccessType><Add/><Get/><Replace/></AccessType>
            <DefaultValue>false</DefaultValue>
            <DFFormat><bool/></DFFormat>
            <DFType><MIME>text/plain</MIME></DFType>
          </DFProperties>
        </Node>
        <Node>
          <NodeName>Logo</NodeName>
          <DFProperties>
            <AccessType><Add/><Get/><Replace/></AccessType>
            <DFFormat><bin/></DFFormat>
            <Occurrence><ZeroOrOne/></Occurrence>
            <DFType><MIME>image/png</MIME><MIME>image/gif</MIME></DFType>
          </DFProperties>
        </Node>
      </Node>
    </Node>
    <Node>
      <NodeName>Ext</NodeName>
      <DFProperties>
        <AccessType><Add/><Get/></AccessType>
        <DFFormat><node/></DFFormat>
        <Occurrence><ZeroOrOne/></Occurrence>
        <DFType><DDFName/></DFType>
      </DFProperties>
    </Node>
  </Node>
</MgmtTree>`;

/** A little in-memory tree for the checks that need one. */
function view(nodes: Record<string, { type?: string; children?: string[] }>): TreeView {
  const key = (path: readonly string[]) => (path.length === 0 ? '.' : `./${path.join('/')}`);
  return {
    childNames: (path) => nodes[key(path)]?.children ?? [],
    typeOf: (path) => nodes[key(path)]?.type,
  };
}

describe('DDF reader', () => {
  test('reads every DFProperties element into the model', () => {
    const ddf = parseDdf(SAMPLE);
    assert.equal(ddf.verDtd, '1.2');
    assert.equal(ddf.man, 'Acme');
    assert.equal(ddf.mod, 'Widget');
    const vendor = ddf.nodes[0]!;
    assert.equal(vendor.name, 'Vendor');
    assert.equal(vendor.path, '.');
    assert.deepEqual(vendor.df.type, { ddfName: 'com.acme/1.0/Vendor' });
    const volume = vendor.children[0]!;
    assert.deepEqual(volume.df, {
      accessType: ['Get', 'Replace'],
      defaultValue: '5',
      description: 'Speaker volume 0..10',
      format: 'int',
      occurrence: { kind: 'One' },
      scope: 'Permanent',
      title: 'Volume',
      type: { mime: ['text/plain'] },
    });
    const slot = vendor.children[1]!.children[0]!;
    assert.equal(slot.name, '');
    assert.deepEqual(slot.df.occurrence, { kind: 'ZeroOrN', n: 2 });
    assert.deepEqual(slot.children[1]!.df.type, { mime: ['image/png', 'image/gif'] });
  });

  test('is liberal: no namespace check, format case, unknown elements, formats as text', () => {
    const ddf = parseDdf(`<MgmtTree xmlns="syncml:dmddf1.2"><VerDTD>1.2</VerDTD><Foo/>
      <Node><NodeName>A</NodeName><DFProperties><AccessType><Get/></AccessType><DFFormat><Chr/></DFFormat>
      <DFType><MIME>text/plain</MIME></DFType><Bogus>1</Bogus></DFProperties></Node>
      <Node><NodeName>B</NodeName><DFProperties><AccessType/><DFFormat>int</DFFormat></DFProperties></Node></MgmtTree>`);
    assert.equal(ddf.nodes[0]!.df.format, 'chr');
    assert.equal(ddf.nodes[1]!.df.format, 'int');
    assert.deepEqual(ddf.nodes[1]!.df.type, { mime: [] });
  });

  const bad: [string, string, string][] = [
    ['root', '<Foo/>', 'ddf.not-mgmttree'],
    ['no NodeName', '<MgmtTree><Node><DFProperties/></Node></MgmtTree>', 'ddf.missing-element'],
    ['no DFProperties', '<MgmtTree><Node><NodeName>A</NodeName></Node></MgmtTree>', 'ddf.missing-element'],
    [
      'unknown format',
      '<MgmtTree><Node><NodeName>A</NodeName><DFProperties><AccessType/><DFFormat><text/></DFFormat></DFProperties></Node></MgmtTree>',
      'ddf.bad-value',
    ],
    [
      'bad ZeroOrN',
      '<MgmtTree><Node><NodeName>A</NodeName><DFProperties><AccessType/><DFFormat><chr/></DFFormat><Occurrence><ZeroOrN>99999999</ZeroOrN></Occurrence></DFProperties></Node></MgmtTree>',
      'ddf.bad-value',
    ],
    [
      'unknown access type',
      '<MgmtTree><Node><NodeName>A</NodeName><DFProperties><AccessType><Peek/></AccessType><DFFormat><chr/></DFFormat></DFProperties></Node></MgmtTree>',
      'ddf.bad-value',
    ],
    ['not XML', '<MgmtTree><Node>', 'ddf.malformed'],
    ['entity', '<!DOCTYPE x [<!ENTITY a "b">]><MgmtTree/>', 'ddf.malformed'],
  ];
  for (const [what, xml, code] of bad) {
    test(`rejects ${what} with ${code}`, () => {
      assert.throws(
        () => parseDdf(xml),
        (err: unknown) => err instanceof MgmtTreeError && err.code === code,
      );
    });
  }

  test('limits nesting depth and node count', () => {
    let deep = '';
    for (let i = 0; i < 40; i++) {
      deep +=
        '<Node><NodeName>n</NodeName><DFProperties><AccessType/><DFFormat><node/></DFFormat></DFProperties>';
    }
    deep += '</Node>'.repeat(40);
    assert.throws(
      () => parseDdf(`<MgmtTree>${deep}</MgmtTree>`, { maxDepth: 32 }),
      (err: unknown) => err instanceof MgmtTreeError && err.code === 'ddf.too-large' && err.status === 413,
    );
    assert.throws(
      () => parseDdf(`<MgmtTree>${deep}</MgmtTree>`, { maxNodes: 10 }),
      (err: unknown) => err instanceof MgmtTreeError && err.code === 'ddf.too-large',
    );
  });
});

// fast-check: any DDF model survives serialize → parse unchanged.
const name = fc.stringMatching(/^[A-Za-z][A-Za-z0-9_-]{0,11}$/);
const text = fc.string({ maxLength: 20 }).map((s) => s.replace(/[^\x20-\x7e]/g, 'x').trim());
const occurrence: fc.Arbitrary<Occurrence> = fc.oneof(
  fc.constantFrom<Occurrence>(
    { kind: 'One' },
    { kind: 'ZeroOrOne' },
    { kind: 'ZeroOrMore' },
    { kind: 'OneOrMore' },
  ),
  fc.record({
    kind: fc.constantFrom('ZeroOrN' as const, 'OneOrN' as const),
    n: fc.integer({ min: 2, max: 65536 }),
  }),
);
function dfArb(interior: boolean): fc.Arbitrary<DfProperties> {
  return fc.record(
    {
      accessType: fc.subarray([...AccessTypes]),
      defaultValue: text,
      description: text,
      format: interior
        ? fc.constant('node' as const)
        : fc.constantFrom(...NodeFormats.filter((f) => f !== 'node')),
      occurrence,
      scope: fc.constantFrom('Permanent' as const, 'Dynamic' as const),
      title: text,
      type: interior
        ? fc.record({ ddfName: fc.constantFrom('', 'urn:oma:mo:oma-fumo:1.0', 'com.acme/1.0/X') })
        : fc.record({
            mime: fc.array(fc.constantFrom('text/plain', 'image/png', 'application/xml'), { maxLength: 2 }),
          }),
      caseSense: fc.constantFrom('CS' as const, 'CIS' as const),
    },
    { requiredKeys: ['accessType', 'format', 'type'] },
  );
}
const nodeArb: fc.Memo<DdfNode> = fc.memo((depth) =>
  depth <= 1
    ? fc.record({
        name: fc.oneof(name, fc.constant('')),
        df: dfArb(false),
        children: fc.constant<DdfNode[]>([]),
      })
    : fc.oneof(
        fc.record({
          name: fc.oneof(name, fc.constant('')),
          df: dfArb(false),
          children: fc.constant<DdfNode[]>([]),
        }),
        fc.record({ name, df: dfArb(true), children: fc.array(nodeArb(depth - 1), { maxLength: 3 }) }),
      ),
);
const ddfArb: fc.Arbitrary<Ddf> = fc.record(
  {
    verDtd: fc.constant('1.2'),
    man: name,
    mod: name,
    nodes: fc.array(
      fc.record(
        {
          name,
          path: fc.constantFrom('.', './Vendor/Acme'),
          df: dfArb(true),
          children: fc.array(nodeArb(3), { maxLength: 3 }),
        },
        { requiredKeys: ['name', 'df', 'children'] },
      ),
      { minLength: 1, maxLength: 2 },
    ),
  },
  { requiredKeys: ['verDtd', 'nodes'] },
);

describe('DDF writer', () => {
  test('the sample round-trips through serialize → parse', () => {
    const ddf = parseDdf(SAMPLE);
    const xml = serializeDdf(ddf);
    assert.match(
      xml,
      /^<\?xml version="1.0" encoding="UTF-8"\?>\n<!DOCTYPE MgmtTree PUBLIC "-\/\/OMA\/\/DTD-DM-DDF 1.2\/\/EN"/,
    );
    assert.deepEqual(parseDdf(xml), ddf);
  });

  test('any DDF model round-trips (fast-check)', () => {
    fc.assert(
      fc.property(ddfArb, fc.boolean(), fc.constantFrom('', 'syncml:dmddf1.2'), (ddf, pretty, ns) => {
        assert.deepEqual(parseDdf(serializeDdf(ddf, { pretty, ns })), structuredClone(ddf));
      }),
      { numRuns: 300 },
    );
  });

  test('output is accepted by libwbxml-era tools as DTD order (DFProperties children in DTD sequence)', () => {
    const xml = serializeDdf(parseDdf(SAMPLE), { pretty: false, doctype: false });
    const order = [
      'AccessType',
      'DefaultValue',
      'Description',
      'DFFormat',
      'Occurrence',
      'Scope',
      'DFTitle',
      'DFType',
    ];
    const dfp = /<DFProperties>(.*?)<\/DFProperties>/.exec(xml.slice(xml.indexOf('<NodeName>Volume')))![1]!;
    const seen = [...dfp.matchAll(/<(\w+)>/g)].map((m) => m[1]!).filter((n) => order.includes(n));
    assert.deepEqual(seen, order);
  });
});

describe('DDF schema', () => {
  const schema = new DdfSchema([parseDdf(SAMPLE)]);
  const tree = view({
    './Vendor': { type: 'com.acme/1.0/Vendor', children: ['Volume', 'Profiles'] },
    './Vendor/Profiles': { children: ['home', 'work'] },
    './Vendor/Profiles/home': { children: [] },
  });

  test('skeleton: permanent and required named nodes, parents first, defaults as values', () => {
    const skel = schema.skeleton();
    assert.deepEqual(
      skel.map((n) => [n.uri, n.format, n.value, n.permanent]),
      [
        ['./Vendor', 'node', undefined, true],
        ['./Vendor/Volume', 'int', '5', true],
        ['./Vendor/Profiles', 'node', undefined, true],
      ],
    );
    assert.equal(skel[0]!.type, 'com.acme/1.0/Vendor');
    assert.equal(skel[1]!.title, 'Volume');
  });

  test('instance skeleton: required children of a new placeholder instance', () => {
    assert.deepEqual(
      schema.instanceSkeleton('./Vendor/Profiles/home', tree).map((n) => [n.uri, n.format, n.value]),
      [['./Vendor/Profiles/home/Enabled', 'bool', 'false']],
    );
  });

  test('match: described, free below an open node or outside, forbidden names', () => {
    const m = schema.match('./Vendor/Profiles/work/Enabled');
    assert.equal(m.kind, 'described');
    assert.equal(m.kind === 'described' && m.node.pattern, './Vendor/Profiles/<x>/Enabled');
    assert.equal(schema.match('./Vendor/Ext/anything/deep').kind, 'free');
    assert.equal(schema.match('./Elsewhere/x').kind, 'free');
    assert.equal(schema.match('./Vendor/Nope').kind, 'forbidden');
  });

  test('Add: format, value, type and access checks give DM statuses', () => {
    const add = (uri: string, w: { format?: string; type?: string; value?: string }) => {
      const v = schema.checkAdd(uri, w, tree);
      return v.ok ? 200 : v.status;
    };
    assert.equal(add('./Vendor/Profiles/home/Enabled', { format: 'bool', value: 'TRUE' }), 200);
    assert.equal(
      add('./Vendor/Profiles/home/Enabled', { value: 'true' }),
      200,
      'no Meta Format: the DDF format',
    );
    assert.equal(
      add('./Vendor/Profiles/home/Enabled', { format: 'chr', value: 'true' }),
      200,
      'chr with a valid bool',
    );
    assert.equal(add('./Vendor/Profiles/home/Enabled', { format: 'chr', value: 'yes' }), 415);
    assert.equal(add('./Vendor/Profiles/home/Enabled', { format: 'int', value: '1' }), 415);
    assert.equal(add('./Vendor/Profiles/home/Enabled', { format: 'node' }), 415);
    assert.equal(
      add('./Vendor/Profiles/home/Logo', { format: 'b64', type: 'image/png', value: 'iVBORw==' }),
      200,
    );
    assert.equal(add('./Vendor/Profiles/home/Logo', { format: 'bin', type: 'image/jpeg', value: 'x' }), 415);
    assert.equal(add('./Vendor/Profiles/home/Colour', { value: 'red' }), 405, 'not in the DDF');
    assert.equal(add('./Vendor/Volume', { format: 'int', value: '3' }), 405, 'no Add in AccessType');
    assert.equal(add('./Vendor/Profiles/third', { format: 'node' }), 420, 'ZeroOrN 2 reached');
    assert.equal(add('./Vendor/Ext/Foo/Bar', { format: 'chr', value: 'any' }), 200, 'open node');
  });

  test('Add returns what to store: DDF format and type when the command sent none, normalized values', () => {
    const v = schema.checkAdd('./Vendor/Profiles/home/Enabled', { format: 'chr', value: ' TRUE ' }, tree);
    assert.ok(v.ok);
    assert.equal(v.format, 'bool');
    assert.equal(v.type, 'text/plain');
    assert.equal(v.value, 'true');
  });

  test('Replace: permanent nodes keep their Format; values are checked', () => {
    const rep = (uri: string, w: { format?: string; value?: string }) => {
      const v = schema.checkReplace(uri, w, tree);
      return v.ok ? 200 : v.status;
    };
    assert.equal(rep('./Vendor/Volume', { format: 'int', value: '7' }), 200);
    assert.equal(rep('./Vendor/Volume', { value: 'loud' }), 415);
    assert.equal(rep('./Vendor/Volume', { format: 'float', value: '7.5' }), 405, 'permanent node Format');
    assert.equal(rep('./Vendor', { format: 'node' }), 405, 'no Replace in AccessType');
  });

  test('Get/Delete/Exec follow AccessType; permanent nodes cannot be deleted', () => {
    assert.deepEqual(schema.checkCommand('./Vendor/Volume', 'Get'), { ok: true });
    assert.equal(schema.checkCommand('./Vendor/Volume', 'Delete').ok, false);
    assert.equal(schema.checkCommand('./Vendor/Profiles/home', 'Delete').ok, true);
    assert.equal(schema.checkCommand('./Vendor/Profiles/home', 'Exec').ok, false);
  });

  test('rename: only placeholder instances, never onto a fixed name', () => {
    assert.equal(schema.checkRename('./Vendor/Profiles/home', 'office', tree).ok, true);
    assert.equal(schema.checkRename('./Vendor/Volume', 'Vol', tree).ok, false);
  });

  test('a floating MO (empty NodeName, DDFName) applies under any node typed with its identifier', () => {
    const mo =
      parseDdf(`<MgmtTree><VerDTD>1.2</VerDTD><Node><NodeName/><DFProperties><AccessType><Add/><Get/></AccessType>
      <DFFormat><node/></DFFormat><DFType><DDFName>urn:oma:mo:test:1.0</DDFName></DFType></DFProperties>
      <Node><NodeName>Level</NodeName><DFProperties><AccessType><Get/><Replace/></AccessType><DFFormat><int/></DFFormat>
      <DFType><MIME>text/plain</MIME></DFType></DFProperties></Node></Node></MgmtTree>`);
    const s = new DdfSchema([parseDdf(SAMPLE), mo]);
    assert.deepEqual(s.moIds(), ['urn:oma:mo:test:1.0']);
    const t = view({
      './Vendor/Ext/T': { type: 'urn:oma:mo:test:1.0', children: [] },
      './Apps/T2': { type: 'urn:oma:mo:test:1.0' },
    });
    const r1 = s.checkReplace('./Apps/T2/Level', { value: 'high' }, t);
    assert.equal(r1.ok ? 200 : r1.status, 415);
    const r2 = s.checkReplace('./Apps/T2/Level', { value: '3' }, t);
    assert.equal(r2.ok, true);
    assert.equal(s.checkAdd('./Apps/T2/Other', { value: '3' }, t).ok, false);
  });

  test('a Path mount creates its undescribed ancestors as plain interior nodes; `.` describes the root', () => {
    const leaf = (n: string) =>
      `<Node><NodeName>${n}</NodeName><DFProperties><AccessType><Get/></AccessType><DFFormat><chr/></DFFormat><Scope><Permanent/></Scope><DFType><MIME>text/plain</MIME></DFType></DFProperties></Node>`;
    const s = new DdfSchema([
      parseDdf(`<MgmtTree><VerDTD>1.2</VerDTD><Node><NodeName>Acme</NodeName><Path>./Vendor/MSFT</Path><DFProperties><AccessType><Get/></AccessType>
        <DFFormat><node/></DFFormat><Scope><Permanent/></Scope><DFType><DDFName/></DFType></DFProperties>${leaf('Ver')}</Node></MgmtTree>`),
      parseDdf(`<MgmtTree><VerDTD>1.2</VerDTD><Node><NodeName>.</NodeName><DFProperties><AccessType><Get/></AccessType><DFFormat><node/></DFFormat>
        <DFType><DDFName/></DFType></DFProperties>${leaf('Top')}</Node></MgmtTree>`),
    ]);
    assert.deepEqual(
      s.skeleton().map((n) => [n.uri, n.implicit, n.permanent]),
      [
        ['./Vendor', true, false],
        ['./Vendor/MSFT', true, false],
        ['./Vendor/MSFT/Acme', false, true],
        ['./Vendor/MSFT/Acme/Ver', false, true],
        ['./Top', false, true],
      ],
    );
  });

  test('CaseSense CIS matches a name in any case', () => {
    const s = new DdfSchema([
      parseDdf(`<MgmtTree><VerDTD>1.2</VerDTD><Node><NodeName>Cfg</NodeName><DFProperties><AccessType><Get/></AccessType><DFFormat><node/></DFFormat>
        <DFType><DDFName/></DFType></DFProperties><Node><NodeName>Mode</NodeName><DFProperties><AccessType><Get/><Replace/></AccessType>
        <DFFormat><chr/></DFFormat><DFType><MIME>text/plain</MIME></DFType><CaseSense><CIS/></CaseSense></DFProperties></Node></Node></MgmtTree>`),
    ]);
    assert.equal(s.match('./Cfg/MODE').kind, 'described');
    assert.equal(s.match('./Cfg/Mode').kind, 'described');
  });

  test('random mutations of a DDF never crash the reader (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: SAMPLE.length - 1 }),
        fc.integer({ min: 0, max: 40 }),
        fc.string({ maxLength: 12 }),
        (pos, del, insert) => {
          const mutated = SAMPLE.slice(0, pos) + insert + SAMPLE.slice(pos + del);
          try {
            new DdfSchema([parseDdf(mutated)]).skeleton();
          } catch (err) {
            assert.ok(err instanceof MgmtTreeError, String(err));
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
