/**
 * `omadm simulate`: N simulated devices in one process against a DM server — optionally
 * provisioned first through the REST API — with a progress bar, live sessions/s, and a summary
 * (sessions, errors by kind, latency percentiles, sessions/s, RSS per device; `--json` for
 * scripts). Exit 0 when every session completed, 1 otherwise.
 */
import { readFileSync } from 'node:fs';
import { type Command, Option } from 'commander';
import { CliError, ExitCode } from '../errors.ts';

interface SimulateOptions {
  server: string;
  devices: string;
  rate?: string;
  wbxml?: boolean;
  auth: 'basic' | 'md5' | 'hmac';
  duration?: string;
  tls?: boolean;
  ca?: string;
  provision?: boolean;
  url?: string;
  token?: string;
  json?: boolean;
  concurrency: string;
  prefix: string;
  seed: string;
  serverSecret?: string;
  serverId: string;
  timing: 'none' | 'realistic';
  fumoFailRate?: string;
  fumoUpdateMs?: string;
  reportAlerts: 'immediately' | 'next-session';
}

function positive(name: string, value: string | undefined, allowZero = false): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value.replace(/\/s$/, ''));
  if (!Number.isFinite(n) || n < 0 || (!allowZero && n === 0))
    throw new CliError(`${name} must be a positive number, not ${value}`, ExitCode.BadInput);
  return n;
}

