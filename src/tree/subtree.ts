/**
 * Whole subtrees in one command (a TNDS carried by Add or Replace, protocol.md §6.7): built from
 * the single-node writes, so every node gets the same checks as its own Add would.
 */
import { StatusCode } from '../representation/index.ts';
import { allowed, parse } from './access.ts';
import { AclCommand, normalizeAcl } from './acl.ts';
import { TreeError } from './errors.ts';
import { nodeInfo } from './node-info.ts';
import { MAX_TITLE_BYTES, Property, replaceProperty, setProperties } from './property.ts';
import { isSuccess, type Scope } from './scope.ts';
import type { NodeInput, Principal, SubtreeNode } from './types.ts';
import { formatUri, type ParsedUri } from './uri.ts';
import { addNode, deleteNode, replaceNode } from './write.ts';

const S = StatusCode;

/** Adds `node` and its children under `parentUri`, each as its own Add; its ACL and Title last. */
export async function addSubtree(
  scope: Scope,
  parentUri: string,
  node: SubtreeNode,
  who: Principal,
): Promise<StatusCode> {
  const parent = parse(scope, parentUri);
  if (typeof parent === 'number') return parent;
  if (parent.prop !== undefined || parent.list !== undefined) return S.CommandNotAllowed;
  const uri = formatUri([...parent.path, node.name]);
  const input: { -readonly [K in keyof NodeInput]: NodeInput[K] } = { format: node.format };
  if (node.type !== undefined) input.type = node.type;
  if (node.format !== 'node') input.data = node.data ?? '';
  const status = await addNode(scope, uri, input, who, false);
  if (!isSuccess(status)) return status;
  const created = parse(scope, uri) as ParsedUri;
  const info = await nodeInfo(scope, created.path, who);
  if (typeof info === 'number') return info;
  const props: { acl?: string; title?: string } = {};
  if (node.acl !== undefined) {
    try {
      props.acl = normalizeAcl(node.acl);
    } catch (err) {
      if (err instanceof TreeError) return err.status;
      throw err;
    }
  }
  if (node.title !== undefined) {
    if (Buffer.byteLength(node.title) > MAX_TITLE_BYTES) return S.RequestEntityTooLarge;
    props.title = node.title;
  }
  for (const child of node.children ?? []) {
    const s = await addSubtree(scope, uri, child, who);
    if (!isSuccess(s)) return s;
  }
  // The TNDS ACL applies once the subtree exists: set first, it could lock the sender out of
  // adding the children (a server delivering another server's DMAcc).
  if (props.acl !== undefined || props.title !== undefined) setProperties(scope, info, props);
  return S.Ok;
}

/** "Delete all children, replace the node, Add every node of the TNDS" (protocol.md §6.7). */
export async function replaceSubtree(
  scope: Scope,
  uri: string,
  node: SubtreeNode,
  who: Principal,
): Promise<StatusCode> {
  const parsed = parse(scope, uri);
  if (typeof parsed === 'number') return parsed;
  if (parsed.prop !== undefined || parsed.list !== undefined) return S.CommandNotAllowed;
  const info = await nodeInfo(scope, parsed.path, who);
  if (typeof info === 'number') return info;
  if ((info.format === 'node') !== (node.format === 'node')) return S.CommandNotAllowed;
  const base = formatUri(info.path);
  if (info.format !== 'node') {
    const input: { -readonly [K in keyof NodeInput]: NodeInput[K] } = {
      format: node.format,
      data: node.data ?? '',
    };
    if (node.type !== undefined) input.type = node.type;
    const s = await replaceNode(scope, base, input, who, 'Replace');
    if (!isSuccess(s)) return s;
  } else {
    if (!allowed(scope, who, AclCommand.Replace, info.path)) return S.PermissionDenied;
    for (const name of info.children ?? []) {
      const s = await deleteNode(scope, formatUri([...info.path, name]), who);
      if (!isSuccess(s)) return s;
    }
    for (const child of node.children ?? []) {
      const s = await addSubtree(scope, base, child, who);
      if (!isSuccess(s)) return s;
    }
  }
  if (node.acl !== undefined) {
    const s = await replaceProperty(scope, info, Property.ACL, { data: node.acl }, who);
    if (!isSuccess(s)) return s;
  }
  if (node.title !== undefined) {
    const s = await replaceProperty(scope, info, Property.Title, { data: node.title }, who);
    if (!isSuccess(s)) return s;
  }
  return S.Ok;
}
