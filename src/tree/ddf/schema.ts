/**
 * A compiled DDF: answers "what may this URI hold?" for the tree engine.
 *
 * DDF top-level nodes are mounted either at a fixed place (a NodeName, under
 * `Path` or the root) or, when their NodeName is empty, registered by their MO
 * identifier (DDFName) as a floating MO: such an MO (FUMO, SCOMO, …) may live
 * anywhere, and the subtree under any tree node whose Type is that identifier
 * is checked against it. An interior DDF node that describes no children is
 * open (e.g. `Ext`): anything below it is accepted unchecked. A URI outside
 * every DDF is not checked at all.
 *
 * The checks are pure: they look at the tree only through a small TreeView
 * and return a verdict with the DM status to answer (405 for a command the
 * DDF does not allow, 415 for a wrong Format/Type/value, 420 when a
 * placeholder's Occurrence limit is reached).
 */
import { MgmtTreeError, MgmtTreeErrorCode } from './errors.ts';
import {
  type Ddf,
  type DdfNode,
  type DfProperties,
  isNodeFormat,
  type NodeFormat,
  occurrenceBounds,
  type RtProperties,
  scopeOf,
  typeString,
} from './model.ts';
import { isValidValue, normalizeValue } from './values.ts';

/** One described node of a compiled DDF. */
export interface SchemaNode {
  /** Node name; '' for a placeholder (`<x>`). */
  readonly name: string;
  readonly df: DfProperties;
  readonly rt: RtProperties | undefined;
  /** A fixed Value given in the DDF (ends the description of that branch). */
  readonly value: string | undefined;
  readonly named: ReadonlyMap<string, SchemaNode>;
  readonly placeholder: SchemaNode | undefined;
  /** Interior node with no described children: its subtree is not checked. */
  readonly open: boolean;
  /** Pattern URI, placeholders written `<x>`, e.g. `./DMAcc/<x>/AppID`. */
  readonly pattern: string;
}

/**
 * The engine's tree as the checks need to see it (structurally the tree engine's TreeView).
 * Paths are decoded node names from the root (`[]` = root).
 */
export interface TreeView {
  /** Child names of an existing interior node (empty when absent or a leaf). */
  childNames(path: readonly string[]): readonly string[];
  /** The Type property of an existing node (MO identifier of an interior node); lets floating MOs apply. */
  typeOf?(path: readonly string[]): string | undefined;
}

/** A node address: a URI (`./A/B`, `A/B`, `.`) or decoded names from the root. */
export type NodeRef = string | readonly string[];

function toPath(ref: NodeRef): readonly string[] {
  return typeof ref === 'string' ? uriSegments(ref) : ref;
}

/** Where a URI falls relative to the DDFs. */
export type SchemaMatch =
  | { readonly kind: 'described'; readonly node: SchemaNode }
  /**
   * Outside every DDF (`under` undefined: no DDF rules apply), or below an open node (`under`):
   * names and formats are not checked, but the open node's AccessType applies (so the subtree
   * below a write-only `./Inbox/<x>` stays write-only).
   */
  | { readonly kind: 'free'; readonly under?: SchemaNode }
  /** The parent is described and does not allow a child of this name. */
  | { readonly kind: 'forbidden'; readonly parent: SchemaNode; readonly name: string };

/** What a command wants to write: Meta Format/Type as sent (undefined when absent) and the Data. */
export interface NodeWrite {
  format?: string | undefined;
  type?: string | undefined;
  value?: string | Uint8Array | undefined;
}

export type Verdict =
  | {
      readonly ok: true;
      /** Format to store (the DDF's when the command sent none). */
      readonly format: NodeFormat | undefined;
      /** Type to store (the DDF's first MIME type / DDFName when the command sent none). */
      readonly type: string | undefined;
      /** Value to store, normalized for its format. */
      readonly value: string | Uint8Array | undefined;
      /** The matching DDF node, when described. */
      readonly node: SchemaNode | undefined;
    }
  | { readonly ok: false; readonly status: 405 | 415 | 420; readonly reason: string };

