import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DecodeError, type Element, parseXmlElement } from '../../src/representation/index.ts';

function rejects(
  input: string | Uint8Array,
  code: string,
  options?: Parameters<typeof parseXmlElement>[1],
): DecodeError {
  try {
    parseXmlElement(input, options);
  } catch (e) {
    assert.ok(e instanceof DecodeError, `expected DecodeError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return e;
  }
  assert.fail(`expected ${code} for ${typeof input === 'string' ? input.slice(0, 80) : 'bytes'}`);
}

const el = (name: string, ns: string, children: Element['children'] = []): Element => ({
  name,
  ns,
  children,
});

describe('XML reader: documents', () => {
  test('with and without declaration, DOCTYPE with external ids (ignored, never fetched)', () => {
    const expected = el('SyncML', 'SYNCML:SYNCML1.2', [el('SyncHdr', 'SYNCML:SYNCML1.2')]);
    for (const prolog of [
      '',
      '<?xml version="1.0"?>',
      '<?xml version="1.0" encoding="UTF-8"?>\n',
      '<?xml version="1.0"?>\n<!DOCTYPE SyncML PUBLIC "-//SYNCML//DTD SyncML 1.2//EN" "http://www.openmobilealliance.org/tech/DTD/OMA-TS-SyncML_RepPro_DTD-V1_2.dtd">\n',
      '<!DOCTYPE SyncML SYSTEM "file:///etc/passwd">',
      '<!-- c --><?pi x?>\n\t',
    ]) {
      assert.deepEqual(
        parseXmlElement(`${prolog}<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr/></SyncML>`),
        expected,
        prolog,
      );
    }
  });

  test('UTF-8 bytes with and without BOM, multi-byte text, ISO-8859-1 by declaration', () => {
    const text = '<a>Grüße €</a>';
    assert.deepEqual(parseXmlElement(Buffer.from(text)), el('a', '', ['Grüße €']));
    assert.deepEqual(
      parseXmlElement(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)])),
      el('a', '', ['Grüße €']),
    );
    assert.deepEqual(parseXmlElement(`\ufeff${text}`), el('a', '', ['Grüße €']));
    const latin1 = Buffer.from('<?xml version="1.0" encoding="ISO-8859-1"?><a>Gr\u00fc\u00dfe</a>', 'latin1');
    assert.deepEqual(parseXmlElement(latin1), el('a', '', ['Grüße']));
  });

  test('the transport charset takes precedence over the declaration; a BOM over both', () => {
    const latin1 = Buffer.from('<a>Gr\u00fc\u00dfe</a>', 'latin1');
    assert.deepEqual(parseXmlElement(latin1, { charset: 'ISO-8859-1' }), el('a', '', ['Grüße']));
    const declared = Buffer.from('<?xml version="1.0" encoding="UTF-8"?><a>\u00fc</a>', 'latin1');
    assert.deepEqual(parseXmlElement(declared, { charset: 'iso-8859-1' }).children, ['ü']);
    assert.equal(rejects(latin1, 'xml.encoding').offset, 5);
    const bom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('<a>ü</a>')]);
    assert.deepEqual(parseXmlElement(bom, { charset: 'iso-8859-1' }).children, ['ü']);
    rejects(Buffer.from('<a/>'), 'xml.encoding', { charset: 'shift_jis' });
  });

  test('invalid UTF-8 and unsupported encodings are xml.encoding with the byte offset', () => {
    const e = rejects(Buffer.from([0x3c, 0x61, 0x3e, 0xc3, 0x28, 0x3c, 0x2f, 0x61, 0x3e]), 'xml.encoding');
    assert.equal(e.offset, 3);
    // Overlong, surrogate, above U+10FFFF, truncated, stray byte: offset of the offending sequence.
    for (const [bytes, offset] of [
      [[0x3c, 0xe0, 0x80, 0x80], 1],
      [[0x3c, 0xc0, 0xaf], 1],
      [[0x3c, 0xed, 0xa0, 0x80], 1],
      [[0x3c, 0xf4, 0x90, 0x80, 0x80], 1],
      [[0x3c, 0xe2, 0x82], 1],
      [[0x3c, 0xf0, 0x9f, 0x98, 0x80, 0xff], 5],
    ] as const) {
      assert.equal(rejects(new Uint8Array(bytes), 'xml.encoding').offset, offset, bytes.join());
    }
    rejects(Buffer.from('<?xml version="1.0" encoding="Shift_JIS"?><a/>'), 'xml.encoding');
    rejects(Buffer.from([0xff, 0xfe, 0x3c, 0x00]), 'xml.encoding');
  });

  test('default and prefixed namespaces, inherited and redeclared', () => {
    const x = parseXmlElement(
      '<s:SyncML xmlns:s="SYNCML:SYNCML1.2" xmlns:mi="syncml:metinf"><s:Meta><mi:Format>chr</mi:Format>' +
        '<Type xmlns="syncml:metinf">text/plain</Type><s:MaxMsgSize xmlns:s="syncml:metinf">1</s:MaxMsgSize></s:Meta></s:SyncML>',
    );
    assert.deepEqual(
      x,
      el('SyncML', 'SYNCML:SYNCML1.2', [
        el('Meta', 'SYNCML:SYNCML1.2', [
          el('Format', 'syncml:metinf', ['chr']),
          el('Type', 'syncml:metinf', ['text/plain']),
          el('MaxMsgSize', 'syncml:metinf', ['1']),
        ]),
      ]),
    );
    const z = parseXmlElement(
      '<a xmlns:p="1"><b xmlns:p="2"><p:c/></b><p:d/><f xmlns="D"><p:g/><h/></f><p:i xmlns:p="3"/></a>',
    );
    assert.deepEqual(
      z,
      el('a', '', [
        el('b', '', [el('c', '2')]),
        el('d', '1'),
        el('f', 'D', [el('g', '1'), el('h', 'D')]),
        el('i', '3'),
      ]),
    );
    const y = parseXmlElement('<a xmlns="A"><b xmlns="B"><c/></b><d/><e xmlns=""/></a>');
    assert.deepEqual(y, el('a', 'A', [el('b', 'B', [el('c', 'B')]), el('d', 'A'), el('e', '')]));
  });

  test('attributes other than namespace declarations are kept; quotes, references, whitespace normalised', () => {
    const x = parseXmlElement(`<a one="1" two='t&amp;"x"' three="a\tb\nc"/>`);
    assert.deepEqual(x.attrs, { one: '1', two: 't&"x"', three: 'a b c' });
  });

  test('entities: the 5 predefined and numeric references; CDATA kept verbatim', () => {
    const x = parseXmlElement(
      '<a>&lt;&gt;&amp;&quot;&apos;&#65;&#x42;&#x1F600;<![CDATA[<b>&amp;</b>]]>!</a>',
    );
    assert.deepEqual(x.children, ['<>&"\'AB\u{1F600}<b>&amp;</b>!']);
  });

  test('comments and PIs in content are skipped; text around them joins', () => {
    assert.deepEqual(parseXmlElement('<a>x<!-- no -->y<?pi z?>z</a>').children, ['xyz']);
  });

  test('whitespace: dropped between elements, kept as a leaf value, line ends normalised', () => {
    const x = parseXmlElement('<a>\n  <b>  </b>\r\n  <c> x\r\ny </c>\n  <d></d>\n</a>');
    assert.deepEqual(x, el('a', '', [el('b', '', ['  ']), el('c', '', [' x\ny ']), el('d', '')]));
    assert.deepEqual(parseXmlElement('<a> <![CDATA[x]]> </a>').children, [' x ']);
  });

  test('bare & that starts no reference: a literal in liberal mode, an error in strict mode', () => {
    assert.deepEqual(parseXmlElement('<Data>MAXDT=15&DR=1</Data>').children, ['MAXDT=15&DR=1']);
    assert.deepEqual(parseXmlElement('<Data>a & b &#; &#x; &</Data>').children, ['a & b &#; &#x; &']);
    rejects('<Data>MAXDT=15&DR=1</Data>', 'xml.entity', { strict: true });
    rejects('<Data>a & b</Data>', 'xml.entity', { strict: true });
  });

  test('undeclared entities are refused in both modes (no expansion beyond the predefined 5)', () => {
    rejects('<a>&nbsp;</a>', 'xml.entity');
    rejects('<a>&xxe;</a>', 'xml.entity');
    rejects('<a>&#0;</a>', 'xml.entity');
    rejects('<a>&#xD800;</a>', 'xml.entity');
    rejects('<a>&#x110000;</a>', 'xml.entity');
  });
});

describe('XML reader: well-formedness errors with offsets', () => {
  test('mismatched end tag', () => {
    const e = rejects('<a><b></a>', 'xml.malformed');
    assert.equal(e.offset, 6);
    assert.match(e.message, /<\/a>.*<b>/);
  });
  test('unclosed elements', () => {
    rejects('<a><b>', 'xml.malformed');
    rejects('<a>text', 'xml.malformed');
    rejects('<a', 'xml.malformed');
    rejects('<a b="1"', 'xml.malformed');
    rejects('<a><!-- x', 'xml.malformed');
    rejects('<a><![CDATA[x', 'xml.malformed');
  });
  test('junk before or after the root', () => {
    rejects('hello<a/>', 'xml.malformed');
    rejects('<a/><b/>', 'xml.malformed');
    const e = rejects('<a/>junk', 'xml.malformed');
    assert.equal(e.offset, 4);
    rejects('', 'xml.malformed');
    rejects('   ', 'xml.malformed');
  });
  test('bad names and attributes', () => {
    rejects('<1a/>', 'xml.malformed');
    rejects('<a:b:c/>', 'xml.malformed');
    rejects('<-a/>', 'xml.malformed');
    rejects('<a b/>', 'xml.malformed');
    rejects('<a b=1/>', 'xml.malformed');
    rejects('<a b="1"c="2"/>', 'xml.malformed');
    rejects('<a b="<"/>', 'xml.malformed');
    rejects('<a b="1" b="2"/>', 'xml.attributes');
    rejects('<a xmlns="x" xmlns="y"/>', 'xml.attributes');
  });
  test('undeclared prefixes are xml.namespace', () => {
    rejects('<p:a/>', 'xml.namespace');
    rejects('<a xmlns:p=""/>', 'xml.namespace');
  });
  test('a second XML declaration or one not at the start', () => {
    rejects(' <?xml version="1.0"?><a/>', 'xml.malformed');
    rejects('<a><?xml version="1.0"?></a>', 'xml.malformed');
  });
  test('offsets count UTF-8 bytes', () => {
    const e = rejects('<a>€€</b>', 'xml.malformed');
    assert.equal(e.offset, 3 + 6);
  });
});

describe('XML reader: limits', () => {
  test('byte limit on strings and bytes', () => {
    rejects('<a>0123456789</a>', 'xml.size', { maxBytes: 10 });
    rejects(Buffer.from('<a>0123456789</a>'), 'xml.size', { maxBytes: 10 });
    // UTF-8 size counts, not UTF-16 length: 4 chars, 12 bytes.
    rejects('€€€€', 'xml.size', { maxBytes: 11 });
  });
  test('depth, element count, attribute count and text length', () => {
    rejects('<a><a><a></a></a></a>', 'xml.depth', { maxDepth: 2 });
    assert.doesNotThrow(() => parseXmlElement('<a><a></a></a>', { maxDepth: 2 }));
    rejects('<a><b/><b/><b/></a>', 'xml.elements', { maxElements: 3 });
    rejects('<a x="1" y="2" z="3"/>', 'xml.attributes', { maxAttributes: 2 });
    rejects('<a>12345</a>', 'xml.text', { maxTextLength: 4 });
    rejects('<a><![CDATA[12345]]></a>', 'xml.text', { maxTextLength: 4 });
    rejects('<a x="12345"/>', 'xml.text', { maxTextLength: 4 });
  });
});
