/**
 * The write operations on one node: Add (with implicit interior ancestors), Replace of a value,
 * Delete, Copy, and stripping a removed server from every ACL. Each records its mutations,
 * change events and plugin participants in the scope; none is a savepoint by itself (see
 * operations.ts).
 */
import { type Format, StatusCode } from '../representation/index.ts';
import { allowed, checkValue, parse, schemaCheck, serverIdOf } from './access.ts';
import { AclCommand, aclFor, aclWithoutServer, normalizeAcl } from './acl.ts';
import { TreeError } from './errors.ts';
import { chainPath, nodeInfo, type PluginRef, resolve } from './node-info.ts';
import type { NodeFields, NodeRecord, OverlayProps, TreeNode } from './node.ts';
import { callPlugin, pluginContext, pluginInfo } from './plugin.ts';
import { bumped, replaceProperty } from './property.ts';
import { isSuccess, type Scope } from './scope.ts';
import type { NodeInput, Principal } from './types.ts';
import { formatUri } from './uri.ts';

const S = StatusCode;

/** Add, creating missing interior ancestors; `ensure` answers 200 for an existing node, `op` names the event (Copy). */
export async function addNode(
  scope: Scope,
  uri: string,
  input: NodeInput,
  who: Principal,
  ensure: boolean,
  op: 'Add' | 'Copy' = 'Add',
): Promise<StatusCode> {
  const parsed = parse(scope, uri);
  if (typeof parsed === 'number') return parsed;
  if (parsed.prop !== undefined || parsed.list !== undefined) return S.CommandNotAllowed;
  const path = parsed.path;
  // No Meta Format: the DDF's format for this node when it describes one, else chr.
  const format: Format = input.format ?? scope.core.schema?.defaultsFor?.(path)?.format ?? 'chr';
  const bad = checkValue(scope, input, format);
  if (bad !== undefined) return bad;
  const res = resolve(scope.core.state, path);
  if (res.kind === 'engine') return ensure ? S.Ok : S.AlreadyExists;
  if (res.kind === 'plugin') return addToPlugin(scope, res.ref, res.chain, input, format, who, ensure);
  const parent = res.chain[res.chain.length - 1]!;
  const parentPath = chainPath(res.chain);
  if (!parent.children) return S.CommandNotAllowed;
  const missing = path.slice(parentPath.length);
  if (missing.length > 1 && !scope.core.implicitAdd && !ensure) return S.NotFound;
  const local = who.kind === 'local';
  const fullPath = [...parentPath, ...missing];
  // Schema: the implicit ancestors as interior Adds, then the node itself.
  for (let i = 1; i < missing.length; i++) {
    const refused = schemaCheck(scope, {
      op: 'Add',
      path: fullPath.slice(0, parentPath.length + i),
      format: 'node',
      local,
    });
    if (refused !== undefined) return refused;
  }
  const refused = schemaCheck(scope, {
    op: 'Add',
    path: fullPath,
    format,
    type: input.type,
    data: input.data,
    local,
  });
  if (refused !== undefined) return refused;
  if (!allowed(scope, who, AclCommand.Add, parentPath)) return S.PermissionDenied;
  // An interior node created by a server without Replace on the parent gets an ACL for that
  // server (protocol.md §6.4); Get is included so the creator can still read what it made.
  const creatorAcl =
    who.kind === 'server' && !allowed(scope, who, AclCommand.Replace, parentPath)
      ? aclFor(who.serverId, [AclCommand.Add, AclCommand.Delete, AclCommand.Get, AclCommand.Replace])
      : '';
  let acl = '';
  if (local && input.acl !== undefined) {
    try {
      acl = normalizeAcl(input.acl);
    } catch (err) {
      if (err instanceof TreeError) return err.status;
      throw err;
    }
  }
  const now = scope.core.now();
  const serverId = serverIdOf(who);
  for (let i = 1; i <= missing.length; i++) {
    const p = fullPath.slice(0, parentPath.length + i);
    const last = i === missing.length;
    const nodeFormat: Format = last ? format : 'node';
    const defaults = scope.core.schema?.defaultsFor?.(p);
    const record: NodeRecord = { f: nodeFormat, ts: now };
    const type = last
      ? (input.type ?? defaults?.type ?? (format === 'node' ? undefined : 'text/plain'))
      : defaults?.type;
    if (type) record.y = type;
    if (last && acl !== '') record.a = acl;
    else if (i === 1 && nodeFormat === 'node' && creatorAcl !== '') record.a = creatorAcl;
    if (last && local && input.title) record.ti = input.title;
    if (local && input.permanent && (last || ensure)) record.pm = 1;
    const cs = (last && local ? input.caseSense : undefined) ?? defaults?.caseSense;
    if (cs) record.cs = cs;
    if (last && format !== 'node') {
      const d = input.data ?? '';
      if (typeof d === 'string') record.d = d;
      else record.b = Buffer.from(d.buffer, d.byteOffset, d.byteLength).toString('base64');
    }
    scope.apply({ o: 'put', p, n: record });
    scope.event({ uri: formatUri(p), op: last ? op : 'Add', serverId });
  }
  scope.touch(parentPath);
  return S.Ok;
}