/** `http://host:8080` → `http://host:8080/dm`; `--tls` turns http into https. */
export function dmEndpoint(server: string, tls: boolean): string {
  let u: URL;
  try {
    u = new URL(server);
  } catch {
    throw new CliError(`--server is not a URL: ${server}`, ExitCode.BadInput);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new CliError('--server must be an http(s) URL', ExitCode.BadInput);
  if (tls) u.protocol = 'https:';
  if (u.pathname === '/' || u.pathname === '') u.pathname = '/dm';
  return u.href;
}

export function register(program: Command): void {
  program
    .command('simulate')
    .description('run N simulated devices against a DM server and report sessions/s and latency')
    .requiredOption('--server <url>', 'DM server (its base URL or the /dm endpoint)')
    .requiredOption('--devices <n>', 'number of simulated devices')
    .option(
      '--rate <r>',
      'sessions started per second, e.g. 500 or 500/s (default: as fast as --concurrency allows)',
    )
    .option('--wbxml', 'send WBXML instead of XML')
    .addOption(new Option('--auth <type>', 'authentication').choices(['basic', 'md5', 'hmac']).default('md5'))
    .option(
      '--duration <seconds>',
      'keep running rounds of sessions for this long (default: one session per device)',
    )
    .option('--tls', 'connect over HTTPS (an http:// --server becomes https://)')
    .option('--ca <file>', 'trusted CA (PEM) for --tls; without it the server certificate is not verified')
    .option('--provision', 'create the devices on the server first, through the REST API')
    .option('--url <url>', 'REST API base URL for --provision (default $OMADM_URL, else the --server origin)')
    .option('--token <token>', 'API token for --provision (default $OMADM_TOKEN)')
    .option('--json', 'print the summary as one JSON object')
    .option('--concurrency <n>', 'simultaneous sessions', '64')
    .option('--prefix <p>', 'DevId prefix (DevIds are <prefix><6-digit index>)', 'sim-')
    .option('--seed <s>', 'seed the client secrets are derived from', 'omadm-sim')
    .option('--server-secret <s>', 'the server must authenticate with this secret (SRVCRED)')
    .option('--server-id <id>', 'the ServerID of the server', 'omadm')
    .addOption(
      new Option('--timing <t>', 'command execution times on the devices')
        .choices(['none', 'realistic'])
        .default('realistic'),
    )
    .option(
      '--fumo-fail-rate <p>',
      'FUMO: share of updates that fail with a FUMO error code (0..1, default 0)',
    )
    .option('--fumo-update-ms <ms>', 'FUMO: how long an update takes on a device (default 2000)')
    .addOption(
      new Option('--report-alerts <when>', 'send an Exec result (FUMO report) at once or at the next session')
        .choices(['immediately', 'next-session'])
        .default('immediately'),
    )
    .action(async (opts: SimulateOptions) => {
      const devices = positive('--devices', opts.devices)!;
      if (!Number.isInteger(devices)) throw new CliError('--devices must be an integer', ExitCode.BadInput);
      const rate = positive('--rate', opts.rate);
      const duration = positive('--duration', opts.duration);
      const concurrency = positive('--concurrency', opts.concurrency)!;
      const endpoint = dmEndpoint(opts.server, opts.tls === true);
      const failRate = opts.fumoFailRate === undefined ? undefined : Number(opts.fumoFailRate);
      if (failRate !== undefined && !(failRate >= 0 && failRate <= 1))
        throw new CliError(
          `--fumo-fail-rate must be within 0..1, not ${opts.fumoFailRate}`,
          ExitCode.BadInput,
        );
      const updateMs = positive('--fumo-update-ms', opts.fumoUpdateMs, true);
      let ca: Buffer | undefined;
      if (opts.ca) {
        try {
          ca = readFileSync(opts.ca);
        } catch (err) {
          throw new CliError(`cannot read --ca ${opts.ca}: ${(err as Error).message}`, ExitCode.BadInput);
        }
      }
      const { Fleet, provisionFleet, summarize } = await import('../../simulator/index.ts');
      const { default: cliProgress } = await import('cli-progress');
      const fleet = new Fleet({
        serverUrl: endpoint,
        devices,
        prefix: opts.prefix,
        seed: opts.seed,
        auth: opts.auth,
        serverId: opts.serverId,
        encoding: opts.wbxml ? 'wbxml' : 'xml',
        concurrency,
        timing: opts.timing,
        reportAlerts: opts.reportAlerts,
        fumo: {
          ...(failRate !== undefined ? { failRate } : {}),
          ...(updateMs !== undefined ? { updateMs } : {}),
        },
        ...(opts.serverSecret !== undefined ? { serverSecret: opts.serverSecret } : {}),
        http: {
          ...(ca ? { ca } : {}),
          ...(endpoint.startsWith('https:') && !ca ? { rejectUnauthorized: false } : {}),
        },
      });
      const quiet = opts.json === true;
      const bar = new cliProgress.SingleBar(
        {
          format: duration
            ? ' {phase} |{bar}| {elapsed}/{total}s  {sessions} sessions  {sps} sessions/s  {errors} errors  {active} active'
            : ' {phase} |{bar}| {value}/{total}  {sps} sessions/s  {errors} errors  {active} active',
          stream: process.stderr,
          hideCursor: true,
        },
        cliProgress.Presets.shades_classic,
      );
      try {
        if (opts.provision) {
          const url = opts.url ?? process.env.OMADM_URL ?? new URL(endpoint).origin;
          const token = opts.token ?? process.env.OMADM_TOKEN;
          if (!token) throw new CliError('--provision needs --token or $OMADM_TOKEN', ExitCode.BadInput);
          let done = 0;
          if (!quiet)
            bar.start(devices, 0, {
              phase: 'provision',
              sps: '-',
              errors: 0,
              active: 0,
              sessions: 0,
              elapsed: 0,
            });
          const r = await provisionFleet(fleet, {
            url,
            token,
            auth: opts.auth,
            ...(opts.serverSecret !== undefined ? { serverSecret: opts.serverSecret } : {}),
            tags: ['simulated'],
            onDevice: () => {
              if (!quiet) bar.update(++done);
            },
          });
          if (!quiet) {
            bar.stop();
            process.stderr.write(`provisioned ${r.created} new and ${r.updated} existing devices\n`);
          }
        }
        const t0 = performance.now();
        const errors = () => fleet.stats.failed;
        const sps = () => {
          const s = (performance.now() - t0) / 1000;
          return s > 0 ? (fleet.stats.ok / s).toFixed(0) : '0';
        };
        let ticker: NodeJS.Timeout | undefined;
        if (!quiet) {
          bar.start(duration ?? devices, 0, {
            phase: 'sessions',
            sps: '0',
            errors: 0,
            active: 0,
            sessions: 0,
            elapsed: 0,
          });
          ticker = setInterval(() => {
            const elapsed = Math.round((performance.now() - t0) / 1000);
            bar.update(duration ? Math.min(duration, elapsed) : fleet.stats.ok + fleet.stats.failed, {
              sps: sps(),
              errors: errors(),
              active: fleet.active,
              sessions: fleet.stats.sessions,
              elapsed,
            });
          }, 250);
        }
        if (duration) {
          const stop = AbortSignal.timeout(duration * 1000);
          while (!stop.aborted) await fleet.round({ ...(rate ? { rate } : {}), signal: stop });
        } else {
          await fleet.round(rate ? { rate } : {});
        }
        const seconds = (performance.now() - t0) / 1000;
        if (ticker) clearInterval(ticker);
        if (!quiet) {
          bar.update(duration ? duration : fleet.stats.ok + fleet.stats.failed, {
            sps: sps(),
            errors: errors(),
            active: 0,
          });
          bar.stop();
        }
        const s = summarize(fleet, seconds);
        if (opts.json) {
          process.stdout.write(
            `${JSON.stringify({ server: endpoint, auth: opts.auth, encoding: opts.wbxml ? 'wbxml' : 'xml', ...s })}\n`,
          );
        } else {
          const errs =
            Object.entries(s.errors)
              .map(([k, n]) => `${k} ${n}`)
              .join(', ') || 'none';
          process.stdout.write(
            [
              `devices      ${s.devices} (${opts.auth}, ${opts.wbxml ? 'WBXML' : 'XML'}, concurrency ${concurrency})`,
              `sessions     ${s.sessions} (${s.ok} completed, ${s.failed} failed) in ${s.seconds} s, ${s.commands} server commands`,
              `errors       ${errs}`,
              `sessions/s   ${s.sessionsPerSecond}`,
              `latency      p50 ${s.latencyMs.p50} ms   p95 ${s.latencyMs.p95} ms   p99 ${s.latencyMs.p99} ms   max ${s.latencyMs.max} ms`,
              `memory       RSS ${(s.rssBytes / 1048576).toFixed(1)} MiB, ${(s.rssPerDeviceBytes / 1024).toFixed(1)} KiB per device`,
              '',
            ].join('\n'),
          );
        }
        if (s.failed > 0) process.exitCode = ExitCode.Failed;
      } finally {
        if (!quiet) bar.stop();
        fleet.close();
      }
    });
}
