/**
 * The boundary between the operations and a mounted plugin (ManagementObject): the context a
 * plugin call gets, a plugin node described as a NodeInfo (its ACL, Title, TStamp and VerNo kept
 * by the engine as an overlay), and plugin calls that answer a status instead of throwing.
 */
import { StatusCode } from '../representation/index.ts';
import type { NodeInfo, PluginRef } from './node-info.ts';
import { emptyOverlay, overlayKey, type TreeNode } from './node.ts';
import type { Scope } from './scope.ts';
import type { NodeData, PluginContext, PluginNode, Principal } from './types.ts';

const S = StatusCode;

/** What a plugin call gets: who asked, the transaction, and the tree joined to this scope. */
export function pluginContext(scope: Scope, who: Principal): PluginContext {
  return { principal: who, txId: scope.txId, tree: scope.localOps };
}

/** The plugin's description of its node, with the properties the engine keeps for it. */
export async function pluginInfo(
  scope: Scope,
  ref: PluginRef,
  chain: readonly TreeNode[],
  who: Principal,
): Promise<NodeInfo | StatusCode> {
  let described: PluginNode | StatusCode;
  try {
    described = await ref.mo.get(ref.rel, pluginContext(scope, who));
  } catch {
    return S.CommandFailed;
  }
  if (typeof described === 'number') return described;
  const mountNode = chain[chain.length - 1]!;
  const path = [...ref.mountPath, ...ref.rel];
  const ov =
    ref.rel.length === 0
      ? { acl: mountNode.acl, title: mountNode.title, tstamp: mountNode.tstamp, verNo: mountNode.verNo }
      : (scope.core.state.overlays.get(overlayKey(path)) ?? emptyOverlay());
  const interior = described.format === 'node';
  return {
    path,
    format: described.format,
    type: described.type ?? (interior ? '' : 'text/plain'),
    data: interior ? undefined : (described as { data: NodeData }).data,
    children: interior ? (described as { children: readonly string[] }).children : undefined,
    permanent: ref.rel.length === 0 || described.permanent === true,
    acl: ov.acl,
    title: ov.title,
    tstamp: described.tstamp ?? ov.tstamp,
    verNo: described.verNo ?? ov.verNo,
    caseSense: undefined,
    node: ref.rel.length === 0 ? mountNode : undefined,
    plugin: ref,
  };
}

/** A plugin call that throws is a 500, never a crash of the session. */
export async function callPlugin(fn: () => Promise<StatusCode>): Promise<StatusCode> {
  try {
    return await fn();
  } catch {
    return S.CommandFailed;
  }
}
