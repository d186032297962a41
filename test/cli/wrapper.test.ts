/**
 * The ./omadm wrapper, run as users run it: from another directory (relative paths are the
 * caller's, read and written there), through a symlink on the PATH (banners then say `omadm`),
 * with nothing but the command's output on stdout.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { test } from 'node:test';

const ROOT = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');
const WRAPPER = join(ROOT, 'omadm');

function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('OMADM_') || k.startsWith('NODE_') || k.startsWith('npm_')) continue;
    out[k] = v;
  }
  return { ...out, ...extra };
}

function run(cmd: string, args: string[], cwd: string, extra: Record<string, string> = {}) {
  return execFileSync(cmd, args, {
    cwd,
    env: env(extra),
    encoding: 'buffer',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

test('from another directory, relative paths are read and written where the caller is', (t) => {
  const here = mkdtempSync(join(tmpdir(), 'omadm-wrapper-'));
  t.after(() => rmSync(here, { recursive: true, force: true }));
  cpSync(join(ROOT, 'examples', 'package1.xml'), join(here, 'here.xml'));
  // As the issue typed it: the checkout as a relative path from its parent's sibling.
  const self = relative(here, WRAPPER);
  const decoded = run('sh', ['-c', `${self} codec decode here.xml`], here).toString();
  assert.match(decoded, /^<SyncML xmlns="SYNCML:SYNCML1\.2">/);
  run('sh', ['-c', `${self} codec encode here.xml --to wbxml --out out.wbxml`], here);
  assert.ok(existsSync(join(here, 'out.wbxml')), 'written in the caller’s directory');
  assert.ok(!existsSync(join(ROOT, 'out.wbxml')), 'not in the checkout');
  assert.deepEqual(readFileSync(join(here, 'out.wbxml')).subarray(0, 2), Buffer.from([0x02, 0xa4]));
});

test('through a symlink on the PATH it finds its checkout, and hints say `omadm`', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'omadm-path-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  symlinkSync(WRAPPER, join(bin, 'omadm'));
  const path = `${bin}:${process.env.PATH ?? ''}`;
  const version = run('sh', ['-c', 'omadm --version'], dir, { PATH: path }).toString();
  assert.match(version, /^\d+\.\d+\.\d+\n$/);
  // Banners and hints name the command as the caller typed it (OMADM_SELF).
  const self = run('sh', ['-c', 'omadm node -e "console.log(process.env.OMADM_SELF)"'], dir, {
    PATH: path,
  }).toString();
  assert.equal(self, 'omadm\n');
  const typed = run('sh', ['-c', `${WRAPPER} node -e "console.log(process.env.OMADM_SELF)"`], dir).toString();
  assert.equal(typed, `${WRAPPER}\n`);
});

test('--help lists the wrapper commands (test, bench) and no DM gateway', () => {
  const help = run('sh', ['-c', `${WRAPPER} --help`], ROOT).toString();
  assert.match(help, /^ {2}test\s+lint, typecheck and every test$/m);
  assert.match(help, /^ {2}bench\s+the benchmarks/m);
  assert.doesNotMatch(help, /gateway/i);
});
