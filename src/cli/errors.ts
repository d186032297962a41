/** Exit codes of the omadm command, stable for scripts. */
export const ExitCode = {
  Ok: 0,
  /** A command ran and failed (device answered with an error status, session failed, …). */
  Failed: 1,
  /** Bad input: a file that does not decode, a wrong argument value. */
  BadInput: 2,
  /** Usage error (unknown command or option). commander also uses 1 here; we say 64 (EX_USAGE). */
  Usage: 64,
  /** The server or a peer could not be reached, or refused (auth). */
  Unavailable: 69,
  Internal: 70,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** An error the CLI reports as one line on stderr with a chosen exit code. */
export class CliError extends Error {
  readonly exitCode: ExitCode;
  constructor(message: string, exitCode: ExitCode = ExitCode.Failed) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}
