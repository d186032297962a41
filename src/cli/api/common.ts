/**
 * Options shared by the commands that talk to the operator API.
 */
import { type Command, Option } from 'commander';
import { CliError, ExitCode } from '../errors.ts';
import { ApiClient } from './client.ts';

export interface ApiOptions {
  readonly url?: string;
  readonly token?: string;
  readonly json?: boolean;
}

/** Adds `--url`, `--token` and `--json` to a command. */
export function withApiOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--url <url>', 'server URL (default: $OMADM_URL or http://127.0.0.1:8080)'))
    .addOption(new Option('--token <token>', 'API token (default: $OMADM_TOKEN)'))
    .option('--json', 'print JSON for scripts instead of tables');
}

export function clientFor(opts: ApiOptions, env: NodeJS.ProcessEnv = process.env): ApiClient {
  const url = opts.url ?? env.OMADM_URL ?? 'http://127.0.0.1:8080';
  return new ApiClient({ url, token: opts.token ?? env.OMADM_TOKEN });
}

/** Parses a positive number of seconds given to an option. */
export function seconds(name: string, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isFinite(n) || n < 0 || n > max) {
      throw new CliError(
        `${name} must be a number of seconds between 0 and ${max}, not ${value}`,
        ExitCode.BadInput,
      );
    }
    return n;
  };
}

/** Path segment for a DevId (`IMEI:…` and friends need escaping). */
export function seg(value: string): string {
  return encodeURIComponent(value);
}
