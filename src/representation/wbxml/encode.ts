/**
 * Element → WBXML. Tags become tokens of the page their namespace maps to (SWITCH_PAGE emitted
 * lazily, before the next tag on another page, as libwbxml and the RTK do); text becomes STR_I
 * (or STR_T runs with a string table), bytes become OPAQUE. With
 * `{ version: 0x02, stringTable: false, tnds: 'opaque' }` the output is byte-identical to
 * libwbxml's `xml2wbxml -v 1.2 -n`, and with `stringTable: true` to plain `xml2wbxml -v 1.2`.
 */
import { Buffer } from 'node:buffer';
import { type Element, type ElementChild, isElement } from '../element.ts';
import { ByteWriter } from './byte-writer.ts';
import {
  DMDDF_TAGS,
  defaultPublicId,
  METINF_TAGS,
  PublicId,
  pageForNamespace,
  SYNCML_TAGS,
  TndsType,
} from './code-pages.ts';
import { EncodeError } from '../errors.ts';
import { isBlank, StringTable } from './string-table.ts';
import { Charset, TAG_ATTRIBUTES, TAG_CONTENT, Token, type WbxmlVersion } from './tokens.ts';

export interface WbxmlEncodeOptions {
  /** Version byte: 0x01 = WBXML 1.1, 0x02 = 1.2 (default), 0x03 = 1.3. */
  version?: WbxmlVersion;
  /**
   * Numeric public id, or an FPI to write in the string table (publicid 0, index 0).
   * Default from the root: SyncML 1.2 → 0x1201, SyncML 1.1 → 0x0FD3, MgmtTree → the DM DDF FPI.
   */
  publicId?: number | string;
  /** Share repeated strings through a string table (libwbxml's algorithm). Default false. */
  stringTable?: boolean;
  /**
   * How the text of SyncML `Data` is written: false (default) STR_I; true OPAQUE (as libdmclient
   * does); 'libwbxml' as libwbxml decides — OPAQUE for Data in an Item of Add/Replace (unless its
   * Meta/Type is DevInf or TNDS) and for Types text/clear, text/x-vcard, text/x-vcalendar,
   * text/directory;profile=vCard; STR_I otherwise. (libwbxml also turns LF into CRLF in those;
   * we never alter values.)
   */
  opaqueData?: boolean | 'libwbxml';
  /**
   * DM DDF/TNDS element trees inside `Data`: 'opaque' (default) writes each as a nested WBXML
   * document in OPAQUE, as libwbxml does; 'inline' writes them on code page 2 in the same stream
   * (Motorola RTK). Either way the item's Meta/Type `…dmtnds+xml` is written as `…dmtnds+wbxml`.
   */
  tnds?: 'opaque' | 'inline';
}

/**
 * The options under which encodeWbxml's output is byte-identical to libwbxml 0.11.8's
 * `xml2wbxml -v 1.2 -n`; add `stringTable: true` for plain `xml2wbxml -v 1.2`.
 */
export const LIBWBXML_OPTIONS: Readonly<WbxmlEncodeOptions> = Object.freeze({
  version: 0x02,
  stringTable: false,
  opaqueData: 'libwbxml',
  tnds: 'opaque',
});

const PAGE_TABLES = [SYNCML_TAGS, METINF_TAGS, DMDDF_TAGS] as const;
/**
 * Name → token per page, bucketed by length and first/last character: a lookup compares about one
 * short string instead of hashing the name (names from a parser are fresh strings with no cached
 * hash, so a Map would hash every one).
 */
const bucketKey = (name: string): number =>
  name.length * 128 + ((name.charCodeAt(name.length - 1) ^ (name.charCodeAt(0) * 3)) & 0x7f);
const BUCKETS: readonly (readonly (readonly [string, number])[] | undefined)[][] = PAGE_TABLES.map((tags) => {
  const buckets: [string, number][][] = [];
  tags.forEach((name, token) => {
    if (name === undefined) return;
    const key = bucketKey(name);
    const bucket = buckets[key] ?? [];
    bucket.push([name, token]);
    buckets[key] = bucket;
  });
  return buckets;
});
function tokenOf(page: number, name: string): number | undefined {
  if (name.length === 0) return undefined;
  const bucket = BUCKETS[page]![bucketKey(name)];
  if (bucket === undefined) return undefined;
  for (let i = 0; i < bucket.length; i++) if (bucket[i]![0] === name) return bucket[i]![1];
  return undefined;
}
const SYNCML_DATA = SYNCML_TAGS.indexOf('Data');
const METINF_TYPE = METINF_TAGS.indexOf('Type');

