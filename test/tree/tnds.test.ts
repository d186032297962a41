import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { Element } from '../../src/representation/element.ts';
import { decodeWbxml, encodeWbxml } from '../../src/representation/wbxml/index.ts';
import { parseXmlElement } from '../../src/representation/xml/reader.ts';
import { DdfSchema, MgmtTreeError, parseDdf } from '../../src/tree/ddf/index.ts';
import {
  parseTnds,
  parseTndsSelection,
  subtreeToTnds,
  TNDS_WBXML_TYPE,
  TNDS_XML_TYPE,
  tndsListSerializer,
  tndsToElement,
  tndsToSubtrees,
  tndsToWbxml,
  tndsToXml,
} from '../../src/tree/tnds/index.ts';
import type { SubtreeNode } from '../../src/tree/types.ts';

const vectors = new URL('../../../shared/vectors/packages/', import.meta.url);
const vector = (name: string) => new Uint8Array(readFileSync(new URL(name, vectors)));

function find(el: Element, name: string): Element | undefined {
  if (el.name === name) return el;
  for (const c of el.children) {
    if (typeof c === 'object' && !(c instanceof Uint8Array)) {
      const hit = find(c, name);
      if (hit) return hit;
    }
  }
  return undefined;
}

const EXPECTED = {
  verDtd: '1.2',
  nodes: [{ name: 'X', children: [], rt: { format: 'chr', type: { mime: ['text/plain'] } }, value: 'v' }],
};

