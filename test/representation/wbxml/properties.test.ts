/**
 * Property tests: random element trees over the three code pages round-trip through the codec
 * (with and without string table, TNDS nested or inline); random, truncated and mutated bytes
 * never raise anything but DecodeError.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { Element } from '../../../src/representation/element.ts';
import { DecodeError } from '../../../src/representation/errors.ts';
import {
  decodeWbxml,
  encodeWbxml,
  type WbxmlEncodeOptions,
  wbxmlToXmlBytes,
} from '../../../src/representation/wbxml/index.ts';
import {
  DMDDF_TAGS,
  METINF_TAGS,
  Namespace,
  SYNCML_TAGS,
} from '../../../src/representation/wbxml/code-pages.ts';
import { normalize, vector } from './helpers.ts';

const PAGES = [
  { ns: Namespace.SyncML12, names: SYNCML_TAGS.filter((n): n is string => n !== undefined) },
  { ns: Namespace.MetInf, names: METINF_TAGS.filter((n): n is string => n !== undefined) },
  { ns: Namespace.DmDdf12, names: DMDDF_TAGS.filter((n): n is string => n !== undefined) },
];

/** A name on a page, now and then one outside the vocabulary (written as LITERAL). */
const nameOn = (page: number) =>
  fc.oneof(
    { weight: 9, arbitrary: fc.constantFrom(...PAGES[page]!.names) },
    { weight: 1, arbitrary: fc.stringMatching(/^X-[A-Za-z][A-Za-z0-9]{0,8}$/) },
  );

/** Text as the codec keeps it: no U+0000 (goes OPAQUE), not whitespace-only, no lone surrogates. */
const text = fc
  .string({ unit: 'grapheme', minLength: 1, maxLength: 40 })
  .filter((s) => !s.includes('\0') && s.trim() !== '');

const tree: fc.Memo<Element> = fc.memo((depth) =>
  fc
    .record({
      page: fc.integer({ min: 0, max: 2 }),
      kind:
        depth <= 1
          ? fc.constantFrom('empty', 'text', 'bytes')
          : fc.constantFrom('empty', 'text', 'bytes', 'elements'),
      text,
      bytes: fc.uint8Array({ minLength: 0, maxLength: 20 }),
      children: depth <= 1 ? fc.constant<Element[]>([]) : fc.array(tree(depth - 1), { maxLength: 3 }),
    })
    .chain(({ page, kind, text, bytes, children }) =>
      nameOn(page).map((name): Element => {
        const ns = PAGES[page]!.ns;
        if (kind === 'text') return { name, ns, children: [text] };
        if (kind === 'bytes') return { name, ns, children: [bytes] };
        if (kind === 'elements') return { name, ns, children };
        return { name, ns, children: [] };
      }),
    ),
);
const trees = tree(4);

/** What the round trip cannot keep: empty OPAQUE is still an OPAQUE (kept), so nothing but nesting. */
const OPTIONS: WbxmlEncodeOptions[] = [
  {},
  { stringTable: true },
  { tnds: 'inline' },
  { stringTable: true, opaqueData: 'libwbxml', version: 0x03 },
  { opaqueData: true, version: 0x01 },
];

describe('round trip', () => {
  for (const opts of OPTIONS) {
    test(`random trees survive encode → decode ${JSON.stringify(opts)}`, () => {
      fc.assert(
        fc.property(trees, (root) => {
          const decoded = decodeWbxml(encodeWbxml(root, opts)).root;
          // OPAQUE text (opaqueData) and nested TNDS documents come back as bytes: normalize()
          // reads them the way the model layer does.
          assert.deepEqual(normalize(decoded), normalize(root));
        }),
        { numRuns: 100 },
      );
    });
  }
});

function onlyDecodeErrors(bytes: Uint8Array): void {
  try {
    decodeWbxml(bytes, { maxElements: 10_000 });
  } catch (e) {
    if (!(e instanceof DecodeError)) throw e;
  }
}

describe('hostile bytes', () => {
  const seeds = ['pkg1', 'pkg2', 'tndsmsg'].map((n) => vector(`packages/${n}.wbxml`));
  seeds.push(
    vector('server-messages/dm12/testadd.wbxml'),
    vector('real-clients/libdmclient-wbxml/req1.body'),
  );

  test('every truncation of every seed is a DecodeError (or a valid shorter document)', () => {
    for (const s of seeds) for (let n = 0; n < s.length; n++) onlyDecodeErrors(s.subarray(0, n));
  });

  test('random bytes, with and without a valid header', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (body, header) => {
        onlyDecodeErrors(header ? new Uint8Array([2, 0xa4, 1, 0x6a, 0, ...body]) : body);
      }),
      { numRuns: 3000 },
    );
  });

  test('seeds with random byte mutations, insertions and deletions', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...seeds),
        fc.array(
          fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'insert', 'delete')),
          {
            minLength: 1,
            maxLength: 8,
          },
        ),
        (seed, edits) => {
          const b = [...seed];
          for (const [at, v, op] of edits) {
            const i = at % (b.length + 1);
            if (op === 'set' && i < b.length) b[i] = v;
            else if (op === 'insert') b.splice(i, 0, v);
            else b.splice(i, 1);
          }
          onlyDecodeErrors(new Uint8Array(b));
        },
      ),
      { numRuns: 3000 },
    );
  });

  test('string-table expansion bombs: bounded work and memory, a typed error', () => {
    // A 1 MiB table without NUL, then one element holding references to offsets 0, 1, 2, … (each
    // a ~1 MiB string), then the same with one offset repeated (one giant text). Unbounded, 1.5 M
    // such references (6 MB of input) would ask for terabytes.
    const T = 1 << 20;
    const refs = (offsetOf: (i: number) => number, n: number): number[] => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) {
        const o = offsetOf(i);
        out.push(0x83, 0x80 | ((o >> 14) & 0x7f), 0x80 | ((o >> 7) & 0x7f), o & 0x7f);
      }
      return out;
    };
    for (const offsetOf of [(i: number) => i % T, () => 0]) {
      const body = refs(offsetOf, 1000);
      const doc = new Uint8Array(5 + 4 + T + 1 + body.length + 1);
      doc.set([2, 0xa4, 1, 0x6a]);
      doc.set([0x80 | (T >> 14), 0x80, 0x00], 4); // mb_u_int32 of 2^20 = 0x40 0x00 0x00
      doc.fill(0x41, 7, 7 + T);
      doc.set([0x4f, ...body, 1], 7 + T);
      const input = doc.subarray(0, 7 + T + 2 + body.length);
      assert.throws(() => decodeWbxml(input), { code: 'wbxml.size' });
      assert.throws(() => wbxmlToXmlBytes(input), { code: 'wbxml.size' });
    }
  });

  test('a 100 MB OPAQUE length claim and a 10k-deep nesting are refused without allocating', () => {
    const huge = new Uint8Array([2, 0xa4, 1, 0x6a, 0, 0x4f, 0xc3, 0xaf, 0xd7, 0x84, 0x00, 1]);
    assert.throws(() => decodeWbxml(huge), { code: 'wbxml.truncated' });
    const deep = new Uint8Array(20_005).fill(0x54);
    deep.set([2, 0xa4, 1, 0x6a, 0]);
    assert.throws(() => decodeWbxml(deep), { code: 'wbxml.depth' });
  });
});
