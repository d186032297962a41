/** wbxmlToXml (one pass, no tree) writes exactly what decodeWbxml + writeXmlElement write. */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { test } from 'node:test';
import fc from 'fast-check';
import { DecodeError, EncodeError } from '../../../src/representation/errors.ts';
import { decodeWbxml, wbxmlToXml } from '../../../src/representation/wbxml/index.ts';
import { writeXmlElement } from '../../../src/representation/xml/writer.ts';
import { VECTORS, vector } from './helpers.ts';

const files = [
  ...['pkg1', 'pkg2', 'pkg3', 'pkg4', 'tnds', 'tndsmsg'].map((n) => `packages/${n}.wbxml`),
  'real-clients/libdmclient-wbxml/req1.body',
  ...['dm11', 'dm12'].flatMap((d) =>
    readdirSync(new URL(`server-messages/${d}/`, VECTORS))
      .filter((f) => f.endsWith('.wbxml'))
      .map((f) => `server-messages/${d}/${f}`),
  ),
];

function outcome(f: () => string): string {
  try {
    return f();
  } catch (e) {
    // One pass stops at the first problem, the tree path may meet another one first.
    if (e instanceof DecodeError || e instanceof EncodeError) return 'typed error';
    throw e;
  }
}

test('every WBXML vector transcodes to the same XML as the tree path', () => {
  for (const f of files) {
    const b = vector(f);
    assert.equal(wbxmlToXml(b), writeXmlElement(decodeWbxml(b).root), f);
  }
});

test('mutated vectors: the same XML, or both paths fail with a typed error', () => {
  const seeds = files.map(vector);
  fc.assert(
    fc.property(fc.constantFrom(...seeds), fc.nat(), fc.integer({ min: 0, max: 255 }), (seed, at, v) => {
      const b = new Uint8Array(seed);
      b[at % b.length] = v;
      const direct = outcome(() => wbxmlToXml(b, { maxElements: 10_000 }));
      const tree = outcome(() => writeXmlElement(decodeWbxml(b, { maxElements: 10_000 }).root));
      assert.equal(direct, tree);
    }),
    { numRuns: 2000 },
  );
  assert.throws(() => wbxmlToXml(new Uint8Array([2, 0xa4, 1, 0x6a, 0, 0x6d])), DecodeError);
});

test('escapes, non-ASCII, CR, BOM, control characters and malformed UTF-8 come out as on the tree path', () => {
  const texts = ['a&b<c>d\re', 'héllo ✓ 𝄞', '\uFEFFbom', 'tab\tnl\n', 'x\u0001y', '\uFFFE', 'é'];
  const raw = [
    [0xc3, 0x28],
    [0xed, 0xa0, 0x80],
    [0xf4, 0x90, 0x80, 0x80],
    [0xe0, 0x80, 0x80],
    [0xf0, 0x9d],
    [0xef, 0xbb, 0xbf, 0x41],
  ];
  const docs: Uint8Array[] = [];
  for (const t of texts) {
    const b = Buffer.from(t, 'utf8');
    docs.push(Uint8Array.from([2, 0xa4, 1, 0x6a, 0, 0x4f, 3, ...b, 0, 1])); // STR_I
    docs.push(Uint8Array.from([2, 0xa4, 1, 0x6a, 0, 0x4f, 0xc3, b.length, ...b, 1])); // OPAQUE
    docs.push(Uint8Array.from([2, 0xa4, 1, 0x6a, b.length + 1, ...b, 0, 0x4f, 0x83, 0, 1])); // STR_T
  }
  for (const r of raw) {
    docs.push(Uint8Array.from([2, 0xa4, 1, 0x6a, 0, 0x4f, 3, ...r, 0, 1]));
    docs.push(Uint8Array.from([2, 0xa4, 1, 0x6a, 0, 0x4f, 0xc3, r.length, ...r, 1]));
  }
  for (const d of docs) {
    assert.equal(
      outcome(() => wbxmlToXml(d)),
      outcome(() => writeXmlElement(decodeWbxml(d).root)),
      Buffer.from(d).toString('hex'),
    );
  }
});