describe('TNDS vectors', () => {
  test('tnds.xml and tnds.wbxml parse to the same tree', () => {
    assert.deepEqual(parseTnds(vector('tnds.xml')), EXPECTED);
    assert.deepEqual(parseTnds(vector('tnds.wbxml')), EXPECTED);
    assert.deepEqual(parseTnds(new TextDecoder().decode(vector('tnds.xml'))), EXPECTED);
  });

  test('tndsmsg.xml (inline in Data) and tndsmsg.wbxml (OPAQUE nested WBXML) parse to the same tree', () => {
    const xmlData = find(parseXmlElement(vector('tndsmsg.xml')), 'Data')!;
    const wbxmlData = find(decodeWbxml(vector('tndsmsg.wbxml')).root, 'Data')!;
    assert.ok(wbxmlData.children[0] instanceof Uint8Array, 'libwbxml nests the TNDS as OPAQUE');
    assert.deepEqual(parseTnds(xmlData), EXPECTED);
    assert.deepEqual(parseTnds(wbxmlData), EXPECTED);
  });

  test('TNDS inline on code page 2 (RTK style) parses too', () => {
    const msg = parseXmlElement(vector('tndsmsg.xml'));
    const inline = decodeWbxml(encodeWbxml(msg, { tnds: 'inline' })).root;
    const data = find(inline, 'Data')!;
    assert.equal((data.children[0] as Element).name, 'MgmtTree');
    assert.deepEqual(parseTnds(data), EXPECTED);
  });

  test('the writers reproduce the vectors byte for byte', () => {
    const tree = parseTnds(vector('tnds.xml'));
    assert.deepEqual(tndsToWbxml(tree), vector('tnds.wbxml'));
    const xml = new TextDecoder().decode(vector('tnds.xml'));
    assert.equal(tndsToXml(tree), xml.slice(xml.indexOf('<MgmtTree')).trim());
  });

  test("libwbxml's wbxml2xml reads our WBXML as the same tree", () => {
    const dir = mkdtempSync(join(tmpdir(), 'omadm-tnds-'));
    try {
      // Without the bin leaf: wbxml2xml copies OPAQUE bytes into its XML output unescaped.
      const tree = subtreeToTnds({ ...SAMPLE, children: SAMPLE.children!.filter((c) => c.format !== 'bin') });
      const file = join(dir, 't.wbxml');
      writeFileSync(file, tndsToWbxml(tree));
      execFileSync('wbxml2xml', ['-o', join(dir, 't.xml'), file], { stdio: 'ignore' });
      const back = parseTnds(readFileSync(join(dir, 't.xml')));
      assert.deepEqual(back, parseTnds(tndsToXml(tree)));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

const SAMPLE: SubtreeNode = {
  name: 'acme',
  format: 'node',
  type: 'urn:oma:mo:oma-dm-dmacc:1.0',
  acl: 'Get=acme-dms&Replace=acme-dms&Delete=acme-dms',
  tstamp: Date.UTC(2001, 6, 11, 16, 38, 17),
  verNo: 3,
  children: [
    { name: 'AppID', format: 'chr', type: 'text/plain', data: 'w7' },
    { name: 'Secret', format: 'chr', type: 'text/plain', data: 's3cret' },
    { name: 'Nonce', format: 'bin', type: 'application/octet-stream', data: new Uint8Array([0, 1, 2, 255]) },
    { name: 'Empty', format: 'node', children: [] },
    { name: 'Title & <more>', format: 'chr', title: 'A title', data: 'a < b & c' },
  ],
};

describe('TNDS ↔ subtree', () => {
  test('a snapshot round-trips through XML and WBXML with all properties', () => {
    const tree = subtreeToTnds(SAMPLE);
    for (const back of [parseTnds(tndsToXml(tree)), parseTnds(tndsToWbxml(tree))]) {
      const [placement] = tndsToSubtrees(back);
      assert.deepEqual(placement!.parent, []);
      assert.deepEqual(placement!.node, SAMPLE);
    }
  });

  test('TStamp is written ISO 8601 basic UTC and read liberally', () => {
    assert.equal(subtreeToTnds(SAMPLE).nodes[0]!.rt!.tstamp, '20010711T163817Z');
    const read = (ts: string) =>
      tndsToSubtrees(
        parseTnds(
          `<MgmtTree><Node><NodeName>A</NodeName><RTProperties><TStamp>${ts}</TStamp></RTProperties></Node></MgmtTree>`,
        ),
      )[0]!.node.tstamp;
    assert.equal(read('20010711T163817Z'), Date.UTC(2001, 6, 11, 16, 38, 17));
    assert.equal(read('2001-07-11T16:38:17Z'), Date.UTC(2001, 6, 11, 16, 38, 17));
    assert.equal(read('yesterday'), undefined);
  });

  test('Path places top nodes relative to the target; missing Format is inferred', () => {
    const tree = parseTnds(`<MgmtTree xmlns="syncml:dmddf1.2"><VerDTD>1.2</VerDTD>
      <Node><NodeName>A</NodeName><Path>./Sub/Dir%20X</Path><Node><NodeName>B</NodeName><Value>1</Value></Node></Node>
      <Node><RTProperties><Type><DDFName>urn:oma:mo:oma-dm-dmacc:1.0</DDFName></Type></RTProperties></Node>
      </MgmtTree>`);
    const placements = tndsToSubtrees(tree);
    assert.deepEqual(placements[0]!.parent, ['Sub', 'Dir X']);
    assert.equal(placements[0]!.node.format, 'node');
    assert.equal(placements[0]!.node.children![0]!.format, 'chr');
    assert.equal(placements[1]!.node.name, '', 'NodeName omitted: the device places it (Inbox)');
    assert.equal(placements[1]!.node.type, 'urn:oma:mo:oma-dm-dmacc:1.0');
  });

  const structural: [string, string][] = [
    ['a Path leaving the target', '<Node><NodeName>A</NodeName><Path>../x</Path></Node>'],
    [
      'a leaf with children',
      '<Node><NodeName>A</NodeName><RTProperties><Format><chr/></Format></RTProperties><Node><NodeName>B</NodeName></Node></Node>',
    ],
    [
      'duplicate siblings',
      '<Node><NodeName>A</NodeName><Node><NodeName>B</NodeName></Node><Node><NodeName>B</NodeName></Node></Node>',
    ],
    ['a name with /', '<Node><NodeName>A/B</NodeName></Node>'],
    ['a nested node without name', '<Node><NodeName>A</NodeName><Node><Value>x</Value></Node></Node>'],
    [
      'non-base64 bin',
      '<Node><NodeName>A</NodeName><RTProperties><Format><bin/></Format></RTProperties><Value>*!*</Value></Node>',
    ],
  ];
  for (const [what, nodes] of structural) {
    test(`rejects ${what}`, () => {
      assert.throws(
        () => tndsToSubtrees(parseTnds(`<MgmtTree><VerDTD>1.2</VerDTD>${nodes}</MgmtTree>`)),
        (err: unknown) => err instanceof MgmtTreeError && err.status === 400,
      );
    });
  }

  const nameArb = fc
    .stringMatching(/^[A-Za-z0-9][A-Za-z0-9 _.&<>-]{0,9}$/)
    .filter((s) => s !== '.' && s !== '..');
  const leafArb: fc.Arbitrary<SubtreeNode> = fc.oneof(
    fc.record(
      {
        name: nameArb,
        format: fc.constantFrom('chr' as const, 'int' as const, 'xml' as const, 'b64' as const),
        type: fc.constantFrom('text/plain', 'application/xml'),
        acl: fc.constantFrom('Get=*', 'Get=a+b&Replace=a'),
        title: fc
          .string({ minLength: 1, maxLength: 8 })
          .filter((s) => s.trim() === s && !/[\0-\x1f\ud800-\udfff]/.test(s)),
        data: fc
          .string({ maxLength: 20 })
          .filter((s) => !/[\0-\x08\x0b\x0c\x0e-\x1f\r\ud800-\udfff\ufffe\uffff]/.test(s)),
      },
      { requiredKeys: ['name', 'format'] },
    ),
    fc.record({
      name: nameArb,
      format: fc.constant('bin' as const),
      data: fc.uint8Array({ maxLength: 16 }),
    }),
  );
  const treeArb: fc.Memo<SubtreeNode> = fc.memo((depth) =>
    depth <= 1
      ? leafArb
      : fc.oneof(
          leafArb,
          fc.record(
            {
              name: nameArb,
              format: fc.constant('node' as const),
              type: fc.constantFrom('urn:oma:mo:oma-fumo:1.0', 'com.acme/1.0/X'),
              verNo: fc.integer({ min: 0, max: 65535 }),
              children: fc.uniqueArray(treeArb(depth - 1), { maxLength: 4, selector: (n) => n.name }),
            },
            { requiredKeys: ['name', 'format', 'children'] },
          ),
        ),
  );

  test('any subtree round-trips through XML and WBXML (fast-check)', () => {
    fc.assert(
      fc.property(treeArb(4), fc.boolean(), (node, wbxml) => {
        const tree = subtreeToTnds(node);
        const back = tndsToSubtrees(parseTnds(wbxml ? tndsToWbxml(tree) : tndsToXml(tree)));
        // A leaf without data comes back without data; the engine's snapshot has the same shape.
        assert.deepEqual(back[0]!.node, structuredClone(node));
      }),
      { numRuns: 300 },
    );
  });
});

describe('TNDS hostile input', () => {
  test('node count, depth and size limits give 413', () => {
    const many = '<Node><NodeName>n</NodeName></Node>'.repeat(200);
    assert.throws(
      () => parseTnds(`<MgmtTree>${many}</MgmtTree>`, { maxNodes: 100 }),
      (err: unknown) => err instanceof MgmtTreeError && err.status === 413,
    );
    const deep = '<Node><NodeName>n</NodeName>'.repeat(50) + '</Node>'.repeat(50);
    assert.throws(
      () => parseTnds(`<MgmtTree>${deep}</MgmtTree>`),
      (err: unknown) => err instanceof MgmtTreeError && err.status === 413,
    );
    assert.throws(
      () => parseTnds(`<MgmtTree>${'<!-- x -->'.repeat(1000)}</MgmtTree>`, { maxBytes: 1000 }),
      (err: unknown) => err instanceof MgmtTreeError && err.status === 413,
    );
  });

  test('entities, junk and truncated WBXML are typed 400 errors, never crashes', () => {
    const bad: (string | Uint8Array)[] = [
      '<!DOCTYPE MgmtTree [<!ENTITY x "y">]><MgmtTree>&x;</MgmtTree>',
      '<MgmtTree><Node>',
      '<SyncML/>',
      '',
      vector('tnds.wbxml').subarray(0, 40),
      new Uint8Array([0x02, 0x00, 0x00, 0x6a, 0x00, 0x02, 0x7f]),
    ];
    for (const input of bad) {
      assert.throws(
        () => parseTnds(input),
        (err: unknown) => err instanceof MgmtTreeError && err.status === 400,
        String(input),
      );
    }
  });

  test('random bytes never crash the parser (fast-check)', () => {
    const wbxml = vector('tnds.wbxml');
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: wbxml.length - 1 }),
        fc.integer({ min: 0, max: 255 }),
        (pos, byte) => {
          const mutated = wbxml.slice();
          mutated[pos] = byte;
          try {
            parseTnds(mutated);
          } catch (err) {
            assert.ok(err instanceof MgmtTreeError, String(err));
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('?list=TNDS', () => {
  test('selection: all, +only, -all-but; Type always; malformed → undefined', () => {
    assert.deepEqual([...parseTndsSelection('')!].sort(), [
      'ACL',
      'Format',
      'TStamp',
      'Title',
      'Type',
      'Value',
      'VerNo',
    ]);
    assert.deepEqual([...parseTndsSelection('+Value+ACL')!].sort(), ['ACL', 'Type', 'Value']);
    assert.deepEqual([...parseTndsSelection('-Format-Value')!].sort(), [
      'ACL',
      'TStamp',
      'Title',
      'Type',
      'VerNo',
    ]);
    assert.equal(parseTndsSelection('+ACL-Format'), undefined);
    assert.equal(parseTndsSelection('+Colour'), undefined);
    assert.equal(parseTndsSelection('ACL'), undefined);
    assert.equal(parseTndsSelection('+'), undefined);
  });

  test('the serializer answers one item with the TNDS, honours the selection, and 406 for a bad one', () => {
    const list = tndsListSerializer();
    const item = list(SAMPLE, './DMAcc/acme', '+ACL');
    assert.ok(typeof item === 'object');
    assert.equal(item.uri, './DMAcc/acme');
    assert.equal(item.type, TNDS_XML_TYPE);
    assert.equal(item.format, 'xml');
    const tree = parseTnds(item.data as string);
    assert.equal(tree.nodes[0]!.rt!.acl, SAMPLE.acl);
    assert.equal(tree.nodes[0]!.rt!.format, undefined);
    assert.equal(tree.nodes[0]!.children[0]!.value, undefined, 'no Value selected');
    assert.equal(list(SAMPLE, './DMAcc/acme', '+Nope'), 406);
    const wb = tndsListSerializer({ encoding: 'wbxml' })(SAMPLE, './DMAcc/acme', '');
    assert.ok(typeof wb === 'object' && wb.data instanceof Uint8Array);
    assert.equal(wb.type, TNDS_WBXML_TYPE);
    assert.deepEqual(tndsToSubtrees(parseTnds(wb.data as Uint8Array))[0]!.node, SAMPLE);
  });

  test('with the DDF, values of nodes without Get never leave the device', () => {
    const schema = new DdfSchema([
      parseDdf(`<MgmtTree><VerDTD>1.2</VerDTD><Node><NodeName>DMAcc</NodeName><Path>.</Path><DFProperties>
        <AccessType><Get/></AccessType><DFFormat><node/></DFFormat><DFType><DDFName/></DFType></DFProperties>
        <Node><NodeName/><DFProperties><AccessType><Get/></AccessType><DFFormat><node/></DFFormat><DFType><DDFName/></DFType></DFProperties>
        <Node><NodeName>Secret</NodeName><DFProperties><AccessType><Replace/></AccessType><DFFormat><chr/></DFFormat>
        <DFType><MIME>text/plain</MIME></DFType></DFProperties></Node></Node></Node></MgmtTree>`),
    ]);
    const item = tndsListSerializer({ schema })(SAMPLE, './DMAcc/acme', '');
    assert.ok(typeof item === 'object');
    const nodes = parseTnds(item.data as string).nodes[0]!.children;
    assert.equal(nodes.find((n) => n.name === 'Secret')!.value, undefined);
    assert.equal(nodes.find((n) => n.name === 'AppID')!.value, 'w7');
    assert.doesNotMatch(item.data as string, /s3cret/);
  });

  test('tndsToElement is the inline form with the DDF namespace', () => {
    const el = tndsToElement(subtreeToTnds(SAMPLE));
    assert.equal(el.name, 'MgmtTree');
    assert.equal(el.ns, 'syncml:dmddf1.2');
  });
});
