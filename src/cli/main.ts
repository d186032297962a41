/**
 * The omadm command line. Each file in `commands/` exports `register(program)`
 * and is discovered at start, so commands are added without touching this file.
 */
import { readdirSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { CliError, ExitCode } from './errors.ts';

export interface CommandModule {
  register(program: Command): void;
}

/**
 * Loads the command modules. When argv names a command whose module exists
 * (`codec` → codec.ts, codec-bench.ts), only those load: the server and the
 * simulator pull in large dependency graphs that `omadm device list` should
 * not pay for. Help, version and unknown words load everything.
 */
async function loadCommands(program: Command, argv: readonly string[]): Promise<void> {
  const dir = new URL('./commands/', import.meta.url);
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  const all = readdirSync(dir)
    .filter((f) => f.endsWith(ext) && !f.endsWith(`.d${ext}`))
    .sort();
  const word = argv[0];
  const own =
    word && !word.startsWith('-') ? all.filter((f) => f === `${word}${ext}` || f.startsWith(`${word}-`)) : [];
  const files = own.length > 0 ? [...own, `version${ext}`] : all;
  for (const file of files) {
    const mod = (await import(new URL(file, dir).href)) as Partial<CommandModule>;
    mod.register?.(program);
  }
}

/** Runs the CLI on argv (without `node` and the script) and returns the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const program = new Command('omadm')
    .description('OMA Device Management: DM server, DM client, fleet simulator and SyncML DM codecs')
    .exitOverride()
    .showHelpAfterError(false)
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  await loadCommands(program, argv);
  // Run by the checkout's wrapper, not by this program: listed so `--help` shows all there is.
  program.addHelpText(
    'after',
    [
      '',
      'In a checkout, the ./omadm wrapper also runs:',
      '  test                       lint, typecheck and every test',
      '  bench                      the benchmarks (docs/performance.md)',
      '  lint | typecheck           one of the checks',
      '',
      'Docs: README.md and docs/ (docs/cli.md for every command).',
    ].join('\n'),
  );
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : ExitCode.Ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version are "errors" to commander; they are successes to us.
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return ExitCode.Ok;
      if (err.code === 'commander.help') return ExitCode.Ok;
      return ExitCode.Usage;
    }
    if (err instanceof CliError) {
      process.stderr.write(`omadm: ${err.message}\n`);
      return err.exitCode;
    }
    process.stderr.write(
      `omadm: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    return ExitCode.Internal;
  }
}
