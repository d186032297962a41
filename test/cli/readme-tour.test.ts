/**
 * The README, run as a newcomer runs it: on a fresh clone of this checkout (with what is on disk
 * now: modified and new files are copied over), `./omadm start` in one process, then every
 * command of the README's Tour, parsed out of the README (so the two cannot drift), exactly as
 * written, in order, in one shell. A command that fails fails the test, naming it. Afterwards the
 * clone has no change to a tracked file. The clone reuses this checkout's .tools and node_modules
 * (symlinks) so the test does not download anything.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  appendFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';

const ROOT = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');

/** The indented code blocks of one `## ` section, as commands (`\` continuations joined). */
export function sectionCommands(markdown: string, heading: string): string[] {
  const lines = markdown.split('\n');
  const at = lines.findIndex((l) => l.trim() === `## ${heading}`);
  if (at < 0) throw new Error(`no "## ${heading}" section`);
  const out: string[] = [];
  let pending = '';
  for (const line of lines.slice(at + 1)) {
    if (line.startsWith('## ')) break;
    if (!line.startsWith('    ')) continue;
    const text = line.slice(4);
    if (text.endsWith('\\')) {
      pending += `${text.slice(0, -1).trimEnd()} `;
      continue;
    }
    out.push(`${pending}${text}`.trim());
    pending = '';
  }
  return out.filter((c) => c.length > 0);
}

/** The first code block of the README: the set-up lines. */
function setupLines(markdown: string): string[] {
  const lines = markdown.split('\n');
  const first = lines.findIndex((l) => l.startsWith('    '));
  const block: string[] = [];
  for (const l of lines.slice(first)) {
    if (!l.startsWith('    ')) break;
    block.push(
      l
        .slice(4)
        .replace(/\s+#.*$/, '')
        .trim(),
    );
  }
  return block;
}

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8' });
}

/** A clone of this checkout with the working tree's changes, sharing its toolchain and packages. */
function freshClone(): string {
  const dir = mkdtempSync(join(tmpdir(), 'omadm-tour-'));
  const clone = join(dir, 'omadm');
  git(dir, 'clone', '--quiet', '--no-hardlinks', ROOT, clone);
  const changed = [
    ...git(ROOT, 'diff', '--name-only', 'HEAD').split('\n'),
    ...git(ROOT, 'ls-files', '--others', '--exclude-standard').split('\n'),
  ].filter((f) => f && existsSync(join(ROOT, f)));
  for (const f of changed) {
    mkdirSync(dirname(join(clone, f)), { recursive: true });
    cpSync(join(ROOT, f), join(clone, f));
  }
  if (changed.length) {
    git(clone, 'add', '-A');
    git(clone, '-c', 'user.name=tour', '-c', 'user.email=tour@localhost', 'commit', '--quiet', '-m', 'wip');
  }
  symlinkSync(join(ROOT, '.tools'), join(clone, '.tools'));
  symlinkSync(join(ROOT, 'node_modules'), join(clone, 'node_modules'));
  // .gitignore ignores the directories; these two are symlinks to them.
  appendFileSync(join(clone, '.git', 'info', 'exclude'), '/.tools\n/node_modules\n');
  return clone;
}

/** Environment of a newcomer's shell: nothing of omadm's set. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('OMADM_') || k.startsWith('NODE_') || k.startsWith('npm_')) continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

test('the README keeps exactly two set-up lines: ./omadm start and ./omadm test', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  assert.deepEqual(setupLines(readme), ['./omadm start', './omadm test']);
});

test("the README's Tour runs as written on a fresh clone, beside ./omadm start", async (t) => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const commands = sectionCommands(readme, 'Tour');
  assert.ok(commands.length >= 10, `only ${commands.length} Tour commands found`);
  const clone = freshClone();
  t.after(() => rmSync(dirname(clone), { recursive: true, force: true }));
  const before = git(clone, 'status', '--porcelain');

  // `./omadm start` as the README says; only the port is left to the system (OMADM_PORT=0), as
  // another server may hold 8080 on this machine.
  const start: ChildProcess = spawn('./omadm', ['start'], {
    cwd: clone,
    env: cleanEnv({ OMADM_PORT: '0' }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((r) => start.once('close', (code) => r(code)));
  t.after(async () => {
    if (start.exitCode === null && start.signalCode === null) start.kill('SIGKILL');
    await exited;
  });
  let startErr = '';
  start.stderr?.on('data', (d: Buffer) => {
    startErr += d.toString();
  });
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: start.stdout! }).on('line', (line) => {
      if (line.startsWith('Ctrl-C stops')) resolve();
    });
    start.once('close', (code) => reject(new Error(`./omadm start exited (${code}): ${startErr}`)));
  });

  // One shell, so `export` and `ID=…` carry on; each command is announced, and the first that
  // fails stops the script with its text.
  const script = [
    'set -u',
    ...commands.map(
      (c) =>
        `printf '%s\\n' ${shellQuote(`$ ${c}`)} >&2\n${c} || { printf 'TOUR FAILED: %s\\n' ${shellQuote(c)} >&2; exit 1; }`,
    ),
  ].join('\n');
  const tour = spawn('bash', ['-c', script], {
    cwd: clone,
    env: cleanEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  tour.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  tour.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const code = await new Promise<number | null>((r) => tour.once('close', (c) => r(c)));
  assert.equal(
    code,
    0,
    `${/TOUR FAILED: .*/.exec(err)?.[0] ?? 'the Tour failed'}\n--- stderr\n${err}\n--- stdout\n${out}`,
  );
  for (const c of commands) assert.ok(err.includes(`$ ${c}`), `not run: ${c}`);
  // What the Tour promises to show.
  assert.match(out, /^command \d+ \(Get \.\/DevInfo\/Mod on phone-1\): succeeded, status 200/m);
  assert.match(out, /session \S+ with omadm completed/);
  assert.match(out, /^accepted udp 127\.0\.0\.1:4711/m);
  // No tracked file changed, no untracked file left outside the ignored data folders.
  assert.equal(git(clone, 'status', '--porcelain'), before);

  start.kill('SIGINT');
  assert.equal(await exited, 0, startErr);
});
