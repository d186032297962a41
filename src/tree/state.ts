/**
 * The tree state (engine nodes and plugin overlays) and its persisted form: a bare root for a new
 * tree, the state rebuilt from a `TreeSnapshot`, the snapshot written from the state. Pure
 * functions of the state; the store decides when they run.
 */
import { normalizeAcl } from './acl.ts';
import { TreeError, TreeErrorCode } from './errors.ts';
import {
  fromRecord,
  type NodeRecord,
  overlayKey,
  type OverlayProps,
  toRecord,
  TreeNode,
  type TreeState,
} from './node.ts';
import type { TreeSnapshot } from './store/store.ts';

export function newRoot(acl: string): { root: TreeNode; overlays: Map<string, OverlayProps> } {
  const root = new TreeNode('', 'node');
  root.acl = normalizeAcl(acl);
  root.permanent = true;
  return { root, overlays: new Map() };
}

export function buildFromSnapshot(snap: TreeSnapshot): {
  root: TreeNode;
  overlays: Map<string, OverlayProps>;
} {
  if (snap.v !== 1 || snap.nodes.length === 0 || snap.nodes[0]![0] !== -1) {
    throw new TreeError(TreeErrorCode.StoreCorrupt, 'unsupported or empty tree snapshot');
  }
  const built: TreeNode[] = new Array(snap.nodes.length);
  for (let i = 0; i < snap.nodes.length; i++) {
    const [parent, name, record] = snap.nodes[i]!;
    const node = fromRecord(name, record);
    built[i] = node;
    if (i === 0) continue;
    const p = built[parent];
    if (!p?.children || parent >= i)
      throw new TreeError(TreeErrorCode.StoreCorrupt, `snapshot node ${i} has no parent`);
    p.attach(node);
  }
  const overlays = new Map<string, OverlayProps>();
  for (const [path, props] of snap.overlays) overlays.set(overlayKey(path), { ...props });
  return { root: built[0]!, overlays };
}

/** Full state for persistence (parent-before-child order). */
export function toSnapshot(state: TreeState): TreeSnapshot {
  const nodes: Array<readonly [number, string, NodeRecord]> = [];
  const walk = (node: TreeNode, parent: number) => {
    const index = nodes.length;
    nodes.push([parent, node.name, toRecord(node)]);
    if (node.children) for (const c of node.children.values()) walk(c, index);
  };
  walk(state.root, -1);
  const overlays: Array<readonly [readonly string[], OverlayProps]> = [];
  for (const [k, v] of state.overlays) overlays.push([k === '' ? [] : k.split('\u0000'), v]);
  return { v: 1, nodes, overlays };
}

/** Number of engine-stored nodes (root included). */
export function countNodes(root: TreeNode): number {
  let n = 0;
  const walk = (node: TreeNode) => {
    n++;
    if (node.children) for (const c of node.children.values()) walk(c);
  };
  walk(root);
  return n;
}
