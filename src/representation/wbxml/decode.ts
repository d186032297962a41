/**
 * WBXML → Element: one pass over the bytes, an explicit element stack, tag names from the
 * code-page tables. Input is hostile: every read is bounds-checked, sizes/depth/element counts
 * are limited, and every failure is a WbxmlError with a stable code and the byte offset.
 *
 * Grammar (WBXML 1.3 §5.3): start = version publicid charset strtbl body;
 * body = *pi element *pi; element = ([switchPage] stag) [1*attribute END] [*content END].
 */
import { Buffer } from 'node:buffer';
import type { Element, ElementChild } from '../element.ts';
import { type CodePage, codePagesFor, foreignPublicId, syncmlNamespaceFor } from './code-pages.ts';
import { WbxmlError } from './errors.ts';
import { Charset, TAG_ATTRIBUTES, TAG_CONTENT, TAG_MASK, Token } from './tokens.ts';

/** Limits on hostile input. Defaults: 16 MiB, depth 128, 200 000 elements, 16 MiB expanded text. */
export interface WbxmlLimits {
  /** Largest input accepted, in bytes. */
  maxBytes?: number;
  /**
   * Most bytes of text (and LITERAL names) that string-table references may expand to in one
   * document: each reference is a couple of bytes but can repeat a long entry.
   */
  maxExpandedText?: number;
  /** Deepest element nesting accepted. */
  maxDepth?: number;
  /** Most elements accepted in one document. */
  maxElements?: number;
}

export const DEFAULT_WBXML_LIMITS: Readonly<Required<WbxmlLimits>> = Object.freeze({
  maxBytes: 16 * 1024 * 1024,
  maxExpandedText: 16 * 1024 * 1024,
  maxDepth: 128,
  maxElements: 200_000,
});

/** A decoded WBXML document. */
export interface WbxmlDocument {
  root: Element;
  /** The version byte: 0x01 = WBXML 1.1, 0x02 = 1.2, 0x03 = 1.3 (0x00 = 1.0). */
  version: number;
  /** The numeric public id, or the FPI text when the header refers to the string table. */
  publicId: number | string;
  /** IANA MIBenum of the charset (106 = UTF-8). */
  charset: number;
}

/**
 * Buffer's slicing methods behind `toString`, called directly: `toString`'s argument handling
 * cost as much as the slicing itself here. Other runtimes fall back to `toString`.
 */
interface Slicing {
  latin1Slice?(start: number, end: number): string;
  utf8Slice?(start: number, end: number): string;
}
const proto = Buffer.prototype as unknown as Slicing;
const hasSlices = typeof proto.latin1Slice === 'function' && typeof proto.utf8Slice === 'function';

/** bytes[start, end) as UTF-8 (invalid sequences become U+FFFD). */
export function text(buf: Buffer, start: number, end: number): string {
  let hi = 0;
  for (let i = start; i < end; i++) hi |= buf[i]!;
  return hi < 0x80 ? asciiText(buf, start, end) : utf8Text(buf, start, end);
}

/** ASCII bytes[start, end): short runs built directly, longer ones sliced natively. */
function asciiText(buf: Buffer, start: number, end: number): string {
  if (end - start <= 8) {
    let s = '';
    for (let i = start; i < end; i++) s += String.fromCharCode(buf[i]!);
    return s;
  }
  return hasSlices
    ? (buf as unknown as Required<Slicing>).latin1Slice(start, end)
    : buf.toString('latin1', start, end);
}

function utf8Text(buf: Buffer, start: number, end: number): string {
  return hasSlices
    ? (buf as unknown as Required<Slicing>).utf8Slice(start, end)
    : buf.toString('utf8', start, end);
}

export class Reader {
  /** The input, viewed as a Buffer (no copy) for its fast UTF-8 slicing. */
  readonly bytes: Buffer;
  readonly end: number;
  pos = 0;
  strtblStart = 0;
  strtblEnd = 0;
  private readonly strCache = new Map<number, string>();
  /** NUL positions in the string table, found on first use. */
  private nuls: number[] | undefined;
  /** Bytes of text string-table references have expanded to so far, and the most allowed. */
  private expanded = 0;
  readonly maxExpanded: number;

  constructor(bytes: Uint8Array, maxExpanded: number) {
    this.bytes = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
    this.end = bytes.length;
    this.maxExpanded = maxExpanded;
  }

  byte(): number {
    if (this.pos >= this.end) throw new WbxmlError('wbxml.truncated', 'input ends early', this.pos);
    return this.bytes[this.pos++]!;
  }

