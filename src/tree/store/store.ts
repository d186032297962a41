/**
 * Where the engine persists its tree. The engine keeps the whole tree in memory and hands each
 * committed command (or Atomic) to the store as one batch of mutations; a store makes a batch
 * durable all-or-nothing and gives back, on open, a snapshot plus the batches written after it.
 */
import type { Mutation, NodeRecord, OverlayProps } from '../node.ts';

/**
 * A full copy of the tree: nodes in parent-before-child order, each with the index of its parent
 * (-1 for the root, which is entry 0), plus the engine-kept properties of plugin nodes.
 */
export interface TreeSnapshot {
  readonly v: 1;
  readonly nodes: ReadonlyArray<readonly [parent: number, name: string, record: NodeRecord]>;
  readonly overlays: ReadonlyArray<readonly [path: readonly string[], props: OverlayProps]>;
}

export interface LoadedTree {
  /** Undefined when nothing was ever stored (a new device). */
  readonly snapshot: TreeSnapshot | undefined;
  /** Batches committed after the snapshot, oldest first; replayed in order. */
  readonly batches: ReadonlyArray<readonly Mutation[]>;
}

export interface TreeStore {
  load(): Promise<LoadedTree>;
  /**
   * Makes one batch durable before resolving; after a crash either all of it or none of it is
   * loaded. `snapshot` yields the full current state (including this batch) when the store wants to
   * compact. Rejects (nothing written) when the batch cannot be stored.
   */
  commit(batch: readonly Mutation[], snapshot: () => TreeSnapshot): Promise<void>;
  /**
   * Optional: replaces what is stored by `snapshot` alone (no batches left), so nothing the
   * batches held before survives in the store's files (`ManagementTree.compact`).
   */
  compact?(snapshot: TreeSnapshot): Promise<void>;
  close(): Promise<void>;
}

/** No persistence: the tree lives as long as the process (tests, gateways, simulators). */
export class MemoryTreeStore implements TreeStore {
  async load(): Promise<LoadedTree> {
    return { snapshot: undefined, batches: [] };
  }
  async commit(): Promise<void> {}
  async close(): Promise<void> {}
}
