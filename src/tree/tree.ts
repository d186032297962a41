/**
 * The management tree engine: nodes, properties, ACLs, plugins, transactions, events and
 * persistence, behind the DM operations Add, Get, Replace, Delete, Copy and Exec. Every operation
 * returns the DM status a server expects (protocol.md §3.6, §6); exceptions are kept for misuse
 * and storage failures.
 *
 * Concurrency: operations are serialized by one lock; an explicit transaction (Atomic) holds it
 * until commit or rollback. Calls made from inside a running operation (a plugin handler, or code
 * it awaits) join that operation instead of waiting for the lock.
 *
 * This file is the façade: opening and closing, the lock, mounts, list formats and listeners. Each
 * operation runs in a Scope (scope.ts: the journal, commit, rollback) through operations.ts; the
 * checks are in access.ts, the reads in read.ts, the writes in write.ts, property.ts, subtree.ts
 * and exec-node.ts, the plugin boundary in plugin.ts, the persisted form in state.ts.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { StatusCode } from '../representation/index.ts';
import { ROOT_DEFAULT_ACL } from './acl.ts';
import { TreeError, TreeErrorCode } from './errors.ts';
import { applyMutation, type TreeNode, type TreeState } from './node.ts';
import { resolve } from './node-info.ts';
import { buildFromSnapshot, countNodes, newRoot, toSnapshot } from './state.ts';
import { treeView } from './access.ts';
import { joinedOps, operations } from './operations.ts';
import { isSuccess, Scope, type TreeCore } from './scope.ts';
import { Transaction } from './transaction.ts';
import { MemoryTreeStore, type TreeSnapshot, type TreeStore } from './store/store.ts';
import type {
  ChangeEvent,
  ExecInput,
  ExecResult,
  GetOutcome,
  ListSerializer,
  ManagementObject,
  NodeInput,
  Principal,
  SnapshotOutcome,
  SubtreeNode,
  TreeOps,
  TreeSchema,
  Unsubscribe,
} from './types.ts';
import { LOCAL } from './types.ts';
import { DEFAULT_URI_LIMITS, parseUri, type UriLimits } from './uri.ts';

export { Property } from './property.ts';
export { Transaction } from './transaction.ts';

export interface TreeOptions {
  /** Persistence backend (default: in memory only). */
  readonly store?: TreeStore;
  /** URI limits (DevDetail/URI); 0 = unlimited. */
  readonly limits?: Partial<UriLimits>;
  /** DDF validation hook. */
  readonly schema?: TreeSchema;
  /** Clock for TStamp (ms since epoch). */
  readonly clock?: () => number;
  /** Largest leaf value accepted, in bytes (413 above). Default 16 MiB. */
  readonly maxValueSize?: number;
  /** Create missing interior ancestors on Add (protocol.md §6.2 "MAY"). Default true. */
  readonly implicitAdd?: boolean;
  /** ACL of the root of a new tree. Default `Add=*&Get=*`. */
  readonly rootAcl?: string;
}

const S = StatusCode;

type ExecListener = (result: ExecResult) => void;
type ChangeListener = (event: ChangeEvent) => void;

/**
 * The management tree. Create with `await ManagementTree.open(options)`.
 */
export class ManagementTree implements TreeOps {
  readonly limits: UriLimits;
  readonly #state: TreeState;
  readonly #store: TreeStore;
  readonly #schema: TreeSchema | undefined;
  readonly #clock: () => number;
  readonly #maxValueSize: number;
  readonly #implicitAdd: boolean;
  readonly #listFormats = new Map<string, ListSerializer>();
  readonly #changeListeners = new Set<ChangeListener>();
  readonly #execListeners = new Set<ExecListener>();
  readonly #als = new AsyncLocalStorage<Scope>();
  readonly #core: TreeCore;
  #lock: Promise<void> = Promise.resolve();
  #closed = false;

  private constructor(state: TreeState, store: TreeStore, options: TreeOptions) {
    this.#state = state;
    this.#store = store;
    this.limits = Object.freeze({ ...DEFAULT_URI_LIMITS, ...options.limits });
    this.#schema = options.schema;
    this.#clock = options.clock ?? Date.now;
    this.#maxValueSize = options.maxValueSize ?? 16 * 1024 * 1024;
    this.#implicitAdd = options.implicitAdd ?? true;
    this.#core = this.#makeCore();
  }

