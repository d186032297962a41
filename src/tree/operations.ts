/**
 * The DM operations as a scope runs them: the entry points the tree, a Transaction and a plugin
 * call. Every write is a savepoint, so a failure status undoes what it had done so far and leaves
 * the rest of the scope as it was.
 */
import type { StatusCode } from '../representation/index.ts';
import { execNode } from './exec-node.ts';
import { getNode, snapshotNode } from './read.ts';
import type { Scope } from './scope.ts';
import { addSubtree, replaceSubtree } from './subtree.ts';
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
import { addNode, copyNode, deleteNode, removeServer, replaceNode } from './write.ts';

export const operations = {
  get(scope: Scope, uri: string, who: Principal): Promise<GetOutcome> {
    return getNode(scope, uri, who);
  },
  add(scope: Scope, uri: string, input: NodeInput, who: Principal): Promise<StatusCode> {
    return scope.savepoint(() => addNode(scope, uri, input, who, false));
  },
  /** Local seeding: Add unless the node exists (200 then). */
  ensure(scope: Scope, uri: string, input: NodeInput): Promise<StatusCode> {
    return scope.savepoint(() => addNode(scope, uri, input, LOCAL, true));
  },
  replace(scope: Scope, uri: string, input: NodeInput, who: Principal): Promise<StatusCode> {
    return scope.savepoint(() => replaceNode(scope, uri, input, who, 'Replace'));
  },
  delete(scope: Scope, uri: string, who: Principal): Promise<StatusCode> {
    return scope.savepoint(() => deleteNode(scope, uri, who));
  },
  copy(scope: Scope, targetUri: string, sourceUri: string, who: Principal): Promise<StatusCode> {
    return scope.savepoint(() => copyNode(scope, targetUri, sourceUri, who));
  },
  exec(scope: Scope, uri: string, input: ExecInput, who: Principal): Promise<StatusCode> {
    return execNode(scope, uri, input, who);
  },
  snapshot(scope: Scope, uri: string, who: Principal): Promise<SnapshotOutcome> {
    return snapshotNode(scope, uri, who);
  },
  addSubtree(scope: Scope, parentUri: string, node: SubtreeNode, who: Principal): Promise<StatusCode> {
    return scope.savepoint(() => addSubtree(scope, parentUri, node, who));
  },
  replaceSubtree(scope: Scope, uri: string, node: SubtreeNode, who: Principal): Promise<StatusCode> {
    return scope.savepoint(() => replaceSubtree(scope, uri, node, who));
  },
  removeServer(scope: Scope, serverId: string): Promise<StatusCode> {
    return removeServer(scope, serverId);
  },
};

/** The operations joined to `scope`: calls made from inside it (plugins, a Transaction) run in it. */
export function joinedOps(scope: Scope): TreeOps {
  const op = operations;
  return {
    get: (uri, who = LOCAL) => scope.joined(() => op.get(scope, uri, who)),
    add: (uri, input, who = LOCAL) => scope.joined(() => op.add(scope, uri, input, who)),
    replace: (uri, input, who = LOCAL) => scope.joined(() => op.replace(scope, uri, input, who)),
    delete: (uri, who = LOCAL) => scope.joined(() => op.delete(scope, uri, who)),
    copy: (t, s, who = LOCAL) => scope.joined(() => op.copy(scope, t, s, who)),
    exec: (uri, input = {}, who = LOCAL) => scope.joined(() => op.exec(scope, uri, input, who)),
    snapshot: (uri, who = LOCAL) => scope.joined(() => op.snapshot(scope, uri, who)),
    addSubtree: (uri, node, who = LOCAL) => scope.joined(() => op.addSubtree(scope, uri, node, who)),
    replaceSubtree: (uri, node, who = LOCAL) => scope.joined(() => op.replaceSubtree(scope, uri, node, who)),
  };
}
