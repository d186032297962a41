/**
 * `omadm server`: runs the DM server — DM endpoint, REST API, OpenAPI, metrics — on one port,
 * with SQLite in the data directory (default ./omadm-data) or PostgreSQL (--db postgres://…).
 * On first start it creates the admin API token (printed once; stored hashed) unless one is given
 * with --token / OMADM_TOKEN, and the key that seals server secrets (data dir, or OMADM_SECRET_KEY).
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { type Command, Option } from 'commander';
import pino from 'pino';
import {
  type NotificationBearer,
  PapBearer,
  SipBearer,
  SmppBearer,
  UdpBearer,
} from '../../binding/push/index.ts';
import { type BackoffPolicy, defaultBackoffPolicy } from '../../protocol/auth-guard.ts';
import { ensureAdminToken } from '../../server/bootstrap.ts';
import { preparePrivateDir } from '../../server/data-dir.ts';
import { loadSecretKey } from '../../server/bootstrap.ts';
import { HttpChannelBearer } from '../../server/http-channel.ts';
import { createServer } from '../../server/server.ts';
import { type NotifyOptions, type NotifyPolicy, parseUiMode } from '../../server/notify.ts';
import {
  DEFAULT_SECRET_LEAVES,
  openStore,
  parseStoreUrl,
  type RetentionOptions,
  type Store,
} from '../../server/store/index.ts';
import { CliError, ExitCode } from '../errors.ts';
import { selfCommand } from '../self.ts';
import { isLoopback, listenOrFail, listeningUrls, parsePort, untilSignal } from '../serving.ts';

interface ServerCliOptions {
  secretLeaf?: string[];
  host: string;
  port: string;
  data: string;
  db?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  requireClientCert?: boolean;
  token?: string;
  publicUrl?: string;
  trustProxy?: string;
  serverId?: string;
  autoEnrollSecret?: string;
  autoEnrollPattern?: string;
  authBackoff?: string;
  logLevel: string;
  pushUdp?: boolean;
  pushSip?: boolean;
  pushHttpChannel?: boolean;
  pushPap?: string;
  pushSmpp?: string;
  pushOnQueue: boolean;
  pushUiMode?: string;
  pushRetries?: string;
  pushMinInterval?: string;
  pushRate?: string;
  pushBurst?: string;
  traceDays?: string;
  traceSessions?: string;
  traceMaxSize?: string;
  sizeWarning: string;
}

/** `512MiB`, `10GB`, `2g`, `1048576` → bytes. */
export function parseSize(flag: string, v: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?\s*$/i.exec(v);
  if (!m) throw new CliError(`${flag} takes a size such as 500MiB or 10GiB, not ${v}`, ExitCode.BadInput);
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase() as 'k'] ?? 1;
  return Math.round(Number(m[1]) * unit);
}

/** The retention asked for on the command line (docs/storage.md, Retention). */
function retentionOptions(opts: ServerCliOptions): RetentionOptions {
  const positive = (flag: string, v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0)
      throw new CliError(`${flag} takes a positive number, not ${v}`, ExitCode.BadInput);
    return n;
  };
  const days =
    opts.traceDays !== undefined ? positive('--trace-days', opts.traceDays) * 86_400_000 : undefined;
  return {
    traces: {
      ...(days !== undefined ? { maxAgeMs: days } : {}),
      ...(opts.traceSessions !== undefined
        ? { maxSessionsPerDevice: Math.ceil(positive('--trace-sessions', opts.traceSessions)) }
        : {}),
      ...(opts.traceMaxSize !== undefined
        ? { maxBytes: parseSize('--trace-max-size', opts.traceMaxSize) }
        : {}),
    },
  };
}

