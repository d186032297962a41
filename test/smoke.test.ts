import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isElement } from '../src/representation/element.ts';

test('element guard tells elements from text and opaque data', () => {
  assert.equal(isElement({ name: 'Final', ns: '', children: [] }), true);
  assert.equal(isElement('text'), false);
  assert.equal(isElement(new Uint8Array(1)), false);
});
