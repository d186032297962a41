/**
 * The engine's in-memory nodes and the mutations that change them. Every change to the tree,
 * live or replayed from the journal, goes through `applyMutation`, so what is persisted is by
 * construction what ran. `applyMutation` returns the undo of what it did (rollback of Atomic).
 */
import type { Format } from '../representation/index.ts';
import { TreeError, TreeErrorCode } from './errors.ts';
import type { CaseSense, ManagementObject, NodeData } from './types.ts';
import type { NodePath } from './uri.ts';

/** Properties the engine keeps for a node backed by a plugin (ACL, Title, TStamp, VerNo). */
export interface OverlayProps {
  acl: string;
  title: string;
  tstamp: number;
  verNo: number;
}

export class TreeNode {
  name: string;
  parent: TreeNode | undefined;
  format: Format;
  type: string;
  acl: string;
  title: string;
  tstamp: number;
  verNo: number;
  permanent: boolean;
  caseSense: CaseSense | undefined;
  data: NodeData | undefined;
  children: Map<string, TreeNode> | undefined;
  /** Number of children whose caseSense is CIS (lookups scan only when > 0). */
  cisChildren: number;
  /** Plugin owning this node and everything below (not persisted: mounted by code at start). */
  mount: ManagementObject | undefined;

  constructor(name: string, format: Format) {
    this.name = name;
    this.parent = undefined;
    this.format = format;
    this.type = '';
    this.acl = '';
    this.title = '';
    this.tstamp = 0;
    this.verNo = 0;
    this.permanent = false;
    this.caseSense = undefined;
    this.data = undefined;
    this.children = format === 'node' ? new Map() : undefined;
    this.cisChildren = 0;
    this.mount = undefined;
  }

  get isInterior(): boolean {
    return this.format === 'node';
  }

  /** Child by name, honouring CaseSense CIS of the child. */
  child(name: string): TreeNode | undefined {
    const children = this.children;
    if (!children) return undefined;
    const exact = children.get(name);
    if (exact || this.cisChildren === 0) return exact;
    const lower = name.toLowerCase();
    for (const c of children.values()) if (c.caseSense === 'CIS' && c.name.toLowerCase() === lower) return c;
    return undefined;
  }

  attach(child: TreeNode): void {
    child.parent = this;
    this.children!.set(child.name, child);
    if (child.caseSense === 'CIS') this.cisChildren++;
  }

  /** Attaches at a position in the child order (undo of a delete puts a node back where it was). */
  attachAt(child: TreeNode, index: number): void {
    const children = this.children!;
    if (index >= children.size) {
      this.attach(child);
      return;
    }
    const entries = [...children];
    entries.splice(index, 0, [child.name, child]);
    children.clear();
    for (const [k, v] of entries) children.set(k, v);
    child.parent = this;
    if (child.caseSense === 'CIS') this.cisChildren++;
  }

  indexOf(child: TreeNode): number {
    let i = 0;
    for (const c of this.children!.values()) {
      if (c === child) return i;
      i++;
    }
    return -1;
  }

  /** Renames a child keeping its place in the child order. */
  renameChild(child: TreeNode, name: string): void {
    const children = this.children!;
    const entries = [...children];
    children.clear();
    for (const [k, v] of entries) children.set(v === child ? name : k, v);
    child.name = name;
  }

  detach(child: TreeNode): void {
    this.children!.delete(child.name);
    if (child.caseSense === 'CIS') this.cisChildren--;
    child.parent = undefined;
  }

  path(): string[] {
    const out: string[] = [];
    for (let n: TreeNode | undefined = this; n?.parent; n = n.parent) out.push(n.name);
    return out.reverse();
  }
}

/** Persisted fields of one node (short keys: the journal and snapshots hold many). */
export interface NodeRecord {
  /** Format. */
  f: Format;
  /** Type. */
  y?: string;
  /** ACL. */
  a?: string;
  /** Title. */
  ti?: string;
  /** TStamp (ms). */
  ts?: number;
  /** VerNo. */
  v?: number;
  /** Permanent. */
  pm?: 1;
  /** CaseSense. */
  cs?: CaseSense;
  /** Text value. */
  d?: string;
  /** Bytes value, base64. */
  b?: string;
}

/** Field updates of `set` (all optional; `d`/`b` null clears the value). */
export interface NodeFields {
  f?: Format;
  y?: string;
  a?: string;
  ti?: string;
  pm?: 0 | 1;
  cs?: CaseSense | null;
  d?: string | null;
  b?: string | null;
}