/** The notification policy asked for on the command line. */
function notifyOptions(opts: ServerCliOptions, bearers: NotificationBearer[]): NotifyOptions {
  const num = (flag: string, v: string, min: number): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min)
      throw new CliError(`${flag} takes a number ≥ ${min}, not ${v}`, ExitCode.BadInput);
    return n;
  };
  const policy: { -readonly [K in keyof NotifyPolicy]: NotifyPolicy[K] } = {};
  if (opts.pushRetries !== undefined)
    policy.retryDelaysMs = opts.pushRetries.split(',').map((v) => num('--push-retries', v.trim(), 0) * 1000);
  if (opts.pushMinInterval !== undefined)
    policy.minIntervalMs = num('--push-min-interval', opts.pushMinInterval, 0) * 1000;
  if (opts.pushRate !== undefined || opts.pushBurst !== undefined) {
    policy.rate = {
      perSecond: opts.pushRate === undefined ? 10 : num('--push-rate', opts.pushRate, 0.001),
      burst: opts.pushBurst === undefined ? 20 : num('--push-burst', opts.pushBurst, 1),
    };
  }
  const uiMode = opts.pushUiMode === undefined ? undefined : parseUiMode(opts.pushUiMode);
  return { bearers, onEnqueue: opts.pushOnQueue, policy, ...(uiMode ? { uiMode } : {}) };
}

/** The notification bearers asked for on the command line. */
function bearersFrom(opts: ServerCliOptions): NotificationBearer[] {
  const out: NotificationBearer[] = [];
  if (opts.pushUdp) out.push(new UdpBearer());
  if (opts.pushSip) out.push(new SipBearer());
  if (opts.pushHttpChannel) out.push(new HttpChannelBearer());
  if (opts.pushPap) {
    if (!URL.canParse(opts.pushPap)) {
      throw new CliError(`--push-pap needs the PPG's URL, not ${opts.pushPap}`, ExitCode.BadInput);
    }
    out.push(new PapBearer({ url: opts.pushPap }));
  }
  if (opts.pushSmpp) {
    const u = URL.canParse(opts.pushSmpp) ? new URL(opts.pushSmpp) : undefined;
    if (u?.protocol !== 'smpp:' || !u.hostname || !u.username) {
      throw new CliError(
        '--push-smpp takes smpp://SYSTEM_ID:PASSWORD@HOST:PORT[?source=ADDR]',
        ExitCode.BadInput,
      );
    }
    const source = u.searchParams.get('source');
    out.push(
      new SmppBearer({
        host: u.hostname,
        port: u.port ? Number(u.port) : 2775,
        systemId: decodeURIComponent(u.username),
        password: decodeURIComponent(u.password),
        ...(source ? { sourceAddr: source } : {}),
      }),
    );
  }
  return out;
}

function readFile(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new CliError(`cannot read ${what} ${path}: ${(err as Error).message}`, ExitCode.BadInput);
  }
}