  /** Opens a tree: loads the persisted state (snapshot + journal) or starts with a bare root. */
  static async open(options: TreeOptions = {}): Promise<ManagementTree> {
    const store = options.store ?? new MemoryTreeStore();
    const loaded = await store.load();
    try {
      const root = loaded.snapshot
        ? buildFromSnapshot(loaded.snapshot)
        : newRoot(options.rootAcl ?? ROOT_DEFAULT_ACL);
      const state: TreeState = { root: root.root, overlays: root.overlays };
      for (const batch of loaded.batches) for (const m of batch) applyMutation(state, m);
      return new ManagementTree(state, store, options);
    } catch (err) {
      await store.close();
      throw err;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Operations (each one its own transaction unless called inside a running one)

  get(uri: string, who: Principal = LOCAL): Promise<GetOutcome> {
    return this.#op((s) => operations.get(s, uri, who));
  }
  add(uri: string, input: NodeInput, who: Principal = LOCAL): Promise<StatusCode> {
    return this.#op((s) => operations.add(s, uri, input, who));
  }
  replace(uri: string, input: NodeInput, who: Principal = LOCAL): Promise<StatusCode> {
    return this.#op((s) => operations.replace(s, uri, input, who));
  }
  delete(uri: string, who: Principal = LOCAL): Promise<StatusCode> {
    return this.#op((s) => operations.delete(s, uri, who));
  }
  copy(targetUri: string, sourceUri: string, who: Principal = LOCAL): Promise<StatusCode> {
    return this.#op((s) => operations.copy(s, targetUri, sourceUri, who));
  }
  exec(uri: string, input: ExecInput = {}, who: Principal = LOCAL): Promise<StatusCode> {
    return this.#op((s) => operations.exec(s, uri, input, who));
  }
  snapshot(uri: string, who: Principal = LOCAL): Promise<SnapshotOutcome> {
    return this.#op((s) => operations.snapshot(s, uri, who));
  }
  addSubtree(parentUri: string, node: SubtreeNode, who: Principal = LOCAL): Promise<StatusCode> {
    return this.#op((s) => operations.addSubtree(s, parentUri, node, who));
  }
  replaceSubtree(uri: string, node: SubtreeNode, who: Principal = LOCAL): Promise<StatusCode> {
    return this.#op((s) => operations.replaceSubtree(s, uri, node, who));
  }

  /**
   * Device-side seeding (DDF skeletons, standard objects): creates the node (and missing
   * ancestors, as interior nodes with the same `permanent` flag) when absent; leaves an existing
   * node as it is. Returns 200, or the status of the failing Add.
   */
  ensure(uri: string, input: NodeInput = { format: 'node' }): Promise<StatusCode> {
    return this.#op((s) => operations.ensure(s, uri, input));
  }

  /**
   * Starts an explicit transaction (Atomic). It holds the tree until `commit()` or `rollback()`;
   * other callers wait. Calls from inside its plugins join it.
   */
  async begin(): Promise<Transaction> {
    this.#assertOpen();
    const release = await this.#acquire();
    const scope = new Scope(this.#core, true, release);
    return new Transaction(scope);
  }

  /** Runs `fn` in a transaction: commits when it resolves, rolls back when it throws. */
  async transaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T> {
    const tx = await this.begin();
    try {
      const value = await fn(tx);
      if (tx.open) {
        const status = await tx.commit();
        if (!isSuccess(status))
          throw new TreeError(TreeErrorCode.StoreWrite, `transaction commit failed (${status})`, status);
      }
      return value;
    } catch (err) {
      if (tx.open) await tx.rollback();
      throw err;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Plugins, list formats, events

  /**
   * Hands the subtree at `uri` to code. The mount node is created (permanent, interior) when
   * absent; its ACL and Title stay with the engine. Mount before serving sessions.
   */
  async mount(uri: string, mo: ManagementObject): Promise<void> {
    const { path } = parseUri(uri, this.limits);
    if (path.length === 0) throw new TreeError(TreeErrorCode.MountConflict, 'cannot mount at the root');
    const status = await this.ensure(uri, { format: 'node', permanent: true });
    if (status !== S.Ok)
      throw new TreeError(TreeErrorCode.MountConflict, `cannot create mount node ${uri} (${status})`);
    const res = resolve(this.#state, path);
    if (res.kind !== 'engine')
      throw new TreeError(TreeErrorCode.MountConflict, `${uri} lies inside another mount`);
    for (const n of res.chain) {
      if (n.mount) throw new TreeError(TreeErrorCode.MountConflict, `${uri} lies inside another mount`);
    }
    if (hasMountBelow(res.node))
      throw new TreeError(TreeErrorCode.MountConflict, `a plugin is mounted below ${uri}`);
    res.node.mount = mo;
  }

  unmount(uri: string): void {
    const res = resolve(this.#state, parseUri(uri, this.limits).path);
    if (res.kind === 'plugin' && res.ref.rel.length === 0) {
      const node = res.chain[res.chain.length - 1];
      if (node) node.mount = undefined;
    }
  }

  /** Plugs a `?list=<name>` serializer in (e.g. TNDS). Struct and StructData are built in. */
  registerListFormat(name: string, serializer: ListSerializer): void {
    this.#listFormats.set(name, serializer);
  }

  listFormat(name: string): ListSerializer | undefined {
    return this.#listFormats.get(name);
  }

  /** Listens to successful changes (emitted after commit). */
  onChange(listener: ChangeListener): Unsubscribe {
    this.#changeListeners.add(listener);
    return () => this.#changeListeners.delete(listener);
  }

  /**
   * Announces a change the tree did not make itself (live state a plugin owns changed on the
   * device, e.g. FUMO State) to change listeners.
   */
  notifyChange(event: ChangeEvent): void {
    this.#emitChanges([event]);
  }

  /** Listens to late results of Execs that answered 202 (to send Generic Alert 1226). */
  onExecResult(listener: ExecListener): Unsubscribe {
    this.#execListeners.add(listener);
    return () => this.#execListeners.delete(listener);
  }

  /** Strips a ServerID from every ACL (the server's account was removed). */
  removeServer(serverId: string): Promise<StatusCode> {
    return this.#op((s) => operations.removeServer(s, serverId));
  }

  /** Number of engine-stored nodes (root included). */
  get size(): number {
    return countNodes(this.#state.root);
  }

  /** Full state for persistence (parent-before-child order). */
  toSnapshot(): TreeSnapshot {
    return toSnapshot(this.#state);
  }

  /**
   * Rewrites the store as one snapshot of the current state, so values replaced since the last
   * one (e.g. a superseded secret) are gone from its files. A no-op for stores that cannot.
   */
  async compact(): Promise<void> {
    this.#assertOpen();
    const release = await this.#acquire();
    try {
      await this.#store.compact?.(this.toSnapshot());
    } finally {
      release();
    }
  }

  /** Waits for running operations and closes the store. */
  async close(): Promise<void> {
    if (this.#closed) return;
    const release = await this.#acquire();
    this.#closed = true;
    try {
      await this.#store.close();
    } finally {
      release();
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Internals: what the tree's scopes reach through its TreeCore

  #emitChanges(events: readonly ChangeEvent[]): void {
    for (const e of events) {
      for (const l of this.#changeListeners) {
        try {
          l(e);
        } catch {
          // a listener's failure is its own; the change is committed
        }
      }
    }
  }

  #emitExecResult(result: ExecResult): void {
    for (const l of this.#execListeners) {
      try {
        l(result);
      } catch {
        // as above
      }
    }
  }

  #makeCore(): TreeCore {
    return {
      state: this.#state,
      limits: this.limits,
      schema: this.#schema,
      maxValueSize: this.#maxValueSize,
      implicitAdd: this.#implicitAdd,
      als: this.#als,
      now: () => this.#clock(),
      persist: (batch) => this.#store.commit(batch, () => this.toSnapshot()),
      emitChanges: (events) => this.#emitChanges(events),
      emitExecResult: (result) => this.#emitExecResult(result),
      listFormat: (name) => this.#listFormats.get(name),
      view: treeView(this.#state),
      joinedOps,
    };
  }

  #assertOpen(): void {
    if (this.#closed) throw new TreeError(TreeErrorCode.Closed, 'the tree is closed');
  }

  #acquire(): Promise<() => void> {
    let release!: () => void;
    const next = new Promise<void>((r) => {
      release = r;
    });
    const prev = this.#lock;
    this.#lock = prev.then(() => next);
    return prev.then(() => release);
  }

  async #op<T>(fn: (s: Scope) => Promise<T>): Promise<T> {
    const current = this.#als.getStore();
    if (current?.core === this.#core && current.open) return current.joined(() => fn(current));
    this.#assertOpen();
    const release = await this.#acquire();
    const scope = new Scope(this.#core, false, release);
    let result: T;
    try {
      result = await this.#als.run(scope, () => fn(scope));
    } catch (err) {
      await scope.rollback();
      throw err;
    }
    if (!isSuccess(statusOf(result))) {
      // A failed command leaves nothing behind, plugin side included (their rollback runs).
      await scope.rollback();
      return result;
    }
    const status = await scope.commit();
    if (!isSuccess(status)) return failWith(result, status);
    return result;
  }
}

/** The DM status inside an operation's result (a StatusCode or an outcome object). */
function statusOf(result: unknown): StatusCode {
  if (typeof result === 'number') return result as StatusCode;
  if (result && typeof result === 'object' && 'status' in result)
    return (result as { status: StatusCode }).status;
  return S.Ok;
}

/** Replaces the status of a failed commit in an operation's result. */
function failWith<T>(result: T, status: StatusCode): T {
  if (typeof result === 'number') return status as T;
  if (result && typeof result === 'object' && 'items' in result) return { ...result, status, items: [] } as T;
  if (result && typeof result === 'object' && 'status' in result)
    return { uri: '', ...result, status, node: undefined } as T;
  return result;
}

function hasMountBelow(node: TreeNode): boolean {
  if (!node.children) return false;
  for (const c of node.children.values()) if (c.mount || hasMountBelow(c)) return true;
  return false;
}