  /** mb_u_int32 = 1*5( continuation-byte ) — at most 32 bits. */
  mbUint32(): number {
    const bytes = this.bytes;
    let pos = this.pos;
    // Fast path: one byte, the common case for lengths, offsets and ids.
    if (pos < this.end) {
      const b = bytes[pos]!;
      if (b < 0x80) {
        this.pos = pos + 1;
        return b;
      }
    }
    let value = 0;
    for (let i = 0; i < 5; i++) {
      if (pos >= this.end) throw new WbxmlError('wbxml.truncated', 'input ends inside an mb_u_int32', pos);
      const b = bytes[pos++]!;
      value = value * 128 + (b & 0x7f);
      if ((b & 0x80) === 0) {
        if (value > 0xffffffff) throw new WbxmlError('wbxml.mbuint', 'mb_u_int32 exceeds 32 bits', pos - 1);
        this.pos = pos;
        return value;
      }
    }
    throw new WbxmlError('wbxml.mbuint', 'mb_u_int32 longer than 5 bytes', pos - 1);
  }

  /** inline string = STR_I termstr — UTF-8 up to a NUL. */
  inlineString(): string {
    const buf = this.bytes;
    const end = this.end;
    const start = this.pos;
    // Find the NUL and learn whether the run is ASCII in the same scan (strings are short).
    let p = start;
    let hi = 0;
    while (p < end) {
      const c = buf[p]!;
      if (c === 0) break;
      hi |= c;
      p++;
    }
    if (p >= end) throw new WbxmlError('wbxml.truncated', 'inline string without its NUL terminator', start);
    this.pos = p + 1;
    return hi < 0x80 ? asciiText(buf, start, p) : utf8Text(buf, start, p);
  }

  /**
   * The end (exclusive) of the string-table entry at `offset`: its NUL, or the table's end (the
   * Motorola client writes its FPI entry without a NUL). The NUL positions are found in one scan
   * of the table, so a hostile document referencing every offset of a big table costs
   * O(table + references · log table), not O(table²). Every use is charged to the expansion
   * budget: references can repeat one entry, and the budget keeps the text they expand to bounded.
   */
  tableEntryEnd(offset: number, at: number): number {
    if (offset >= this.strtblEnd - this.strtblStart) {
      throw new WbxmlError('wbxml.strtbl', `string table reference ${offset} outside the table`, at);
    }
    let nuls = this.nuls;
    if (nuls === undefined) {
      const found: number[] = [];
      for (let i = this.strtblStart; i < this.strtblEnd; i++) if (this.bytes[i] === 0) found.push(i);
      nuls = this.nuls = found;
    }
    const start = this.strtblStart + offset;
    // First NUL at or after start.
    let lo = 0;
    let hi = nuls.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (nuls[mid]! < start) lo = mid + 1;
      else hi = mid;
    }
    const end = lo < nuls.length ? nuls[lo]! : this.strtblEnd;
    this.expanded += end - start;
    if (this.expanded > this.maxExpanded) {
      throw new WbxmlError(
        'wbxml.size',
        `string-table references expand to more than ${this.maxExpanded} bytes of text`,
        at,
      );
    }
    return end;
  }

  /** tableref = STR_T index: the string at that byte offset of the string table. */
  tableString(offset: number, at: number): string {
    const end = this.tableEntryEnd(offset, at);
    const cached = this.strCache.get(offset);
    if (cached !== undefined) return cached;
    const s = text(this.bytes, this.strtblStart + offset, end);
    this.strCache.set(offset, s);
    return s;
  }

  opaque(): Uint8Array {
    const at = this.pos;
    const len = this.mbUint32();
    if (len > this.end - this.pos) {
      throw new WbxmlError('wbxml.truncated', `OPAQUE of ${len} bytes runs past the end`, at);
    }
    // A copy, as a plain Uint8Array: the element tree must not alias the caller's buffer.
    const data = new Uint8Array(this.bytes.subarray(this.pos, this.pos + len));
    this.pos += len;
    return data;
  }
}

/** The header, read: version, public id, charset, and the code pages it implies. */
export interface WbxmlHeader {
  version: number;
  publicId: number | string;
  charset: number;
  pages: readonly CodePage[];
}

