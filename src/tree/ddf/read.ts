/**
 * Element → MgmtTree model, shared by the DDF and TNDS readers.
 *
 * Liberal on receive: namespaces are not checked (DDF files are usually
 * namespace-less, TNDS inside SyncML Data may inherit the wrong one), format
 * names match case-insensitively (`<Chr/>` is seen in the wild), unknown
 * elements are skipped, whitespace between elements is ignored. Strict where
 * meaning would be lost: an unknown format or access type, a bad Occurrence
 * count, or a missing mandatory element is a MgmtTreeError. Hostile input is
 * bounded by node-count and depth limits.
 */
import type { Element, ElementChild } from '../../representation/element.ts';
import { MgmtTreeError, MgmtTreeErrorCode } from './errors.ts';
import {
  type AccessType,
  AccessTypes,
  type CaseSense,
  type DfProperties,
  type MgmtNode,
  type MgmtTree,
  type NodeFormat,
  NodeFormats,
  type NodeType,
  type Occurrence,
  type RtProperties,
  type Scope,
} from './model.ts';

export interface ReadMgmtTreeOptions {
  /** `ddf`: every Node must have DFProperties. `tnds`: DFProperties optional, RTProperties expected. */
  kind: 'ddf' | 'tnds';
  /** Most Node elements accepted (default 100 000). */
  maxNodes?: number;
  /** Deepest Node nesting accepted (default 64). */
  maxDepth?: number;
}

const utf8 = new TextDecoder('utf-8');

function isEl(child: ElementChild): child is Element {
  return typeof child === 'object' && !(child instanceof Uint8Array);
}

function elements(el: Element): Element[] {
  return el.children.filter(isEl);
}

/** Concatenated character content (opaque bytes decoded as UTF-8). */
function rawText(el: Element): string {
  let out = '';
  for (const child of el.children) {
    if (typeof child === 'string') out += child;
    else if (child instanceof Uint8Array) out += utf8.decode(child);
  }
  return out;
}

function text(el: Element): string {
  return rawText(el).trim();
}

function child(el: Element, name: string): Element | undefined {
  for (const c of el.children) if (isEl(c) && c.name === name) return c;
  return undefined;
}

const formatByLower = new Map<string, NodeFormat>(NodeFormats.map((f) => [f.toLowerCase(), f]));

class Reader {
  readonly #kind: 'ddf' | 'tnds';
  readonly #maxNodes: number;
  readonly #maxDepth: number;
  #count = 0;

  constructor(options: ReadMgmtTreeOptions) {
    this.#kind = options.kind;
    this.#maxNodes = options.maxNodes ?? 100_000;
    this.#maxDepth = options.maxDepth ?? 64;
  }

  tree(root: Element): MgmtTree {
    if (root.name !== 'MgmtTree') {
      throw new MgmtTreeError(MgmtTreeErrorCode.NotMgmtTree, `expected MgmtTree, found ${root.name}`);
    }
    const verDtd = child(root, 'VerDTD');
    const tree: MgmtTree = { verDtd: verDtd ? text(verDtd) : '1.2', nodes: [] };
    const man = child(root, 'Man');
    if (man) tree.man = text(man);
    const mod = child(root, 'Mod');
    if (mod) tree.mod = text(mod);
    let index = 0;
    for (const el of elements(root)) {
      if (el.name !== 'Node') continue;
      index++;
      tree.nodes.push(this.node(el, 1, `MgmtTree/Node[${index}]`));
    }
    return tree;
  }

