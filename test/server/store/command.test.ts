/** Command JSON validation: hostile input gives typed errors only; normalization is idempotent. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  correlatorsOf,
  type DmCommand,
  isDestructive,
  isStoreError,
  isSuccessStatus,
  parseCommand,
  StoreErrorCode,
} from '../../../src/server/store/index.ts';

const uri = fc.stringMatching(/^\.\/[A-Za-z0-9_./-]{1,40}$/);
const leaf = fc.oneof(
  fc.record({ kind: fc.constant('Get'), target: uri }),
  fc.record({ kind: fc.constant('Add'), target: uri, data: fc.option(fc.string(), { nil: undefined }) }),
  fc.record({
    kind: fc.constant('Replace'),
    target: uri,
    data: fc.string(),
    format: fc.constantFrom('chr', 'int'),
  }),
  // b64 values must be base64 (they carry bytes).
  fc.record({
    kind: fc.constant('Replace'),
    target: uri,
    data: fc.base64String(),
    format: fc.constant('b64'),
  }),
  fc.record({ kind: fc.constant('Delete'), target: uri }),
  fc.record({ kind: fc.constant('Copy'), source: uri, target: uri }),
  fc.record({ kind: fc.constant('Exec'), target: uri }),
);
const anyCommand = fc.oneof(
  leaf,
  fc.record({ kind: fc.constant('Atomic'), commands: fc.array(leaf, { minLength: 1, maxLength: 5 }) }),
  fc.record({ kind: fc.constant('Sequence'), commands: fc.array(leaf, { minLength: 1, maxLength: 5 }) }),
);

test('arbitrary JSON never crashes the parser: a command or an INVALID_INPUT StoreError', () => {
  fc.assert(
    fc.property(fc.oneof(fc.jsonValue(), anyCommand), (input) => {
      try {
        parseCommand(input);
      } catch (e) {
        assert.ok(isStoreError(e, StoreErrorCode.InvalidInput), String(e));
      }
    }),
    { numRuns: 2000 },
  );
});

test('a value XML 1.0 cannot carry, or a b64/bin value that is not base64, is refused on entry', () => {
  const refused = (data: string, format?: string) =>
    assert.throws(
      () => parseCommand({ kind: 'Replace', target: './A', data, ...(format ? { format } : {}) }),
      (e: unknown) => isStoreError(e, StoreErrorCode.InvalidInput),
      JSON.stringify({ data, format }),
    );
  fc.assert(
    fc.property(
      fc.string(),
      fc.constantFrom(0x00, 0x01, 0x08, 0x0b, 0x0c, 0x1f, 0xfffe, 0xffff, 0xd800, 0xdfff),
      fc.string(),
      fc.constantFrom(undefined, 'chr', 'int', 'xml', 'bool'),
      (a, bad, b, format) => refused(a + String.fromCharCode(bad) + b, format),
    ),
  );
  // Meta Type, Format and an Exec's Correlator go out as text too.
  for (const bad of [
    { kind: 'Replace', target: './A', data: 'x', type: 'text/plain\u0000' },
    { kind: 'Replace', target: './A', data: 'x', format: 'chr\u0001' },
    { kind: 'Exec', target: './A', correlator: 'c\u0008' },
    { kind: 'Get', target: './A\uffff' },
  ]) {
    assert.throws(
      () => parseCommand(bad),
      (e: unknown) => isStoreError(e, StoreErrorCode.InvalidInput),
      JSON.stringify(bad),
    );
  }
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1 }), fc.constantFrom('b64', 'bin'), (bytes, format) => {
      const b64 = Buffer.from(bytes).toString('base64');
      parseCommand({ kind: 'Replace', target: './A', data: b64, format });
      refused(`${b64}!`, format);
      refused(b64.replace(/=+$/, '').slice(0, -1) || '#', format);
    }),
  );
});

test('normalizing is idempotent, and only Gets are non-destructive', () => {
  fc.assert(
    fc.property(anyCommand, (input) => {
      let c: DmCommand;
      try {
        c = parseCommand(input);
      } catch (e) {
        // Only the structure rules of §3.8 may refuse a generated command.
        assert.ok(isStoreError(e, StoreErrorCode.InvalidInput));
        assert.ok(input.kind === 'Atomic');
        return;
      }
      assert.deepEqual(parseCommand(JSON.parse(JSON.stringify(c))), c);
      const hasWrite = JSON.stringify(c).match(/"kind":"(Add|Replace|Delete|Copy|Exec|Atomic)"/) !== null;
      assert.equal(isDestructive(c), hasWrite);
      const execs = (JSON.stringify(c).match(/"kind":"Exec"/g) ?? []).length;
      assert.equal(correlatorsOf(c).length, execs);
    }),
    { numRuns: 1000 },
  );
});

test('structure rules of protocol.md §3.8 and size limits', () => {
  const refuse = (input: unknown) =>
    assert.throws(
      () => parseCommand(input),
      (e) => isStoreError(e, StoreErrorCode.InvalidInput),
    );
  refuse({ kind: 'Atomic', commands: [{ kind: 'Atomic', commands: [{ kind: 'Delete', target: './a' }] }] });
  refuse({
    kind: 'Sequence',
    commands: [{ kind: 'Sequence', commands: [{ kind: 'Delete', target: './a' }] }],
  });
  refuse({ kind: 'Get', target: `./${'a'.repeat(3000)}` });
  refuse({ kind: 'Get', target: './a\u0000b' });
  refuse({ kind: 'Replace', target: './a', data: 'x'.repeat(1024 * 1024 + 1) });
  refuse({ kind: 'Sequence', commands: Array.from({ length: 257 }, () => ({ kind: 'Get', target: './a' })) });
  refuse(null);
  refuse([{ kind: 'Get', target: './a' }]);
  const ok = parseCommand({
    kind: 'Sequence',
    commands: [
      { kind: 'Atomic', commands: [{ kind: 'Delete', target: './a' }] },
      { kind: 'Get', target: './b' },
    ],
  });
  assert.equal(ok.kind, 'Sequence');
});

test('success statuses: 2xx except accepted, chunk, cancelled, not executed, rolled back', () => {
  assert.deepEqual(
    [200, 201, 202, 212, 213, 214, 215, 216, 304, 404, 500, 507].filter(isSuccessStatus),
    [200, 201, 212],
  );
});