export function register(program: Command): void {
  program
    .command('server')
    .description('run the DM server: DM endpoint (/dm), REST API (/api/v1), OpenAPI, metrics')
    .option(
      '--host <host>',
      'address to listen on (0.0.0.0 or :: for every interface: devices on the network)',
      process.env.OMADM_HOST || '127.0.0.1',
    )
    .option('--port <port>', 'port to listen on (0: any free port)', process.env.OMADM_PORT ?? '8080')
    .option(
      '--data <dir>',
      'data directory (SQLite database, secret key)',
      process.env.OMADM_DATA ?? './omadm-data',
    )
    .option(
      '--db <url>',
      'database: sqlite:FILE or postgres://…[?schema=NAME] (default: SQLite in the data directory)',
    )
    .option('--tls-cert <file>', 'TLS certificate (PEM); serves HTTPS')
    .option('--tls-key <file>', 'TLS private key (PEM)')
    .option('--tls-ca <file>', 'CA certificates (PEM) that sign device client certificates')
    .option('--require-client-cert', 'refuse TLS connections without a valid client certificate')
    .option(
      '--token <token>',
      'admin API token to accept (default: $OMADM_TOKEN, or generated on first start)',
    )
    .option('--public-url <url>', 'URL devices reach this server at (for RespURI; default from each request)')
    .option(
      '--trust-proxy <proxies>',
      'behind a reverse proxy: believe X-Forwarded-* from these (addresses, CIDRs or loopback; comma-separated)',
    )
    .option('--server-id <id>', 'the ServerID devices know this server by', 'omadm')
    .option(
      '--secret-leaf <name...>',
      'more tree leaves whose values are secrets (a leaf name, or a URI pattern with * for one segment); ' +
        'AAuthSecret, AAuthData, ServerPW, ClientPW, ServerNonce, ClientNonce always are',
      (v: string, prev: string[] = []) => [...prev, ...v.split(',').filter(Boolean)],
    )
    .option(
      '--auto-enroll-secret <secret>',
      'enroll unknown devices that authenticate with this shared secret (default: $OMADM_ENROLL_SECRET; off)',
    )
    .option('--auto-enroll-pattern <regex>', 'only auto-enroll DevIds matching this regular expression')
    .option(
      '--auth-backoff <k=v,...>',
      'backoff after failed DM authentications, e.g. deviceFreeFailures=5,maxSourceDelayMs=30000 (docs/security.md)',
    )
    .option('--push-udp', 'notify devices (Package 0) over UDP/WDP (device address host[:port])')
    .option('--push-sip', 'notify devices with SIP MESSAGE (device address sip:…)')
    .option(
      '--push-http-channel',
      'notify devices behind NAT over the long-poll GET /dm/channel they keep open (device address: its DevId)',
    )
    .option(
      '--push-pap <url>',
      "notify devices through a WAP Push Proxy Gateway's PAP URL (device address: MSISDN)",
    )
    .option(
      '--push-smpp <url>',
      'notify devices by SMS through an SMSC: smpp://SYSTEM_ID:PASSWORD@HOST:PORT[?source=ADDR]',
    )
    .option('--no-push-on-queue', 'do not notify a device when a command is queued for it (only on request)')
    .addOption(
      new Option(
        '--push-ui-mode <mode>',
        'Package 0 ui-mode when a request names none (default not-specified)',
      ).choices(['not-specified', 'background', 'informative', 'interactive']),
    )
    .option(
      '--push-retries <seconds>',
      'waits after each notification attempt for the device to connect, comma-separated (default 30,60,120)',
    )
    .option(
      '--push-min-interval <seconds>',
      'minimum time between two notifications of one device (default 60)',
    )
    .option('--push-rate <per-second>', 'notifications per second this process may send (default 10)')
    .option('--push-burst <n>', 'notifications this process may send at once (default 20)')
    .option('--trace-days <days>', 'keep traces and session records this many days (default 7)')
    .option('--trace-sessions <n>', 'keep the raw messages of this many sessions per device (default 20)')
    .option('--trace-max-size <size>', 'total size of raw messages kept, e.g. 2GiB (default)')
    .option(
      '--size-warning <size>',
      'log store.size.warning when the data directory (or PostgreSQL schema) passes this size',
      '10GiB',
    )
    .addOption(
      new Option('--log-level <level>', 'log level (logs go to stderr)')
        .choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
        .default('info'),
    )
    .action(async (opts: ServerCliOptions) => {
      const port = parsePort(opts.port);
      if (Boolean(opts.tlsCert) !== Boolean(opts.tlsKey)) {
        throw new CliError('--tls-cert and --tls-key go together', ExitCode.BadInput);
      }
      if ((opts.tlsCa || opts.requireClientCert) && !opts.tlsCert) {
        throw new CliError(
          '--tls-ca and --require-client-cert need --tls-cert and --tls-key',
          ExitCode.BadInput,
        );
      }
      if (opts.requireClientCert && !opts.tlsCa) {
        throw new CliError(
          '--require-client-cert needs --tls-ca to check client certificates',
          ExitCode.BadInput,
        );
      }
      let pattern: RegExp | undefined;
      if (opts.autoEnrollPattern) {
        try {
          pattern = new RegExp(opts.autoEnrollPattern);
        } catch (err) {
          throw new CliError(`--auto-enroll-pattern: ${(err as Error).message}`, ExitCode.BadInput);
        }
      }
      const authBackoff = opts.authBackoff === undefined ? undefined : parseBackoff(opts.authBackoff);
      const enrollSecret = opts.autoEnrollSecret ?? (process.env.OMADM_ENROLL_SECRET || undefined);
      const token = opts.token ?? (process.env.OMADM_TOKEN || undefined);
      const tls = opts.tlsCert
        ? {
            cert: readFile(opts.tlsCert, 'TLS certificate'),
            key: readFile(opts.tlsKey as string, 'TLS key'),
            ...(opts.tlsCa ? { ca: readFile(opts.tlsCa, 'CA file') } : {}),
            ...(opts.requireClientCert ? { requireClientCert: true } : {}),
          }
        : undefined;

      const bearers = bearersFrom(opts);
      const warnBytes = parseSize('--size-warning', opts.sizeWarning);
      retentionOptions(opts); // bad values fail before anything is opened
      const dataDir = resolve(opts.data);
      const { url: dbUrl, schema } = splitSchema(opts.db ?? `sqlite:${join(dataDir, 'omadm.db')}`);
      let location: ReturnType<typeof parseStoreUrl>;
      try {
        location = parseStoreUrl(dbUrl);
      } catch (err) {
        throw new CliError((err as Error).message, ExitCode.BadInput);
      }
      try {
        preparePrivateDir(dataDir);
      } catch (err) {
        throw new CliError(
          `cannot create the data directory ${dataDir}: ${(err as Error).message}`,
          ExitCode.BadInput,
        );
      }
      let secretKey: ReturnType<typeof loadSecretKey>;
      try {
        secretKey = loadSecretKey(dataDir, process.env.OMADM_SECRET_KEY || undefined);
      } catch (err) {
        throw new CliError((err as Error).message, ExitCode.BadInput);
      }

      const logger = pino({ level: opts.logLevel }, pino.destination(2));
      let store: Store;
      try {
        store = await openStore(dbUrl, {
          secretKey: secretKey.key,
          ...(schema ? { schema } : {}),
          retention: retentionOptions(opts),
          ...(opts.secretLeaf?.length
            ? { secretLeaves: [...DEFAULT_SECRET_LEAVES, ...opts.secretLeaf] }
            : {}),
        });
      } catch (err) {
        throw new CliError(
          `cannot open the database ${redact(dbUrl)}: ${(err as Error).message}`,
          ExitCode.Unavailable,
        );
      }
      let admin: Awaited<ReturnType<typeof ensureAdminToken>>;
      try {
        admin = await ensureAdminToken(store, token);
      } catch (err) {
        await store.close();
        throw new CliError((err as Error).message, ExitCode.BadInput);
      }
      const server = await createServer({
        store,
        logger,
        serverId: opts.serverId ?? 'omadm',
        ...(tls ? { tls } : {}),
        ...(opts.publicUrl ? { publicUrl: opts.publicUrl } : {}),
        ...(opts.trustProxy ? { trustProxy: opts.trustProxy } : {}),
        ...(enrollSecret
          ? { autoEnroll: { secret: enrollSecret, ...(pattern ? { idPattern: pattern } : {}) } }
          : {}),
        ...(bearers.length ? { notify: notifyOptions(opts, bearers) } : {}),
        sizeWarning: {
          bytes: warnBytes,
          // SQLite lives in the data directory; a PostgreSQL schema is measured by the database.
          ...(location.backend === 'sqlite' ? { path: dirname(resolve(location.path)) } : {}),
        },
        ...(authBackoff ? { authBackoff } : {}),
      });
      const url = await listenOrFail(server, store, opts.host, port);
      const where =
        location.backend === 'sqlite'
          ? `SQLite ${isAbsolute(location.path) ? location.path : resolve(location.path)}`
          : `PostgreSQL ${redact(dbUrl)}${schema ? ` schema ${schema}` : ''}`;
      const proto = tls ? 'https' : 'http';
      const actualPort = Number(new URL(url).port || (tls ? 443 : 80));
      const urls = listeningUrls(opts.host, actualPort, proto);
      const wildcard = opts.host === '0.0.0.0' || opts.host === '::';
      const lines = [
        wildcard
          ? `omadm server listening on every ${opts.host === '::' ? '' : 'IPv4 '}interface, port ${actualPort} (${where})`
          : `omadm server listening on ${url} (${where})`,
      ];
      if (wildcard) lines.push(`  Addresses     ${urls.join('  ')}`);
      if (!isLoopback(opts.host)) {
        // The admin API is on the same port as /dm: whoever reaches one reaches the other.
        lines.push(
          `  Network       reachable beyond this machine, REST API included${
            tls ? '' : ' — over plain HTTP: use --tls-cert/--tls-key or a TLS proxy (docs/operations.md)'
          }`,
        );
      }
      lines.push(
        `  DM endpoint   ${opts.publicUrl ? `${opts.publicUrl.replace(/\/+$/, '')}/dm` : `${url}/dm`}`,
        `  REST API      ${url}/api/v1   (OpenAPI: ${url}/openapi.json)`,
        `  Metrics       ${url}/metrics   Health: ${url}/healthz`,
      );
      if (admin.generated) {
        lines.push(
          `  Admin token   ${admin.generated}`,
          '                (shown only now; only its hash is stored — keep it safe)',
        );
      } else if (admin.imported) {
        lines.push('  Admin token   the one given with --token/OMADM_TOKEN (now stored hashed)');
      } else {
        lines.push(
          '  Admin token   already set up: the one printed on first start (or given with --token);',
          `                lost it? ${selfCommand()} server --token NEW adds NEW as an admin token`,
        );
      }
      if (secretKey.created)
        lines.push(`  Secret key    created ${secretKey.source} (keep it with the database)`);
      if (bearers.length) {
        const names = bearers.map((b) => b.name).join(', ');
        lines.push(`  Notification  ${names}${opts.pushOnQueue ? ' (also when commands are queued)' : ''}`);
      }
      if (enrollSecret)
        lines.push(`  Auto-enroll   on${pattern ? ` for DevIds matching /${pattern.source}/` : ''}`);
      const shownToken = admin.generated ?? (token ? '<your token>' : '<admin token>');
      const me = selfCommand();
      lines.push(
        '',
        'Try:',
        `  export OMADM_URL=${url} OMADM_TOKEN=${shownToken}`,
        `  ${me} device add IMEI:490154203237518 --secret s3cret`,
        `  ${me} device list`,
        '',
      );
      // Handlers first: whoever reads the banner may signal at once.
      const stopped = untilSignal((signal) => logger.info({ signal }, 'shutting down'));
      process.stdout.write(lines.join('\n'));
      await stopped;
      await server.close();
      await store.close();
      logger.flush();
    });
}