/** Checks the size limit and reads the header (start = version publicid charset strtbl). */
export function readHeader(
  bytes: Uint8Array,
  limits: WbxmlLimits | undefined,
): { r: Reader; header: WbxmlHeader } {
  const maxBytes = limits?.maxBytes ?? DEFAULT_WBXML_LIMITS.maxBytes;
  if (bytes.length > maxBytes) {
    throw new WbxmlError(
      'wbxml.size',
      `document of ${bytes.length} bytes exceeds the limit of ${maxBytes}`,
      0,
    );
  }
  const r = new Reader(bytes, limits?.maxExpandedText ?? DEFAULT_WBXML_LIMITS.maxExpandedText);
  // version = u_int8 — any WBXML 1.x (high nibble 0) is accepted.
  const version = r.byte();
  if (version > 0x0f) {
    throw new WbxmlError('wbxml.version', `unsupported WBXML version byte 0x${version.toString(16)}`, 0);
  }
  // publicid = mb_u_int32 | ( zero index )
  const publicIdValue = r.mbUint32();
  let publicIdIndex = -1;
  let indexAt = 0;
  if (publicIdValue === 0) {
    indexAt = r.pos;
    publicIdIndex = r.mbUint32();
  }
  // charset = mb_u_int32 (absent in WBXML 1.0, which is UTF-8 for us)
  let charset: number = Charset.Utf8;
  if (version >= 0x01) {
    const at = r.pos;
    charset = r.mbUint32();
    if (charset !== Charset.Utf8 && charset !== Charset.UsAscii && charset !== Charset.Unknown) {
      throw new WbxmlError(
        'wbxml.charset',
        `charset MIBenum ${charset} is not supported (only UTF-8, 106, and its subset US-ASCII)`,
        at,
      );
    }
  }
  // strtbl = length *byte
  const tblAt = r.pos;
  const tblLen = r.mbUint32();
  if (tblLen > r.end - r.pos) {
    throw new WbxmlError('wbxml.truncated', `string table of ${tblLen} bytes runs past the end`, tblAt);
  }
  r.strtblStart = r.pos;
  r.strtblEnd = r.pos + tblLen;
  r.pos += tblLen;
  const publicId: number | string =
    publicIdIndex >= 0 ? r.tableString(publicIdIndex, indexAt) : publicIdValue;
  // Another document type (a DevInf document, say) would decode with SyncML's tokens into garbage.
  const foreign = foreignPublicId(publicId);
  if (foreign !== undefined) throw new WbxmlError('wbxml.publicid', foreign, 1);
  return { r, header: { version, publicId, charset, pages: codePagesFor(syncmlNamespaceFor(publicId)) } };
}

/** Decodes a WBXML document into the generic element tree. Throws WbxmlError on any bad input. */
export function decodeWbxml(bytes: Uint8Array, limits?: WbxmlLimits): WbxmlDocument {
  const { r, header } = readHeader(bytes, limits);
  const root = parseBody(
    r,
    header.pages,
    limits?.maxDepth ?? DEFAULT_WBXML_LIMITS.maxDepth,
    limits?.maxElements ?? DEFAULT_WBXML_LIMITS.maxElements,
  );
  return { root, version: header.version, publicId: header.publicId, charset: header.charset };
}

function parseBody(r: Reader, pages: readonly CodePage[], maxDepth: number, maxElements: number): Element {
  const bytes = r.bytes;
  const end = r.end;
  let page: CodePage = pages[0]!;
  let tags = page.tags;
  let root: Element | undefined;
  let cur: Element | undefined;
  const stack: Element[] = [];
  let elements = 0;

  while (true) {
    if (r.pos >= end) {
      if (root === undefined) throw new WbxmlError('wbxml.truncated', 'document has no root element', r.pos);
      if (cur !== undefined) {
        throw new WbxmlError('wbxml.truncated', `input ends inside <${cur.name}> (missing END)`, r.pos);
      }
      return root;
    }
    const at = r.pos;
    const tok = bytes[r.pos++]!;
    switch (tok) {
      case Token.SWITCH_PAGE: {
        const n = r.byte();
        const p = pages[n];
        if (p === undefined) throw new WbxmlError('wbxml.page', `unknown code page ${n}`, at);
        page = p;
        tags = p.tags;
        continue;
      }
      case Token.END: {
        if (cur === undefined) throw new WbxmlError('wbxml.token', 'END outside any element', at);
        stack.pop();
        cur = stack.length > 0 ? stack[stack.length - 1] : undefined;
        continue;
      }
      case Token.STR_I:
        addText(cur, r.inlineString(), at);
        continue;
      case Token.STR_T: {
        const offset = r.mbUint32();
        addText(cur, r.tableString(offset, at), at);
        continue;
      }
      case Token.ENTITY: {
        addText(cur, entityText(r.mbUint32(), at), at);
        continue;
      }
      case Token.OPAQUE: {
        if (cur === undefined) throw new WbxmlError('wbxml.token', 'OPAQUE outside any element', at);
        cur.children.push(r.opaque());
        continue;
      }
      case Token.PI:
        // Processing instructions carry nothing SyncML uses; parse to stay in sync, then drop.
        parseAttributes(r, at);
        continue;
      case Token.EXT_I_0:
      case Token.EXT_I_1:
      case Token.EXT_I_2:
      case Token.EXT_T_0:
      case Token.EXT_T_1:
      case Token.EXT_T_2:
      case Token.EXT_0:
      case Token.EXT_1:
      case Token.EXT_2:
        throw extensionTokenError(tok, at);
    }
    // A tag: LITERAL* (name from the string table) or a token of the current page.
    const low = tok & TAG_MASK;
    let name: string | undefined;
    if (low === Token.LITERAL) {
      const index = r.mbUint32();
      name = r.tableString(index, at);
    } else {
      name = tags[low];
      if (name === undefined) {
        throw new WbxmlError('wbxml.tag', `unknown tag token 0x${hex(low)} on code page ${page.page}`, at);
      }
    }
    if (++elements > maxElements) {
      throw new WbxmlError('wbxml.elements', `more than ${maxElements} elements`, at);
    }
    const el: Element = { name, ns: page.ns, children: [] };
    if ((tok & TAG_ATTRIBUTES) !== 0) {
      const attrs = parseAttributes(r, at);
      if (attrs !== undefined) el.attrs = attrs;
    }
    if (cur === undefined) {
      if (root !== undefined) throw new WbxmlError('wbxml.token', 'a second root element', at);
      root = el;
    } else {
      cur.children.push(el);
    }
    if ((tok & TAG_CONTENT) !== 0) {
      if (stack.length >= maxDepth) {
        throw new WbxmlError('wbxml.depth', `elements nested deeper than ${maxDepth}`, at);
      }
      stack.push(el);
      cur = el;
    }
  }
}

