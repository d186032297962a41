/**
 * `omadm/client` must not pull in server code: every module reachable from src/client/index.ts
 * (static and dynamic imports of our own files) stays in the layers below the client.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));
const IMPORT =
  /(?:^|[\s;])(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

function reachable(entry: string): Set<string> {
  const seen = new Set<string>();
  const todo = [entry];
  while (todo.length > 0) {
    const file = todo.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(IMPORT)) {
      const spec = m[1] ?? m[2]!;
      if (!spec.startsWith('.')) continue; // packages and node: builtins
      todo.push(resolve(dirname(file), spec));
    }
  }
  return seen;
}

test('omadm/client reaches only representation, protocol, tree, mo, binding and client', () => {
  const files = [...reachable(`${SRC}client/index.ts`)].map((f) => relative(SRC, f));
  assert.ok(files.includes('client/client.ts') && files.includes('protocol/client-session.ts'));
  const layers = new Set(files.map((f) => f.split('/')[0]));
  const allowed = new Set(['client', 'protocol', 'tree', 'mo', 'binding', 'representation']);
  for (const layer of layers) assert.ok(allowed.has(layer!), `omadm/client pulls in src/${layer}/`);
  assert.ok(!files.some((f) => f.startsWith('server/')));
});
