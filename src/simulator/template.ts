/**
 * A simulated device's management tree: one shared, immutable template (the standard objects a
 * real omadm client has: DevInfo, DevDetail, the agent MO, a firmware-update style Exec) plus a
 * small per-device overlay holding only what servers changed. An idle device costs the overlay
 * (usually nothing), not a tree.
 */
import type { Alert, Item } from '../representation/index.ts';
import { dataText, StatusCode } from '../representation/index.ts';
import type { CommandHandler, CommandResult, TreeCommand } from '../protocol/index.ts';
import type { FumoOperation } from '../mo/index.ts';
import type { SimFumo, SimFumoDevice } from './fumo.ts';

/** A node of the template or of an overlay. */
export interface SimNode {
  /** Format: `node` for interior nodes. */
  readonly f: string;
  readonly t?: string;
  readonly v?: string;
  /** Permanent and read-only for servers (DevInfo, DevDetail). */
  readonly ro?: boolean;
  /**
   * Exec behaviour: answered at once (200), accepted (202) with a Generic Alert later, or a FUMO
   * operation (simulator/fumo.ts).
   */
  readonly x?: 'sync' | 'async' | 'fumo';
}

/** Values of one device that are not in the template (computed, never stored per device). */
export interface DeviceView {
  readonly devId: string;
}

export type Overlay = Map<string, SimNode | null>;

/** The template: URI → node; children lists are derived once. */
export class SimTemplate {
  readonly nodes: ReadonlyMap<string, SimNode>;
  readonly children: ReadonlyMap<string, readonly string[]>;

  constructor(entries: Readonly<Record<string, SimNode>>) {
    const nodes = new Map<string, SimNode>([['.', { f: 'node' }]]);
    for (const [uri, n] of Object.entries(entries)) {
      // Ancestors become interior nodes (read-only when the leaf is).
      const parts = uri.split('/');
      for (let i = 2; i < parts.length; i++) {
        const a = parts.slice(0, i).join('/');
        if (!nodes.has(a)) nodes.set(a, { f: 'node', ...(n.ro ? { ro: true } : {}) });
      }
      nodes.set(uri, n);
    }
    const children = new Map<string, string[]>();
    for (const uri of nodes.keys()) {
      if (uri === '.') continue;
      const p = parentOf(uri);
      let list = children.get(p);
      if (!list) {
        list = [];
        children.set(p, list);
      }
      list.push(uri.slice(p.length + 1));
    }
    this.nodes = nodes;
    this.children = children;
  }
}

export function parentOf(uri: string): string {
  const i = uri.lastIndexOf('/');
  return i <= 0 ? '.' : uri.slice(0, i);
}

/** `A/B`, `./A/B/`, `/A` → `./A/B` form; undefined when unusable. */
export function canonical(uri: string | undefined): string | undefined {
  if (uri === undefined) return undefined;
  let u = uri.trim();
  if (u === '.' || u === './' || u === '') return '.';
  if (u.endsWith('/')) u = u.slice(0, -1);
  if (!u.startsWith('./')) u = `./${u.replace(/^\/+/, '')}`;
  if (u.includes('//') || /\/\.\.?(\/|$)/.test(u.slice(1))) return undefined;
  return u;
}

/** The standard template every simulated device starts from. */
export function standardTemplate(): SimTemplate {
  const ro = (v: string, f = 'chr'): SimNode => ({ f, t: 'text/plain', v, ro: true });
  return new SimTemplate({
    './DevInfo/Man': ro('omadm-sim'),
    './DevInfo/Mod': ro('SimDevice-1'),
    './DevInfo/DmV': ro('1.2'),
    './DevInfo/Lang': ro('en-US'),
    './DevDetail/URI/MaxDepth': ro('20'),
    './DevDetail/URI/MaxTotLen': ro('512'),
    './DevDetail/URI/MaxSegLen': ro('128'),
    './DevDetail/DevTyp': ro('simulated'),
    './DevDetail/OEM': ro('omadm'),
    './DevDetail/FwV': ro('1.0.0'),
    './DevDetail/SwV': ro('omadm-sim/1'),
    './DevDetail/HwV': ro('sim'),
    './DevDetail/LrgObj': ro('true', 'bool'),
    './DevDetail/Ext/Host/MemTotal': ro('65536', 'int'),
    './DevDetail/Ext/Host/MemFree': ro('32768', 'int'),
    './DevDetail/Ext/Host/Uptime': ro('3600', 'int'),
    './Vendor/omadm/Agent/PollInterval': { f: 'int', t: 'text/plain', v: '3600' },
    './Vendor/omadm/Agent/Label': { f: 'chr', t: 'text/plain', v: '' },
    './Vendor/omadm/Agent/Ping': { f: 'null', x: 'sync' },
    './Vendor/omadm/Agent/SelfTest': { f: 'null', x: 'async' },
    // FUMO (objects.md §1.1), run for real by simulator/fumo.ts.
    './FUMO': { f: 'node', t: 'urn:oma:mo:oma-fumo:1.0' },
    './FUMO/PkgName': { f: 'chr', t: 'text/plain', v: '' },
    './FUMO/PkgVersion': { f: 'chr', t: 'text/plain', v: '' },
    './FUMO/Download': { f: 'node', x: 'fumo' },
    './FUMO/Download/PkgURL': { f: 'chr', t: 'text/plain', v: '' },
    './FUMO/Update': { f: 'node', x: 'fumo' },
    './FUMO/Update/PkgData': { f: 'bin', t: 'application/octet-stream', v: '' },
    './FUMO/DownloadAndUpdate': { f: 'node', x: 'fumo' },
    './FUMO/DownloadAndUpdate/PkgURL': { f: 'chr', t: 'text/plain', v: '' },
    './FUMO/State': { f: 'int', t: 'text/plain', v: '10', ro: true },
    './FUMO/Ext/SHA256': { f: 'chr', t: 'text/plain', v: '' },
  });
}