/** libwbxml's `wbxml_tree_node_get_syncml_data_type`, reduced to "is this Data written as OPAQUE". */
const LIBWBXML_OPAQUE_TYPES = new Set([
  'text/clear',
  'text/directory;profile=vCard',
  'text/x-vcard',
  'text/x-vcalendar',
]);
const LIBWBXML_NORMAL_TYPES = new Set([
  'application/vnd.syncml-devinf+wbxml',
  'application/vnd.syncml-devinf+xml',
  'application/vnd.syncml.dmtnds+wbxml',
  'application/vnd.syncml.dmtnds+xml',
]);

function firstChild(el: Element | undefined, name: string): Element | undefined {
  if (el === undefined) return undefined;
  for (const c of el.children) if (isElement(c) && c.name === name) return c;
  return undefined;
}

function metaType(el: Element | undefined): Element | undefined {
  return firstChild(firstChild(el, 'Meta'), 'Type');
}

function libwbxmlOpaque(parent: Element | undefined, grand: Element | undefined): boolean {
  const type = metaType(parent) ?? metaType(grand);
  const t = type?.children[0];
  if (typeof t === 'string') {
    if (LIBWBXML_OPAQUE_TYPES.has(t)) return true;
    if (LIBWBXML_NORMAL_TYPES.has(t)) return false;
  }
  return grand !== undefined && (grand.name === 'Add' || grand.name === 'Replace');
}

const nsPages = new Map<string, number>();
function nsPage(ns: string): number {
  let p = nsPages.get(ns);
  if (p === undefined) {
    p = pageForNamespace(ns);
    if (nsPages.size < 64) nsPages.set(ns, p);
  }
  return p;
}

let lastNs = '';
let lastPage = -1;
let prevNs = '';
let prevPage = -1;
/** Where an element goes, packed: page << 8 | token, token 0xFF for a LITERAL on that page. */
function resolve(el: Element, curPage: number): number {
  const ns = el.ns;
  let p: number;
  // Consecutive elements mostly share a namespace, or alternate between two (SyncML and MetInf).
  if (ns === lastNs && lastPage >= 0) p = lastPage;
  else if (ns === prevNs && prevPage >= 0) {
    p = prevPage;
    prevNs = lastNs;
    prevPage = lastPage;
    lastNs = ns;
    lastPage = p;
  } else {
    p = nsPage(ns);
    prevNs = lastNs;
    prevPage = lastPage;
    lastNs = ns;
    lastPage = p;
  }
  if (p >= 0) return (p << 8) | (tokenOf(p, el.name) ?? 0xff);
  // No or unknown namespace: be liberal and find the name, current page first.
  const here = tokenOf(curPage, el.name);
  if (here !== undefined) return (curPage << 8) | here;
  for (let q = 0; q < PAGE_TABLES.length; q++) {
    const t = tokenOf(q, el.name);
    if (t !== undefined) return (q << 8) | t;
  }
  return (curPage << 8) | 0xff;
}

function hasElementChild(children: readonly ElementChild[]): boolean {
  for (const c of children) if (isElement(c)) return true;
  return false;
}

/** Text children the encoder drops: empty ones, and indentation between child elements. */
function skipText(s: string, mixed: boolean): boolean {
  return s.length === 0 || (mixed && isBlank(s));
}

/**
 * Is a MetInf Type `…dmtnds+xml` under `owner` (the Item or command whose Meta holds it) written
 * as `…dmtnds+wbxml`? Yes when that owner's Data carries a DDF element tree, which the WBXML
 * encoding turns into WBXML (nested or inline); a TNDS sent as escaped XML text keeps its type.
 */
function relabelTnds(owner: Element | undefined): boolean {
  return owner !== undefined && carriesTnds(owner);
}

