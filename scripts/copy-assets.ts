// Copies the non-TypeScript files of src/ (DDF documents, console assets…)
// into dist/ after `tsc`, so a built package finds them next to its modules.
import { cpSync } from 'node:fs';

const src = new URL('../src/', import.meta.url);
const dist = new URL('../dist/', import.meta.url);
cpSync(src, dist, {
  recursive: true,
  filter: (from) => !from.endsWith('.ts'),
});
