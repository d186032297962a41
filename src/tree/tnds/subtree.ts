/**
 * TNDS ↔ the engine's subtree snapshots (SubtreeNode): what `?list=TNDS` serializes and what an
 * Add/Replace carrying a TNDS (or a bootstrap) builds.
 */
import type { Format } from '../../representation/model.ts';
import { MgmtTreeError, MgmtTreeErrorCode } from '../ddf/errors.ts';
import type { MgmtNode, MgmtTree, NodeFormat, RtProperties } from '../ddf/model.ts';
import { isNodeFormat, typeString } from '../ddf/model.ts';
import type { SubtreeNode } from '../types.ts';
import { formatTStamp, valueSize } from '../value.ts';

/** Properties a `?list=TNDS` may select (RTProperties names plus `Value`). */
export const TndsProps = [
  'ACL',
  'Format',
  'Name',
  'Size',
  'Title',
  'TStamp',
  'Type',
  'VerNo',
  'Value',
] as const;
export type TndsProp = (typeof TndsProps)[number];

/** Every property by default: ACL, Format, Title, TStamp, Type, VerNo, Value (Name and Size are implied by NodeName/Value). */
const DEFAULT_PROPS: ReadonlySet<TndsProp> = new Set<TndsProp>([
  'ACL',
  'Format',
  'Title',
  'TStamp',
  'Type',
  'VerNo',
  'Value',
]);

/**
 * Parse the arguments of `?list=TNDS`: '' (all), `+ACL+Value` (only those), `-Format` (all but).
 * Returns undefined for a malformed or unsupported selection (answer 406). `Type` is always
 * written: the DTD makes it mandatory in RTProperties.
 */
export function parseTndsSelection(args: string): ReadonlySet<TndsProp> | undefined {
  if (args === '') return DEFAULT_PROPS;
  const sign = args[0];
  if (sign !== '+' && sign !== '-') return undefined;
  const names = args.slice(1).split(sign);
  const picked = new Set<TndsProp>();
  for (const n of names) {
    const prop = TndsProps.find((p) => p.toLowerCase() === n.toLowerCase());
    if (!prop) return undefined; // includes '' (e.g. `+ACL+`) and mixed signs (`+ACL-Format`)
    picked.add(prop);
  }
  if (sign === '+') return new Set<TndsProp>([...picked, 'Type']);
  const all = new Set<TndsProp>(DEFAULT_PROPS);
  for (const p of picked) if (p !== 'Type') all.delete(p);
  return all;
}

/** ISO 8601 basic or extended UTC timestamp → milliseconds (liberal on receive); undefined when unreadable. */
function parseTStampLiberal(text: string): number | undefined {
  const m = /^(\d{4})-?(\d{2})-?(\d{2})T(\d{2}):?(\d{2}):?(\d{2})(?:[.,]\d+)?Z?$/.exec(text.trim());
  if (!m) return undefined;
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
  return Number.isNaN(ms) ? undefined : ms;
}

export interface SubtreeToTndsOptions {
  /** Properties to write (default: all; see parseTndsSelection). */
  props?: ReadonlySet<TndsProp>;
  /** `Path` of the top node (URI of its parent); omitted by default (paths are relative to the target). */
  path?: string;
  /** Whether a node's Value may be written (e.g. false for DDF nodes without Get, like AAuthSecret). */
  readable?: (uri: string) => boolean;
  /** URI of the snapshot's start node, for `readable` (default `.`-relative name). */
  uri?: string;
  man?: string;
  mod?: string;
}

function toMgmtNode(
  node: SubtreeNode,
  uri: string,
  o: SubtreeToTndsOptions,
  props: ReadonlySet<TndsProp>,
): MgmtNode {
  const interior = node.format === 'node';
  const rt: RtProperties = {};
  if (props.has('ACL') && node.acl !== undefined) rt.acl = node.acl;
  if (props.has('Format')) rt.format = node.format;
  if (props.has('Name')) rt.name = node.name;
  if (props.has('Size') && !interior && node.data !== undefined) {
    rt.size = String(valueSize(node.data, node.format));
  }
  if (props.has('Title') && node.title) rt.title = node.title;
  if (props.has('TStamp') && node.tstamp) rt.tstamp = formatTStamp(node.tstamp);
  rt.type = interior ? { ddfName: node.type ?? '' } : { mime: node.type ? [node.type] : [] };
  if (props.has('VerNo') && node.verNo !== undefined) rt.verNo = String(node.verNo);
  const out: MgmtNode = { name: node.name, rt, children: [] };
  if (interior) {
    for (const c of node.children ?? []) out.children.push(toMgmtNode(c, `${uri}/${c.name}`, o, props));
  } else if (props.has('Value') && node.data !== undefined && (o.readable?.(uri) ?? true)) {
    // XML cannot carry raw bytes: binary values travel base64 (the WBXML writer keeps them as is).
    out.value = node.data;
  }
  return out;
}