export interface SchemaOptions {
  /**
   * Reject a leaf whose Meta Format differs from the DDF even when the value is
   * valid for the DDF's format (default false: a `chr` write of `5` to an `int`
   * node is stored as int, since many servers omit or simplify Meta Format).
   */
  strictFormat?: boolean;
}

/** A node the skeleton creates at start-up. */
export interface SkeletonNode {
  uri: string;
  format: NodeFormat;
  type: string;
  value: string | undefined;
  acl: string | undefined;
  title: string | undefined;
  /** Permanent: the server may not delete or rename it. */
  permanent: boolean;
  /** Not described by the DDF: an ancestor of a mount point (`Path`), created as a plain interior node. */
  implicit: boolean;
}

/** Split a device URI into node names: `./A/B`, `A/B` → [A, B]; `.` → []. */
export function uriSegments(uri: string): string[] {
  const path = uri.split('?')[0]!;
  if (path === '.' || path === './' || path === '') return [];
  const rel = path.startsWith('./') ? path.slice(2) : path;
  return rel.split('/').filter((s) => s !== '');
}

function joinUri(segments: readonly string[]): string {
  return segments.length === 0 ? '.' : `./${segments.join('/')}`;
}

function isPlaceholderName(name: string): boolean {
  // Empty NodeName is the DDF way; some vendors write `*` or `<x>`.
  return name === '' || name === '*' || /^<[^>]*>$/.test(name);
}

function compile(node: DdfNode, parentPattern: string): SchemaNode {
  const placeholder = isPlaceholderName(node.name);
  const name = placeholder ? '' : node.name;
  const pattern = parentPattern === '' ? name || '<x>' : `${parentPattern}/${name || '<x>'}`;
  const named = new Map<string, SchemaNode>();
  let placeholderChild: SchemaNode | undefined;
  for (const child of node.children) {
    const compiled = compile(child, pattern);
    if (compiled.name === '') {
      if (placeholderChild) {
        throw new MgmtTreeError(MgmtTreeErrorCode.BadStructure, `two placeholder children under ${pattern}`);
      }
      placeholderChild = compiled;
    } else {
      if (named.has(compiled.name)) {
        throw new MgmtTreeError(MgmtTreeErrorCode.BadStructure, `duplicate node ${compiled.pattern}`);
      }
      named.set(compiled.name, compiled);
    }
  }
  return {
    name,
    df: node.df,
    rt: node.rt,
    value: typeof node.value === 'string' ? node.value : undefined,
    named,
    placeholder: placeholderChild,
    open: node.df.format === 'node' && node.children.length === 0 && node.value === undefined,
    pattern,
  };
}

/** Find a named child; CaseSense CIS on the child makes the comparison case-insensitive. */
function namedChild(parent: SchemaNode, name: string): SchemaNode | undefined {
  const exact = parent.named.get(name);
  if (exact) return exact;
  const lower = name.toLowerCase();
  for (const [key, child] of parent.named) {
    if (child.df.caseSense === 'CIS' && key.toLowerCase() === lower) return child;
  }
  return undefined;
}

interface Mount {
  segments: string[];
  node: SchemaNode;
}

/** One or more DDFs compiled for lookups and checks. */
export class DdfSchema {
  readonly #mounts: Mount[] = [];
  readonly #floating = new Map<string, SchemaNode>();
  readonly #strictFormat: boolean;

  constructor(ddfs: readonly Ddf[] = [], options: SchemaOptions = {}) {
    this.#strictFormat = options.strictFormat ?? false;
    for (const ddf of ddfs) this.add(ddf);
  }

