/** The omadm command line: `omadm <command> …`. Returns the process exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  process.stdout.write(`omadm: nothing here yet (${argv.join(' ')})\n`);
  return 0;
}