/** Does this element's Data (or its Items' Data) carry a DDF element tree? */
function carriesTnds(el: Element): boolean {
  for (const c of el.children) {
    if (!isElement(c) || nsPage(c.ns) > 0) continue;
    if (c.name === 'Data') {
      for (const d of c.children) if (isElement(d) && nsPage(d.ns) !== 0) return true;
    } else if (c.name === 'Item' && carriesTnds(c)) return true;
  }
  return false;
}

class Encoder {
  readonly w: ByteWriter;
  readonly opts: WbxmlEncodeOptions;
  readonly table: StringTable | undefined;
  /** Used for LITERAL names and the FPI even without `stringTable`. */
  literals: StringTable;
  page = 0;

  constructor(opts: WbxmlEncodeOptions, w: ByteWriter) {
    this.opts = opts;
    this.w = w;
    this.table = opts.stringTable ? new StringTable() : undefined;
    this.literals = this.table ?? new StringTable();
  }

  /** Is the text of this Data element written as OPAQUE? */
  opaqueData(parent: Element | undefined, grand: Element | undefined): boolean {
    const o = this.opts.opaqueData;
    return o === 'libwbxml' ? libwbxmlOpaque(parent, grand) : o === true;
  }

  element(el: Element, parent?: Element, grand?: Element): void {
    const w = this.w;
    const code = resolve(el, this.page);
    const page = code >> 8;
    const token = code & 0xff;
    if (page !== this.page) {
      w.byte(Token.SWITCH_PAGE);
      w.byte(page);
      this.page = page;
    }
    const children = el.children;
    const n = children.length;
    let mixed = false;
    let content = false;
    for (let i = 0; i < n; i++) {
      const c = children[i]!;
      if (typeof c === 'string') {
        if (c.length > 0) content = true;
      } else {
        content = true;
        if (!(c instanceof Uint8Array)) mixed = true;
      }
    }
    // Indentation between child elements is no content.
    if (mixed) {
      content = false;
      for (let i = 0; i < n; i++) {
        const c = children[i]!;
        if (typeof c !== 'string' || !skipText(c, true)) {
          content = true;
          break;
        }
      }
    }
    const attrs = el.attrs;
    const hasAttrs = attrs !== undefined && Object.keys(attrs).length > 0;
    const flags = (content ? TAG_CONTENT : 0) | (hasAttrs ? TAG_ATTRIBUTES : 0);
    if (token !== 0xff) w.byte(token | flags);
    else {
      w.byte(Token.LITERAL | flags);
      w.mbUint32(this.literals.add(el.name));
    }
    if (hasAttrs) this.attributes(attrs);
    if (!content) return;
    const isData = page === 0 && token === SYNCML_DATA;
    const opaque = isData && this.opaqueData(parent, grand);
    const isType = page === 1 && token === METINF_TYPE;
    for (let i = 0; i < n; i++) {
      const c = children[i]!;
      if (typeof c === 'string') {
        if (skipText(c, mixed)) continue;
        if (opaque) this.opaqueText(c);
        else if (isType && c === TndsType.Xml && relabelTnds(grand)) this.text(TndsType.Wbxml);
        else this.text(c);
      } else if (c instanceof Uint8Array) {
        w.byte(Token.OPAQUE);
        w.mbUint32(c.length);
        w.bytes(c);
      } else if (isData && this.opts.tnds !== 'inline' && nsPage(c.ns) !== 0) {
        const nested = encodeWbxml(c, { ...this.opts, publicId: undefined });
        w.byte(Token.OPAQUE);
        w.mbUint32(nested.length);
        w.bytes(nested);
      } else {
        this.element(c, el, parent);
      }
    }
    w.byte(Token.END);
  }

  text(s: string): void {
    const w = this.w;
    if (this.table !== undefined) {
      for (const run of this.table.split(s)) {
        if (typeof run === 'number') {
          w.byte(Token.STR_T);
          w.mbUint32(run);
        } else if (run.length > 0) this.inline(run);
      }
      return;
    }
    this.inline(s);
  }

  inline(s: string): void {
    const w = this.w;
    w.byte(Token.STR_I);
    // An inline string cannot carry U+0000: fall back to OPAQUE.
    if (!w.cstring(s)) {
      w.pos--;
      this.opaqueText(s);
    }
  }

