/**
 * OMA Download Descriptor reading (objects.md §1.5): hostile input never throws anything but
 * DdError; well-formed descriptors give back their fields, relative URLs resolved.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { DdError, looksLikeDd, parseDownloadDescriptor } from '../../src/mo/index.ts';

const BASE = 'http://fw.example.net/dd/pkg.dd';

test('any bytes: a descriptor or a DdError, never another exception', () => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 300 }), fc.uint8Array({ maxLength: 300 })), (input) => {
      try {
        parseDownloadDescriptor(input, BASE);
      } catch (err) {
        assert.ok(err instanceof DdError, String(err));
      }
    }),
    { numRuns: 500 },
  );
});

test('mutated descriptors: a descriptor or a DdError', () => {
  const good =
    '<media xmlns="http://www.openmobilealliance.org/xmlns/dd"><objectURI>a.bin</objectURI><size>12</size></media>';
  fc.assert(
    fc.property(fc.nat(good.length), fc.string({ maxLength: 8 }), (at, junk) => {
      const text = good.slice(0, at) + junk + good.slice(at);
      try {
        const dd = parseDownloadDescriptor(text, BASE);
        assert.match(dd.objectUri, /^https?:\/\//);
      } catch (err) {
        assert.ok(err instanceof DdError, String(err));
      }
    }),
    { numRuns: 500 },
  );
});

test('generated descriptors round-trip their fields', () => {
  const token = fc.stringMatching(/^[a-z0-9]{1,12}$/);
  fc.assert(
    fc.property(
      token,
      fc.option(fc.integer({ min: 0, max: 2 ** 40 }), { nil: undefined }),
      fc.option(fc.stringMatching(/^[0-9a-f]{64}$/), { nil: undefined }),
      fc.boolean(),
      (name, size, sha, prefixed) => {
        const p = prefixed ? 'dd:' : '';
        const ns = prefixed ? 'xmlns:dd' : 'xmlns';
        const xml = `<?xml version="1.0"?><${p}media ${ns}="http://www.openmobilealliance.org/xmlns/dd">
          <${p}DDVersion>1.0</${p}DDVersion><${p}name>${name}</${p}name><${p}objectURI>${name}.bin</${p}objectURI>
          ${size === undefined ? '' : `<${p}size>${size}</${p}size>`}<${p}installNotifyURI>/n/${name}</${p}installNotifyURI>
          ${sha === undefined ? '' : `<${p}sha256>${sha.toUpperCase()}</${p}sha256>`}<${p}vendorThing>x</${p}vendorThing></${p}media>`;
        const dd = parseDownloadDescriptor(xml, BASE);
        assert.equal(dd.objectUri, `http://fw.example.net/dd/${name}.bin`);
        assert.equal(dd.installNotifyUri, `http://fw.example.net/n/${name}`);
        assert.equal(dd.size, size);
        assert.equal(dd.sha256, sha);
        assert.equal(dd.name, name);
        assert.ok(looksLikeDd(undefined, new TextEncoder().encode(xml)));
      },
    ),
  );
});

test('refusals: no objectURI, a non-http objectURI, a bad size, DDVersion 2 (951), not <media>', () => {
  const kind = (xml: string) => {
    try {
      parseDownloadDescriptor(xml, BASE);
      return 'ok';
    } catch (err) {
      return (err as DdError).kind;
    }
  };
  assert.equal(kind('<media><size>1</size></media>'), 'invalid-descriptor');
  assert.equal(kind('<media><objectURI>file:///etc/passwd</objectURI></media>'), 'invalid-descriptor');
  assert.equal(kind('<media><objectURI>a</objectURI><size>-1</size></media>'), 'invalid-descriptor');
  assert.equal(kind('<media><objectURI>a</objectURI><DDVersion>2.0</DDVersion></media>'), 'invalid-version');
  assert.equal(kind('<html><objectURI>a</objectURI></html>'), 'invalid-descriptor');
  assert.equal(kind('<media><objectURI>a</objectURI><sha256>xyz</sha256></media>'), 'invalid-descriptor');
  assert.equal(looksLikeDd('application/octet-stream', new TextEncoder().encode('<media/>')), false);
  assert.equal(looksLikeDd('application/vnd.oma.dd+xml; charset=utf-8', new Uint8Array(0)), true);
});
