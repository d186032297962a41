/**
 * The tree as the client session engine's CommandHandler (protocol/client-types.ts): one outcome
 * per command, and Atomic transactions the engine drives itself. Structurally typed so tree does
 * not import protocol (layering); the client role passes it straight in:
 *
 * ```ts
 * const handler = treeCommandHandler(tree, { tnds });   // satisfies protocol's CommandHandler
 * ```
 */
import type { Add, Copy, Delete, Exec, Get, Item, Replace } from '../representation/index.ts';
import { StatusCode } from '../representation/index.ts';
import { TreeError, TreeErrorCode } from './errors.ts';
import { TreeCommandExecutor, type TreeCommandExecutorOptions } from './exec.ts';
import type { ManagementTree, Transaction } from './tree.ts';
import { serverPrincipal } from './types.ts';

export interface TreeHandlerTransaction {
  /** Commits; throws TreeError (with the DM status) when the commit was refused or failed, tree unchanged. */
  commit(): Promise<void>;
  /** Undoes the transaction; false when a plugin could not roll back (516). */
  rollback(): Promise<boolean>;
}

export interface TreeHandlerContext {
  /** DMAcc ServerID of the server in session. */
  readonly serverId: string;
  /** Set for members of an Atomic: a transaction from `begin()`. */
  readonly transaction?: TreeHandlerTransaction;
}

export interface TreeCommandHandler {
  execute(
    cmd: Add | Replace | Delete | Copy | Get | Exec,
    ctx: TreeHandlerContext,
  ): Promise<{ readonly status: number; readonly results?: readonly Item[] }>;
  begin(ctx?: unknown): Promise<TreeHandlerTransaction>;
}

export function treeCommandHandler(
  tree: ManagementTree,
  options: TreeCommandExecutorOptions = {},
): TreeCommandHandler {
  const executor = new TreeCommandExecutor(tree, options);
  const transactions = new WeakMap<TreeHandlerTransaction, Transaction>();
  return {
    async execute(cmd, ctx) {
      const tx = ctx.transaction ? transactions.get(ctx.transaction) : undefined;
      if (ctx.transaction && !tx) return { status: StatusCode.CommandFailed };
      const out = await executor.run(cmd, serverPrincipal(ctx.serverId), tx ?? tree);
      // Each Item's own status when there are several (the engine answers one Status per code).
      const items = cmd.Item.length > 1 ? { itemStatuses: out.itemStatuses } : {};
      return cmd.type === 'Get' && out.results.length > 0
        ? { status: out.status, results: out.results, ...items }
        : { status: out.status, ...items };
    },
    async begin() {
      const tx = await tree.begin();
      const handle: TreeHandlerTransaction = {
        async commit() {
          const status = await tx.commit();
          if (status !== StatusCode.Ok) {
            throw new TreeError(TreeErrorCode.StoreWrite, `Atomic commit failed with ${status}`, status);
          }
        },
        async rollback() {
          return (await tx.rollback()) === StatusCode.Ok;
        },
      };
      transactions.set(handle, tx);
      return handle;
    },
  };
}
