/**
 * The agent's configuration file (`agent.json` in its data directory). Secrets are not in it:
 * they live in the DMAcc account of the persisted tree, next to the nonces.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { AuthMode } from '../protocol/index.ts';
import { ClientError, ClientErrorCode } from './errors.ts';

export interface AgentConfig {
  /** DM endpoint (`http://host:8080/dm`). */
  readonly server: string;
  /** DevId (SyncHdr Source, `./DevInfo/DevId`). */
  readonly deviceId: string;
  /** DMAcc ServerID (default `omadm`). */
  readonly serverId: string;
  readonly auth: AuthMode;
  readonly encoding: 'xml' | 'wbxml';
  /** Seconds between periodic sessions (0: only at start and on demand). */
  readonly interval: number;
  /** UDP port to receive Package 0 on. */
  readonly listenUdp?: number;
  /** Files (PEM) for HTTPS: trusted CA, client certificate and key. */
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  /** DevInfo Man/Mod overrides. */
  readonly man?: string;
  readonly mod?: string;
  /** Bootstrap key material for pushed bootstraps (objects.md §7): user PIN and IMSI. */
  readonly pin?: string;
  readonly imsi?: string;
  /** FUMO (docs/fumo.md): mounted at `./FUMO` when `hook` or `rauc` is set. */
  readonly fumo?: FumoConfig;
}

/** The `fumo` section of agent.json. */
export interface FumoConfig {
  /** Install hook executable (relative to the file's directory). */
  readonly hook?: string;
  /** Install with RAUC (`true`, or the path of the rauc executable). */
  readonly rauc?: boolean | string;
  /** Largest package, bytes. */
  readonly maxSize?: number;
  /** Shell command run after an install that needs a restart. */
  readonly rebootCommand?: string;
  /** Keep the package after a successful update (State 90). */
  readonly keepPackage?: boolean;
  /** Longest hook run, seconds. */
  readonly hookTimeout?: number;
}

function validateFumo(raw: unknown): FumoConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) bad('"fumo" must be an object');
  const o = raw as Record<string, unknown>;
  const known = ['hook', 'rauc', 'maxSize', 'rebootCommand', 'keepPackage', 'hookTimeout'];
  for (const k of Object.keys(o))
    if (!known.includes(k)) bad(`"fumo.${k}" is not a FUMO setting (${known.join(', ')})`);
  const out: Record<string, unknown> = {};
  if (o.hook !== undefined) {
    if (typeof o.hook !== 'string' || o.hook === '') bad('"fumo.hook" must be a path');
    out.hook = o.hook;
  }
  if (o.rauc !== undefined) {
    if (typeof o.rauc !== 'boolean' && (typeof o.rauc !== 'string' || o.rauc === ''))
      bad('"fumo.rauc" must be true/false or the path of rauc');
    out.rauc = o.rauc;
  }
  if (out.hook !== undefined && out.rauc) bad('"fumo.hook" and "fumo.rauc" exclude each other');
  for (const k of ['maxSize', 'hookTimeout']) {
    const v = o[k];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0)
      bad(`"fumo.${k}" must be a positive integer`);
    out[k] = v;
  }
  if (o.rebootCommand !== undefined) {
    if (typeof o.rebootCommand !== 'string') bad('"fumo.rebootCommand" must be a string');
    out.rebootCommand = o.rebootCommand;
  }
  if (o.keepPackage !== undefined) {
    if (typeof o.keepPackage !== 'boolean') bad('"fumo.keepPackage" must be true or false');
    out.keepPackage = o.keepPackage;
  }
  return out as FumoConfig;
}