  opaqueText(s: string): void {
    const bytes = Buffer.from(s, 'utf8');
    this.w.byte(Token.OPAQUE);
    this.w.mbUint32(bytes.length);
    this.w.bytes(bytes);
  }

  attributes(attrs: Record<string, string>): void {
    const w = this.w;
    for (const [name, value] of Object.entries(attrs)) {
      w.byte(Token.LITERAL);
      w.mbUint32(this.literals.add(name));
      if (value.length > 0) this.inline(value);
    }
    w.byte(Token.END);
  }

  /**
   * Texts of the document in order, the string table's input. As in libwbxml, texts written as
   * OPAQUE count too (they can make a string "repeated") but are never replaced by references.
   */
  collectTexts(el: Element, out: string[]): void {
    const code = resolve(el, this.page);
    const page = code >> 8;
    const token = code & 0xff;
    const prev = this.page;
    this.page = page;
    const mixed = hasElementChild(el.children);
    const isData = page === 0 && token === SYNCML_DATA;
    for (const c of el.children) {
      if (typeof c === 'string') {
        if (skipText(c, mixed)) continue;
        // The TNDS type relabelling happens at write time: like libwbxml, collect the text as given.
        out.push(c);
      } else if (isElement(c)) {
        if (isData && this.opts.tnds !== 'inline' && nsPage(c.ns) !== 0) continue;
        this.collectTexts(c, out);
      }
    }
    this.page = prev;
  }
}

/** Encodes an element tree as a WBXML document (UTF-8). */
export function encodeWbxml(root: Element, options: WbxmlEncodeOptions = {}): Uint8Array {
  const version = options.version ?? 0x02;
  if (!Number.isInteger(version) || version < 0 || version > 0x0f) {
    throw new EncodeError('wbxml.encode', `WBXML version byte ${version} is not WBXML 1.x`);
  }
  // The body buffer is reused from call to call (nested TNDS documents, encoded while it is in
  // use, get their own): growing a fresh buffer for every message cost ~10% here.
  const body = spare ?? new ByteWriter(4096);
  spare = undefined;
  body.pos = 0;
  try {
    return encodeDocument(root, options, version, body);
  } finally {
    if (body.buf.length <= 1 << 20) spare = body;
  }
}

let spare: ByteWriter | undefined = new ByteWriter(4096);

function encodeDocument(
  root: Element,
  options: WbxmlEncodeOptions,
  version: number,
  body: ByteWriter,
): Uint8Array {
  const publicId = options.publicId ?? defaultPublicId(root.name, root.ns);
  const enc = new Encoder(options, body);
  // The FPI of an unregistered document type lives in the string table: first when the table
  // holds nothing else, after the shared strings otherwise (where libwbxml puts it).
  let fpiIndex = typeof publicId === 'string' && enc.table === undefined ? enc.literals.add(publicId) : -1;
  if (enc.table !== undefined) {
    const texts: string[] = [];
    enc.collectTexts(root, texts);
    enc.page = 0;
    enc.table.collect(texts);
  }
  enc.element(root);
  if (typeof publicId === 'string' && fpiIndex < 0) fpiIndex = enc.literals.add(publicId);

  const table = enc.literals.size > 0 ? enc.literals.bytes() : undefined;
  const head = new ByteWriter(16 + (table?.length ?? 0));
  head.byte(version);
  if (fpiIndex >= 0) {
    head.byte(PublicId.StringTable);
    head.mbUint32(fpiIndex);
  } else {
    if (
      typeof publicId !== 'number' ||
      !Number.isInteger(publicId) ||
      publicId < 1 ||
      publicId > 0xffffffff
    ) {
      throw new EncodeError('wbxml.encode', `bad public id ${String(publicId)}`);
    }
    head.mbUint32(publicId);
  }
  if (version >= 0x01) head.byte(Charset.Utf8);
  head.mbUint32(table?.length ?? 0);
  if (table !== undefined) head.bytes(table);

  const out = new Uint8Array(head.pos + body.pos);
  out.set(head.buf.subarray(0, head.pos), 0);
  out.set(body.buf.subarray(0, body.pos), head.pos);
  return out;
}