async function addToPlugin(
  scope: Scope,
  ref: PluginRef,
  chain: readonly TreeNode[],
  input: NodeInput,
  format: Format,
  who: Principal,
  ensure: boolean,
): Promise<StatusCode> {
  const path = [...ref.mountPath, ...ref.rel];
  const existing = await pluginInfo(scope, ref, chain, who);
  if (typeof existing !== 'number') return ensure ? S.Ok : S.AlreadyExists;
  if (existing !== S.NotFound) return existing;
  if (ref.rel.length === 0) return S.CommandFailed; // a mount node always exists
  const parentRef: PluginRef = { ...ref, rel: ref.rel.slice(0, -1) };
  const parent = await pluginInfo(scope, parentRef, chain, who);
  if (typeof parent === 'number') return parent;
  if (parent.format !== 'node') return S.CommandNotAllowed;
  const refused = schemaCheck(scope, {
    op: 'Add',
    path,
    format,
    type: input.type,
    data: input.data,
    local: who.kind === 'local',
  });
  if (refused !== undefined) return refused;
  if (!allowed(scope, who, AclCommand.Add, parent.path)) return S.PermissionDenied;
  if (!ref.mo.add) return S.CommandNotAllowed;
  const notJoined = scope.enlist(ref.mo);
  if (notJoined !== undefined) return notJoined;
  const status = await callPlugin(() =>
    ref.mo.add!(ref.rel, { ...input, format }, pluginContext(scope, who)),
  );
  if (!isSuccess(status)) return status;
  const props: Partial<OverlayProps> = { tstamp: scope.core.now() };
  if (who.kind === 'server' && format === 'node' && !allowed(scope, who, AclCommand.Replace, parent.path)) {
    props.acl = aclFor(who.serverId, [AclCommand.Add, AclCommand.Delete, AclCommand.Get, AclCommand.Replace]);
  } else if (who.kind === 'local' && input.acl) {
    props.acl = normalizeAclOr(input.acl);
  }
  scope.apply({ o: 'ovs', p: path, n: props });
  scope.touch(ref.mountPath);
  scope.event({ uri: formatUri(path), op: 'Add', serverId: serverIdOf(who) });
  return S.Ok;
}

/** Replace of a leaf value, or of a property when the URI has `?prop=`; `op` names the event (Copy). */
export async function replaceNode(
  scope: Scope,
  uri: string,
  input: NodeInput,
  who: Principal,
  op: 'Replace' | 'Copy',
): Promise<StatusCode> {
  const parsed = parse(scope, uri);
  if (typeof parsed === 'number') return parsed;
  if (parsed.list !== undefined) return S.CommandNotAllowed;
  const info = await nodeInfo(scope, parsed.path, who);
  if (typeof info === 'number') return info;
  if (parsed.prop !== undefined) return replaceProperty(scope, info, parsed.prop, input, who);
  const format: Format = input.format ?? info.format;
  const type =
    input.type ?? (input.format === undefined || input.format === info.format ? info.type : 'text/plain');
  if (info.format === 'node' || format === 'node') return S.CommandNotAllowed;
  const bad = checkValue(scope, input, format);
  if (bad !== undefined) return bad;
  if (info.permanent && (format !== info.format || (input.type !== undefined && input.type !== info.type))) {
    return S.CommandNotAllowed;
  }
  const refused = schemaCheck(scope, {
    op: 'Replace',
    path: info.path,
    format,
    type,
    data: input.data,
    local: who.kind === 'local',
  });
  if (refused !== undefined) return refused;
  if (!allowed(scope, who, AclCommand.Replace, info.path)) return S.PermissionDenied;
  const data = input.data ?? '';
  if (info.plugin) {
    const { mo, rel } = info.plugin;
    if (!mo.replace) return S.CommandNotAllowed;
    const notJoined = scope.enlist(mo);
    if (notJoined !== undefined) return notJoined;
    const status = await callPlugin(() =>
      mo.replace!(rel, { format, type, data }, pluginContext(scope, who)),
    );
    if (!isSuccess(status)) return status;
    if (rel.length > 0) scope.apply({ o: 'ovs', p: info.path, n: bumped(info, scope.core.now()) });
  } else {
    const fields: NodeFields = { f: format, y: type };
    if (typeof data === 'string') {
      fields.d = data;
    } else {
      fields.b = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64');
    }
    scope.apply({ o: 'set', p: info.path, n: fields });
  }
  scope.touch(info.path);
  scope.event({ uri: formatUri(info.path), op, serverId: serverIdOf(who) });
  return S.Ok;
}

