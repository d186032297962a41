/**
 * Scope: one operation or one explicit transaction (Atomic) on a tree. It runs the DM operations,
 * keeps what they did (the journal: undos, the batch to persist, events to emit after commit, the
 * plugins that took part) and ends in commit or rollback. It reaches its tree only through the
 * `TreeCore` the tree hands it.
 */
import type { AsyncLocalStorage } from 'node:async_hooks';
import { type Format, isFormat, StatusCode } from '../representation/index.ts';
import { AclCommand, aclFor, aclGrants, aclWithoutServer, normalizeAcl, ROOT_DEFAULT_ACL } from './acl.ts';
import { TreeError, TreeErrorCode } from './errors.ts';
import {
  applyMutation,
  emptyOverlay,
  type Mutation,
  type NodeFields,
  type NodeRecord,
  type OverlayProps,
  overlayKey,
  type TreeNode,
  type TreeState,
  type Undo,
} from './node.ts';
import { chainPath, engineInfo, type NodeInfo, type PluginRef, resolve } from './node-info.ts';
import { MAX_TITLE_BYTES, PROPERTIES, Property } from './property.ts';
import { formatTStamp, valueSize } from './value.ts';
import type {
  ChangeEvent,
  ExecContext,
  ExecInput,
  ExecResult,
  GetOutcome,
  ListSerializer,
  ManagementObject,
  NodeData,
  NodeInput,
  PluginContext,
  PluginNode,
  Principal,
  SchemaRequest,
  SnapshotOutcome,
  SubtreeNode,
  TreeItem,
  TreeOps,
  TreeSchema,
  TreeView,
} from './types.ts';
import { LOCAL } from './types.ts';
import {
  checkLimits,
  formatUri,
  type ListQuery,
  type NodePath,
  nodeNameProblem,
  type ParsedUri,
  parseUri,
  type UriLimits,
} from './uri.ts';

