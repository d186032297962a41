import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  EncodeError,
  type Element,
  parseXmlElement,
  writeXmlElement,
} from '../../src/representation/index.ts';

const el = (
  name: string,
  ns: string,
  children: Element['children'] = [],
  attrs?: Record<string, string>,
): Element => (attrs ? { name, ns, attrs, children } : { name, ns, children });

function invalid(e: Element): void {
  assert.throws(
    () => writeXmlElement(e),
    (err: unknown) => err instanceof EncodeError && err.code === 'xml.invalid',
  );
}

describe('XML writer', () => {
  test('escapes text and attributes; CR survives a round trip', () => {
    const e = el('a', '', ['<&>"\'\r\n]]>'], { q: 'x"<&\t\n' });
    const x = writeXmlElement(e);
    assert.equal(x, '<a q="x&quot;&lt;&amp;&#9;&#10;">&lt;&amp;&gt;"\'&#13;\n]]&gt;</a>');
    assert.deepEqual(parseXmlElement(x), e);
    // Literal CRs elsewhere in the document do not disturb an escaped one.
    const y = writeXmlElement(el('r', '', [el('a', '', ['x\ry']), el('b', '', [], { v: 'p\rq' })]));
    assert.deepEqual(
      parseXmlElement(`${y.slice(0, 3)}\r\n${y.slice(3)}`),
      el('r', '', [el('a', '', ['x\ry']), el('b', '', [], { v: 'p\rq' })]),
    );
    assert.deepEqual(
      parseXmlElement('<a v="1\r\n2\t3">x\r\ny\rz</a>'),
      el('a', '', ['x\ny\nz'], { v: '1 2 3' }),
    );
  });

  test('xmlns only where the namespace changes, including back to none', () => {
    const e = el('SyncML', 'S', [
      el('Meta', 'S', [el('Format', 'M', ['chr']), el('Type', 'M', ['t'])]),
      el('X', '', [el('Y', '')]),
    ]);
    const x = writeXmlElement(e);
    assert.equal(
      x,
      '<SyncML xmlns="S"><Meta><Format xmlns="M">chr</Format><Type xmlns="M">t</Type></Meta><X xmlns=""><Y/></X></SyncML>',
    );
    assert.deepEqual(parseXmlElement(x), e);
  });

  test('pretty printing indents element-only content and never touches text', () => {
    const e = el('a', '', [el('b', '', ['  x  ']), el('c', '', ['t', el('d', '')]), el('e', '')]);
    const x = writeXmlElement(e, { pretty: true, declaration: true });
    assert.equal(
      x,
      '<?xml version="1.0" encoding="UTF-8"?>\n<a>\n  <b>  x  </b>\n  <c>t<d/></c>\n  <e/>\n</a>\n',
    );
    assert.deepEqual(parseXmlElement(x), e);
  });

  test('cdata mode wraps markup-heavy text and splits ]]>', () => {
    const e = el('Data', '', ['<a>&]]></a>']);
    const x = writeXmlElement(e, { text: 'cdata' });
    assert.equal(x, '<Data><![CDATA[<a>&]]]]><![CDATA[></a>]]></Data>');
    assert.deepEqual(parseXmlElement(x), e);
  });

  test('refuses names and characters XML cannot carry', () => {
    invalid(el('1a', ''));
    invalid(el('a b', ''));
    invalid(el('a><script', ''));
    invalid(el('a', '', ['\u0000']));
    invalid(el('a', '', ['\ud800']));
    invalid(el('a', '', [], { 'x y': '1' }));
    invalid(el('a', '', [], { xmlns: 'n' }));
    invalid(el('a', '', [], { 'a:b:c': 'n' }));
    invalid(el('a', '', [], { v: '\u0007' }));
  });

  test('text checks and escaping agree on the short-value fast path and the long-value path', () => {
    // Values up to 256 characters are scanned in one loop, longer ones by the regexes: same result.
    for (const pad of ['', 'x'.repeat(300)]) {
      for (const bad of ['\u0000', '\u0008', '\u000b', '\u001f', '\ud800', 'a\udc00', '\ufffe', '\uffff']) {
        invalid(el('a', '', [`${pad}${bad}`]));
      }
      for (const [text, out] of [
        ['plain value', 'plain value'],
        ['a & b < c > d', 'a &amp; b &lt; c &gt; d'],
        ['line\r\nend\ttab', 'line&#13;\nend\ttab'],
        ['pair \ud83d\ude00 ok', 'pair \ud83d\ude00 ok'],
        ['\ufffd\ue000', '\ufffd\ue000'],
      ]) {
        assert.equal(writeXmlElement(el('a', '', [`${pad}${text}`])), `<a>${pad}${out}</a>`);
      }
    }
  });

  test('prefixed attributes keep their namespace declaration through a round trip', () => {
    const x = '<r xmlns:xsi="urn:xsi"><a xsi:type="t" xml:lang="en" b="1"/></r>';
    const e = parseXmlElement(x);
    assert.deepEqual(
      e.children[0],
      el('a', '', [], { 'xsi:type': 't', 'xml:lang': 'en', b: '1', 'xmlns:xsi': 'urn:xsi' }),
    );
    assert.deepEqual(parseXmlElement(writeXmlElement(e)), e);
    assert.throws(() => parseXmlElement('<a p:x="1"/>'), { code: 'xml.namespace' });
  });

  test('opaque bytes: UTF-8 text, else base64 (or always base64)', () => {
    const e = el('Data', '', [Buffer.from('a<b')]);
    assert.equal(writeXmlElement(e), '<Data>a&lt;b</Data>');
    assert.equal(writeXmlElement(e, { opaque: 'base64' }), '<Data>YTxi</Data>');
    assert.equal(writeXmlElement(el('Data', '', [new Uint8Array([0, 1, 2])])), '<Data>AAEC</Data>');
  });
});
