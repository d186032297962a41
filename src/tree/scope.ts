/**
 * Scope: one operation or one explicit transaction (Atomic) on a tree, and its journal: the
 * undos of the mutations applied, the batch to persist, the events to emit after commit, the
 * plugins that took part. Marks and rewinds make savepoints; commit and rollback end it. The
 * operations themselves (read.ts, write.ts, …) record into a scope; the scope reaches its tree
 * only through the `TreeCore` the tree hands it.
 */
import type { AsyncLocalStorage } from 'node:async_hooks';
import { StatusCode } from '../representation/index.ts';
import { TreeError, TreeErrorCode } from './errors.ts';
import { applyMutation, type Mutation, type TreeState, type Undo } from './node.ts';
import type {
  ChangeEvent,
  ExecResult,
  ListSerializer,
  ManagementObject,
  TreeOps,
  TreeSchema,
  TreeView,
} from './types.ts';
import type { NodePath, UriLimits } from './uri.ts';

const S = StatusCode;

/** 200 or 202: a command that did what was asked (202: a plugin finishes it later). */
export function isSuccess(status: StatusCode): boolean {
  return status === S.Ok || status === S.AcceptedForProcessing;
}

/** A point in a scope's journal to rewind to (a savepoint). */
export interface Mark {
  readonly undo: number;
  readonly batch: number;
  readonly events: number;
}

let nextTxId = 1;

/** What a scope reaches in its tree: the state, the options, the store and the listeners. */
export interface TreeCore {
  readonly state: TreeState;
  readonly limits: UriLimits;
  readonly schema: TreeSchema | undefined;
  readonly maxValueSize: number;
  readonly implicitAdd: boolean;
  /** The scope a running operation (and the plugin code it awaits) belongs to. */
  readonly als: AsyncLocalStorage<Scope>;
  now(): number;
  /** Makes a batch durable. */
  persist(batch: readonly Mutation[]): Promise<void>;
  emitChanges(events: readonly ChangeEvent[]): void;
  emitExecResult(result: ExecResult): void;
  listFormat(name: string): ListSerializer | undefined;
  /** What a schema check may look at (see access.ts). */
  readonly view: TreeView;
  /** The tree's operations joined to `scope` (see operations.ts). */
  joinedOps(scope: Scope): TreeOps;
}

/**
 * The unit of all-or-nothing: applied mutations with their undos, the batch to persist, events
 * to emit after commit, and the plugins that took part.
 */
export class Scope {
  readonly core: TreeCore;
  readonly explicit: boolean;
  readonly txId: number;
  open = true;
  readonly #release: () => void;
  readonly #undo: Undo[] = [];
  readonly #batch: Mutation[] = [];
  readonly #events: ChangeEvent[] = [];
  readonly #participants = new Set<ManagementObject>();
  #active = 0;
  #idle: (() => void) | undefined;
  /** The tree's operations joined to this scope: what its plugins (and its Transaction) call. */
  readonly localOps: TreeOps;

  constructor(core: TreeCore, explicit: boolean, release: () => void) {
    this.core = core;
    this.explicit = explicit;
    this.txId = nextTxId++;
    this.#release = release;
    this.localOps = core.joinedOps(this);
  }

  /** Runs a nested call inside this scope; commit waits for it. */
  async joined<T>(fn: () => Promise<T>): Promise<T> {
    if (!this.open) throw new TreeError(TreeErrorCode.Closed, 'the transaction is finished');
    this.#active++;
    try {
      return await this.core.als.run(this, fn);
    } finally {
      this.#active--;
      if (this.#active === 0) this.#idle?.();
    }
  }

  async #settle(): Promise<void> {
    while (this.#active > 0) await new Promise<void>((r) => (this.#idle = r));
    this.#idle = undefined;
  }

  get hasChanges(): boolean {
    return this.#batch.length > 0;
  }

  mark(): Mark {
    return { undo: this.#undo.length, batch: this.#batch.length, events: this.#events.length };
  }

  rewind(mark: Mark): void {
    while (this.#undo.length > mark.undo) this.#undo.pop()!();
    this.#batch.length = mark.batch;
    this.#events.length = mark.events;
  }

  apply(m: Mutation): void {
    const undo = applyMutation(this.core.state, m);
    this.#undo.push(undo);
    this.#batch.push(m);
  }

  touch(path: NodePath): void {
    this.apply({ o: 'tch', p: path, t: this.core.now() });
  }

  event(e: ChangeEvent): void {
    this.#events.push(e);
  }

  /** Commits: plugin prepare, store, plugin commit, events. Returns 200 or the failure status. */
  async commit(): Promise<StatusCode> {
    await this.#settle();
    this.open = false;
    try {
      for (const p of this.#participants) {
        if (!p.prepare) continue;
        let status: StatusCode;
        try {
          status = await p.prepare(this.txId);
        } catch {
          status = S.CommandFailed;
        }
        if (status !== S.Ok) {
          await this.#undoAll();
          return status;
        }
      }
      if (this.#batch.length > 0) {
        try {
          await this.core.persist(this.#batch);
        } catch {
          await this.#undoAll();
          return S.DataStoreFailure;
        }
      }
      for (const p of this.#participants) {
        try {
          await p.commit?.(this.txId);
        } catch {
          // prepared plugins promised to commit; nothing left to undo safely
        }
      }
      this.core.emitChanges(this.#events);
      return S.Ok;
    } finally {
      this.#release();
    }
  }

  /** Undoes everything. Returns 200, or 516 when a plugin failed to roll back. */
  async rollback(): Promise<StatusCode> {
    await this.#settle();
    if (!this.open) return S.Ok;
    this.open = false;
    try {
      return await this.#undoAll();
    } finally {
      this.#release();
    }
  }

  async #undoAll(): Promise<StatusCode> {
    this.rewind({ undo: 0, batch: 0, events: 0 });
    let status: StatusCode = S.Ok;
    for (const p of this.#participants) {
      try {
        await p.rollback?.(this.txId);
      } catch {
        status = S.AtomicRollbackFailed;
      }
    }
    return status;
  }

  /** Runs a write as a savepoint: on a failure status its partial effects are undone. */
  async savepoint(fn: () => Promise<StatusCode>): Promise<StatusCode> {
    const mark = this.mark();
    const status = await fn();
    if (!isSuccess(status)) this.rewind(mark);
    return status;
  }

  /** Enlists a plugin about to change something; one without rollback cannot join an Atomic. */
  enlist(mo: ManagementObject): StatusCode | undefined {
    if (this.explicit && !mo.rollback) return S.CommandFailed;
    this.#participants.add(mo);
    return undefined;
  }

  /** Adds a plugin to the commit without the Atomic check (Exec never runs inside one). */
  participate(mo: ManagementObject): void {
    this.#participants.add(mo);
  }
}