/** How long commands take on a simulated device. */
export type Timing = 'none' | 'realistic';

/** Milliseconds a command "runs" on a typical small device (flash write, MO callbacks). */
function delayOf(type: TreeCommand['type'], timing: Timing, random: () => number): number {
  if (timing === 'none') return 0;
  const [lo, hi] =
    type === 'Get' ? [0.2, 2] : type === 'Exec' ? [5, 20] : type === 'Delete' ? [1, 5] : [1, 6];
  return lo + random() * (hi - lo);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** State of one device the handler may change. */
export interface MutableDevice {
  /** Overlay; created on the first change. */
  ov: Overlay | undefined;
  /** Generic Alerts waiting for the next session. */
  al: { id: string; alert: Alert }[] | undefined;
}

export interface HandlerOptions {
  readonly template: SimTemplate;
  readonly device: MutableDevice;
  readonly view: DeviceView;
  readonly timing: Timing;
  readonly random: () => number;
  /** How long an accepted (202) Exec takes before its Generic Alert is ready (ms). */
  readonly asyncExecMs: number;
  readonly nextAlertId: () => string;
  /** Called when an accepted Exec's Generic Alert is ready. */
  readonly onAlert?: () => void;
  /** FUMO for real (Exec on ./FUMO/Download, Update, DownloadAndUpdate); without it those Execs are 405. */
  readonly fumo?: SimFumo;
}

/** The CommandHandler of one session of one simulated device. */
export function simHandler(o: HandlerOptions): CommandHandler {
  const { template, device, view } = o;

  const lookup = (uri: string): SimNode | undefined => {
    if (uri === './DevInfo/DevId') return { f: 'chr', t: 'text/plain', v: view.devId, ro: true };
    const ov = device.ov;
    if (ov?.has(uri)) return ov.get(uri) ?? undefined;
    return template.nodes.get(uri);
  };
  const childrenOf = (uri: string): string[] => {
    const out: string[] = [];
    for (const name of template.children.get(uri) ?? []) {
      const full = uri === '.' ? `./${name}` : `${uri}/${name}`;
      if (lookup(full)) out.push(name);
    }
    if (uri === './DevInfo') out.unshift('DevId');
    for (const [k, v] of device.ov ?? []) {
      if (v && parentOf(k) === uri) {
        const name = k.slice(uri.length + 1);
        if (!out.includes(name)) out.push(name);
      }
    }
    return out;
  };
  const set = (uri: string, node: SimNode | null) => {
    device.ov ??= new Map();
    device.ov.set(uri, node);
  };
  const fumoDevice: SimFumoDevice = {
    value: (uri) => lookup(uri)?.v,
    set: (uri, v) => {
      const base = lookup(uri) ?? template.nodes.get(uri);
      set(uri, { f: base?.f ?? 'chr', t: base?.t ?? 'text/plain', v, ...(base?.ro ? { ro: true } : {}) });
    },
    queueAlert: (alert) => {
      device.al ??= [];
      device.al.push({ id: o.nextAlertId(), alert });
      o.onAlert?.();
    },
  };

  const run = (cmd: TreeCommand): CommandResult => {
    const item = cmd.Item[0];
    const raw = item?.Target?.LocURI;
    if (cmd.type === 'Get') {
      const results: Item[] = [];
      let status: number = StatusCode.Ok;
      for (const it of cmd.Item) {
        const [path, query] = (it.Target?.LocURI ?? '').split('?', 2);
        const uri = canonical(path);
        if (!uri) return { status: StatusCode.BadRequest };
        const n = lookup(uri);
        if (!n) return { status: StatusCode.NotFound };
        let data: string;
        let format = n.f;
        if (query !== undefined) {
          const prop = /^prop=(\w+)$/.exec(query)?.[1];
          if (prop === 'Format') data = n.f;
          else if (prop === 'Type') data = n.t ?? '';
          else if (prop === 'Size' && n.f !== 'node') data = String(Buffer.byteLength(n.v ?? ''));
          else return { status: StatusCode.OptionalFeatureNotSupported };
          format = 'chr';
        } else {
          data = n.f === 'node' ? childrenOf(uri).join('/') : (n.v ?? '');
        }
        results.push({
          Source: { LocURI: it.Target?.LocURI ?? uri },
          Meta: { Format: format, ...(n.t && query === undefined ? { Type: n.t } : {}) },
          Data: { kind: 'text', text: data },
        });
        status = StatusCode.Ok;
      }
      return { status, results };
    }
    const uri = canonical(raw);
    if (!uri) return { status: StatusCode.BadRequest };
    const n = lookup(uri);
    const value = item ? dataText(item.Data) : '';
    const format = item?.Meta?.Format ?? cmd.Meta?.Format;
    const type = item?.Meta?.Type ?? cmd.Meta?.Type;
    switch (cmd.type) {
      case 'Replace': {
        if (!n) return { status: StatusCode.NotFound };
        if (n.ro || n.f === 'node') return { status: StatusCode.CommandNotAllowed };
        set(uri, { f: format ?? n.f, ...((type ?? n.t) ? { t: type ?? n.t } : {}), v: value });
        return { status: StatusCode.Ok };
      }
      case 'Add': {
        if (n) return { status: StatusCode.AlreadyExists };
        // Missing ancestors are created as interior nodes (like the real tree's implicit Add).
        const missing: string[] = [];
        let p = parentOf(uri);
        for (; p !== '.' && !lookup(p); p = parentOf(p)) missing.push(p);
        const anchor = lookup(p);
        if (anchor?.f !== 'node' || anchor.ro) return { status: StatusCode.CommandNotAllowed };
        for (const m of missing.reverse()) set(m, { f: 'node' });
        const f = format ?? (item?.Data === undefined ? 'node' : 'chr');
        set(
          uri,
          f === 'node' ? { f, ...(type ? { t: type } : {}) } : { f, t: type ?? 'text/plain', v: value },
        );
        return { status: StatusCode.Ok };
      }
      case 'Delete': {
        if (!n) return { status: StatusCode.NotFound };
        if (n.ro || uri === '.') return { status: StatusCode.CommandNotAllowed };
        const prefix = `${uri}/`;
        for (const k of template.nodes.keys()) if (k.startsWith(prefix)) set(k, null);
        for (const k of [...(device.ov?.keys() ?? [])]) if (k.startsWith(prefix)) set(k, null);
        set(uri, null);
        return { status: StatusCode.Ok };
      }
      case 'Copy': {
        const src = canonical(item?.Source?.LocURI);
        const s = src ? lookup(src) : undefined;
        if (!s || s.f === 'node') return { status: StatusCode.NotFound };
        if (n?.ro) return { status: StatusCode.CommandNotAllowed };
        set(uri, { f: s.f, ...(s.t ? { t: s.t } : {}), v: s.v ?? '' });
        return { status: StatusCode.Ok };
      }
      case 'Exec': {
        if (!n) return { status: StatusCode.NotFound };
        if (!n.x) return { status: StatusCode.CommandNotAllowed };
        if (n.x === 'sync') return { status: StatusCode.Ok };
        if (n.x === 'fumo') {
          if (!o.fumo) return { status: StatusCode.CommandNotAllowed };
          const op = uri.slice(uri.lastIndexOf('/') + 1) as FumoOperation;
          return { status: o.fumo.exec(view.devId, op, cmd.Correlator, fumoDevice) };
        }
        // Accepted: the result is reported by a Generic Alert in a later session (like FUMO).
        const correlator = cmd.Correlator;
        setTimeout(() => {
          device.al ??= [];
          device.al.push({
            id: o.nextAlertId(),
            alert: {
              type: 'Alert',
              CmdID: '0',
              Data: 1226,
              ...(correlator ? { Correlator: correlator } : {}),
              Item: [
                {
                  Source: { LocURI: uri },
                  Meta: { Type: 'org.omadm.exec.result', Format: 'int' },
                  Data: { kind: 'text', text: '200' },
                },
              ],
            },
          });
          o.onAlert?.();
        }, o.asyncExecMs).unref();
        return { status: StatusCode.AcceptedForProcessing };
      }
    }
  };

  return {
    async execute(cmd) {
      const ms = delayOf(cmd.type, o.timing, o.random);
      if (ms > 0) await sleep(ms);
      return run(cmd);
    },
    // Atomic on a simulated device: an undo log over the overlay.
    async begin() {
      const before = device.ov ? new Map(device.ov) : undefined;
      return {
        async commit() {},
        async rollback() {
          device.ov = before;
          return true;
        },
      };
    },
  };
}
