/**
 * Building the tree's skeleton from the DDFs at start-up: permanent and required nodes with their
 * formats, types, default values, titles and DDF ACLs. Idempotent: existing nodes (and the values
 * servers or the device gave them) are left as they are.
 */
import { StatusCode } from '../../representation/index.ts';
import type { NodeInput } from '../types.ts';
import type { DdfSchema, SkeletonNode } from './schema.ts';

/** What the skeleton needs from the tree: the engine's device-side `ensure`. */
export interface SkeletonTarget {
  ensure(uri: string, input?: NodeInput): Promise<StatusCode>;
}

function inputOf(node: SkeletonNode): NodeInput {
  const input: { -readonly [K in keyof NodeInput]: NodeInput[K] } = {
    format: node.format,
    permanent: node.permanent,
  };
  if (node.type !== '') input.type = node.type;
  if (node.format !== 'node') input.data = node.value ?? '';
  if (node.acl !== undefined) input.acl = node.acl;
  if (node.title !== undefined) input.title = node.title;
  return input;
}

/** Create the skeleton nodes that do not exist yet. Returns 200 or the status of the first failing node. */
export async function installSkeleton(tree: SkeletonTarget, schema: DdfSchema): Promise<StatusCode> {
  return installNodes(tree, schema.skeleton());
}

/** Create the given skeleton nodes (e.g. `schema.instanceSkeleton(uri)` for a new account). */
export async function installNodes(
  tree: SkeletonTarget,
  nodes: readonly SkeletonNode[],
): Promise<StatusCode> {
  for (const node of nodes) {
    const status = await tree.ensure(node.uri, inputOf(node));
    if (status !== StatusCode.Ok) return status;
  }
  return StatusCode.Ok;
}
