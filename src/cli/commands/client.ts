/**
 * `omadm client`: runs the DM client as a device agent on this machine — persistent tree and
 * DMAcc account (with nonces) in a data directory, DevInfo/DevDetail from the host, a session at
 * start, periodic sessions, reconnect with backoff, notifications and bootstrap pushes over UDP
 * (`--listen-udp`; a fresh device may wait there for its bootstrap), an on-demand session on SIGUSR1, clean shutdown on SIGINT/SIGTERM. `--once` runs one
 * client-initiated session and exits 0 only if it completed.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { type Command, Option } from 'commander';
import pino from 'pino';
import type { DmAccount } from '../../mo/index.ts';
import { CliError, ExitCode } from '../errors.ts';

interface ClientCliOptions {
  config?: string;
  data?: string;
  server?: string;
  deviceId?: string;
  secret?: string;
  serverSecret?: string;
  serverId?: string;
  auth?: string;
  wbxml?: boolean;
  interval?: string;
  once?: boolean;
  listenUdp?: string;
  notifyChannel?: string | boolean;
  ca?: string;
  cert?: string;
  key?: string;
  bootstrap?: string;
  contentType?: string;
  pin?: string;
  imsi?: string;
  userInput?: string;
  card?: string;
  fumoHook?: string;
  fumoRauc?: string | boolean;
  fumoMaxSize?: string;
  fumoRebootCommand?: string;
  fumoKeepPackage?: boolean;
  fumoHookTimeout?: string;
  bootstrapMinSec?: string;
  allowPushRebootstrap?: boolean;
  logLevel?: string;
}

function readPem(path: string | undefined, what: string): Buffer | undefined {
  if (!path) return undefined;
  try {
    return readFileSync(path);
  } catch (err) {
    throw new CliError(`cannot read ${what} ${path}: ${(err as Error).message}`, ExitCode.BadInput);
  }
}

function port(value: string | undefined, what: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new CliError(`${what} must be 0..65535`, ExitCode.BadInput);
  return n;
}

/** The FUMO settings given as flags (undefined when none). */
function fumoFlagsOf(
  opts: ClientCliOptions,
  parseSize: (t: string) => number | undefined,
): Record<string, string | number | boolean> | undefined {
  const out: Record<string, string | number | boolean> = {};
  if (opts.fumoHook !== undefined) out.hook = resolve(opts.fumoHook);
  if (opts.fumoRauc !== undefined) out.rauc = opts.fumoRauc === true ? true : resolve(String(opts.fumoRauc));
  if (opts.fumoMaxSize !== undefined) {
    const n = parseSize(opts.fumoMaxSize);
    if (n === undefined)
      throw new CliError(
        `--fumo-max-size must be a size like 64M, not ${opts.fumoMaxSize}`,
        ExitCode.BadInput,
      );
    out.maxSize = n;
  }
  if (opts.fumoHookTimeout !== undefined) {
    const n = Number(opts.fumoHookTimeout);
    if (!Number.isInteger(n) || n <= 0)
      throw new CliError('--fumo-hook-timeout must be seconds > 0', ExitCode.BadInput);
    out.hookTimeout = n;
  }
  if (opts.fumoRebootCommand !== undefined) out.rebootCommand = opts.fumoRebootCommand;
  if (opts.fumoKeepPackage) out.keepPackage = true;
  return Object.keys(out).length > 0 ? out : undefined;
}

