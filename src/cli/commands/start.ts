/**
 * `omadm start`: the one-line demo. Runs the DM server on SQLite (data dir ./omadm-data) and
 * attaches five simulated demo devices (demo-1 … demo-5) to it: provisioned through the REST API
 * with a UDP notification address, a first session each, then periodic sessions; a command queued
 * for a demo device makes the server notify it (Package 0 over UDP), so it connects at once.
 * Prints the URL, an API token and three commands that work as printed, and runs until Ctrl-C.
 * URL and token are also kept in the data directory (start-url, start-token) for other shells.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { type Command, Option } from 'commander';
import pino from 'pino';
import { FILE_MODE, preparePrivateDir } from '../../server/data-dir.ts';
import { CliError, ExitCode } from '../errors.ts';
import { selfCommand } from '../self.ts';
import { listenOrFail, parsePort, untilSignal } from '../serving.ts';

interface StartOptions {
  host: string;
  port: string;
  data: string;
  demo: boolean;
  devices: string;
  interval: string;
  wbxml?: boolean;
  logLevel: string;
}

/** The API token `start` prints: kept (0600) in the data directory so every start can print it. */
async function startToken(
  store: import('../../server/store/index.ts').Store,
  dataDir: string,
): Promise<string> {
  const file = join(dataDir, 'start-token');
  if (existsSync(file)) {
    const saved = readFileSync(file, 'utf8').trim();
    if (saved && (await store.tokens.verify(saved))) return saved;
  }
  const secret = `omadm_${randomBytes(24).toString('base64url')}`;
  await store.tokens.create({ name: 'start', role: 'admin', createdBy: 'omadm start', secret });
  await store.audit.append({ actor: 'system', action: 'token.generate', target: 'start' });
  writeFileSync(file, `${secret}\n`, { mode: FILE_MODE });
  chmodSync(file, FILE_MODE); // an older file keeps its mode through writeFileSync
  return secret;
}

/** The data directory as the user would type it from here (relative when under the cwd). */
function relativeData(dir: string): string {
  const rel = relative(process.cwd(), dir);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : dir;
}

export function register(program: Command): void {
  program
    .command('start')
    .description('run the DM server on SQLite with five simulated demo devices attached (the quick start)')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port (0: any free one)', process.env.OMADM_PORT ?? '8080')
    .option(
      '--data <dir>',
      'data directory (SQLite database, keys, token)',
      process.env.OMADM_DATA ?? './omadm-data',
    )
    .option('--no-demo', 'do not attach the demo devices')
    .option('--devices <n>', 'number of demo devices', '5')
    .option('--interval <seconds>', 'seconds between periodic sessions of each demo device', '60')
    .option('--wbxml', 'demo devices speak WBXML')
    .addOption(
      new Option('--log-level <level>', 'server log level (JSON on stderr)')
        .choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
        .default('warn'),
    )
    .action(async (opts: StartOptions) => {
      const port = parsePort(opts.port);
      const devices = Number(opts.devices);
      if (!Number.isInteger(devices) || devices < 1 || devices > 10_000)
        throw new CliError('--devices must be 1..10000', ExitCode.BadInput);
      const interval = Number(opts.interval);
      if (!Number.isFinite(interval) || interval < 1)
        throw new CliError('--interval must be at least 1 second', ExitCode.BadInput);

      const { createServer } = await import('../../server/server.ts');
      const { loadSecretKey } = await import('../../server/bootstrap.ts');
      const { openStore } = await import('../../server/store/index.ts');
      const dataDir = resolve(opts.data);
      preparePrivateDir(dataDir);
      let key: ReturnType<typeof loadSecretKey>;
      try {
        key = loadSecretKey(dataDir, process.env.OMADM_SECRET_KEY || undefined);
      } catch (err) {
        throw new CliError((err as Error).message, ExitCode.BadInput);
      }
      const dbFile = join(dataDir, 'omadm.db');
      let store: Awaited<ReturnType<typeof openStore>>;
      try {
        store = await openStore(`sqlite:${dbFile}`, { secretKey: key.key });
      } catch (err) {
        throw new CliError(`cannot open ${dbFile}: ${(err as Error).message}`, ExitCode.Unavailable);
      }
      const logger = pino({ level: opts.logLevel }, pino.destination(2));
      const token = await startToken(store, dataDir);
      const { UdpBearer } = await import('../../binding/push/index.ts');
      // A UDP bearer: devices with a `udp` notify address are woken when a command is queued.
      const server = await createServer({
        store,
        logger,
        serverId: 'omadm',
        // The demo devices are omadm's own agent, which takes a Package 0 that arrives during or
        // right after a session (it runs one more session): no need for the default 5 s pause
        // after a device's last session, which made a command queued right after another wait.
        notify: { bearers: [new UdpBearer()], policy: { recentlySeenMs: 0 } },
      });
      const url = await listenOrFail(server, store, opts.host, port, ' (try --port 0)');
      // Beside start-token, so a second shell can pick both up (the README's Tour does).
      const urlFile = join(dataDir, 'start-url');
      writeFileSync(urlFile, `${url}\n`);
      const stopped = untilSignal();

      let demo: Awaited<ReturnType<typeof import('../../simulator/demo.ts')['attachDemo']>> | undefined;
      if (opts.demo) {
        const { attachDemo } = await import('../../simulator/demo.ts');
        demo = attachDemo({
          url,
          token,
          devices,
          intervalMs: interval * 1000,
          encoding: opts.wbxml ? 'wbxml' : 'xml',
          logger,
        });
      }
      const me = selfCommand();
      const auth = `--url ${url} --token ${token}`;
      const lines = [
        `omadm is running: server ${url} (SQLite ${dbFile})`,
        `  DM endpoint  ${url}/dm`,
        `  REST API     ${url}/api/v1   (OpenAPI ${url}/openapi.json, metrics ${url}/metrics)`,
        `  API token    ${token}   (admin; kept in ${join(dataDir, 'start-token')})`,
      ];
      if (demo) {
        lines.push(`  Devices      ${await demo.first}`);
        lines.push(
          '',
          'Try, in another shell:',
          `  ${me} device list ${auth}`,
          `  ${me} cmd get demo-1 ./DevInfo/Mod --wait ${auth}`,
          `  ${me} cmd replace demo-1 ./Vendor/omadm/Agent/Label hello --wait ${auth}`,
        );
      } else {
        lines.push(
          '',
          'Try, in another shell:',
          `  ${me} device add IMEI:490154203237518 --secret s3cret ${auth}`,
          `  ${me} client --server ${url}/dm --device-id IMEI:490154203237518 --secret s3cret --once`,
          `  ${me} device list ${auth}`,
        );
      }
      const data = relativeData(dataDir);
      lines.push(
        '',
        'Or set them once for every command of that shell (the README Tour does):',
        `  export OMADM_URL=$(cat ${data}/start-url) OMADM_TOKEN=$(cat ${data}/start-token)`,
      );
      lines.push('', 'Ctrl-C stops.', '');
      process.stdout.write(lines.join('\n'));
      await stopped;
      process.stdout.write('stopping…\n');
      await demo?.stop();
      await server.close();
      await store.close();
      logger.flush();
    });
}