/** One change to the tree; a committed command or transaction is a batch of these. */
export type Mutation =
  | { readonly o: 'put'; readonly p: NodePath; readonly n: NodeRecord }
  | { readonly o: 'set'; readonly p: NodePath; readonly n: NodeFields }
  | { readonly o: 'del'; readonly p: NodePath }
  | { readonly o: 'mv'; readonly p: NodePath; readonly to: string }
  | { readonly o: 'tch'; readonly p: NodePath; readonly t: number }
  | { readonly o: 'ovs'; readonly p: NodePath; readonly n: Partial<OverlayProps> }
  | { readonly o: 'ovd'; readonly p: NodePath };

export type Undo = () => void;

export function toRecord(node: TreeNode): NodeRecord {
  const r: NodeRecord = { f: node.format };
  if (node.type) r.y = node.type;
  if (node.acl) r.a = node.acl;
  if (node.title) r.ti = node.title;
  if (node.tstamp) r.ts = node.tstamp;
  if (node.verNo) r.v = node.verNo;
  if (node.permanent) r.pm = 1;
  if (node.caseSense) r.cs = node.caseSense;
  if (node.data !== undefined) {
    if (typeof node.data === 'string') r.d = node.data;
    else r.b = Buffer.from(node.data.buffer, node.data.byteOffset, node.data.byteLength).toString('base64');
  }
  return r;
}

export function fromRecord(name: string, r: NodeRecord): TreeNode {
  const node = new TreeNode(name, r.f);
  if (r.y) node.type = r.y;
  if (r.a) node.acl = r.a;
  if (r.ti) node.title = r.ti;
  if (r.ts) node.tstamp = r.ts;
  if (r.v) node.verNo = r.v;
  if (r.pm) node.permanent = true;
  if (r.cs) node.caseSense = r.cs;
  if (r.d !== undefined) node.data = r.d;
  else if (r.b !== undefined) node.data = new Uint8Array(Buffer.from(r.b, 'base64'));
  return node;
}

/** Overlay keys: the path joined with NUL (cannot occur in node names we store). */
export function overlayKey(path: NodePath): string {
  return path.join('\u0000');
}

/** The whole engine state that mutations act on. */
export interface TreeState {
  readonly root: TreeNode;
  readonly overlays: Map<string, OverlayProps>;
}

export function emptyOverlay(): OverlayProps {
  return { acl: '', title: '', tstamp: 0, verNo: 0 };
}

function corrupt(m: Mutation, why: string): TreeError {
  return new TreeError(TreeErrorCode.StoreCorrupt, `cannot apply ${m.o} ${JSON.stringify(m.p)}: ${why}`);
}

/** Exact-name lookup (journal paths carry stored names, not what a server typed). */
export function lookup(root: TreeNode, path: NodePath): TreeNode | undefined {
  let node: TreeNode | undefined = root;
  for (const seg of path) {
    node = node.children?.get(seg);
    if (!node) return undefined;
  }
  return node;
}

function setFields(node: TreeNode, f: NodeFields): void {
  if (f.f !== undefined) {
    node.format = f.f;
    if (f.f === 'node' && !node.children) node.children = new Map();
    if (f.f !== 'node') node.children = undefined;
  }
  if (f.y !== undefined) node.type = f.y;
  if (f.a !== undefined) node.acl = f.a;
  if (f.ti !== undefined) node.title = f.ti;
  if (f.pm !== undefined) node.permanent = f.pm === 1;
  if (f.cs !== undefined) {
    const parent = node.parent;
    if (parent && node.caseSense === 'CIS') parent.cisChildren--;
    node.caseSense = f.cs ?? undefined;
    if (parent && node.caseSense === 'CIS') parent.cisChildren++;
  }
  if (f.d !== undefined) node.data = f.d ?? undefined;
  if (f.b !== undefined) node.data = f.b === null ? undefined : new Uint8Array(Buffer.from(f.b, 'base64'));
}

function snapshotFields(node: TreeNode): () => void {
  const { format, type, acl, title, permanent, caseSense, data, children } = node;
  return () => {
    const parent = node.parent;
    if (parent && node.caseSense === 'CIS') parent.cisChildren--;
    node.format = format;
    node.type = type;
    node.acl = acl;
    node.title = title;
    node.permanent = permanent;
    node.caseSense = caseSense;
    node.data = data;
    node.children = children;
    if (parent && node.caseSense === 'CIS') parent.cisChildren++;
  };
}

