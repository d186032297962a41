/**
 * `./Inbox` (protocol.md §7.4): a write-only drop point. A server (or a bootstrap) Adds an MO
 * under `./Inbox/<name>` with the MO identifier as the node's Type; the device places it where
 * objects of that type live (a registry of MO type → parent URI) and answers for the placed
 * object from then on: later Adds/Replaces below `./Inbox/<name>/…` go to the placed node.
 *
 * Placement runs with the rights of whoever sent the command: the destination's ACLs and DDF
 * apply (the Inbox is no way around them). Get on the Inbox is refused by its DDF (AccessType
 * Add only → 405).
 */
import { StatusCode } from '../representation/index.ts';
import type {
  ManagementObject,
  NodeInput,
  NodePath,
  PluginContext,
  PluginNode,
  SubtreeNode,
  TreeOps,
} from '../tree/index.ts';
import { formatUri, LOCAL } from '../tree/index.ts';
import { MoId, StandardUri } from './ids.ts';

/** Where objects of each MO type go: MO identifier → URI of the parent they are added under. */
export class MoRegistry {
  readonly #parents = new Map<string, string>();

  /** Objects of type `moId` are placed under `parentUri` (e.g. DMAcc → `./DMAcc`). */
  register(moId: string, parentUri: string): this {
    this.#parents.set(moId, parentUri);
    return this;
  }

  unregister(moId: string): boolean {
    return this.#parents.delete(moId);
  }

  /** The parent URI for an MO type, or undefined for a type the device does not know. */
  locate(moId: string | undefined): string | undefined {
    return moId === undefined ? undefined : this.#parents.get(moId.trim());
  }

  entries(): [string, string][] {
    return [...this.#parents];
  }
}

/** A registry with the standard placements: every DMAcc identifier → `./DMAcc`. */
export function standardRegistry(dmAccRoot: string = StandardUri.DMAcc): MoRegistry {
  return new MoRegistry()
    .register(MoId.DMAcc, dmAccRoot)
    .register(MoId.DMAccW7, dmAccRoot)
    .register(MoId.DMAcc11, dmAccRoot);
}

const MAX_ALIASES = 1024;
const utf8 = new TextDecoder();

function splitChildren(data: unknown): string[] {
  const s = typeof data === 'string' ? data : data instanceof Uint8Array ? utf8.decode(data) : '';
  return s === '' ? [] : s.split('/').map((n) => decodeURIComponent(n));
}

/** Where a TNDS top node addressed to the Inbox goes. */
export interface Placement {
  readonly parentUri: string;
  readonly name: string;
}

/** The Inbox plugin; mount it with `tree.mount(inbox.uri, inbox)`. */
export class Inbox implements ManagementObject {
  readonly uri: string;
  readonly registry: MoRegistry;
  /** Inbox name → URI of the placed object. */
  readonly #aliases = new Map<string, string>();
  readonly #byTx = new Map<number, string[]>();

  constructor(registry: MoRegistry, options: { uri?: string } = {}) {
    this.registry = registry;
    this.uri = options.uri ?? StandardUri.Inbox;
  }

  /** The URI an Inbox name was placed at (undefined when unknown). */
  placedAt(name: string): string | undefined {
    return this.#aliases.get(name);
  }

  /** Pick where an object goes: its type's parent, its name (renamed `name-2`, … when taken). */
  async place(tree: TreeOps, name: string, type: string | undefined): Promise<Placement | StatusCode> {
    const parentUri = this.registry.locate(type);
    if (parentUri === undefined) return StatusCode.UnsupportedMediaTypeOrFormat;
    const got = await tree.get(parentUri, LOCAL);
    const taken = new Set(got.status === StatusCode.Ok ? splitChildren(got.items[0]?.data) : []);
    let final = name;
    for (let n = 2; taken.has(final); n++) final = `${name}-${n}`;
    return { parentUri, name: final };
  }