  node(el: Element, depth: number, where: string): MgmtNode {
    if (depth > this.#maxDepth) {
      throw new MgmtTreeError(
        MgmtTreeErrorCode.TooLarge,
        `Node nesting deeper than ${this.#maxDepth}`,
        where,
      );
    }
    if (++this.#count > this.#maxNodes) {
      throw new MgmtTreeError(MgmtTreeErrorCode.TooLarge, `more than ${this.#maxNodes} Node elements`, where);
    }
    const nameEl = child(el, 'NodeName');
    // TNDS allows an omitted NodeName (the device names the object, Inbox use); DDF requires the element.
    if (!nameEl && this.#kind === 'ddf') {
      throw new MgmtTreeError(MgmtTreeErrorCode.MissingElement, 'Node without NodeName', where);
    }
    // TNDS names are data (a trailing space is part of the name); DDF files are often pretty-printed.
    const name = nameEl ? (this.#kind === 'tnds' ? rawText(nameEl) : text(nameEl)) : '';
    const node: MgmtNode = { name, children: [] };
    let index = 0;
    for (const c of elements(el)) {
      switch (c.name) {
        case 'Path':
          node.path = text(c);
          break;
        case 'RTProperties':
          node.rt = this.rt(c, `${where}/RTProperties`);
          break;
        case 'DFProperties':
          node.df = this.df(c, `${where}/DFProperties`);
          break;
        case 'Value':
          node.value = value(c);
          break;
        case 'Node':
          index++;
          node.children.push(this.node(c, depth + 1, `${where}/Node[${index}]`));
          break;
        default:
          break;
      }
    }
    if (this.#kind === 'ddf' && !node.df) {
      throw new MgmtTreeError(
        MgmtTreeErrorCode.MissingElement,
        `Node ${node.name || '<x>'} without DFProperties`,
        where,
      );
    }
    if (node.value !== undefined && node.children.length > 0) {
      throw new MgmtTreeError(MgmtTreeErrorCode.BadStructure, 'Node with both Value and child Nodes', where);
    }
    return node;
  }

  df(el: Element, where: string): DfProperties {
    const accessEl = child(el, 'AccessType');
    const formatEl = child(el, 'DFFormat');
    const typeEl = child(el, 'DFType');
    if (!accessEl)
      throw new MgmtTreeError(MgmtTreeErrorCode.MissingElement, 'DFProperties without AccessType', where);
    if (!formatEl)
      throw new MgmtTreeError(MgmtTreeErrorCode.MissingElement, 'DFProperties without DFFormat', where);
    const format = readFormat(formatEl, `${where}/DFFormat`);
    const df: DfProperties = {
      accessType: readAccessType(accessEl, `${where}/AccessType`),
      format,
      // DFType is mandatory in the DTD, but DDFs in the wild omit it on interior nodes; empty DDFName then.
      type: typeEl ? readType(typeEl, `${where}/DFType`) : format === 'node' ? { ddfName: '' } : { mime: [] },
    };
    const defaultValue = child(el, 'DefaultValue');
    if (defaultValue) df.defaultValue = rawText(defaultValue);
    const description = child(el, 'Description');
    if (description) df.description = text(description);
    const occurrence = child(el, 'Occurrence');
    if (occurrence) df.occurrence = readOccurrence(occurrence, `${where}/Occurrence`);
    const scope = child(el, 'Scope');
    if (scope) df.scope = readScope(scope, `${where}/Scope`);
    const title = child(el, 'DFTitle');
    if (title) df.title = text(title);
    const caseSense = child(el, 'CaseSense');
    if (caseSense) df.caseSense = readCaseSense(caseSense, `${where}/CaseSense`);
    return df;
  }

  rt(el: Element, where: string): RtProperties {
    const rt: RtProperties = {};
    for (const c of elements(el)) {
      switch (c.name) {
        case 'ACL':
          rt.acl = text(c);
          break;
        case 'Format':
          // In a DDF an empty <Format/> only declares support for the property.
          if (elements(c).length > 0 || text(c) !== '') rt.format = readFormat(c, `${where}/Format`);
          break;
        case 'Name':
          rt.name = text(c);
          break;
        case 'Size':
          rt.size = text(c);
          break;
        case 'Title':
          rt.title = text(c);
          break;
        case 'TStamp':
          rt.tstamp = text(c);
          break;
        case 'Type':
          rt.type = elements(c).length > 0 ? readType(c, `${where}/Type`) : { ddfName: text(c) };
          break;
        case 'VerNo':
          rt.verNo = text(c);
          break;
        default:
          break;
      }
    }
    return rt;
  }
}

function value(el: Element): string | Uint8Array {
  const opaque = el.children.filter((c): c is Uint8Array => c instanceof Uint8Array);
  if (opaque.length === 0) return rawText(el);
  if (opaque.length === 1 && el.children.length === 1) return opaque[0]!;
  return rawText(el);
}

function readFormat(el: Element, where: string): NodeFormat {
  const kids = elements(el);
  // Liberal: `<Format>chr</Format>` as text is accepted too.
  const raw = kids.length > 0 ? kids[0]!.name : text(el);
  const format = formatByLower.get(raw.toLowerCase());
  if (!format) throw new MgmtTreeError(MgmtTreeErrorCode.BadValue, `unknown format "${raw}"`, where);
  return format;
}

function readAccessType(el: Element, where: string): AccessType[] {
  const out: AccessType[] = [];
  for (const c of elements(el)) {
    const access = AccessTypes.find((a) => a.toLowerCase() === c.name.toLowerCase());
    if (!access)
      throw new MgmtTreeError(MgmtTreeErrorCode.BadValue, `unknown access type "${c.name}"`, where);
    if (!out.includes(access)) out.push(access);
  }
  return out;
}

function readType(el: Element, where: string): NodeType {
  const kids = elements(el);
  const ddfName = kids.find((c) => c.name === 'DDFName');
  if (ddfName) return { ddfName: text(ddfName) };
  const mime = kids.filter((c) => c.name === 'MIME').map(text);
  if (mime.length > 0) return { mime };
  if (kids.length === 0) return { mime: text(el) === '' ? [] : [text(el)] };
  throw new MgmtTreeError(MgmtTreeErrorCode.BadValue, `unexpected ${kids[0]!.name} in type`, where);
}

function readOccurrence(el: Element, where: string): Occurrence {
  const kid = elements(el)[0];
  if (!kid) throw new MgmtTreeError(MgmtTreeErrorCode.MissingElement, 'empty Occurrence', where);
  switch (kid.name) {
    case 'One':
    case 'ZeroOrOne':
    case 'ZeroOrMore':
    case 'OneOrMore':
      return { kind: kid.name };
    case 'ZeroOrN':
    case 'OneOrN': {
      const raw = text(kid);
      const n = /^\d{1,6}$/.test(raw) ? Number(raw) : Number.NaN;
      if (!(n >= 1 && n <= 65536)) {
        throw new MgmtTreeError(
          MgmtTreeErrorCode.BadValue,
          `${kid.name} count "${raw}" not in 1..65536`,
          where,
        );
      }
      return { kind: kid.name, n };
    }
    default:
      throw new MgmtTreeError(MgmtTreeErrorCode.BadValue, `unknown occurrence "${kid.name}"`, where);
  }
}

function readScope(el: Element, where: string): Scope {
  const kid = elements(el)[0];
  if (kid?.name === 'Permanent' || kid?.name === 'Dynamic') return kid.name;
  throw new MgmtTreeError(MgmtTreeErrorCode.BadValue, `unknown scope "${kid?.name ?? ''}"`, where);
}

function readCaseSense(el: Element, where: string): CaseSense {
  const kid = elements(el)[0];
  if (kid?.name === 'CS' || kid?.name === 'CIS') return kid.name;
  throw new MgmtTreeError(MgmtTreeErrorCode.BadValue, `unknown CaseSense "${kid?.name ?? ''}"`, where);
}

/** Read any MgmtTree element (DDF or TNDS) into the model. */
export function readMgmtTree(root: Element, options: ReadMgmtTreeOptions): MgmtTree {
  return new Reader(options).tree(root);
}
