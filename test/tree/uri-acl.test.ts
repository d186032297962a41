import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  aclGrants,
  aclWithoutServer,
  DEFAULT_URI_LIMITS,
  escapeSegment,
  formatUri,
  normalizeAcl,
  parseAcl,
  parseUri,
} from '../../src/tree/index.ts';

describe('parseUri / formatUri', () => {
  test('forms of the same node', () => {
    for (const u of ['./DMAcc/xyz', 'DMAcc/xyz', './DMAcc/xyz/'])
      assert.deepEqual(parseUri(u).path, ['DMAcc', 'xyz']);
    assert.deepEqual(parseUri('.').path, []);
    assert.deepEqual(parseUri('./').path, []);
    assert.deepEqual(parseUri('./DMAcc/xyz?prop=ACL'), { path: ['DMAcc', 'xyz'], prop: 'ACL' });
    assert.deepEqual(parseUri('./A?list=TNDS+ACL+Value').list, { name: 'TNDS', args: '+ACL+Value' });
    assert.deepEqual(parseUri('./A?list=TNDS-Format').list, { name: 'TNDS', args: '-Format' });
    assert.deepEqual(parseUri('./A?list=Struct').list, { name: 'Struct', args: '' });
    assert.equal(formatUri([]), '.');
    assert.equal(formatUri(['a b', 'c%d', 'e?f', 'ü']), './a%20b/c%25d/e%3Ff/ü');
  });

  test('errors carry their DM status', () => {
    const cases: Array<[string, number]> = [
      ['', 400],
      ['/abs', 400],
      ['./a//b', 400],
      ['./a/../b', 400],
      ['./a/%ZZ', 400],
      ['./a/%2F', 400],
      ['./a?prop=', 400],
      ['./a?x=1', 406],
    ];
    for (const [u, status] of cases) assert.throws(() => parseUri(u), { status }, u);
    const limits = { maxDepth: 2, maxSegLen: 3, maxTotLen: 8 };
    assert.throws(() => parseUri('./a/b/c', limits), { status: 414, code: 'tree.uri-too-long' });
    assert.throws(() => parseUri('./abcd', limits), { status: 414 });
    assert.throws(() => parseUri('./abc/abc', limits), { status: 414 });
    assert.deepEqual(parseUri('./ab/abc', limits).path, ['ab', 'abc']);
    assert.deepEqual(parseUri('./a/b/c/d', { maxDepth: 0, maxSegLen: 0, maxTotLen: 0 }).path, [
      'a',
      'b',
      'c',
      'd',
    ]);
  });

  test('formatUri then parseUri gives the path back (property)', () => {
    const segment = fc
      .string({ minLength: 1, maxLength: 12, unit: 'grapheme' })
      .filter((s) => !s.includes('/') && s !== '.' && s !== '..');
    fc.assert(
      fc.property(fc.array(segment, { maxLength: 6 }), (path) => {
        const limits = { ...DEFAULT_URI_LIMITS, maxTotLen: 0, maxSegLen: 0 };
        assert.deepEqual(parseUri(formatUri(path), limits).path, path);
        for (const s of path)
          assert.ok(!/[/?#%\u0000-\u0020]/.test(escapeSegment(s).replace(/%[0-9A-F]{2}/g, '')));
      }),
      { numRuns: 300, seed: 7 },
    );
  });
});

describe('ACL grammar', () => {
  test('parse, normalize and grant', () => {
    const text =
      'Add=www.sonera.fi-8765&Delete=www.sonera.fi-8765&Replace=www.sonera.fi-8765+321_ibm.com&Get=*';
    const acl = parseAcl(text);
    assert.deepEqual([...acl.keys()], ['Add', 'Delete', 'Replace', 'Get']);
    assert.equal(normalizeAcl(text), text);
    assert.equal(normalizeAcl('Get=a&Get=b+a'), 'Get=a+b');
    assert.ok(aclGrants(text, 'Replace', '321_ibm.com'));
    assert.ok(aclGrants(text, 'Get', 'anyone'));
    assert.ok(!aclGrants(text, 'Exec', 'www.sonera.fi-8765'));
    assert.ok(!aclGrants(text, 'Add', '321_ibm.com'));
    assert.equal(normalizeAcl(''), '');
    for (const bad of ['Get', 'Get=', 'Copy=*', 'Get=a b', 'Get=a++b', 'Get=a&', 'get=*', 'Get=a=b']) {
      assert.throws(() => parseAcl(bad), { code: 'tree.acl-invalid', status: 400 }, bad);
    }
  });

  test('an ACL over 64 KiB is refused with 413; long but legal ones parse quickly', () => {
    assert.throws(() => parseAcl(`Get=${'a'.repeat(65536)}`), { status: 413 });
    const ids = Array.from({ length: 4000 }, (_, i) => `s${i}`).join('+');
    assert.equal(parseAcl(`Get=${ids}+${ids}`).get('Get')?.length, 4000);
  });

  test('removing a server', () => {
    assert.equal(aclWithoutServer('Get=a+b&Replace=a', 'a', false), 'Get=b');
    assert.equal(aclWithoutServer('Add=a&Get=*&Replace=a', 'a', true), 'Add=*&Get=*&Replace=*');
    assert.equal(aclWithoutServer('', 'a', false), '');
  });
});