  /**
   * For addTnds(…, { redirect }): top nodes of a TNDS added to the Inbox go where their type
   * belongs (the engine then creates the whole subtree there, ACLs and titles included).
   */
  readonly redirect = async (
    tree: TreeOps,
    parentUri: string,
    node: SubtreeNode,
  ): Promise<Placement | StatusCode | undefined> => {
    if (!sameUri(parentUri, this.uri)) return undefined;
    if (node.format !== 'node') return StatusCode.UnsupportedMediaTypeOrFormat;
    const placed = await this.place(tree, node.name, node.type);
    if (typeof placed === 'number') return placed;
    this.#remember(node.name, `${placed.parentUri}/${encodeURIComponent(placed.name)}`, undefined);
    return placed;
  };

  #remember(name: string, uri: string, txId: number | undefined): void {
    this.#aliases.delete(name);
    this.#aliases.set(name, uri);
    if (this.#aliases.size > MAX_ALIASES) this.#aliases.delete(this.#aliases.keys().next().value!);
    if (txId !== undefined) {
      const list = this.#byTx.get(txId) ?? [];
      list.push(name);
      this.#byTx.set(txId, list);
    }
  }

  #target(path: NodePath): string | undefined {
    const base = this.#aliases.get(path[0]!);
    if (base === undefined) return undefined;
    return path.length === 1 ? base : `${base}/${formatUri(path.slice(1)).slice(2)}`;
  }

  async get(path: NodePath, ctx: PluginContext): Promise<PluginNode | StatusCode> {
    if (path.length === 0) return { format: 'node', type: MoId.Inbox, children: [...this.#aliases.keys()] };
    const target = this.#target(path);
    if (target === undefined) return StatusCode.NotFound;
    const got = await ctx.tree.get(target, LOCAL);
    if (got.status !== StatusCode.Ok) {
      // The placed object was deleted or renamed: forget the alias.
      if (got.status === StatusCode.NotFound && path.length === 1) this.#aliases.delete(path[0]!);
      return got.status;
    }
    const item = got.items[0]!;
    if (item.format === 'node')
      return { format: 'node', type: item.type, children: splitChildren(item.data) };
    return { format: item.format, type: item.type, data: item.data ?? '' };
  }

  async add(path: NodePath, input: NodeInput, ctx: PluginContext): Promise<StatusCode> {
    if (path.length === 1) {
      if ((input.format ?? 'chr') !== 'node') return StatusCode.UnsupportedMediaTypeOrFormat;
      const placed = await this.place(ctx.tree, path[0]!, input.type);
      if (typeof placed === 'number') return placed;
      const uri = `${placed.parentUri}/${encodeURIComponent(placed.name)}`;
      const status = await ctx.tree.add(uri, input, ctx.principal);
      if (status === StatusCode.Ok) this.#remember(path[0]!, uri, ctx.txId);
      return status;
    }
    const target = this.#target(path);
    if (target === undefined) return StatusCode.NotFound;
    return ctx.tree.add(target, input, ctx.principal);
  }

  async replace(path: NodePath, input: NodeInput, ctx: PluginContext): Promise<StatusCode> {
    const target = this.#target(path);
    if (target === undefined) return StatusCode.NotFound;
    return ctx.tree.replace(target, input, ctx.principal);
  }

  /** Deleting `./Inbox/<name>` only forgets the alias; below it, deletes go to the placed object. */
  async delete(path: NodePath, ctx: PluginContext): Promise<StatusCode> {
    if (path.length === 1) return this.#aliases.delete(path[0]!) ? StatusCode.Ok : StatusCode.NotFound;
    const target = this.#target(path);
    if (target === undefined) return StatusCode.NotFound;
    return ctx.tree.delete(target, ctx.principal);
  }

  async prepare(): Promise<StatusCode> {
    return StatusCode.Ok;
  }

  async commit(txId: number): Promise<void> {
    this.#byTx.delete(txId);
  }

  /** The placed nodes are rolled back by the engine (same transaction); drop their aliases. */
  async rollback(txId: number): Promise<void> {
    for (const name of this.#byTx.get(txId) ?? []) this.#aliases.delete(name);
    this.#byTx.delete(txId);
  }
}

function sameUri(a: string, b: string): boolean {
  const norm = (u: string) => (u.startsWith('./') ? u.slice(2) : u).replace(/\/+$/, '');
  return norm(a) === norm(b);
}