/** Applies one mutation; returns its undo. Throws TreeError(StoreCorrupt) when it does not fit the state. */
export function applyMutation(state: TreeState, m: Mutation): Undo {
  switch (m.o) {
    case 'put': {
      const parent = lookup(state.root, m.p.slice(0, -1));
      if (!parent?.children) throw corrupt(m, 'no interior parent');
      const name = m.p[m.p.length - 1];
      if (name === undefined) throw corrupt(m, 'put of the root');
      const old = parent.children.get(name);
      const at = old ? parent.indexOf(old) : -1;
      if (old) parent.detach(old);
      const node = fromRecord(name, m.n);
      if (old) parent.attachAt(node, at);
      else parent.attach(node);
      return () => {
        parent.detach(node);
        if (old) parent.attachAt(old, at);
      };
    }
    case 'set': {
      const node = lookup(state.root, m.p);
      if (!node) throw corrupt(m, 'no such node');
      const undo = snapshotFields(node);
      setFields(node, m.n);
      return undo;
    }
    case 'del': {
      const node = lookup(state.root, m.p);
      const parent = node?.parent;
      if (!node || !parent) throw corrupt(m, 'no such node (or the root)');
      const at = parent.indexOf(node);
      parent.detach(node);
      const removed = removeOverlays(state, m.p);
      return () => {
        parent.attachAt(node, at);
        for (const [k, v] of removed) state.overlays.set(k, v);
      };
    }
    case 'mv': {
      const node = lookup(state.root, m.p);
      const parent = node?.parent;
      if (!node || !parent) throw corrupt(m, 'no such node (or the root)');
      if (parent.children!.has(m.to)) throw corrupt(m, 'target name taken');
      const oldName = node.name;
      const moved = moveOverlays(state, m.p, [...m.p.slice(0, -1), m.to]);
      parent.renameChild(node, m.to);
      return () => {
        parent.renameChild(node, oldName);
        moved();
      };
    }
    case 'tch': {
      // VerNo +1 (wrapping at 16 bits) and TStamp on the node and every ancestor. Nodes below a
      // plugin mount are not engine nodes: the deepest existing one is where the chain starts.
      const saved: Array<[TreeNode, number, number]> = [];
      let node: TreeNode | undefined = state.root;
      const chain: TreeNode[] = [state.root];
      for (const seg of m.p) {
        node = node.children?.get(seg);
        if (!node) break;
        chain.push(node);
      }
      for (const n of chain) {
        saved.push([n, n.verNo, n.tstamp]);
        n.verNo = (n.verNo + 1) & 0xffff;
        n.tstamp = m.t;
      }
      return () => {
        for (const [n, v, t] of saved) {
          n.verNo = v;
          n.tstamp = t;
        }
      };
    }
    case 'ovs': {
      const key = overlayKey(m.p);
      const old = state.overlays.get(key);
      const next = { ...(old ?? emptyOverlay()), ...m.n };
      state.overlays.set(key, next);
      return () => {
        if (old) state.overlays.set(key, old);
        else state.overlays.delete(key);
      };
    }
    case 'ovd': {
      const removed = removeOverlays(state, m.p);
      return () => {
        for (const [k, v] of removed) state.overlays.set(k, v);
      };
    }
  }
}

function removeOverlays(state: TreeState, path: NodePath): Array<[string, OverlayProps]> {
  if (state.overlays.size === 0) return [];
  const key = overlayKey(path);
  const prefix = `${key}\u0000`;
  const removed: Array<[string, OverlayProps]> = [];
  for (const [k, v] of state.overlays) {
    if (k === key || k.startsWith(prefix) || path.length === 0) removed.push([k, v]);
  }
  for (const [k] of removed) state.overlays.delete(k);
  return removed;
}

function moveOverlays(state: TreeState, from: NodePath, to: NodePath): Undo {
  const removed = removeOverlays(state, from);
  const fromKey = overlayKey(from);
  const toKey = overlayKey(to);
  const added: string[] = [];
  for (const [k, v] of removed) {
    const nk = toKey + k.slice(fromKey.length);
    state.overlays.set(nk, v);
    added.push(nk);
  }
  return () => {
    for (const k of added) state.overlays.delete(k);
    for (const [k, v] of removed) state.overlays.set(k, v);
  };
}
