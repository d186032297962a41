/**
 * The XML reader scans code units from a typed array: the input bytes themselves when they are
 * ASCII, a copied Uint16Array otherwise (string input or non-ASCII UTF-8, ISO-8859-1). These tests
 * pin that every input form gives the same tree and the same error (code and UTF-8 byte offset),
 * and cover the attribute fast path (plain values sliced, others through reference/whitespace
 * handling) and the shared scopes of sibling default-namespace declarations.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  DecodeError,
  type Element,
  parseXmlElement,
  writeXmlElement,
} from '../../src/representation/index.ts';

type Outcome = { tree: Element } | { code: string; offset: number | undefined };

function outcome(input: string | Uint8Array): Outcome {
  try {
    return { tree: parseXmlElement(input) };
  } catch (e) {
    assert.ok(e instanceof DecodeError, `expected DecodeError, got ${String(e)}`);
    return { code: e.code, offset: e.offset };
  }
}

/** The same document as a string, as a plain Uint8Array, as a Buffer and as a Buffer slice. */
function forms(doc: string): (string | Uint8Array)[] {
  const bytes = Buffer.from(doc, 'utf8');
  const padded = Buffer.concat([Buffer.from('xx'), bytes, Buffer.from('yy')]);
  return [doc, new Uint8Array(bytes), bytes, padded.subarray(2, 2 + bytes.length)];
}

function sameEverywhere(doc: string): Outcome {
  const [first, ...rest] = forms(doc).map(outcome);
  for (const o of rest) assert.deepEqual(o, first, doc);
  return first!;
}

describe('XML reader: input forms', () => {
  test('ASCII and non-ASCII documents give the same tree from a string, bytes or a Buffer', () => {
    for (const doc of [
      '<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><MsgID>1</MsgID></SyncHdr></SyncML>',
      '<a>Grüße €</a>',
      '<a b="ü"><c>x &amp; 😀</c></a>',
      '<a>\r\n  <b>é</b>\r\n</a>',
      '<ü:a xmlns:ü="u"><ü:b/></ü:a>',
    ]) {
      const o = sameEverywhere(doc);
      assert.ok('tree' in o, doc);
    }
  });

  test('errors after non-ASCII text have the same code and UTF-8 byte offset in every form', () => {
    const cases: [string, string, number][] = [
      ['<a>€€</b>', 'xml.malformed', 3 + 6],
      ['<a>ü<b x="1" x="2"/></a>', 'xml.attributes', 3 + 2 + 9],
      ['<a>😀&bogus;</a>', 'xml.entity', 3 + 4],
      ['<a>é</a>junk', 'xml.malformed', 9],
      ['<a>é<b></a>', 'xml.malformed', 3 + 2 + 3],
    ];
    for (const [doc, code, offset] of cases) {
      assert.deepEqual(sameEverywhere(doc), { code, offset }, doc);
    }
  });

  test('ISO-8859-1 bytes (copied code units) parse like the equivalent UTF-8', () => {
    const latin1 = Buffer.from(
      '<?xml version="1.0" encoding="ISO-8859-1"?><a x="\u00e9">\u00fc<b/></a>',
      'latin1',
    );
    assert.deepEqual(parseXmlElement(latin1), parseXmlElement('<a x="é">ü<b/></a>'));
  });

  test('generated trees: string, bytes and Buffer input give the same tree', () => {
    const name = fc.constantFrom('a', 'Item', 'LocURI', 'Data', 'é', 'x-y');
    const txt = fc.string({ unit: fc.constantFrom('a', ' ', '\n', '&', '<', 'é', '€', '😀', ']]>', '"') });
    const tree: fc.Arbitrary<Element> = fc.letrec<{ node: Element }>((tie) => ({
      node: fc.record({
        name,
        ns: fc.constantFrom('', 'syncml:metinf', 'SYNCML:SYNCML1.2'),
        children: fc.array(fc.oneof({ depthSize: 'small' }, txt, tie('node')), { maxLength: 4 }),
      }),
    })).node;
    fc.assert(
      fc.property(tree, fc.boolean(), (e, pretty) => {
        const doc = writeXmlElement(e, { pretty });
        const o = sameEverywhere(doc);
        assert.ok('tree' in o);
      }),
      { numRuns: 300, seed: 20261122 },
    );
  });
});

describe('XML reader: attributes and namespace scopes', () => {
  test('plain and non-plain attribute values', () => {
    const e = parseXmlElement('<a p="plain" q="x &amp; y" r="tab\there" s="l1\r\nl2" t=\'"\' u=""/>');
    assert.deepEqual(e.attrs, { p: 'plain', q: 'x & y', r: 'tab here', s: 'l1 l2', t: '"', u: '' });
    const lt = (() => {
      try {
        parseXmlElement('<a b="x<y"/>');
      } catch (err) {
        return err as DecodeError;
      }
      assert.fail('expected an error');
    })();
    assert.equal(lt.code, 'xml.malformed');
    assert.equal(lt.offset, 7);
  });

  test('sibling default-namespace declarations: equal ones share, different ones do not leak', () => {
    const e = parseXmlElement(
      '<Meta xmlns="S"><Format xmlns="M">b64</Format><Type xmlns="M">t</Type>' +
        '<Size xmlns="N">1</Size><Mark>m</Mark><Next xmlns="M"><In/></Next></Meta>',
    );
    const kids = e.children as Element[];
    assert.deepEqual(
      kids.map((k) => [k.name, k.ns]),
      [
        ['Format', 'M'],
        ['Type', 'M'],
        ['Size', 'N'],
        ['Mark', 'S'],
        ['Next', 'M'],
      ],
    );
    assert.equal((kids[4]!.children[0] as Element).ns, 'M');
  });

  test('prefix declarations inside a shared default scope still resolve, and do not outlive their element', () => {
    const e = parseXmlElement(
      '<r xmlns="S"><a xmlns="M"><p:x xmlns:p="P"><p:y/></p:x></a><b xmlns="M"><c/></b></r>',
    );
    const [a, b] = e.children as Element[];
    const x = a!.children[0] as Element;
    assert.deepEqual([x.name, x.ns, (x.children[0] as Element).ns], ['x', 'P', 'P']);
    assert.equal((b!.children[0] as Element).ns, 'M');
    try {
      parseXmlElement('<r xmlns="S"><a xmlns="M"><p:x xmlns:p="P"/></a><b xmlns="M"><p:z/></b></r>');
      assert.fail('expected xml.namespace');
    } catch (err) {
      assert.ok(err instanceof DecodeError);
      assert.equal(err.code, 'xml.namespace');
    }
  });

  test('a namespace declared in one document does not carry over to the next', () => {
    parseXmlElement('<a xmlns="first"><b xmlns="second"/></a>');
    assert.deepEqual(parseXmlElement('<a><b/></a>'), {
      name: 'a',
      ns: '',
      children: [{ name: 'b', ns: '', children: [] }],
    });
  });
});
