/**
 * The checks every operation makes before it touches anything: the URI parses within the limits,
 * the ACL in force grants the command to the principal, the schema (DDF) accepts the request, the
 * value fits its format and size. They read the scope's tree; they change nothing.
 */
import { type Format, isFormat, StatusCode } from '../representation/index.ts';
import { type AclCommand, aclGrants, ROOT_DEFAULT_ACL } from './acl.ts';
import { TreeError } from './errors.ts';
import { resolve } from './node-info.ts';
import { overlayKey, type TreeState } from './node.ts';
import type { Scope } from './scope.ts';
import type { NodeInput, Principal, SchemaRequest, TreeView } from './types.ts';
import { type NodePath, type ParsedUri, parseUri } from './uri.ts';
import { valueSize } from './value.ts';

const S = StatusCode;

/** The URI parsed within the tree's limits, or the status that refuses it. */
export function parse(scope: Scope, uri: string): ParsedUri | StatusCode {
  try {
    return parseUri(uri, scope.core.limits);
  } catch (err) {
    if (err instanceof TreeError) return err.status;
    throw err;
  }
}

/** The ACL in force at `path` (nearest non-empty one up the tree). */
export function effectiveAcl(scope: Scope, path: NodePath): string {
  const state = scope.core.state;
  const res = resolve(state, path);
  const chain = res.chain;
  for (let d = path.length; d >= 0; d--) {
    let acl: string;
    if (d < chain.length) acl = chain[d]!.acl;
    else acl = state.overlays.get(overlayKey(path.slice(0, d)))?.acl ?? '';
    if (acl !== '') return acl;
  }
  return state.root.acl || ROOT_DEFAULT_ACL;
}

/** Whether the ACL in force grants `command` to `who` (the device itself is always allowed). */
export function allowed(scope: Scope, who: Principal, command: AclCommand, path: NodePath): boolean {
  if (who.kind === 'local') return true;
  return aclGrants(effectiveAcl(scope, path), command, who.serverId);
}

/** The schema's refusal of a request, if any (no schema: everything passes). */
export function schemaCheck(scope: Scope, request: SchemaRequest): StatusCode | undefined {
  const schema = scope.core.schema;
  if (!schema) return undefined;
  return schema.check(request, scope.core.view);
}

/** What a schema check may look at: the engine's nodes (one view per tree). */
export function treeView(state: TreeState): TreeView {
  return {
    formatOf: (path) => {
      const res = resolve(state, path);
      return res.kind === 'engine' ? res.node.format : undefined;
    },
    childNames: (path) => {
      const res = resolve(state, path);
      return res.kind === 'engine' && res.node.children ? [...res.node.children.keys()] : [];
    },
  };
}

/** A value that does not fit its format or the size limit: 406, 400 or 413. */
export function checkValue(scope: Scope, input: NodeInput, format: Format): StatusCode | undefined {
  if (!isFormat(format)) return S.UnsupportedMediaTypeOrFormat;
  if (format === 'node') {
    const d = input.data;
    if (d !== undefined && (typeof d === 'string' ? d.length : d.byteLength) > 0) return S.BadRequest;
    return undefined;
  }
  if (input.data !== undefined && valueSize(input.data, format) > scope.core.maxValueSize) {
    return S.RequestEntityTooLarge;
  }
  return undefined;
}

/** The ServerID a change event names (none for the device itself). */
export function serverIdOf(who: Principal): string | undefined {
  return who.kind === 'server' ? who.serverId : undefined;
}