/** `postgres://…?schema=NAME` selects (and creates) a schema; the parameter is ours, not pg's. */
function splitSchema(url: string): { url: string; schema?: string } {
  if (!/^postgres(ql)?:\/\//i.test(url)) return { url };
  try {
    const u = new URL(url);
    const schema = u.searchParams.get('schema');
    if (!schema) return { url };
    u.searchParams.delete('schema');
    return { url: u.href, schema };
  } catch {
    return { url };
  }
}

/** A database URL without its password, for messages. */
function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.href;
  } catch {
    return url;
  }
}

/** `--auth-backoff k=v,…`: fields of BackoffPolicy, each a non-negative integer. */
function parseBackoff(text: string): Partial<BackoffPolicy> {
  const out: Record<string, number> = {};
  for (const part of text.split(',')) {
    const [key, value, extra] = part.split('=').map((x) => x.trim());
    if (!key || !(key in defaultBackoffPolicy) || extra !== undefined || !/^\d{1,9}$/.test(value ?? '')) {
      throw new CliError(
        `--auth-backoff: expected k=v pairs with k one of ${Object.keys(defaultBackoffPolicy).join(', ')}, got "${part}"`,
        ExitCode.BadInput,
      );
    }
    out[key] = Number(value);
  }
  return out as Partial<BackoffPolicy>;
}
