/**
 * Node properties (protocol.md §6.3): the names a server may address with `?prop=`, and the
 * writes to them: Replace of ACL and Title, Rename through Name. Reading them is in read.ts.
 */
import { StatusCode } from '../representation/index.ts';
import { allowed, schemaCheck, serverIdOf } from './access.ts';
import { AclCommand, aclGrants, normalizeAcl } from './acl.ts';
import { TreeError } from './errors.ts';
import { type NodeInfo, nodeInfo } from './node-info.ts';
import type { NodeFields } from './node.ts';
import { callPlugin, pluginContext } from './plugin.ts';
import { isSuccess, type Scope } from './scope.ts';
import type { NodeInput, Principal } from './types.ts';
import { checkLimits, formatUri, nodeNameProblem } from './uri.ts';

const S = StatusCode;

/** Properties a node may have at run time (protocol.md §6.3). */
export const Property = {
  ACL: 'ACL',
  Format: 'Format',
  Name: 'Name',
  Size: 'Size',
  Title: 'Title',
  TStamp: 'TStamp',
  Type: 'Type',
  VerNo: 'VerNo',
  CaseSense: 'CaseSense',
} as const;
export type Property = (typeof Property)[keyof typeof Property];
export const PROPERTIES: ReadonlySet<string> = new Set(Object.values(Property));
export const MAX_TITLE_BYTES = 255;

/** Replace of `?prop=`: ACL and Title are writable, Name renames, the other known ones are read-only (405). */
export async function replaceProperty(
  scope: Scope,
  info: NodeInfo,
  prop: string,
  input: NodeInput,
  who: Principal,
): Promise<StatusCode> {
  if (!PROPERTIES.has(prop)) return S.OptionalFeatureNotSupported;
  const value =
    input.data === undefined
      ? ''
      : typeof input.data === 'string'
        ? input.data
        : Buffer.from(input.data).toString('utf8');
  const path = info.path;
  const parentPath = path.slice(0, -1);
  const local = who.kind === 'local';
  const serverId = serverIdOf(who);
  switch (prop) {
    case Property.ACL: {
      let acl: string;
      try {
        acl = normalizeAcl(value);
      } catch (err) {
        if (err instanceof TreeError) return err.status;
        throw err;
      }
      if (path.length === 0 && !aclGrants(acl, AclCommand.Add, '*')) return S.CommandNotAllowed;
      const refused = schemaCheck(scope, { op: 'Replace', path, prop, local });
      if (refused !== undefined) return refused;
      // Replace right on the node (interior only: a leaf's ACL does not cover itself) or the parent.
      const onNode =
        (info.format === 'node' || path.length === 0) && allowed(scope, who, AclCommand.Replace, path);
      const onParent = path.length > 0 && allowed(scope, who, AclCommand.Replace, parentPath);
      if (!onNode && !onParent) return S.PermissionDenied;
      setProperties(scope, info, { acl });
      scope.event({ uri: formatUri(path), op: 'Replace', serverId, prop });
      return S.Ok;
    }
    case Property.Title: {
      if (Buffer.byteLength(value) > MAX_TITLE_BYTES) return S.RequestEntityTooLarge;
      const refused = schemaCheck(scope, { op: 'Replace', path, prop, local });
      if (refused !== undefined) return refused;
      if (!allowed(scope, who, AclCommand.Replace, path)) return S.PermissionDenied;
      setProperties(scope, info, { title: value });
      scope.event({ uri: formatUri(path), op: 'Replace', serverId, prop });
      return S.Ok;
    }
    case Property.Name:
      return renameNode(scope, info, value, who);
    default:
      return S.CommandNotAllowed; // Format, Size, TStamp, Type, VerNo, CaseSense are read-only
  }
}

/** Sets ACL and/or Title: on the node for engine nodes, in the overlay for plugin nodes. */
export function setProperties(scope: Scope, info: NodeInfo, props: { acl?: string; title?: string }): void {
  if (info.node) {
    const fields: NodeFields = {};
    if (props.acl !== undefined) fields.a = props.acl;
    if (props.title !== undefined) fields.ti = props.title;
    scope.apply({ o: 'set', p: info.path, n: fields });
  } else {
    scope.apply({ o: 'ovs', p: info.path, n: { ...props, ...bumped(info, scope.core.now()) } });
  }
  scope.touch(info.path);
}

/** Replace of `?prop=Name`: renames the node in place (418 when a sibling has the name). */
export async function renameNode(
  scope: Scope,
  info: NodeInfo,
  newName: string,
  who: Principal,
): Promise<StatusCode> {
  const path = info.path;
  if (path.length === 0 || info.permanent) return S.CommandNotAllowed;
  if (nodeNameProblem(newName)) return S.BadRequest;
  const newPath = [...path.slice(0, -1), newName];
  try {
    checkLimits(newPath, scope.core.limits);
  } catch (err) {
    if (err instanceof TreeError) return err.status;
    throw err;
  }
  const refused = schemaCheck(scope, {
    op: 'Replace',
    path,
    prop: Property.Name,
    data: newName,
    local: who.kind === 'local',
  });
  if (refused !== undefined) return refused;
  if (!allowed(scope, who, AclCommand.Replace, path)) return S.PermissionDenied;
  if (newName === path[path.length - 1]) return S.Ok;
  const sibling = await nodeInfo(scope, newPath, who);
  if (typeof sibling !== 'number') return S.AlreadyExists;
  if (info.plugin) {
    const { mo, rel } = info.plugin;
    if (!mo.rename) return S.CommandNotAllowed;
    const notJoined = scope.enlist(mo);
    if (notJoined !== undefined) return notJoined;
    const status = await callPlugin(() => mo.rename!(rel, newName, pluginContext(scope, who)));
    if (!isSuccess(status)) return status;
    scope.apply({ o: 'ovs', p: path, n: {} });
  }
  scope.apply({ o: 'mv', p: path, to: newName });
  scope.touch(newPath);
  scope.event({
    uri: formatUri(path),
    op: 'Rename',
    serverId: serverIdOf(who),
    prop: Property.Name,
    newUri: formatUri(newPath),
  });
  return S.Ok;
}

/** TStamp/VerNo of a changed plugin node (engine nodes get theirs from the `tch` mutation). */
export function bumped(info: NodeInfo, now: number): { tstamp: number; verNo: number } {
  return { tstamp: now, verNo: (info.verNo + 1) & 0xffff };
}
