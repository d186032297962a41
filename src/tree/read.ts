/**
 * The read operations: Get of a node, of a property (`?prop=`) and of a list (`?list=Struct`,
 * `StructData` or a registered format such as TNDS), and the snapshot of a subtree. They check
 * access and describe nodes; they never write to the scope's journal.
 */
import { type Format, StatusCode } from '../representation/index.ts';
import { allowed, parse, schemaCheck } from './access.ts';
import { AclCommand } from './acl.ts';
import { type NodeInfo, nodeInfo } from './node-info.ts';
import { Property } from './property.ts';
import type { Scope } from './scope.ts';
import type { GetOutcome, NodeData, Principal, SnapshotOutcome, SubtreeNode, TreeItem } from './types.ts';
import { formatUri, type ListQuery } from './uri.ts';
import { formatTStamp, valueSize } from './value.ts';

const S = StatusCode;

/** Get: a node, one of its properties (`?prop=`) or a list of its subtree (`?list=`). */
export async function getNode(scope: Scope, uri: string, who: Principal): Promise<GetOutcome> {
  const parsed = parse(scope, uri);
  if (typeof parsed === 'number') return { status: parsed, items: [] };
  const info = await nodeInfo(scope, parsed.path, who);
  if (typeof info === 'number') return { status: info, items: [] };
  const refused = schemaCheck(scope, {
    op: 'Get',
    path: info.path,
    prop: parsed.prop,
    local: who.kind === 'local',
  });
  if (refused !== undefined) return { status: refused, items: [] };
  if (!allowed(scope, who, AclCommand.Get, info.path)) return { status: S.PermissionDenied, items: [] };
  if (parsed.prop !== undefined) return getProperty(uri, info, parsed.prop);
  if (parsed.list !== undefined) return getList(scope, info, parsed.list, who);
  return { status: S.Ok, items: [itemOf(uri, info)] };
}

function getProperty(uri: string, info: NodeInfo, prop: string): GetOutcome {
  let value: string;
  switch (prop) {
    case Property.ACL:
      value = info.acl;
      break;
    case Property.Format:
      value = info.format;
      break;
    case Property.Name:
      value = info.path[info.path.length - 1] ?? '.';
      break;
    case Property.Size:
      if (info.format === 'node') return { status: S.OptionalFeatureNotSupported, items: [] };
      value = String(info.data === undefined ? 0 : valueSize(info.data, info.format));
      break;
    case Property.Title:
      value = info.title;
      break;
    case Property.TStamp:
      value = info.tstamp ? formatTStamp(info.tstamp) : '';
      break;
    case Property.Type:
      value = info.type;
      break;
    case Property.VerNo:
      value = String(info.verNo);
      break;
    case Property.CaseSense:
      if (!info.caseSense) return { status: S.OptionalFeatureNotSupported, items: [] };
      value = info.caseSense;
      break;
    default:
      return { status: S.OptionalFeatureNotSupported, items: [] };
  }
  return { status: S.Ok, items: [{ uri, format: 'chr', type: 'text/plain', data: value }] };
}

async function getList(scope: Scope, info: NodeInfo, list: ListQuery, who: Principal): Promise<GetOutcome> {
  if (list.name === 'Struct' || list.name === 'StructData') {
    if (list.args !== '') return { status: S.OptionalFeatureNotSupported, items: [] };
    const withData = list.name === 'StructData';
    const items: TreeItem[] = [];
    const visit = async (n: NodeInfo): Promise<void> => {
      const item: { uri: string; format: Format; type: string; data?: NodeData } = {
        uri: formatUri(n.path),
        format: n.format,
        type: n.type,
      };
      if (withData && n.format !== 'node') item.data = n.data ?? '';
      items.push(item);
      for (const child of await readableChildren(scope, n, who)) await visit(child);
    };
    await visit(info);
    return { status: S.Ok, items };
  }
  const serializer = scope.core.listFormat(list.name);
  if (!serializer) return { status: S.OptionalFeatureNotSupported, items: [] };
  const snap = await subtreeOf(scope, info, who);
  const out = serializer(snap, formatUri(info.path), list.args);
  if (typeof out === 'number') return { status: out, items: [] };
  return { status: S.Ok, items: [out] };
}

/** Children the principal may Get (protocol.md §6.5: only nodes the server may read). */
async function readableChildren(scope: Scope, n: NodeInfo, who: Principal): Promise<NodeInfo[]> {
  const out: NodeInfo[] = [];
  for (const name of n.children ?? []) {
    const child = await nodeInfo(scope, [...n.path, name], who);
    if (typeof child === 'number') continue;
    if (schemaCheck(scope, { op: 'Get', path: child.path, local: who.kind === 'local' }) !== undefined)
      continue;
    if (!allowed(scope, who, AclCommand.Get, child.path)) continue;
    out.push(child);
  }
  return out;
}

async function subtreeOf(scope: Scope, info: NodeInfo, who: Principal): Promise<SubtreeNode> {
  const children: SubtreeNode[] = [];
  for (const child of await readableChildren(scope, info, who))
    children.push(await subtreeOf(scope, child, who));
  const out: {
    name: string;
    format: Format;
    type?: string;
    acl?: string;
    title?: string;
    tstamp?: number;
    verNo?: number;
    data?: NodeData;
    children?: SubtreeNode[];
  } = { name: info.path[info.path.length - 1] ?? '.', format: info.format };
  if (info.type) out.type = info.type;
  if (info.acl) out.acl = info.acl;
  if (info.title) out.title = info.title;
  if (info.tstamp) out.tstamp = info.tstamp;
  out.verNo = info.verNo;
  if (info.format === 'node') out.children = children;
  else out.data = info.data ?? '';
  return out;
}

/** The subtree at `uri` as the principal may read it (nodes it may not Get are left out). */
export async function snapshotNode(scope: Scope, uri: string, who: Principal): Promise<SnapshotOutcome> {
  const parsed = parse(scope, uri);
  if (typeof parsed === 'number') return { status: parsed, uri };
  if (parsed.prop !== undefined || parsed.list !== undefined) return { status: S.CommandNotAllowed, uri };
  const info = await nodeInfo(scope, parsed.path, who);
  if (typeof info === 'number') return { status: info, uri };
  const refused = schemaCheck(scope, { op: 'Get', path: info.path, local: who.kind === 'local' });
  if (refused !== undefined) return { status: refused, uri };
  if (!allowed(scope, who, AclCommand.Get, info.path)) return { status: S.PermissionDenied, uri };
  return { status: S.Ok, uri: formatUri(info.path), node: await subtreeOf(scope, info, who) };
}

function itemOf(uri: string, info: NodeInfo): TreeItem {
  if (info.format === 'node') {
    return { uri, format: 'node', type: info.type, data: (info.children ?? []).map(escapeName).join('/') };
  }
  return { uri, format: info.format, type: info.type, data: info.data ?? '' };
}

function escapeName(name: string): string {
  const uri = formatUri([name]);
  return uri.slice(2);
}