  /** Add the nodes of a DDF: fixed mounts by Path/NodeName, floating MOs (empty NodeName) by DDFName. */
  add(ddf: Ddf): this {
    for (const top of ddf.nodes) {
      const base = (top.path !== undefined ? uriSegments(top.path) : []).map((s) =>
        isPlaceholderName(s) ? '' : s,
      );
      if (top.name === '.' && base.length === 0) {
        // A DDF that describes the root itself: mount each child at the top.
        for (const c of top.children) this.#mount([], c);
      } else if (isPlaceholderName(top.name) && top.path === undefined) {
        const id = typeString(top.df.type);
        if (id === '') {
          throw new MgmtTreeError(
            MgmtTreeErrorCode.BadStructure,
            'a top-level node without name, Path or DDFName',
          );
        }
        this.#floating.set(id, compile(top, `<${id}>`));
      } else {
        this.#mount(base, top);
      }
    }
    return this;
  }

  #mount(base: string[], node: DdfNode): void {
    const compiled = compile(node, joinUri(base));
    this.#mounts.push({ segments: [...base, compiled.name], node: compiled });
  }

  /** The floating MO description registered for an MO identifier (DDFName). */
  mo(id: string): SchemaNode | undefined {
    return this.#floating.get(id);
  }

  /** MO identifiers of the floating MOs. */
  moIds(): string[] {
    return [...this.#floating.keys()];
  }

  /**
   * Locate a URI. `view` lets floating MOs apply below tree nodes whose Type
   * names them, and is also how an existing node's placeholder slot is seen.
   */
  match(uri: NodeRef, view?: TreeView): SchemaMatch {
    const segments = toPath(uri);
    let current: SchemaNode | undefined;
    let depthStart = 0;
    // Longest fixed mount that is a prefix of the URI (placeholders allowed in the mount base path).
    for (const mount of this.#mounts) {
      if (mount.segments.length > segments.length) continue;
      const prefix = mount.segments.every((s, i) => (s === '' ? true : s === segments[i]));
      if (prefix && mount.segments.length > depthStart) {
        current = mount.node;
        depthStart = mount.segments.length;
      }
    }
    let i = depthStart;
    if (!current) {
      // A floating MO root anywhere above? Look for the nearest ancestor typed with a known MO id.
      if (!view) return { kind: 'free' };
      for (let k = segments.length; k >= 1; k--) {
        const id = view.typeOf?.(segments.slice(0, k));
        const mo = id ? this.#floating.get(id) : undefined;
        if (mo) {
          current = mo;
          i = k;
          break;
        }
      }
      if (!current) return { kind: 'free' };
    }
    for (; i < segments.length; i++) {
      if (current.open) {
        return { kind: 'free', under: current };
      }
      const name = segments[i]!;
      const next: SchemaNode | undefined = namedChild(current, name) ?? current.placeholder;
      if (!next) {
        // A floating MO may have been added below a described node (e.g. FUMO under a vendor node).
        const id = view?.typeOf?.(segments.slice(0, i + 1));
        const mo = id ? this.#floating.get(id) : undefined;
        if (mo) {
          current = mo;
          continue;
        }
        return { kind: 'forbidden', parent: current, name };
      }
      current = next;
    }
    return { kind: 'described', node: current };
  }

  /** Check a command that only needs the DDF AccessType (Get, Delete, Exec, Copy) plus Scope for Delete. */
  checkCommand(uri: NodeRef, command: 'Get' | 'Delete' | 'Exec' | 'Copy', view?: TreeView) {
    const m = this.match(uri, view);
    if (m.kind === 'free' && m.under && !m.under.df.accessType.includes(command)) {
      return {
        ok: false as const,
        status: 405 as const,
        reason: `${command} not in the AccessType of ${m.under.pattern}`,
      };
    }
    if (m.kind !== 'described') return { ok: true as const };
    if (!m.node.df.accessType.includes(command)) {
      return {
        ok: false as const,
        status: 405 as const,
        reason: `${command} not in the AccessType of ${m.node.pattern}`,
      };
    }
    if (command === 'Delete' && scopeOf(m.node.df) === 'Permanent') {
      return { ok: false as const, status: 405 as const, reason: `${m.node.pattern} is permanent` };
    }
    return { ok: true as const };
  }

  /** Check an Add of a new node (the engine has already checked that it does not exist). */
  checkAdd(uri: NodeRef, write: NodeWrite, view?: TreeView): Verdict {
    const m = this.match(uri, view);
    if (m.kind === 'free')
      return m.under && !m.under.df.accessType.includes('Add')
        ? deny(405, `Add not in the AccessType of ${m.under.pattern}`)
        : pass(write);
    if (m.kind === 'forbidden') {
      return deny(405, `${m.parent.pattern} has no child ${JSON.stringify(m.name)} in its DDF`);
    }
    const node = m.node;
    // A floating MO root is added with its MO identifier as Type; its own AccessType is the MO's.
    if (!node.df.accessType.includes('Add')) return deny(405, `Add not in the AccessType of ${node.pattern}`);
    if (node.name === '' && view) {
      const parentPath = toPath(uri).slice(0, -1);
      const siblings = view.childNames(parentPath);
      const parent = this.match(parentPath, view);
      const inSlot =
        parent.kind === 'described'
          ? siblings.filter((s) => !namedChild(parent.node, s)).length
          : siblings.length;
      const { max } = occurrenceBounds(node.df.occurrence);
      if (inSlot >= max) return deny(420, `${node.pattern} allows at most ${max} instances`);
    }
    return this.#checkWrite(node, write, false);
  }

  /** Check a Replace of an existing node's value (and Format/Type if sent). */
  checkReplace(uri: NodeRef, write: NodeWrite, view?: TreeView): Verdict {
    const m = this.match(uri, view);
    if (m.kind === 'free') {
      return m.under && !m.under.df.accessType.includes('Replace')
        ? deny(405, `Replace not in the AccessType of ${m.under.pattern}`)
        : pass(write);
    }
    if (m.kind === 'forbidden')
      return deny(405, `${m.parent.pattern} has no child ${JSON.stringify(m.name)} in its DDF`);
    if (!m.node.df.accessType.includes('Replace')) {
      return deny(405, `Replace not in the AccessType of ${m.node.pattern}`);
    }
    return this.#checkWrite(m.node, write, scopeOf(m.node.df) === 'Permanent');
  }

  /** Check a rename (Replace `?prop=Name`): permanent nodes and named (non-placeholder) nodes keep their names. */
  checkRename(uri: NodeRef, newName: string, view?: TreeView) {
    const m = this.match(uri, view);
    if (m.kind !== 'described') return { ok: true as const };
    if (scopeOf(m.node.df) === 'Permanent') {
      return { ok: false as const, status: 405 as const, reason: `${m.node.pattern} is permanent` };
    }
    if (m.node.name !== '') {
      return {
        ok: false as const,
        status: 405 as const,
        reason: `${m.node.pattern} has a fixed name in its DDF`,
      };
    }
    const parent = this.match(toPath(uri).slice(0, -1), view);
    if (parent.kind === 'described' && namedChild(parent.node, newName)) {
      return {
        ok: false as const,
        status: 405 as const,
        reason: `${newName} is a fixed name under ${parent.node.pattern}`,
      };
    }
    return { ok: true as const };
  }

  #checkWrite(node: SchemaNode, write: NodeWrite, permanent: boolean): Verdict {
    const df = node.df;
    const sent = write.format?.trim().toLowerCase();
    let format: NodeFormat = df.format;
    if (sent !== undefined && sent !== '' && sent !== df.format) {
      const b64ForBin = sent === 'b64' && df.format === 'bin';
      const chrForText =
        !this.#strictFormat && sent === 'chr' && df.format !== 'node' && isValidValue(df.format, write.value);
      if (permanent && !b64ForBin) {
        return deny(405, `${node.pattern} is permanent: its Format stays ${df.format}`);
      }
      if (!b64ForBin && !chrForText) {
        return deny(415, `${node.pattern} has Format ${df.format}, not ${sent}`);
      }
      format = df.format;
    }
    if (!isValidValue(format, write.value)) {
      return deny(415, `value is not a valid ${format} for ${node.pattern}`);
    }
    const allowed = 'mime' in df.type ? df.type.mime : df.type.ddfName === '' ? [] : [df.type.ddfName];
    const sentType = write.type?.trim();
    let type = sentType || undefined;
    if (type !== undefined && allowed.length > 0 && !allowed.includes(type)) {
      // Default Meta Type text/plain is what servers send when they mean "no type": accept it for chr leaves.
      const lenient = type === 'text/plain' && 'mime' in df.type && format !== 'node';
      if (!lenient) return deny(415, `${node.pattern} has Type ${allowed.join(' or ')}, not ${type}`);
      type = allowed[0];
    }
    if (type === undefined && allowed.length > 0) type = allowed[0];
    return {
      ok: true,
      format,
      type,
      value: write.value === undefined ? undefined : normalizeValue(format, write.value),
      node,
    };
  }

  /**
   * Nodes to create when the tree starts: every fixed mount and, below it,
   * each named node that is Permanent or required (Occurrence min ≥ 1).
   * Placeholders are never instantiated. Parents come before children.
   */
  skeleton(): SkeletonNode[] {
    const out: SkeletonNode[] = [];
    const seen = new Set<string>();
    for (const mount of this.#mounts) {
      if (mount.segments.some((s) => s === '')) continue; // mounted below a placeholder: instantiated on demand
      for (let k = 1; k < mount.segments.length; k++) {
        const uri = joinUri(mount.segments.slice(0, k));
        if (seen.has(uri)) continue;
        seen.add(uri);
        out.push({
          uri,
          format: 'node',
          type: '',
          value: undefined,
          acl: undefined,
          title: undefined,
          permanent: false,
          implicit: true,
        });
      }
      this.#walk(mount.node, joinUri(mount.segments), out, seen);
    }
    return out;
  }

  /** Skeleton of one new instance: required named descendants of the node at `uri` (e.g. a new DMAcc account). */
  instanceSkeleton(uri: NodeRef, view?: TreeView): SkeletonNode[] {
    const m = this.match(uri, view);
    if (m.kind !== 'described') return [];
    const out: SkeletonNode[] = [];
    const base = joinUri(toPath(uri));
    const seen = new Set<string>([base]);
    for (const child of m.node.named.values()) this.#walk(child, `${base}/${child.name}`, out, seen);
    return out;
  }

  #walk(node: SchemaNode, uri: string, out: SkeletonNode[], seen: Set<string>): void {
    const required = occurrenceBounds(node.df.occurrence).min >= 1;
    const permanent = scopeOf(node.df) === 'Permanent';
    if (!required && !permanent) return;
    if (!seen.has(uri)) {
      seen.add(uri);
      out.push({
        uri,
        format: node.df.format,
        type: typeString(node.df.type),
        value: node.df.format === 'node' ? undefined : (node.value ?? node.df.defaultValue),
        acl: node.rt?.acl || undefined,
        title: node.df.title,
        permanent,
        implicit: false,
      });
    }
    for (const child of node.named.values()) this.#walk(child, `${uri}/${child.name}`, out, seen);
  }
}

function pass(write: NodeWrite): Verdict {
  const format = write.format?.trim().toLowerCase();
  return {
    ok: true,
    format: format !== undefined && isNodeFormat(format) ? format : undefined,
    type: write.type,
    value: write.value,
    node: undefined,
  };
}

function deny(status: 405 | 415 | 420, reason: string): Verdict {
  return { ok: false, status, reason };
}