/** A snapshot (start node and its subtree) as a TNDS document whose single top Node is the start node. */
export function subtreeToTnds(snapshot: SubtreeNode, options: SubtreeToTndsOptions = {}): MgmtTree {
  const props = options.props ?? DEFAULT_PROPS;
  const top = toMgmtNode(snapshot, options.uri ?? snapshot.name, options, props);
  if (options.path !== undefined) top.path = options.path;
  const tree: MgmtTree = { verDtd: '1.2', nodes: [top] };
  if (options.man !== undefined) tree.man = options.man;
  if (options.mod !== undefined) tree.mod = options.mod;
  return tree;
}

/** A top-level TNDS node to create: where (Path relative to the command target, as names) and what. */
export interface TndsPlacement {
  /** Names from the command's target URI to the parent of `node` (from the TNDS `Path`); [] = the target itself. */
  readonly parent: readonly string[];
  /** The node; its `name` is '' when the TNDS left it to the device (Inbox placement by Type). */
  readonly node: SubtreeNode;
}

function decodeValue(
  format: NodeFormat,
  value: string | Uint8Array | undefined,
): string | Uint8Array | undefined {
  if (value === undefined) return undefined;
  if (format === 'bin' && typeof value === 'string') {
    const clean = value.replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(clean) || clean.length % 4 === 1) {
      throw new MgmtTreeError(MgmtTreeErrorCode.BadValue, 'a bin Value in XML must be base64');
    }
    return new Uint8Array(Buffer.from(clean, 'base64'));
  }
  if (format !== 'bin' && value instanceof Uint8Array) return new TextDecoder().decode(value);
  return value;
}

function pathNames(path: string | undefined): string[] {
  if (path === undefined) return [];
  const p = path.trim();
  if (p === '' || p === '.' || p === './') return [];
  const rel = p.startsWith('./') ? p.slice(2) : p.startsWith('/') ? p.slice(1) : p;
  const names = rel.split('/').filter((s) => s !== '');
  if (names.some((s) => s === '..' || s === '.')) {
    throw new MgmtTreeError(MgmtTreeErrorCode.BadValue, `Path ${JSON.stringify(path)} leaves the target`);
  }
  return names.map((s) => {
    try {
      return decodeURIComponent(s);
    } catch {
      throw new MgmtTreeError(MgmtTreeErrorCode.BadValue, `Path ${JSON.stringify(path)} has a bad %-escape`);
    }
  });
}

function toSubtree(node: MgmtNode, where: string): SubtreeNode {
  const rt = node.rt ?? {};
  // Liberal: without Format, a node with children (or without Value) is interior.
  const format: Format = rt.format ?? (node.children.length > 0 || node.value === undefined ? 'node' : 'chr');
  if (!isNodeFormat(format)) throw new MgmtTreeError(MgmtTreeErrorCode.BadValue, `bad format at ${where}`);
  if (node.name.includes('/') || node.name === '.' || node.name === '..') {
    throw new MgmtTreeError(MgmtTreeErrorCode.BadValue, `bad NodeName ${JSON.stringify(node.name)}`, where);
  }
  const out: {
    name: string;
    format: Format;
    type?: string;
    acl?: string;
    title?: string;
    tstamp?: number;
    verNo?: number;
    data?: string | Uint8Array;
    children?: SubtreeNode[];
  } = { name: node.name, format };
  const type = typeString(rt.type);
  if (type !== '') out.type = type;
  if (rt.acl !== undefined && rt.acl !== '') out.acl = rt.acl;
  if (rt.title !== undefined && rt.title !== '') out.title = rt.title;
  if (rt.tstamp) {
    const ms = parseTStampLiberal(rt.tstamp);
    if (ms !== undefined) out.tstamp = ms;
  }
  if (rt.verNo !== undefined && /^\d{1,5}$/.test(rt.verNo)) out.verNo = Number(rt.verNo) & 0xffff;
  if (format === 'node') {
    if (node.value !== undefined && node.value !== '') {
      throw new MgmtTreeError(MgmtTreeErrorCode.BadStructure, 'an interior node with a Value', where);
    }
    const names = new Set<string>();
    out.children = node.children.map((c, i) => {
      if (c.name === '')
        throw new MgmtTreeError(MgmtTreeErrorCode.MissingElement, 'a nested Node without NodeName', where);
      if (names.has(c.name))
        throw new MgmtTreeError(MgmtTreeErrorCode.BadStructure, `duplicate node ${c.name}`, where);
      names.add(c.name);
      return toSubtree(c, `${where}/Node[${i + 1}]`);
    });
  } else {
    if (node.children.length > 0) {
      throw new MgmtTreeError(MgmtTreeErrorCode.BadStructure, `a ${format} leaf with child Nodes`, where);
    }
    const data = decodeValue(format, node.value);
    if (data !== undefined) out.data = data;
  }
  return out;
}

/**
 * The subtrees a TNDS asks to create, in document order, each under its Path (relative to the
 * command's target URI). @throws MgmtTreeError for a structure that cannot be a tree.
 */
export function tndsToSubtrees(tree: MgmtTree): TndsPlacement[] {
  return tree.nodes.map((node, i) => ({
    parent: pathNames(node.path),
    node: toSubtree(node, `MgmtTree/Node[${i + 1}]`),
  }));
}