function addText(cur: Element | undefined, s: string, at: number): void {
  if (cur === undefined) throw new WbxmlError('wbxml.token', 'text outside any element', at);
  // An empty STR_I (`<Data>` 03 00 `</Data>`, as the Motorola client writes) is no text at all, as in XML.
  if (s.length === 0) return;
  const children: ElementChild[] = cur.children;
  const n = children.length;
  // Adjacent STR_I/STR_T/ENTITY pieces are one text (a string table splits strings into runs).
  if (n > 0 && typeof children[n - 1] === 'string') children[n - 1] = (children[n - 1] as string) + s;
  else children.push(s);
}

/** SyncML defines no attributes; a document with more than this many on one element is hostile. */
const MAX_ATTRIBUTES = 64;

/**
 * attribute = attrStart *attrValue, up to END. SyncML defines no attribute tokens, so only
 * LITERAL names are understood; values may be strings, table references, entities or opaque.
 */
export function parseAttributes(r: Reader, tagAt: number): Record<string, string> | undefined {
  let attrs: Record<string, string> | undefined;
  let current: string | undefined;
  let count = 0;
  while (true) {
    const at = r.pos;
    const tok = r.byte();
    switch (tok) {
      case Token.END:
        return attrs;
      case Token.SWITCH_PAGE:
        r.byte();
        continue;
      case Token.LITERAL: {
        current = r.tableString(r.mbUint32(), at);
        if (++count > MAX_ATTRIBUTES) {
          throw new WbxmlError(
            'wbxml.attribute',
            `more than ${MAX_ATTRIBUTES} attributes on one element`,
            at,
          );
        }
        attrs ??= {};
        // defineProperty: a hostile name such as "__proto__" stays a plain own property.
        Object.defineProperty(attrs, current, {
          value: '',
          writable: true,
          enumerable: true,
          configurable: true,
        });
        continue;
      }
      case Token.STR_I:
      case Token.STR_T:
      case Token.ENTITY:
      case Token.OPAQUE: {
        let v: string;
        if (tok === Token.STR_I) v = r.inlineString();
        else if (tok === Token.STR_T) v = r.tableString(r.mbUint32(), at);
        else if (tok === Token.ENTITY) v = entityText(r.mbUint32(), at);
        else {
          const o = r.opaque();
          v = Buffer.from(o.buffer, o.byteOffset, o.length).toString('utf8');
        }
        if (current !== undefined && attrs !== undefined) attrs[current] += v;
        continue;
      }
      default:
        throw new WbxmlError(
          'wbxml.attribute',
          `attribute token 0x${hex(tok)} is not defined for SyncML (in the tag at byte ${tagAt})`,
          at,
        );
    }
  }
}

/** The character an ENTITY token names; a code that is no Unicode scalar value is refused. */
export function entityText(code: number, at: number): string {
  if (code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) {
    throw new WbxmlError('wbxml.token', `ENTITY ${code} is not a Unicode scalar value`, at);
  }
  return String.fromCodePoint(code);
}

/** EXT_I_*, EXT_T_*, EXT_*: WBXML extension tokens, which SyncML defines none of. */
export function extensionTokenError(tok: number, at: number): WbxmlError {
  return new WbxmlError('wbxml.token', `extension token 0x${hex(tok)} is not defined for SyncML`, at);
}

function hex(n: number): string {
  return n.toString(16).padStart(2, '0').toUpperCase();
}
