/**
 * Executing a command whose Data is a TNDS (Meta Type `application/vnd.syncml.dmtnds+xml` or
 * `+wbxml`): Add creates every node of the document below the target in one step, Replace makes
 * the target's subtree equal to the document (protocol.md §6.7). One status for the whole
 * document; a failing node leaves the tree unchanged and its status is the command's.
 */
import { StatusCode } from '../../representation/index.ts';
import type { Element } from '../../representation/element.ts';
import { MgmtTreeError } from '../ddf/errors.ts';
import { TNDS_WBXML_TYPE, TNDS_XML_TYPE } from '../ddf/model.ts';
import type { Principal, SubtreeNode, TreeOps } from '../types.ts';
import { LOCAL } from '../types.ts';
import { parseTnds, type TndsReadOptions } from './codec.ts';
import { type TndsPlacement, tndsToSubtrees } from './subtree.ts';

/** True for the TNDS MIME types (parameters and case ignored). */
export function isTndsType(type: string | undefined): boolean {
  const base = type?.split(';')[0]?.trim().toLowerCase();
  return base === TNDS_XML_TYPE || base === TNDS_WBXML_TYPE;
}

/** A tree that can also group several operations all-or-nothing (ManagementTree has `transaction`). */
export type TndsTarget = TreeOps & {
  transaction?<T>(fn: (tx: TreeOps) => Promise<T>): Promise<T>;
};

/**
 * Decides where a top node goes instead of `parentUri` (e.g. the Inbox placing an MO by its
 * Type): a new parent URI and name, a status to fail with, or undefined to keep it.
 */
export type TndsRedirect = (
  ops: TreeOps,
  parentUri: string,
  node: SubtreeNode,
) => Promise<{ readonly parentUri: string; readonly name: string } | StatusCode | undefined>;

export interface ApplyTndsOptions extends TndsReadOptions {
  /** Who runs the command (ACLs and the DDF apply to servers). Default: the device itself. */
  who?: Principal;
  /** Placement hook for Add (Inbox). */
  redirect?: TndsRedirect;
}

function joinUri(base: string, names: readonly string[]): string {
  const b = base === '.' || base === './' ? '.' : base.replace(/\/+$/, '');
  return names.length === 0 ? b : `${b}/${names.map((n) => encodeURIComponent(n)).join('/')}`;
}

/** Decode the Data of the command; a malformed document is answered with its error status. */
function decode(data: string | Uint8Array | Element, options: TndsReadOptions): TndsPlacement[] | StatusCode {
  try {
    return tndsToSubtrees(parseTnds(data, options));
  } catch (err) {
    if (err instanceof MgmtTreeError) return err.status;
    throw err;
  }
}

class Failed extends Error {
  readonly status: StatusCode;
  constructor(status: StatusCode) {
    super(`TNDS node failed with ${status}`);
    this.status = status;
  }
}

/** Names for top nodes the TNDS left unnamed (Inbox objects): `mo1`, `mo2`, … not yet used under the parent. */
async function nameUnnamed(
  ops: TreeOps,
  target: string,
  placements: TndsPlacement[],
): Promise<TndsPlacement[]> {
  if (placements.every((p) => p.node.name !== '')) return placements;
  const got = await ops.get(target, LOCAL);
  const taken = new Set<string>(
    got.status === 200 && typeof got.items[0]?.data === 'string' ? got.items[0].data.split('/') : [],
  );
  for (const p of placements) taken.add(p.node.name);
  let n = 0;
  return placements.map((p) => {
    if (p.node.name !== '') return p;
    let name: string;
    do name = `mo${++n}`;
    while (taken.has(name));
    taken.add(name);
    return { parent: p.parent, node: { ...p.node, name } };
  });
}

async function all(ops: TndsTarget, steps: ((tx: TreeOps) => Promise<StatusCode>)[]): Promise<StatusCode> {
  if (steps.length === 1 || !ops.transaction) {
    // One subtree: the engine's addSubtree is all-or-nothing by itself. Inside an Atomic (a
    // Transaction has no nested transactions) the Atomic's rollback covers a partial failure.
    for (const step of steps) {
      const s = await step(ops);
      if (s !== StatusCode.Ok) return s;
    }
    return StatusCode.Ok;
  }
  try {
    await ops.transaction(async (tx) => {
      for (const step of steps) {
        const s = await step(tx);
        if (s !== StatusCode.Ok) throw new Failed(s);
      }
    });
    return StatusCode.Ok;
  } catch (err) {
    if (err instanceof Failed) return err.status;
    throw err;
  }
}

/**
 * Add with TNDS: every top Node (under its Path, relative to `targetUri`) and its subtree is
 * created. Returns 200 or the status of the first failing node (tree unchanged).
 */
export async function addTnds(
  ops: TndsTarget,
  targetUri: string,
  data: string | Uint8Array | Element,
  options: ApplyTndsOptions = {},
): Promise<StatusCode> {
  const decoded = decode(data, options);
  if (typeof decoded === 'number') return decoded;
  if (decoded.length === 0) return StatusCode.IncompleteCommand;
  const who = options.who ?? LOCAL;
  const placements = await nameUnnamed(ops, targetUri, decoded);
  const redirect = options.redirect;
  return all(
    ops,
    placements.map((p) => async (tx: TreeOps) => {
      const parentUri = joinUri(targetUri, p.parent);
      const moved = redirect ? await redirect(tx, parentUri, p.node) : undefined;
      if (typeof moved === 'number') return moved;
      if (moved) return tx.addSubtree(moved.parentUri, { ...p.node, name: moved.name }, who);
      return tx.addSubtree(parentUri, p.node, who);
    }),
  );
}

/**
 * Replace with TNDS: the target's subtree becomes the document's. A document whose single top
 * Node names the target itself replaces it; otherwise the top Nodes become the target's children.
 */
export async function replaceTnds(
  ops: TndsTarget,
  targetUri: string,
  data: string | Uint8Array | Element,
  options: ApplyTndsOptions = {},
): Promise<StatusCode> {
  const decoded = decode(data, options);
  if (typeof decoded === 'number') return decoded;
  const who = options.who ?? LOCAL;
  const targetName = decodeURIComponent(targetUri.replace(/\/+$/, '').split('/').pop() ?? '');
  const only = decoded[0];
  if (decoded.length === 1 && only && only.parent.length === 0 && only.node.name === targetName) {
    return ops.replaceSubtree(targetUri, only.node, who);
  }
  if (decoded.some((p) => p.parent.length > 0 || p.node.name === '')) return StatusCode.BadRequest;
  const typeOut = await ops.get(`${targetUri}?prop=Type`, LOCAL);
  const type = typeOut.status === 200 ? typeOut.items[0]?.data : undefined;
  const node: SubtreeNode = {
    name: targetName,
    format: 'node',
    ...(typeof type === 'string' && type !== '' ? { type } : {}),
    children: decoded.map((p) => p.node),
  };
  return ops.replaceSubtree(targetUri, node, who);
}
