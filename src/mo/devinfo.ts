/**
 * DevInfo and DevDetail: values supplied by the embedding application (or read from the host),
 * written into the permanent nodes their DDFs create. Servers only read them.
 */
import { readFileSync } from 'node:fs';
import { arch, hostname, machine, release, type } from 'node:os';
import { StatusCode } from '../representation/index.ts';
import type { NodeInput } from '../tree/index.ts';
import { StandardUri } from './ids.ts';

/** `./DevInfo` (protocol.md §7.2), sent in every Package 1. */
export interface DevInfoValues {
  /** Unique device id, a URN (`IMEI:…`, `MEID:…`, `urn:uuid:…`); also the SyncHdr Source LocURI. */
  devId: string;
  /** Manufacturer. */
  man: string;
  /** Model. */
  mod: string;
  /** DM client version. */
  dmV: string;
  /** Current language, RFC 1766 tag (e.g. `en-US`). */
  lang: string;
}

/** `./DevDetail` (protocol.md §7.3); URI limits come from the tree itself. */
export interface DevDetailValues {
  /** Device type, e.g. `phone`, `pda`, `computer`, `gateway`. */
  devTyp: string;
  oem: string;
  fwV: string;
  swV: string;
  hwV: string;
  /** Large objects supported (the client engine does support them). */
  lrgObj: boolean;
}

/** What writing values needs from the tree (ManagementTree has both). */
export interface ValueTarget {
  ensure(uri: string, input?: NodeInput): Promise<StatusCode>;
  replace(uri: string, input: NodeInput): Promise<StatusCode>;
}

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version?: unknown;
    };
    return typeof pkg.version === 'string' ? pkg.version : '0';
  } catch {
    return '0';
  }
}

/** A stable id for this host: `/etc/machine-id` as a UUID URN, else one derived from the host name. */
export function hostDevId(): string {
  for (const file of ['/etc/machine-id', '/var/lib/dbus/machine-id']) {
    try {
      const id = readFileSync(file, 'utf8').trim().toLowerCase();
      if (/^[0-9a-f]{32}$/.test(id)) {
        return `urn:uuid:${id.slice(0, 8)}-${id.slice(8, 12)}-${id.slice(12, 16)}-${id.slice(16, 20)}-${id.slice(20)}`;
      }
    } catch {
      // not on this system
    }
  }
  return `urn:host:${encodeURIComponent(hostname())}`;
}

function hostLang(): string {
  const raw = process.env.LC_ALL || process.env.LC_MESSAGES || process.env.LANG || '';
  const m = /^([a-z]{2,3})(?:_([A-Z]{2}))?/.exec(raw);
  if (m) return m[2] ? `${m[1]}-${m[2]}` : m[1]!;
  return Intl.DateTimeFormat().resolvedOptions().locale || 'en';
}

/** DevInfo of the machine this runs on; any field can be overridden. */
export function hostDevInfo(overrides: Partial<DevInfoValues> = {}): DevInfoValues {
  return {
    devId: hostDevId(),
    man: 'omadm',
    mod: `${type()}-${arch()}`,
    dmV: `omadm/${packageVersion()}`,
    lang: hostLang(),
    ...overrides,
  };
}

/** DevDetail of the machine this runs on; any field can be overridden. */
export function hostDevDetail(overrides: Partial<DevDetailValues> = {}): DevDetailValues {
  return {
    devTyp: 'computer',
    oem: type(),
    fwV: release(),
    swV: `omadm/${packageVersion()} node/${process.versions.node}`,
    hwV: machine(),
    lrgObj: true,
    ...overrides,
  };
}

async function write(
  tree: ValueTarget,
  uri: string,
  format: 'chr' | 'bool',
  data: string,
): Promise<StatusCode> {
  const ensured = await tree.ensure(uri, { format, type: 'text/plain', data, permanent: true });
  if (ensured !== StatusCode.Ok) return ensured;
  return tree.replace(uri, { format, type: 'text/plain', data });
}

async function writeAll(tree: ValueTarget, entries: [string, 'chr' | 'bool', string][]): Promise<StatusCode> {
  for (const [uri, format, data] of entries) {
    const s = await write(tree, uri, format, data);
    if (s !== StatusCode.Ok) return s;
  }
  return StatusCode.Ok;
}

/** Write DevInfo values (as the device). Returns 200 or the failing status. */
export function writeDevInfo(tree: ValueTarget, values: DevInfoValues, base: string = StandardUri.DevInfo) {
  return writeAll(tree, [
    [`${base}/DevId`, 'chr', values.devId],
    [`${base}/Man`, 'chr', values.man],
    [`${base}/Mod`, 'chr', values.mod],
    [`${base}/DmV`, 'chr', values.dmV],
    [`${base}/Lang`, 'chr', values.lang],
  ]);
}

/** Write DevDetail values and the tree's URI limits (as the device). Returns 200 or the failing status. */
export function writeDevDetail(
  tree: ValueTarget,
  values: DevDetailValues,
  limits: { maxDepth: number; maxTotLen: number; maxSegLen: number },
  base: string = StandardUri.DevDetail,
) {
  return writeAll(tree, [
    [`${base}/URI/MaxDepth`, 'chr', String(limits.maxDepth)],
    [`${base}/URI/MaxTotLen`, 'chr', String(limits.maxTotLen)],
    [`${base}/URI/MaxSegLen`, 'chr', String(limits.maxSegLen)],
    [`${base}/DevTyp`, 'chr', values.devTyp],
    [`${base}/OEM`, 'chr', values.oem],
    [`${base}/FwV`, 'chr', values.fwV],
    [`${base}/SwV`, 'chr', values.swV],
    [`${base}/HwV`, 'chr', values.hwV],
    [`${base}/LrgObj`, 'bool', values.lrgObj ? 'true' : 'false'],
  ]);
}
