/**
 * What the operations know of a node, wherever it lives: `resolve` walks the engine's nodes
 * (honouring CaseSense) and stops at a plugin mount; `NodeInfo` describes an engine node or a
 * node a plugin described, in one shape; `nodeInfo` gives that description for a path.
 */
import { type Format, StatusCode } from '../representation/index.ts';
import type { TreeNode, TreeState } from './node.ts';
import { pluginInfo } from './plugin.ts';
import type { Scope } from './scope.ts';
import type { CaseSense, ManagementObject, NodeData, Principal } from './types.ts';
import type { NodePath } from './uri.ts';

/** A node as the operations see it, whether stored by the engine or described by a plugin. */
export interface NodeInfo {
  readonly path: NodePath;
  readonly format: Format;
  readonly type: string;
  readonly data: NodeData | undefined;
  readonly children: readonly string[] | undefined;
  readonly permanent: boolean;
  readonly acl: string;
  readonly title: string;
  readonly tstamp: number;
  readonly verNo: number;
  readonly caseSense: CaseSense | undefined;
  /** Set for engine-stored nodes. */
  readonly node: TreeNode | undefined;
  /** Set for plugin nodes (including a mount node). */
  readonly plugin: PluginRef | undefined;
}

export interface PluginRef {
  readonly mo: ManagementObject;
  readonly mountPath: NodePath;
  readonly rel: NodePath;
}

/** Outcome of looking a path up in the engine. */
export type Resolution =
  | { readonly kind: 'engine'; readonly node: TreeNode; readonly chain: readonly TreeNode[] }
  | { readonly kind: 'plugin'; readonly ref: PluginRef; readonly chain: readonly TreeNode[] }
  | { readonly kind: 'missing'; readonly chain: readonly TreeNode[] };

/** Engine lookup honouring CaseSense; stops at a plugin mount. */
export function resolve(state: TreeState, path: NodePath): Resolution {
  let node = state.root;
  const chain: TreeNode[] = [node];
  for (let i = 0; i < path.length; i++) {
    if (node.mount) {
      return {
        kind: 'plugin',
        ref: { mo: node.mount, mountPath: chainPath(chain), rel: path.slice(i) },
        chain,
      };
    }
    const next = node.child(path[i]!);
    if (!next) return { kind: 'missing', chain };
    node = next;
    chain.push(node);
  }
  if (node.mount)
    return { kind: 'plugin', ref: { mo: node.mount, mountPath: chainPath(chain), rel: [] }, chain };
  return { kind: 'engine', node, chain };
}

/** Stored names of a resolved chain (root excluded): the canonical path, whatever case was asked. */
export function chainPath(chain: readonly TreeNode[]): string[] {
  const out: string[] = [];
  for (let i = 1; i < chain.length; i++) out.push(chain[i]!.name);
  return out;
}

export function engineInfo(node: TreeNode): NodeInfo {
  return {
    path: node.path(),
    format: node.format,
    type: node.type,
    data: node.data,
    children: node.children ? [...node.children.keys()] : undefined,
    permanent: node.permanent,
    acl: node.acl,
    title: node.title,
    tstamp: node.tstamp,
    verNo: node.verNo,
    caseSense: node.caseSense,
    node,
    plugin: undefined,
  };
}

/** Describes the node at `path` (engine or plugin); a status when it does not exist. */
export async function nodeInfo(scope: Scope, path: NodePath, who: Principal): Promise<NodeInfo | StatusCode> {
  const res = resolve(scope.core.state, path);
  if (res.kind === 'missing') return StatusCode.NotFound;
  if (res.kind === 'engine') return engineInfo(res.node);
  return pluginInfo(scope, res.ref, res.chain, who);
}