export function register(program: Command): void {
  program
    .command('client')
    .description('run the DM client as a device agent (persistent tree and account, periodic sessions)')
    .option('--config <file>', 'agent configuration (JSON; default DATA/agent.json)')
    .option('--data <dir>', 'data directory: tree, account, nonces, agent.json (default ./omadm-client)')
    .option('--server <url>', 'first start: the DM endpoint, e.g. http://127.0.0.1:8080/dm')
    .option('--device-id <id>', 'first start: the DevId (also the client AAuthName)')
    .option('--secret <secret>', 'first start: the client secret (default $OMADM_DEVICE_SECRET)')
    .option('--server-secret <secret>', 'first start: the server secret (the server must authenticate)')
    .option('--server-id <id>', 'first start: the ServerID (default omadm)')
    .addOption(
      new Option('--auth <type>', 'first start: authentication').choices([
        'basic',
        'md5',
        'hmac',
        'transport',
      ]),
    )
    .option('--wbxml', 'first start: send WBXML instead of XML')
    .option('--interval <seconds>', 'seconds between periodic sessions (0: none)')
    .option('--once', 'run one client-initiated session; exit 0 only if it completed')
    .option(
      '--listen-udp <port>',
      'receive Package 0 notifications and bootstrap pushes on this UDP port (2948 is the WDP push port)',
    )
    .option(
      '--notify-channel [url]',
      'behind NAT: keep an HTTP channel open for Package 0 (default URL: the server origin + /dm/channel)',
    )
    .option('--bootstrap <file>', 'install the DM account from a bootstrap body (DM or CP profile) first')
    .option(
      '--content-type <ct>',
      "the bootstrap's content type with SEC and MAC (as printed by omadm bootstrap)",
    )
    .option('--pin <pin>', 'bootstrap user PIN (USERPIN, USERNETWPIN); kept in agent.json for pushes')
    .option(
      '--imsi <digits>',
      'bootstrap network PIN: the IMSI (NETWPIN, USERNETWPIN); kept in agent.json for pushes',
    )
    .option(
      '--bootstrap-min-sec <mode>',
      'weakest security mode a pushed bootstrap may use: netwpin|userpin|usernetwpin (default: the strongest --pin/--imsi can verify); kept in agent.json',
    )
    .option(
      '--allow-push-rebootstrap',
      'let a pushed bootstrap replace the account of a device that has one (default: only a DM session re-bootstraps); kept in agent.json',
    )
    .option('--user-input <digits>', 'bootstrap USERPINMAC: what the user typed')
    .option(
      '--card <dir>',
      'install bootstrap documents from a smart card directory (see docs/bootstrap.md) at start',
    )
    .option('--fumo-hook <path>', 'FUMO: install firmware with this executable (contract: docs/fumo.md)')
    .option('--fumo-rauc [rauc]', 'FUMO: install firmware bundles with RAUC (optionally the path of rauc)')
    .option('--fumo-max-size <bytes>', 'FUMO: largest package accepted, e.g. 64M (default 256M)')
    .option('--fumo-reboot-command <cmd>', 'FUMO: shell command run when an installed update needs a restart')
    .option('--fumo-keep-package', 'FUMO: keep the package after a successful update (State 90, not 100)')
    .option('--fumo-hook-timeout <seconds>', 'FUMO: longest run of the hook (default 1800)')
    .option('--ca <file>', 'trusted CA (PEM) for an HTTPS server')
    .option('--cert <file>', 'client certificate (PEM) for HTTPS')
    .option('--key <file>', 'client key (PEM) for HTTPS')
    .addOption(
      new Option(
        '--log-level <level>',
        'log level (JSON logs go to stderr; default info, with --once warn: the summary line says it)',
      ).choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    )
    .action(async (opts: ClientCliOptions) => {
      const {
        configExists,
        createClient,
        DmAgent,
        POLL_INTERVAL_URI,
        readConfig,
        simpleAccount,
        validateConfig,
        writeConfig,
        ClientError,
        authModeOfType,
        parseSize,
        HookBackend,
        RaucBackend,
        checkPushPin,
        parseMinSecurity,
      } = await import('../../client/index.ts');
      const { accountUrl } = await import('../../mo/index.ts');
      const { DirectorySmartCardSource } = await import('../../protocol/bootstrap/index.ts');
      const dataDir = resolve(opts.data ?? (opts.config ? dirname(opts.config) : './omadm-client'));
      const configFile = opts.config ? resolve(opts.config) : join(dataDir, 'agent.json');
      const interval = opts.interval === undefined ? undefined : Number(opts.interval);
      if (interval !== undefined && (!Number.isFinite(interval) || interval < 0))
        throw new CliError('--interval must be a number of seconds ≥ 0', ExitCode.BadInput);
      const udpPort = port(opts.listenUdp, '--listen-udp');
      if (
        typeof opts.notifyChannel === 'string' &&
        !/^https?:$/.test(URL.parse(opts.notifyChannel)?.protocol ?? '')
      )
        throw new CliError(
          `--notify-channel takes an http(s) URL, not ${opts.notifyChannel}`,
          ExitCode.BadInput,
        );
      // A fresh device without any account may wait on --listen-udp for a pushed bootstrap.
      const waitForPush = udpPort !== undefined && !opts.once;
      let minSecFlag: ReturnType<typeof parseMinSecurity> | undefined;
      try {
        minSecFlag = opts.bootstrapMinSec === undefined ? undefined : parseMinSecurity(opts.bootstrapMinSec);
        // A PIN that pushes are verified with must resist guessing (a local --bootstrap file is
        // not exposed to anyone: any PIN does there).
        if (udpPort !== undefined && !opts.once) checkPushPin(opts.pin);
      } catch (err) {
        if (err instanceof ClientError) throw new CliError(err.message, ExitCode.BadInput);
        throw err;
      }
      const keyFlags = {
        ...(opts.pin ? { pin: opts.pin } : {}),
        ...(opts.imsi ? { imsi: opts.imsi } : {}),
        ...(minSecFlag ? { bootstrapMinSec: minSecFlag } : {}),
        ...(opts.allowPushRebootstrap ? { allowPushRebootstrap: true } : {}),
      };
      const fumoFlags = fumoFlagsOf(opts, parseSize);

      let config: ReturnType<typeof validateConfig> | undefined;
      let secret: string | undefined;
      try {
        if (opts.server) {
          // First start (or a reconfiguration): flags win, the rest comes from an existing config.
          const previous = configExists(dataDir) ? readConfig(configFile) : undefined;
          secret = opts.secret ?? (process.env.OMADM_DEVICE_SECRET || undefined);
          const auth = opts.auth ?? previous?.auth ?? 'md5';
          const deviceId = opts.deviceId ?? previous?.deviceId;
          if (!deviceId) throw new CliError('--server needs --device-id', ExitCode.BadInput);
          if (!secret && auth !== 'transport')
            throw new CliError('--server needs --secret (or $OMADM_DEVICE_SECRET)', ExitCode.BadInput);
          config = validateConfig({
            ...previous,
            server: opts.server,
            deviceId,
            serverId: opts.serverId ?? previous?.serverId ?? 'omadm',
            auth,
            encoding: opts.wbxml ? 'wbxml' : (previous?.encoding ?? 'xml'),
            interval: interval ?? previous?.interval ?? 3600,
            ...(udpPort !== undefined ? { listenUdp: udpPort } : {}),
            ...(opts.ca ? { ca: resolve(opts.ca) } : {}),
            ...(opts.cert ? { cert: resolve(opts.cert) } : {}),
            ...(opts.key ? { key: resolve(opts.key) } : {}),
            ...keyFlags,
            ...(fumoFlags || previous?.fumo ? { fumo: { ...previous?.fumo, ...fumoFlags } } : {}),
          });
        } else if (opts.config !== undefined || configExists(dataDir)) {
          config = readConfig(configFile);
        } else if (opts.bootstrap || opts.card || (udpPort !== undefined && !opts.once)) {
          // First start from a bootstrap (given, or pushed later to --listen-udp): the server comes
          // from the installed account (below).
          if (!opts.deviceId)
            throw new CliError(
              'a first start from --bootstrap/--card/--listen-udp needs --device-id',
              ExitCode.BadInput,
            );
          config = undefined;
        } else {
          throw new CliError(
            `no agent configuration in ${dataDir}: for a first start give --server URL --device-id ID --secret S, --bootstrap FILE, or --listen-udp PORT --device-id ID to wait for a bootstrap push`,
            ExitCode.BadInput,
          );
        }
      } catch (err) {
        if (err instanceof ClientError) throw new CliError(err.message, ExitCode.BadInput);
        throw err;
      }

      const deviceId = config?.deviceId ?? (opts.deviceId as string);
      // One session's human summary should not be interleaved with JSON lines saying the same.
      const level = opts.logLevel ?? (opts.once ? 'warn' : 'info');
      const logger = pino({ level, base: { deviceId } }, pino.destination(2));
      const ca = readPem(config?.ca ?? (opts.ca && resolve(opts.ca)), 'CA file');
      const cert = readPem(config?.cert ?? (opts.cert && resolve(opts.cert)), 'client certificate');
      const key = readPem(config?.key ?? (opts.key && resolve(opts.key)), 'client key');
      const bootstrapBody = opts.bootstrap ? readPem(opts.bootstrap, 'bootstrap file') : undefined;
      // Flags win over the file (and are written into it at a configuration write).
      const fumoConf = fumoFlags || config?.fumo ? { ...config?.fumo, ...fumoFlags } : undefined;
      if (fumoConf?.hook && fumoConf.rauc)
        throw new CliError('--fumo-hook and --fumo-rauc exclude each other', ExitCode.BadInput);
      const fumoBackend = fumoConf?.hook
        ? new HookBackend({
            path: resolve(fumoConf.hook),
            logger,
            ...(fumoConf.hookTimeout ? { timeoutMs: fumoConf.hookTimeout * 1000 } : {}),
          })
        : fumoConf?.rauc
          ? new RaucBackend({ ...(typeof fumoConf.rauc === 'string' ? { bin: fumoConf.rauc } : {}), logger })
          : undefined;
      let client: Awaited<ReturnType<typeof createClient>>;
      try {
        client = await createClient({
          dataDir,
          devInfo: {
            devId: deviceId,
            ...(config?.man ? { man: config.man } : {}),
            ...(config?.mod ? { mod: config.mod } : {}),
          },
          encoding: config?.encoding ?? (opts.wbxml ? 'wbxml' : 'xml'),
          http: {
            timeoutMs: 30_000,
            ...(ca ? { ca } : {}),
            ...(cert ? { cert } : {}),
            ...(key ? { key } : {}),
            headers: { 'user-agent': 'omadm-client' },
          },
          logger,
          ...(fumoBackend
            ? {
                fumo: {
                  backend: fumoBackend,
                  ...(fumoConf?.maxSize ? { maxBytes: fumoConf.maxSize } : {}),
                  ...(fumoConf?.keepPackage ? { keepPackage: true } : {}),
                  ...(fumoConf?.rebootCommand
                    ? { rebootCommand: ['/bin/sh', '-c', fumoConf.rebootCommand] }
                    : {}),
                  http: { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) },
                },
              }
            : {}),
          ...(opts.server && config
            ? {
                accounts: [
                  simpleAccount({
                    serverId: config.serverId,
                    serverUrl: config.server,
                    name: config.deviceId,
                    secret: secret ?? '',
                    auth: config.auth,
                    ...(opts.serverSecret ? { serverSecret: opts.serverSecret } : {}),
                  }),
                ],
              }
            : {}),
        });
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code === 'tree.store-locked')
          throw new CliError(`${dataDir} is in use by another omadm client`, ExitCode.Unavailable);
        throw err;
      }
      try {
        if (bootstrapBody) {
          await client.bootstrap({
            body: new Uint8Array(bootstrapBody),
            ...(opts.contentType ? { contentType: opts.contentType } : {}),
            ...(opts.pin ? { pin: opts.pin } : {}),
            ...(opts.imsi ? { imsi: opts.imsi } : {}),
            ...(opts.userInput ? { userInput: opts.userInput } : {}),
          });
        }
        if (opts.card) await client.bootstrapFromCard(new DirectorySmartCardSource(resolve(opts.card)));
      } catch (err) {
        await client.close();
        if (err instanceof ClientError) throw new CliError(err.message, ExitCode.Failed);
        throw err;
      }
      /** The agent's configuration for an account a bootstrap installed. */
      const configFor = (account: DmAccount) => {
        const url = accountUrl(account);
        if (!url) return undefined;
        const cl = account.auth.find((a) => a.level === 'CLCRED');
        return validateConfig({
          ...config,
          server: url,
          deviceId,
          serverId: account.serverId,
          auth: authModeOfType(cl?.type ?? account.authPref),
          encoding: config?.encoding ?? (opts.wbxml ? 'wbxml' : 'xml'),
          interval: config?.interval ?? interval ?? 3600,
          ...(udpPort !== undefined ? { listenUdp: udpPort } : {}),
          ...(opts.ca ? { ca: resolve(opts.ca) } : {}),
          ...(opts.cert ? { cert: resolve(opts.cert) } : {}),
          ...(opts.key ? { key: resolve(opts.key) } : {}),
          ...keyFlags,
        });
      };
      const hasAccount = (await client.accounts.list()).length > 0;
      if (!config && (hasAccount || !waitForPush)) {
        const first = (await client.accounts.list())[0];
        config = first ? configFor(first) : undefined;
        if (!config) {
          await client.close();
          throw new CliError('the bootstrap installed no usable DM account', ExitCode.Failed);
        }
      }
      if (config && (opts.server || !configExists(dataDir))) {
        const file = writeConfig(dataDir, config);
        logger.info({ config: file, server: config.server }, 'agent configured');
      }
      if (!hasAccount && !waitForPush) {
        await client.close();
        throw new CliError(
          `no DMAcc account in ${dataDir}: give --server … for a first start`,
          ExitCode.BadInput,
        );
      }

      if (opts.once) {
        if (!hasAccount) {
          await client.close();
          throw new CliError(`no DMAcc account in ${dataDir} for --once`, ExitCode.BadInput);
        }
        const report = await client.session();
        await client.close();
        const line = report.ok
          ? `session ${report.sessionId} with ${report.serverId} completed: ${report.messages} message(s), ${report.commands} command(s), ${report.durationMs} ms\n`
          : `session ${report.sessionId} with ${report.serverId} failed: ${report.outcome}${report.error ? ` (${report.error.code}: ${report.error.message})` : ''}\n`;
        (report.ok ? process.stdout : process.stderr).write(line);
        logger.flush();
        if (report.ok) return;
        process.exitCode =
          report.error?.code === 'OMADM_ERR_SESSION_TRANSPORT' ? ExitCode.Unavailable : ExitCode.Failed;
        return;
      }

      if (interval !== undefined)
        await client.tree.replace(POLL_INTERVAL_URI, { format: 'int', data: String(interval) });
      const listenPort = udpPort ?? config?.listenUdp;
      const pin = opts.pin ?? config?.pin;
      const imsi = opts.imsi ?? config?.imsi;
      const minSec = minSecFlag ?? config?.bootstrapMinSec;
      let agent: InstanceType<typeof DmAgent>;
      try {
        agent = new DmAgent({
          client,
          intervalSeconds: config?.interval ?? interval ?? 3600,
          logger,
          ...(listenPort !== undefined ? { udp: { port: listenPort } } : {}),
          ...(opts.notifyChannel !== undefined && !opts.once
            ? {
                channel: {
                  ...(typeof opts.notifyChannel === 'string' ? { url: opts.notifyChannel } : {}),
                  ...(ca ? { ca } : {}),
                  ...(cert ? { cert } : {}),
                  ...(key ? { key } : {}),
                },
              }
            : {}),
          bootstrapKeys: { ...(pin ? { pin } : {}), ...(imsi ? { imsi } : {}) },
          ...(minSec ? { bootstrapMinSecurity: minSec } : {}),
          allowPushRebootstrap: opts.allowPushRebootstrap ?? config?.allowPushRebootstrap ?? false,
          // The failed-MAC count survives restarts: a restart must not reset the back-off.
          bootstrapGuard: { file: join(dataDir, 'bootstrap-guard.json') },
          onBootstrap: async (result) => {
            // A fresh device's first account (or a new address for the configured server) goes into
            // agent.json, so a restart finds it.
            const serverId = result.servers[0];
            if (serverId === undefined || (config && config.serverId !== serverId)) return;
            const account = await client.accounts.find(serverId);
            const next = account ? configFor(account) : undefined;
            if (!next) return;
            config = next;
            const file = writeConfig(dataDir, next);
            logger.info(
              { config: file, server: next.server, serverId },
              'agent configured from a bootstrap push',
            );
          },
        });
      } catch (err) {
        await client.close();
        if (err instanceof ClientError) throw new CliError(err.message, ExitCode.BadInput);
        throw err;
      }
      // Handlers before anything is printed: a supervisor may signal at once.
      const stopped = new Promise<NodeJS.Signals>((done) => {
        const stop = (signal: NodeJS.Signals) => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          done(signal);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      const onDemand = () => agent.trigger('SIGUSR1');
      process.on('SIGUSR1', onDemand);
      try {
        await agent.start();
      } catch (err) {
        process.off('SIGUSR1', onDemand);
        await client.close();
        throw new CliError(`cannot start the agent: ${(err as Error).message}`, ExitCode.Unavailable);
      }
      logger.info(
        {
          ...(config ? { server: config.server } : {}),
          dataDir,
          intervalS: await agent.intervalSeconds(),
          ...(agent.udpAddress ? { udp: agent.udpAddress.port } : {}),
          pid: process.pid,
        },
        'agent running (SIGUSR1: session now; SIGINT/SIGTERM: stop)',
      );
      // Signal handlers do not keep Node running: with no interval and no listener the loop
      // would be empty, yet the agent must stay for on-demand sessions (SIGUSR1).
      const keepAlive = setInterval(() => {}, 1 << 30);
      const signal = await stopped;
      clearInterval(keepAlive);
      logger.info({ signal }, 'stopping: waiting for the running session');
      process.off('SIGUSR1', onDemand);
      await agent.stop();
      await client.close();
      logger.info({}, 'stopped');
      logger.flush();
    });
}