const S = StatusCode;

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
  readonly localOps: TreeOps;

  constructor(core: TreeCore, explicit: boolean, release: () => void) {
    this.core = core;
    this.explicit = explicit;
    this.txId = nextTxId++;
    this.#release = release;
    this.localOps = {
      get: (uri, who = LOCAL) => this.joined(() => this.get(uri, who)),
      add: (uri, input, who = LOCAL) => this.joined(() => this.add(uri, input, who)),
      replace: (uri, input, who = LOCAL) => this.joined(() => this.replace(uri, input, who)),
      delete: (uri, who = LOCAL) => this.joined(() => this.delete(uri, who)),
      copy: (t, s, who = LOCAL) => this.joined(() => this.copy(t, s, who)),
      exec: (uri, input = {}, who = LOCAL) => this.joined(() => this.exec(uri, input, who)),
      snapshot: (uri, who = LOCAL) => this.joined(() => this.snapshot(uri, who)),
      addSubtree: (uri, node, who = LOCAL) => this.joined(() => this.addSubtree(uri, node, who)),
      replaceSubtree: (uri, node, who = LOCAL) => this.joined(() => this.replaceSubtree(uri, node, who)),
    };
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

  // ---------------------------------------------------------------------------------------------
  // Helpers

  #parse(uri: string): ParsedUri | StatusCode {
    try {
      return parseUri(uri, this.core.limits);
    } catch (err) {
      if (err instanceof TreeError) return err.status;
      throw err;
    }
  }

  #ctx(who: Principal): PluginContext {
    return { principal: who, txId: this.txId, tree: this.localOps };
  }

  /** Describes the node at `path` (engine or plugin); a status when it does not exist. */
  async #info(path: NodePath, who: Principal): Promise<NodeInfo | StatusCode> {
    const res = resolve(this.core.state, path);
    if (res.kind === 'missing') return S.NotFound;
    if (res.kind === 'engine') return engineInfo(res.node);
    return this.#pluginInfo(res.ref, res.chain, who);
  }

  async #pluginInfo(
    ref: PluginRef,
    chain: readonly TreeNode[],
    who: Principal,
  ): Promise<NodeInfo | StatusCode> {
    let described: PluginNode | StatusCode;
    try {
      described = await ref.mo.get(ref.rel, this.#ctx(who));
    } catch {
      return S.CommandFailed;
    }
    if (typeof described === 'number') return described;
    const mountNode = chain[chain.length - 1]!;
    const path = [...ref.mountPath, ...ref.rel];
    const ov =
      ref.rel.length === 0
        ? { acl: mountNode.acl, title: mountNode.title, tstamp: mountNode.tstamp, verNo: mountNode.verNo }
        : (this.core.state.overlays.get(overlayKey(path)) ?? emptyOverlay());
    const interior = described.format === 'node';
    return {
      path,
      format: described.format,
      type: described.type ?? (interior ? '' : 'text/plain'),
      data: interior ? undefined : (described as { data: NodeData }).data,
      children: interior ? (described as { children: readonly string[] }).children : undefined,
      permanent: ref.rel.length === 0 || described.permanent === true,
      acl: ov.acl,
      title: ov.title,
      tstamp: described.tstamp ?? ov.tstamp,
      verNo: described.verNo ?? ov.verNo,
      caseSense: undefined,
      node: ref.rel.length === 0 ? mountNode : undefined,
      plugin: ref,
    };
  }

  /** The ACL in force at `path` (nearest non-empty one up the tree). */
  #effectiveAcl(path: NodePath): string {
    const state = this.core.state;
    const res = resolve(this.core.state, path);
    const chain = res.chain;
    for (let d = path.length; d >= 0; d--) {
      let acl: string;
      if (d < chain.length) acl = chain[d]!.acl;
      else acl = state.overlays.get(overlayKey(path.slice(0, d)))?.acl ?? '';
      if (acl !== '') return acl;
    }
    return state.root.acl || ROOT_DEFAULT_ACL;
  }

  #allowed(who: Principal, command: AclCommand, path: NodePath): boolean {
    if (who.kind === 'local') return true;
    return aclGrants(this.#effectiveAcl(path), command, who.serverId);
  }

  #schema(request: SchemaRequest): StatusCode | undefined {
    const schema = this.core.schema;
    if (!schema) return undefined;
    return schema.check(request, this.#view);
  }

  readonly #view: TreeView = {
    formatOf: (path) => {
      const res = resolve(this.core.state, path);
      return res.kind === 'engine' ? res.node.format : undefined;
    },
    childNames: (path) => {
      const res = resolve(this.core.state, path);
      return res.kind === 'engine' && res.node.children ? [...res.node.children.keys()] : [];
    },
  };

  #checkValue(input: NodeInput, format: Format): StatusCode | undefined {
    if (!isFormat(format)) return S.UnsupportedMediaTypeOrFormat;
    if (format === 'node') {
      const d = input.data;
      if (d !== undefined && (typeof d === 'string' ? d.length : d.byteLength) > 0) return S.BadRequest;
      return undefined;
    }
    if (input.data !== undefined && valueSize(input.data, format) > this.core.maxValueSize) {
      return S.RequestEntityTooLarge;
    }
    return undefined;
  }

  /** Runs an operation as a savepoint: on a failure status its partial effects are undone. */
  async #savepoint<T>(fn: () => Promise<T>, statusOf: (t: T) => StatusCode): Promise<T> {
    const mark = this.mark();
    const result = await fn();
    if (!isSuccess(statusOf(result))) this.rewind(mark);
    return result;
  }

  #enlist(mo: ManagementObject): StatusCode | undefined {
    if (this.explicit && !mo.rollback) return S.CommandFailed;
    this.#participants.add(mo);
    return undefined;
  }

  #serverId(who: Principal): string | undefined {
    return who.kind === 'server' ? who.serverId : undefined;
  }

  // ---------------------------------------------------------------------------------------------
  // Get

  async get(uri: string, who: Principal): Promise<GetOutcome> {
    const parsed = this.#parse(uri);
    if (typeof parsed === 'number') return { status: parsed, items: [] };
    const info = await this.#info(parsed.path, who);
    if (typeof info === 'number') return { status: info, items: [] };
    const refused = this.#schema({
      op: 'Get',
      path: info.path,
      prop: parsed.prop,
      local: who.kind === 'local',
    });
    if (refused !== undefined) return { status: refused, items: [] };
    if (!this.#allowed(who, AclCommand.Get, info.path)) return { status: S.PermissionDenied, items: [] };
    if (parsed.prop !== undefined) return this.#getProp(uri, info, parsed.prop);
    if (parsed.list !== undefined) return this.#getList(info, parsed.list, who);
    return { status: S.Ok, items: [itemOf(uri, info)] };
  }

  #getProp(uri: string, info: NodeInfo, prop: string): GetOutcome {
    let value: string;
    switch (prop) {
      case Property.ACL:
        value = info.acl;
        break;
      case Property.Format:
        value = info.format;
        break;
      case Property.Name:
        value = info.path[info.path.length - 1] ?? '.';
        break;
      case Property.Size:
        if (info.format === 'node') return { status: S.OptionalFeatureNotSupported, items: [] };
        value = String(info.data === undefined ? 0 : valueSize(info.data, info.format));
        break;
      case Property.Title:
        value = info.title;
        break;
      case Property.TStamp:
        value = info.tstamp ? formatTStamp(info.tstamp) : '';
        break;
      case Property.Type:
        value = info.type;
        break;
      case Property.VerNo:
        value = String(info.verNo);
        break;
      case Property.CaseSense:
        if (!info.caseSense) return { status: S.OptionalFeatureNotSupported, items: [] };
        value = info.caseSense;
        break;
      default:
        return { status: S.OptionalFeatureNotSupported, items: [] };
    }
    return { status: S.Ok, items: [{ uri, format: 'chr', type: 'text/plain', data: value }] };
  }

  async #getList(info: NodeInfo, list: ListQuery, who: Principal): Promise<GetOutcome> {
    if (list.name === 'Struct' || list.name === 'StructData') {
      if (list.args !== '') return { status: S.OptionalFeatureNotSupported, items: [] };
      const withData = list.name === 'StructData';
      const items: TreeItem[] = [];
      const visit = async (n: NodeInfo): Promise<void> => {
        const item: { uri: string; format: Format; type: string; data?: NodeData } = {
          uri: formatUri(n.path),
          format: n.format,
          type: n.type,
        };
        if (withData && n.format !== 'node') item.data = n.data ?? '';
        items.push(item);
        for (const child of await this.#readableChildren(n, who)) await visit(child);
      };
      await visit(info);
      return { status: S.Ok, items };
    }
    const serializer = this.core.listFormat(list.name);
    if (!serializer) return { status: S.OptionalFeatureNotSupported, items: [] };
    const snap = await this.#snapshotOf(info, who);
    const out = serializer(snap, formatUri(info.path), list.args);
    if (typeof out === 'number') return { status: out, items: [] };
    return { status: S.Ok, items: [out] };
  }

  /** Children the principal may Get (protocol.md §6.5: only nodes the server may read). */
  async #readableChildren(n: NodeInfo, who: Principal): Promise<NodeInfo[]> {
    const out: NodeInfo[] = [];
    for (const name of n.children ?? []) {
      const child = await this.#info([...n.path, name], who);
      if (typeof child === 'number') continue;
      if (this.#schema({ op: 'Get', path: child.path, local: who.kind === 'local' }) !== undefined) continue;
      if (!this.#allowed(who, AclCommand.Get, child.path)) continue;
      out.push(child);
    }
    return out;
  }

  async #snapshotOf(info: NodeInfo, who: Principal): Promise<SubtreeNode> {
    const children: SubtreeNode[] = [];
    for (const child of await this.#readableChildren(info, who))
      children.push(await this.#snapshotOf(child, who));
    const out: {
      name: string;
      format: Format;
      type?: string;
      acl?: string;
      title?: string;
      tstamp?: number;
      verNo?: number;
      data?: NodeData;
      children?: SubtreeNode[];
    } = { name: info.path[info.path.length - 1] ?? '.', format: info.format };
    if (info.type) out.type = info.type;
    if (info.acl) out.acl = info.acl;
    if (info.title) out.title = info.title;
    if (info.tstamp) out.tstamp = info.tstamp;
    out.verNo = info.verNo;
    if (info.format === 'node') out.children = children;
    else out.data = info.data ?? '';
    return out;
  }

  async snapshot(uri: string, who: Principal): Promise<SnapshotOutcome> {
    const parsed = this.#parse(uri);
    if (typeof parsed === 'number') return { status: parsed, uri };
    if (parsed.prop !== undefined || parsed.list !== undefined) return { status: S.CommandNotAllowed, uri };
    const info = await this.#info(parsed.path, who);
    if (typeof info === 'number') return { status: info, uri };
    const refused = this.#schema({ op: 'Get', path: info.path, local: who.kind === 'local' });
    if (refused !== undefined) return { status: refused, uri };
    if (!this.#allowed(who, AclCommand.Get, info.path)) return { status: S.PermissionDenied, uri };
    return { status: S.Ok, uri: formatUri(info.path), node: await this.#snapshotOf(info, who) };
  }

  // ---------------------------------------------------------------------------------------------
  // Add

  add(uri: string, input: NodeInput, who: Principal): Promise<StatusCode> {
    return this.#savepoint(
      () => this.#add(uri, input, who, false),
      (s) => s,
    );
  }

  ensure(uri: string, input: NodeInput): Promise<StatusCode> {
    return this.#savepoint(
      () => this.#add(uri, input, LOCAL, true),
      (s) => s,
    );
  }

  async #add(
    uri: string,
    input: NodeInput,
    who: Principal,
    ensure: boolean,
    op: 'Add' | 'Copy' = 'Add',
  ): Promise<StatusCode> {
    const parsed = this.#parse(uri);
    if (typeof parsed === 'number') return parsed;
    if (parsed.prop !== undefined || parsed.list !== undefined) return S.CommandNotAllowed;
    const path = parsed.path;
    // No Meta Format: the DDF's format for this node when it describes one, else chr.
    const format: Format = input.format ?? this.core.schema?.defaultsFor?.(path)?.format ?? 'chr';
    const bad = this.#checkValue(input, format);
    if (bad !== undefined) return bad;
    const res = resolve(this.core.state, path);
    if (res.kind === 'engine') return ensure ? S.Ok : S.AlreadyExists;
    if (res.kind === 'plugin') return this.#addToPlugin(res.ref, res.chain, input, format, who, ensure);
    const parent = res.chain[res.chain.length - 1]!;
    const parentPath = chainPath(res.chain);
    if (!parent.children) return S.CommandNotAllowed;
    const missing = path.slice(parentPath.length);
    if (missing.length > 1 && !this.core.implicitAdd && !ensure) return S.NotFound;
    const local = who.kind === 'local';
    const fullPath = [...parentPath, ...missing];
    // Schema: the implicit ancestors as interior Adds, then the node itself.
    for (let i = 1; i < missing.length; i++) {
      const refused = this.#schema({
        op: 'Add',
        path: fullPath.slice(0, parentPath.length + i),
        format: 'node',
        local,
      });
      if (refused !== undefined) return refused;
    }
    const refused = this.#schema({
      op: 'Add',
      path: fullPath,
      format,
      type: input.type,
      data: input.data,
      local,
    });
    if (refused !== undefined) return refused;
    if (!this.#allowed(who, AclCommand.Add, parentPath)) return S.PermissionDenied;
    // An interior node created by a server without Replace on the parent gets an ACL for that
    // server (protocol.md §6.4); Get is included so the creator can still read what it made.
    const creatorAcl =
      who.kind === 'server' && !this.#allowed(who, AclCommand.Replace, parentPath)
        ? aclFor(who.serverId, [AclCommand.Add, AclCommand.Delete, AclCommand.Get, AclCommand.Replace])
        : '';
    let acl = '';
    if (local && input.acl !== undefined) {
      try {
        acl = normalizeAcl(input.acl);
      } catch (err) {
        if (err instanceof TreeError) return err.status;
        throw err;
      }
    }
    const now = this.core.now();
    const serverId = this.#serverId(who);
    for (let i = 1; i <= missing.length; i++) {
      const p = fullPath.slice(0, parentPath.length + i);
      const last = i === missing.length;
      const nodeFormat: Format = last ? format : 'node';
      const defaults = this.core.schema?.defaultsFor?.(p);
      const record: NodeRecord = { f: nodeFormat, ts: now };
      const type = last
        ? (input.type ?? defaults?.type ?? (format === 'node' ? undefined : 'text/plain'))
        : defaults?.type;
      if (type) record.y = type;
      if (last && acl !== '') record.a = acl;
      else if (i === 1 && nodeFormat === 'node' && creatorAcl !== '') record.a = creatorAcl;
      if (last && local && input.title) record.ti = input.title;
      if (local && input.permanent && (last || ensure)) record.pm = 1;
      const cs = (last && local ? input.caseSense : undefined) ?? defaults?.caseSense;
      if (cs) record.cs = cs;
      if (last && format !== 'node') {
        const d = input.data ?? '';
        if (typeof d === 'string') record.d = d;
        else record.b = Buffer.from(d.buffer, d.byteOffset, d.byteLength).toString('base64');
      }
      this.apply({ o: 'put', p, n: record });
      this.event({ uri: formatUri(p), op: last ? op : 'Add', serverId });
    }
    this.touch(parentPath);
    return S.Ok;
  }

  async #addToPlugin(
    ref: PluginRef,
    chain: readonly TreeNode[],
    input: NodeInput,
    format: Format,
    who: Principal,
    ensure: boolean,
  ): Promise<StatusCode> {
    const path = [...ref.mountPath, ...ref.rel];
    const existing = await this.#pluginInfo(ref, chain, who);
    if (typeof existing !== 'number') return ensure ? S.Ok : S.AlreadyExists;
    if (existing !== S.NotFound) return existing;
    if (ref.rel.length === 0) return S.CommandFailed; // a mount node always exists
    const parentRef: PluginRef = { ...ref, rel: ref.rel.slice(0, -1) };
    const parent = await this.#pluginInfo(parentRef, chain, who);
    if (typeof parent === 'number') return parent;
    if (parent.format !== 'node') return S.CommandNotAllowed;
    const refused = this.#schema({
      op: 'Add',
      path,
      format,
      type: input.type,
      data: input.data,
      local: who.kind === 'local',
    });
    if (refused !== undefined) return refused;
    if (!this.#allowed(who, AclCommand.Add, parent.path)) return S.PermissionDenied;
    if (!ref.mo.add) return S.CommandNotAllowed;
    const notJoined = this.#enlist(ref.mo);
    if (notJoined !== undefined) return notJoined;
    const status = await callPlugin(() => ref.mo.add!(ref.rel, { ...input, format }, this.#ctx(who)));
    if (!isSuccess(status)) return status;
    const props: Partial<OverlayProps> = { tstamp: this.core.now() };
    if (who.kind === 'server' && format === 'node' && !this.#allowed(who, AclCommand.Replace, parent.path)) {
      props.acl = aclFor(who.serverId, [
        AclCommand.Add,
        AclCommand.Delete,
        AclCommand.Get,
        AclCommand.Replace,
      ]);
    } else if (who.kind === 'local' && input.acl) {
      props.acl = normalizeAclOr(input.acl);
    }
    this.apply({ o: 'ovs', p: path, n: props });
    this.touch(ref.mountPath);
    this.event({ uri: formatUri(path), op: 'Add', serverId: this.#serverId(who) });
    return S.Ok;
  }

  // ---------------------------------------------------------------------------------------------
  // Replace

  replace(uri: string, input: NodeInput, who: Principal): Promise<StatusCode> {
    return this.#savepoint(
      () => this.#replace(uri, input, who, 'Replace'),
      (s) => s,
    );
  }

  async #replace(uri: string, input: NodeInput, who: Principal, op: 'Replace' | 'Copy'): Promise<StatusCode> {
    const parsed = this.#parse(uri);
    if (typeof parsed === 'number') return parsed;
    if (parsed.list !== undefined) return S.CommandNotAllowed;
    const info = await this.#info(parsed.path, who);
    if (typeof info === 'number') return info;
    if (parsed.prop !== undefined) return this.#replaceProp(info, parsed.prop, input, who);
    const format: Format = input.format ?? info.format;
    const type =
      input.type ?? (input.format === undefined || input.format === info.format ? info.type : 'text/plain');
    if (info.format === 'node' || format === 'node') return S.CommandNotAllowed;
    const bad = this.#checkValue(input, format);
    if (bad !== undefined) return bad;
    if (
      info.permanent &&
      (format !== info.format || (input.type !== undefined && input.type !== info.type))
    ) {
      return S.CommandNotAllowed;
    }
    const refused = this.#schema({
      op: 'Replace',
      path: info.path,
      format,
      type,
      data: input.data,
      local: who.kind === 'local',
    });
    if (refused !== undefined) return refused;
    if (!this.#allowed(who, AclCommand.Replace, info.path)) return S.PermissionDenied;
    const data = input.data ?? '';
    if (info.plugin) {
      const { mo, rel } = info.plugin;
      if (!mo.replace) return S.CommandNotAllowed;
      const notJoined = this.#enlist(mo);
      if (notJoined !== undefined) return notJoined;
      const status = await callPlugin(() => mo.replace!(rel, { format, type, data }, this.#ctx(who)));
      if (!isSuccess(status)) return status;
      if (rel.length > 0) this.apply({ o: 'ovs', p: info.path, n: bumped(info, this.core.now()) });
    } else {
      const fields: NodeFields = { f: format, y: type };
      if (typeof data === 'string') {
        fields.d = data;
      } else {
        fields.b = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64');
      }
      this.apply({ o: 'set', p: info.path, n: fields });
    }
    this.touch(info.path);
    this.event({ uri: formatUri(info.path), op, serverId: this.#serverId(who) });
    return S.Ok;
  }

  async #replaceProp(info: NodeInfo, prop: string, input: NodeInput, who: Principal): Promise<StatusCode> {
    if (!PROPERTIES.has(prop)) return S.OptionalFeatureNotSupported;
    const value =
      input.data === undefined
        ? ''
        : typeof input.data === 'string'
          ? input.data
          : Buffer.from(input.data).toString('utf8');
    const path = info.path;
    const parentPath = path.slice(0, -1);
    const local = who.kind === 'local';
    const serverId = this.#serverId(who);
    switch (prop) {
      case Property.ACL: {
        let acl: string;
        try {
          acl = normalizeAcl(value);
        } catch (err) {
          if (err instanceof TreeError) return err.status;
          throw err;
        }
        if (path.length === 0 && !aclGrants(acl, AclCommand.Add, '*')) return S.CommandNotAllowed;
        const refused = this.#schema({ op: 'Replace', path, prop, local });
        if (refused !== undefined) return refused;
        // Replace right on the node (interior only: a leaf's ACL does not cover itself) or the parent.
        const onNode =
          (info.format === 'node' || path.length === 0) && this.#allowed(who, AclCommand.Replace, path);
        const onParent = path.length > 0 && this.#allowed(who, AclCommand.Replace, parentPath);
        if (!onNode && !onParent) return S.PermissionDenied;
        this.#setProps(info, { acl });
        this.event({ uri: formatUri(path), op: 'Replace', serverId, prop });
        return S.Ok;
      }
      case Property.Title: {
        if (Buffer.byteLength(value) > MAX_TITLE_BYTES) return S.RequestEntityTooLarge;
        const refused = this.#schema({ op: 'Replace', path, prop, local });
        if (refused !== undefined) return refused;
        if (!this.#allowed(who, AclCommand.Replace, path)) return S.PermissionDenied;
        this.#setProps(info, { title: value });
        this.event({ uri: formatUri(path), op: 'Replace', serverId, prop });
        return S.Ok;
      }
      case Property.Name:
        return this.#rename(info, value, who);
      default:
        return S.CommandNotAllowed; // Format, Size, TStamp, Type, VerNo, CaseSense are read-only
    }
  }

  #setProps(info: NodeInfo, props: { acl?: string; title?: string }): void {
    if (info.node) {
      const fields: NodeFields = {};
      if (props.acl !== undefined) fields.a = props.acl;
      if (props.title !== undefined) fields.ti = props.title;
      this.apply({ o: 'set', p: info.path, n: fields });
    } else {
      this.apply({ o: 'ovs', p: info.path, n: { ...props, ...bumped(info, this.core.now()) } });
    }
    this.touch(info.path);
  }

  async #rename(info: NodeInfo, newName: string, who: Principal): Promise<StatusCode> {
    const path = info.path;
    if (path.length === 0 || info.permanent) return S.CommandNotAllowed;
    if (nodeNameProblem(newName)) return S.BadRequest;
    const newPath = [...path.slice(0, -1), newName];
    try {
      checkLimits(newPath, this.core.limits);
    } catch (err) {
      if (err instanceof TreeError) return err.status;
      throw err;
    }
    const refused = this.#schema({
      op: 'Replace',
      path,
      prop: Property.Name,
      data: newName,
      local: who.kind === 'local',
    });
    if (refused !== undefined) return refused;
    if (!this.#allowed(who, AclCommand.Replace, path)) return S.PermissionDenied;
    if (newName === path[path.length - 1]) return S.Ok;
    const sibling = await this.#info(newPath, who);
    if (typeof sibling !== 'number') return S.AlreadyExists;
    if (info.plugin) {
      const { mo, rel } = info.plugin;
      if (!mo.rename) return S.CommandNotAllowed;
      const notJoined = this.#enlist(mo);
      if (notJoined !== undefined) return notJoined;
      const status = await callPlugin(() => mo.rename!(rel, newName, this.#ctx(who)));
      if (!isSuccess(status)) return status;
      this.apply({ o: 'ovs', p: path, n: {} });
    }
    this.apply({ o: 'mv', p: path, to: newName });
    this.touch(newPath);
    this.event({
      uri: formatUri(path),
      op: 'Rename',
      serverId: this.#serverId(who),
      prop: Property.Name,
      newUri: formatUri(newPath),
    });
    return S.Ok;
  }

  // ---------------------------------------------------------------------------------------------
  // Delete

  delete(uri: string, who: Principal): Promise<StatusCode> {
    return this.#savepoint(
      () => this.#delete(uri, who),
      (s) => s,
    );
  }

  async #delete(uri: string, who: Principal): Promise<StatusCode> {
    const parsed = this.#parse(uri);
    if (typeof parsed === 'number') return parsed;
    if (parsed.prop !== undefined || parsed.list !== undefined) return S.CommandNotAllowed;
    if (parsed.path.length === 0) return S.CommandNotAllowed;
    const info = await this.#info(parsed.path, who);
    if (typeof info === 'number') return info;
    if (info.permanent && who.kind === 'server') return S.CommandNotAllowed;
    if (info.node && who.kind === 'server' && hasProtectedBelow(info.node)) return S.CommandNotAllowed;
    if (info.node?.mount) return S.CommandNotAllowed; // a mount node stays while mounted
    const refused = this.#schema({ op: 'Delete', path: info.path, local: who.kind === 'local' });
    if (refused !== undefined) return refused;
    if (!this.#allowed(who, AclCommand.Delete, info.path)) return S.PermissionDenied;
    if (info.plugin) {
      const { mo, rel } = info.plugin;
      if (!mo.delete) return S.CommandNotAllowed;
      const notJoined = this.#enlist(mo);
      if (notJoined !== undefined) return notJoined;
      const status = await callPlugin(() => mo.delete!(rel, this.#ctx(who)));
      if (!isSuccess(status)) return status;
      this.apply({ o: 'ovd', p: info.path });
    } else {
      this.apply({ o: 'del', p: info.path });
    }
    this.touch(info.path.slice(0, -1));
    this.event({ uri: formatUri(info.path), op: 'Delete', serverId: this.#serverId(who) });
    return S.Ok;
  }

  // ---------------------------------------------------------------------------------------------
  // Copy

  copy(targetUri: string, sourceUri: string, who: Principal): Promise<StatusCode> {
    return this.#savepoint(
      () => this.#copy(targetUri, sourceUri, who),
      (s) => s,
    );
  }

  async #copy(targetUri: string, sourceUri: string, who: Principal): Promise<StatusCode> {
    const source = this.#parse(sourceUri);
    if (typeof source === 'number') return source;
    const target = this.#parse(targetUri);
    if (typeof target === 'number') return target;
    if (source.prop !== undefined || source.list !== undefined) return S.CommandNotAllowed;
    if (target.prop !== undefined || target.list !== undefined) return S.CommandNotAllowed;
    const info = await this.#info(source.path, who);
    if (typeof info === 'number') return info;
    if (info.format === 'node') return S.CommandNotAllowed; // source and target must be leaves
    const refused = this.#schema({ op: 'Copy', path: info.path, local: who.kind === 'local' });
    if (refused !== undefined) return refused;
    if (!this.#allowed(who, AclCommand.Get, info.path)) return S.PermissionDenied;
    const input: NodeInput = { format: info.format, type: info.type, data: info.data ?? '' };
    const existing = await this.#info(target.path, who);
    if (typeof existing !== 'number') {
      if (existing.format === 'node') return S.CommandNotAllowed;
      if (existing.permanent && (existing.format !== info.format || existing.type !== info.type))
        return S.Forbidden;
      return this.#replace(targetUri, input, who, 'Copy');
    }
    if (existing !== S.NotFound) return existing;
    const status = await this.#add(targetUri, input, who, false, 'Copy');
    return status === S.NotFound ? S.NotFound : status;
  }

  // ---------------------------------------------------------------------------------------------
  // Exec

  async exec(uri: string, input: ExecInput, who: Principal): Promise<StatusCode> {
    const parsed = this.#parse(uri);
    if (typeof parsed === 'number') return parsed;
    if (parsed.prop !== undefined || parsed.list !== undefined) return S.CommandNotAllowed;
    const info = await this.#info(parsed.path, who);
    if (typeof info === 'number') return info;
    const refused = this.#schema({
      op: 'Exec',
      path: info.path,
      format: input.format,
      type: input.type,
      data: input.data,
      local: who.kind === 'local',
    });
    if (refused !== undefined) return refused;
    if (!this.#allowed(who, AclCommand.Exec, info.path)) return S.PermissionDenied;
    if (!info.plugin?.mo.exec) return S.CommandNotAllowed;
    if (this.explicit) return S.CommandFailed; // Exec cannot be undone: not inside Atomic
    const { mo, rel } = info.plugin;
    const serverId = this.#serverId(who);
    const correlator = input.correlator;
    const core = this.core;
    const resultUri = formatUri(info.path);
    const ctx: ExecContext = {
      ...this.#ctx(who),
      correlator,
      report(result) {
        core.emitExecResult({ uri: resultUri, serverId, correlator, ...result });
      },
    };
    this.#participants.add(mo);
    return callPlugin(() => mo.exec!(rel, input, ctx));
  }

  // ---------------------------------------------------------------------------------------------
  // Subtrees (TNDS Add / Replace)

  addSubtree(parentUri: string, node: SubtreeNode, who: Principal): Promise<StatusCode> {
    return this.#savepoint(
      () => this.#addSubtree(parentUri, node, who),
      (s) => s,
    );
  }

  async #addSubtree(parentUri: string, node: SubtreeNode, who: Principal): Promise<StatusCode> {
    const parent = this.#parse(parentUri);
    if (typeof parent === 'number') return parent;
    if (parent.prop !== undefined || parent.list !== undefined) return S.CommandNotAllowed;
    const uri = formatUri([...parent.path, node.name]);
    const input: { -readonly [K in keyof NodeInput]: NodeInput[K] } = { format: node.format };
    if (node.type !== undefined) input.type = node.type;
    if (node.format !== 'node') input.data = node.data ?? '';
    const status = await this.#add(uri, input, who, false);
    if (!isSuccess(status)) return status;
    const created = this.#parse(uri) as ParsedUri;
    const info = await this.#info(created.path, who);
    if (typeof info === 'number') return info;
    const props: { acl?: string; title?: string } = {};
    if (node.acl !== undefined) {
      try {
        props.acl = normalizeAcl(node.acl);
      } catch (err) {
        if (err instanceof TreeError) return err.status;
        throw err;
      }
    }
    if (node.title !== undefined) {
      if (Buffer.byteLength(node.title) > MAX_TITLE_BYTES) return S.RequestEntityTooLarge;
      props.title = node.title;
    }
    for (const child of node.children ?? []) {
      const s = await this.#addSubtree(uri, child, who);
      if (!isSuccess(s)) return s;
    }
    // The TNDS ACL applies once the subtree exists: set first, it could lock the sender out of
    // adding the children (a server delivering another server's DMAcc).
    if (props.acl !== undefined || props.title !== undefined) this.#setProps(info, props);
    return S.Ok;
  }

  replaceSubtree(uri: string, node: SubtreeNode, who: Principal): Promise<StatusCode> {
    return this.#savepoint(
      () => this.#replaceSubtree(uri, node, who),
      (s) => s,
    );
  }

  /** "Delete all children, replace the node, Add every node of the TNDS" (protocol.md §6.7). */
  async #replaceSubtree(uri: string, node: SubtreeNode, who: Principal): Promise<StatusCode> {
    const parsed = this.#parse(uri);
    if (typeof parsed === 'number') return parsed;
    if (parsed.prop !== undefined || parsed.list !== undefined) return S.CommandNotAllowed;
    const info = await this.#info(parsed.path, who);
    if (typeof info === 'number') return info;
    if ((info.format === 'node') !== (node.format === 'node')) return S.CommandNotAllowed;
    const base = formatUri(info.path);
    if (info.format !== 'node') {
      const input: { -readonly [K in keyof NodeInput]: NodeInput[K] } = {
        format: node.format,
        data: node.data ?? '',
      };
      if (node.type !== undefined) input.type = node.type;
      const s = await this.#replace(base, input, who, 'Replace');
      if (!isSuccess(s)) return s;
    } else {
      if (!this.#allowed(who, AclCommand.Replace, info.path)) return S.PermissionDenied;
      for (const name of info.children ?? []) {
        const s = await this.#delete(formatUri([...info.path, name]), who);
        if (!isSuccess(s)) return s;
      }
      for (const child of node.children ?? []) {
        const s = await this.#addSubtree(base, child, who);
        if (!isSuccess(s)) return s;
      }
    }
    if (node.acl !== undefined) {
      const s = await this.#replaceProp(info, Property.ACL, { data: node.acl }, who);
      if (!isSuccess(s)) return s;
    }
    if (node.title !== undefined) {
      const s = await this.#replaceProp(info, Property.Title, { data: node.title }, who);
      if (!isSuccess(s)) return s;
    }
    return S.Ok;
  }

  // ---------------------------------------------------------------------------------------------
  // Server removal

  async removeServer(serverId: string): Promise<StatusCode> {
    const walk = (node: TreeNode, path: string[]) => {
      if (node.acl !== '') {
        const acl = aclWithoutServer(node.acl, serverId, path.length === 0);
        if (acl !== node.acl) this.apply({ o: 'set', p: [...path], n: { a: acl } });
      }
      if (node.children) for (const c of node.children.values()) walk(c, [...path, c.name]);
    };
    walk(this.core.state.root, []);
    for (const [key, props] of [...this.core.state.overlays]) {
      if (props.acl === '') continue;
      const acl = aclWithoutServer(props.acl, serverId, false);
      if (acl !== props.acl) this.apply({ o: 'ovs', p: key.split('\u0000'), n: { acl } });
    }
    return S.Ok;
  }
}

/** A plugin call that throws is a 500, never a crash of the session. */
async function callPlugin(fn: () => Promise<StatusCode>): Promise<StatusCode> {
  try {
    return await fn();
  } catch {
    return S.CommandFailed;
  }
}

/** TStamp/VerNo of a changed plugin node (engine nodes get theirs from the `tch` mutation). */
function bumped(info: NodeInfo, now: number): { tstamp: number; verNo: number } {
  return { tstamp: now, verNo: (info.verNo + 1) & 0xffff };
}

function normalizeAclOr(acl: string): string {
  try {
    return normalizeAcl(acl);
  } catch {
    return '';
  }
}

function hasProtectedBelow(node: TreeNode): boolean {
  if (!node.children) return false;
  for (const c of node.children.values()) if (c.permanent || c.mount || hasProtectedBelow(c)) return true;
  return false;
}

function itemOf(uri: string, info: NodeInfo): TreeItem {
  if (info.format === 'node') {
    return { uri, format: 'node', type: info.type, data: (info.children ?? []).map(escapeName).join('/') };
  }
  return { uri, format: info.format, type: info.type, data: info.data ?? '' };
}

function escapeName(name: string): string {
  const uri = formatUri([name]);
  return uri.slice(2);
}