/** Delete of a node and everything below it (never the root or a mount node; a server cannot delete what is permanent). */
export async function deleteNode(scope: Scope, uri: string, who: Principal): Promise<StatusCode> {
  const parsed = parse(scope, uri);
  if (typeof parsed === 'number') return parsed;
  if (parsed.prop !== undefined || parsed.list !== undefined) return S.CommandNotAllowed;
  if (parsed.path.length === 0) return S.CommandNotAllowed;
  const info = await nodeInfo(scope, parsed.path, who);
  if (typeof info === 'number') return info;
  if (info.permanent && who.kind === 'server') return S.CommandNotAllowed;
  if (info.node && who.kind === 'server' && hasProtectedBelow(info.node)) return S.CommandNotAllowed;
  if (info.node?.mount) return S.CommandNotAllowed; // a mount node stays while mounted
  const refused = schemaCheck(scope, { op: 'Delete', path: info.path, local: who.kind === 'local' });
  if (refused !== undefined) return refused;
  if (!allowed(scope, who, AclCommand.Delete, info.path)) return S.PermissionDenied;
  if (info.plugin) {
    const { mo, rel } = info.plugin;
    if (!mo.delete) return S.CommandNotAllowed;
    const notJoined = scope.enlist(mo);
    if (notJoined !== undefined) return notJoined;
    const status = await callPlugin(() => mo.delete!(rel, pluginContext(scope, who)));
    if (!isSuccess(status)) return status;
    scope.apply({ o: 'ovd', p: info.path });
  } else {
    scope.apply({ o: 'del', p: info.path });
  }
  scope.touch(info.path.slice(0, -1));
  scope.event({ uri: formatUri(info.path), op: 'Delete', serverId: serverIdOf(who) });
  return S.Ok;
}

/** Copy of a leaf: a Replace of an existing target, else an Add. */
export async function copyNode(
  scope: Scope,
  targetUri: string,
  sourceUri: string,
  who: Principal,
): Promise<StatusCode> {
  const source = parse(scope, sourceUri);
  if (typeof source === 'number') return source;
  const target = parse(scope, targetUri);
  if (typeof target === 'number') return target;
  if (source.prop !== undefined || source.list !== undefined) return S.CommandNotAllowed;
  if (target.prop !== undefined || target.list !== undefined) return S.CommandNotAllowed;
  const info = await nodeInfo(scope, source.path, who);
  if (typeof info === 'number') return info;
  if (info.format === 'node') return S.CommandNotAllowed; // source and target must be leaves
  const refused = schemaCheck(scope, { op: 'Copy', path: info.path, local: who.kind === 'local' });
  if (refused !== undefined) return refused;
  if (!allowed(scope, who, AclCommand.Get, info.path)) return S.PermissionDenied;
  const input: NodeInput = { format: info.format, type: info.type, data: info.data ?? '' };
  const existing = await nodeInfo(scope, target.path, who);
  if (typeof existing !== 'number') {
    if (existing.format === 'node') return S.CommandNotAllowed;
    if (existing.permanent && (existing.format !== info.format || existing.type !== info.type))
      return S.Forbidden;
    return replaceNode(scope, targetUri, input, who, 'Copy');
  }
  if (existing !== S.NotFound) return existing;
  const status = await addNode(scope, targetUri, input, who, false, 'Copy');
  return status === S.NotFound ? S.NotFound : status;
}

/** Strips a ServerID from every ACL, engine nodes and plugin overlays alike. */
export async function removeServer(scope: Scope, serverId: string): Promise<StatusCode> {
  const walk = (node: TreeNode, path: string[]) => {
    if (node.acl !== '') {
      const acl = aclWithoutServer(node.acl, serverId, path.length === 0);
      if (acl !== node.acl) scope.apply({ o: 'set', p: [...path], n: { a: acl } });
    }
    if (node.children) for (const c of node.children.values()) walk(c, [...path, c.name]);
  };
  walk(scope.core.state.root, []);
  for (const [key, props] of [...scope.core.state.overlays]) {
    if (props.acl === '') continue;
    const acl = aclWithoutServer(props.acl, serverId, false);
    if (acl !== props.acl) scope.apply({ o: 'ovs', p: key.split('\u0000'), n: { acl } });
  }
  return S.Ok;
}

function normalizeAclOr(acl: string): string {
  try {
    return normalizeAcl(acl);
  } catch {
    return '';
  }
}

function hasProtectedBelow(node: TreeNode): boolean {
  if (!node.children) return false;
  for (const c of node.children.values()) if (c.permanent || c.mount || hasProtectedBelow(c)) return true;
  return false;
}
