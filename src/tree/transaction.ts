/**
 * Transaction: the public handle of an explicit transaction (Atomic) that `ManagementTree.begin()`
 * returns. Every call joins its scope; commit and rollback end it.
 */
import type { StatusCode } from '../representation/index.ts';
import type { Scope } from './scope.ts';
import {
  type ExecInput,
  type GetOutcome,
  LOCAL,
  type NodeInput,
  type Principal,
  type SnapshotOutcome,
  type SubtreeNode,
  type TreeOps,
} from './types.ts';

/** An explicit transaction (Atomic): operations apply at once and are undone on rollback. */
export class Transaction implements TreeOps {
  readonly #scope: Scope;
  readonly #ops: TreeOps;

  /** @internal */
  constructor(scope: Scope) {
    this.#scope = scope;
    this.#ops = scope.localOps;
  }

  get id(): number {
    return this.#scope.txId;
  }

  get open(): boolean {
    return this.#scope.open;
  }

  /** Runs `fn` inside this transaction: tree calls it makes (directly or via plugins) join it. */
  within<T>(fn: () => Promise<T>): Promise<T> {
    return this.#scope.joined(fn);
  }

  get(uri: string, who: Principal = LOCAL): Promise<GetOutcome> {
    return this.#ops.get(uri, who);
  }
  add(uri: string, input: NodeInput, who: Principal = LOCAL): Promise<StatusCode> {
    return this.#ops.add(uri, input, who);
  }
  replace(uri: string, input: NodeInput, who: Principal = LOCAL): Promise<StatusCode> {
    return this.#ops.replace(uri, input, who);
  }
  delete(uri: string, who: Principal = LOCAL): Promise<StatusCode> {
    return this.#ops.delete(uri, who);
  }
  copy(targetUri: string, sourceUri: string, who: Principal = LOCAL): Promise<StatusCode> {
    return this.#ops.copy(targetUri, sourceUri, who);
  }
  /** Exec is not undoable: inside a transaction it answers 500 (DM forbids Exec in Atomic). */
  exec(uri: string, input: ExecInput = {}, who: Principal = LOCAL): Promise<StatusCode> {
    return this.#ops.exec(uri, input, who);
  }
  snapshot(uri: string, who: Principal = LOCAL): Promise<SnapshotOutcome> {
    return this.#ops.snapshot(uri, who);
  }
  addSubtree(parentUri: string, node: SubtreeNode, who: Principal = LOCAL): Promise<StatusCode> {
    return this.#ops.addSubtree(parentUri, node, who);
  }
  replaceSubtree(uri: string, node: SubtreeNode, who: Principal = LOCAL): Promise<StatusCode> {
    return this.#ops.replaceSubtree(uri, node, who);
  }

  /**
   * Commits: plugins prepare (any refusal rolls everything back and is returned), the batch is
   * made durable (failure → 510 and rollback), plugins commit, events are emitted. 200 on success.
   */
  commit(): Promise<StatusCode> {
    return this.#scope.commit();
  }

  /** Restores the tree exactly as before begin(). 200, or 516 when a plugin failed to roll back. */
  rollback(): Promise<StatusCode> {
    return this.#scope.rollback();
  }
}
