/**
 * `./omadm bench` (npm run bench): runs every section in bench/sections/ in file-name order; each
 * section prints its own figures. Add a section (server sessions/s, simulator memory, …) by
 * adding a file there that default-exports `async (ctx: BenchContext) => void`.
 *
 * Options (after `--` for npm): --seconds S (per measure, default 2), --only NAME (substring of a
 * section file name), --json FILE (also write every section's figures as JSON).
 */
import { readdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

export interface BenchContext {
  /** Seconds per measure. */
  seconds: number;
  /** Sections put their figures here (by section name) for --json. */
  results: Record<string, unknown>;
  /** The repository root and the shared folder beside it. */
  root: URL;
  shared: URL;
  log(line?: string): void;
}

export type BenchSection = (ctx: BenchContext) => Promise<void>;

const { values } = parseArgs({
  // `npm run bench -- …` may pass the `--` through.
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    seconds: { type: 'string', default: '2' },
    only: { type: 'string' },
    json: { type: 'string' },
  },
});
const seconds = Number(values.seconds);
if (!Number.isFinite(seconds) || seconds <= 0)
  throw new Error(`--seconds must be positive, not ${values.seconds}`);

const root = new URL('../', import.meta.url);
const ctx: BenchContext = {
  seconds,
  results: {},
  root,
  shared: new URL('../shared/', root),
  log: (line = '') => process.stdout.write(`${line}\n`),
};

const dir = new URL('./sections/', import.meta.url);
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
  .filter((f) => values.only === undefined || f.includes(values.only))
  .sort();
ctx.log(`omadm bench — ${new Date().toISOString()} — node ${process.version} — ${seconds}s per measure`);
for (const f of files) {
  const mod = (await import(new URL(f, dir).href)) as { default: BenchSection };
  ctx.log();
  ctx.log(`== ${f.replace(/\.ts$/, '')} ==`);
  await mod.default(ctx);
}
if (values.json) writeFileSync(values.json, `${JSON.stringify(ctx.results, null, 2)}\n`);