/** `64M`, `1G`, `65536` → bytes (CLI sizes). */
export function parseSize(text: string): number | undefined {
  const m = /^(\d+)\s*([kKmMgG]i?[bB]?)?$/.exec(text.trim());
  if (!m) return undefined;
  const unit = (m[2] ?? '').charAt(0).toLowerCase();
  const n = Number(m[1]) * (unit === 'k' ? 1024 : unit === 'm' ? 1024 ** 2 : unit === 'g' ? 1024 ** 3 : 1);
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

export const CONFIG_FILE = 'agent.json';
const AUTH_MODES: readonly AuthMode[] = ['basic', 'md5', 'hmac', 'transport', 'none'];

function bad(message: string): never {
  throw new ClientError(ClientErrorCode.Config, message);
}

/** Checks a parsed config object; throws ClientError (Config) naming the bad field. */
export function validateConfig(raw: unknown): AgentConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    bad('the configuration must be a JSON object');
  const o = raw as Record<string, unknown>;
  const str = (k: string, required: boolean): string | undefined => {
    const v = o[k];
    if (v === undefined && !required) return undefined;
    if (typeof v !== 'string' || v === '') bad(`"${k}" must be a non-empty string`);
    return v;
  };
  const server = str('server', true)!;
  try {
    const u = new URL(server);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error();
  } catch {
    bad(`"server" must be an http(s) URL, not ${server}`);
  }
  const auth = (o.auth ?? 'md5') as AuthMode;
  if (!AUTH_MODES.includes(auth)) bad(`"auth" must be one of ${AUTH_MODES.join(', ')}`);
  const encoding = o.encoding ?? 'xml';
  if (encoding !== 'xml' && encoding !== 'wbxml') bad('"encoding" must be xml or wbxml');
  const interval = o.interval ?? 3600;
  if (typeof interval !== 'number' || !Number.isFinite(interval) || interval < 0)
    bad('"interval" must be a number of seconds ≥ 0');
  const listenUdp = o.listenUdp;
  if (
    listenUdp !== undefined &&
    (!Number.isInteger(listenUdp) || (listenUdp as number) < 0 || (listenUdp as number) > 65535)
  )
    bad('"listenUdp" must be a port number');
  const opt = (k: string) => {
    const v = str(k, false);
    return v === undefined ? {} : { [k]: v };
  };
  return {
    server,
    deviceId: str('deviceId', true)!,
    serverId: str('serverId', false) ?? 'omadm',
    auth,
    encoding,
    interval,
    ...(listenUdp === undefined ? {} : { listenUdp: listenUdp as number }),
    ...opt('ca'),
    ...opt('cert'),
    ...opt('key'),
    ...opt('man'),
    ...opt('mod'),
    ...opt('pin'),
    ...opt('imsi'),
    ...(o.fumo === undefined ? {} : { fumo: validateFumo(o.fumo) }),
  };
}

/** Reads a config file; relative file paths inside it are taken from the file's directory. */
export function readConfig(file: string): AgentConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    bad(`cannot read ${file}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    bad(`${file} is not JSON: ${(err as Error).message}`);
  }
  const c = validateConfig(parsed);
  const base = dirname(resolve(file));
  const abs = (p: string | undefined) => (p === undefined ? {} : resolve(base, p));
  return {
    ...c,
    ...(c.ca ? { ca: abs(c.ca) as string } : {}),
    ...(c.cert ? { cert: abs(c.cert) as string } : {}),
    ...(c.key ? { key: abs(c.key) as string } : {}),
    ...(c.fumo
      ? {
          fumo: {
            ...c.fumo,
            ...(c.fumo.hook ? { hook: abs(c.fumo.hook) as string } : {}),
            ...(typeof c.fumo.rauc === 'string' && c.fumo.rauc.includes('/')
              ? { rauc: abs(c.fumo.rauc) as string }
              : {}),
          },
        }
      : {}),
  };
}

/** Writes `agent.json` into the data directory (atomically). */
export function writeConfig(dataDir: string, config: AgentConfig): string {
  const file = join(dataDir, CONFIG_FILE);
  // It may name secrets (the account's AAuthSecret, a key file): owner only.
  writeFileSync(`${file}.tmp`, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
  return file;
}

export function configExists(dataDir: string): boolean {
  return existsSync(join(dataDir, CONFIG_FILE));
}
