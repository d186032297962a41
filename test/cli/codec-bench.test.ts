/**
 * `omadm codec bench`, in-process: every measure runs on real vectors and reports positive
 * figures as JSON; one form of input is enough; bad input and bad options exit 2.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CODEC_MEASURES } from '../../src/cli/commands/codec-bench.ts';
import { main } from '../../src/cli/main.ts';

const pkg = (f: string) => fileURLToPath(new URL(`../../../shared/vectors/packages/${f}`, import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'omadm-codec-bench-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = process.stdout.write;
  const err = process.stderr.write;
  process.stdout.write = ((c: string | Uint8Array) => {
    stdout += String(c);
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((c: string | Uint8Array) => {
    stderr += String(c);
    return true;
  }) as typeof process.stderr.write;
  try {
    const code = await main(args);
    return { code, stdout, stderr };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
}

interface Report {
  results: { name: string; msgsPerSec: number; mbPerSec: number }[];
}

test('measures all six paths on XML and WBXML vectors, as JSON', async () => {
  const r = await run([
    'codec',
    'bench',
    pkg('pkg1.xml'),
    pkg('pkg1.wbxml'),
    pkg('tndsmsg.xml'),
    '--seconds',
    '0.02',
    '--json',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as Report;
  assert.deepEqual(
    report.results.map((x) => x.name),
    [...CODEC_MEASURES],
  );
  for (const x of report.results) assert.ok(x.msgsPerSec > 0 && x.mbPerSec > 0, x.name);
});

test('WBXML alone is enough (the XML form is made by transcoding); the table form prints every measure', async () => {
  const r = await run(['codec', 'bench', pkg('pkg2.wbxml'), '--seconds', '0.02']);
  assert.equal(r.code, 0, r.stderr);
  for (const m of CODEC_MEASURES)
    assert.match(r.stdout, new RegExp(`^${m} +[\\d,]+ msgs/s +[\\d.]+ MB/s$`, 'm'));
});

test('a file that does not decode, a missing file and a bad --seconds exit 2', async () => {
  const bad = join(tmp, 'bad.wbxml');
  writeFileSync(bad, Uint8Array.from([2, 0xa4, 1, 0x6a, 0, 0x6d]));
  const a = await run(['codec', 'bench', bad, '--seconds', '0.02']);
  assert.equal(a.code, 2);
  assert.match(a.stderr, /a message does not decode: wbxml\.truncated: /);
  assert.equal((await run(['codec', 'bench', join(tmp, 'missing.xml')])).code, 2);
  assert.equal((await run(['codec', 'bench', pkg('pkg1.xml'), '--seconds', 'x'])).code, 2);
});
