/**
 * WBXML → XML in one pass, without building the element tree: what a gateway or a log viewer
 * needs. The output is exactly `writeXmlElement(decodeWbxml(bytes).root)` as UTF-8 (compact; xmlns
 * where the namespace changes; OPAQUE as UTF-8 text when it is valid XML text, base64 otherwise),
 * and the same limits and typed errors apply. Tag names are written from precomputed bytes and
 * plain ASCII strings are copied straight from the input; anything else takes the string path.
 */
import { Buffer } from 'node:buffer';
import { EncodeError } from '../errors.ts';
import { escapeAttr, escapeText } from '../xml/writer.ts';
import type { CodePage } from './code-pages.ts';
import {
  DEFAULT_WBXML_LIMITS,
  entityText,
  extensionTokenError,
  parseAttributes,
  readHeader,
  text,
  type WbxmlLimits,
} from './decode.ts';
import { WbxmlError } from './errors.ts';
import { TAG_ATTRIBUTES, TAG_CONTENT, TAG_MASK, Token } from './tokens.ts';

// As the XML writer: names, and characters XML 1.0 cannot carry.
const NAME_RE = /^[A-Za-z_\u00C0-\uFFFF][A-Za-z0-9._\-\u00B7\u00C0-\uFFFF]*$/;
const ATTR_NAME_RE = /^[A-Za-z_][A-Za-z0-9._-]*(:[A-Za-z_][A-Za-z0-9._-]*)?$/;
const FORBIDDEN_RE = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/;
const utf8Fatal = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function checkedText(t: string, names: readonly string[]): string {
  if (FORBIDDEN_RE.test(t) || !t.isWellFormed()) {
    throw new EncodeError('xml.invalid', 'text contains characters XML 1.0 cannot carry', names.join('/'));
  }
  return escapeText(t);
}

function opaqueText(bytes: Uint8Array): string {
  try {
    const t = utf8Fatal.decode(bytes);
    if (!FORBIDDEN_RE.test(t) && t.charCodeAt(0) !== 0xfeff) return escapeText(t);
  } catch {
    // not UTF-8
  }
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

const ascii = (t: string): Uint8Array => Uint8Array.from(t, (c) => c.charCodeAt(0));

/** `<Name`, `</Name>` and `<Name xmlns="…"` of every tag of a page, as bytes. */
interface PageBytes {
  open: (Uint8Array | undefined)[];
  openNs: (Uint8Array | undefined)[];
  close: (Uint8Array | undefined)[];
}
const pageBytes = new WeakMap<CodePage, PageBytes>();
function bytesOf(page: CodePage): PageBytes {
  let b = pageBytes.get(page);
  if (b === undefined) {
    const xmlns = ` xmlns="${escapeAttr(page.ns)}"`;
    b = {
      open: page.tags.map((n) => (n === undefined ? undefined : ascii(`<${n}`))),
      openNs: page.tags.map((n) => (n === undefined ? undefined : ascii(`<${n}${xmlns}`))),
      close: page.tags.map((n) => (n === undefined ? undefined : ascii(`</${n}>`))),
    };
    pageBytes.set(page, b);
  }
  return b;
}

const GT = 0x3e;

function put4(buf: Uint8Array, p: number, a: number, b: number, c: number, d: number): number {
  buf[p] = a;
  buf[p + 1] = b;
  buf[p + 2] = c;
  buf[p + 3] = d;
  return p + 4;
}
function put5(buf: Uint8Array, p: number, a: number, b: number, c: number, d: number, e: number): number {
  buf[p] = a;
  buf[p + 1] = b;
  buf[p + 2] = c;
  buf[p + 3] = d;
  buf[p + 4] = e;
  return p + 5;
}

/** The transcoder's output: one growable buffer, reused by every call (the result is a copy). */
class Output {
  buf = Buffer.allocUnsafe(4096);
  pos = 0;

  start(expected: number): void {
    if (this.buf.length < expected && expected <= 1 << 20) this.buf = Buffer.allocUnsafe(expected);
    this.pos = 0;
  }

  room(n: number): void {
    if (this.pos + n > this.buf.length) {
      const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n + 256));
      this.buf.copy(next, 0, 0, this.pos);
      this.buf = next;
    }
  }

  byte(b: number): void {
    this.room(1);
    this.buf[this.pos++] = b;
  }

  put(b: Uint8Array): void {
    const n = b.length;
    this.room(n);
    const buf = this.buf;
    let p = this.pos;
    for (let i = 0; i < n; i++) buf[p++] = b[i]!;
    this.pos = p;
  }

  text(t: string): void {
    this.room(t.length * 3);
    this.pos += this.buf.write(t, this.pos);
  }

  /**
   * Copies src[start, stop) as XML character data when it is well-formed UTF-8 that XML 1.0 can
   * carry, escaping & < > and CR as the XML writer does, and says whether it did. Anything else
   * (malformed UTF-8, control characters, U+FFFE/U+FFFF) is left to the string path, which
   * replaces or rejects exactly as decode + writeXmlElement would.
   */
  copyPlain(src: Uint8Array, start: number, stop: number): boolean {
    // Worst case every byte is '&' → "&amp;".
    this.room((stop - start) * 5);
    const buf = this.buf;
    const mark = this.pos;
    let p = mark;
    let i = start;
    while (i < stop) {
      const c = src[i]!;
      if (c < 0x80) {
        if (c >= 0x20 && c !== 0x26 && c !== 0x3c && c !== 0x3e && c !== 0x7f) buf[p++] = c;
        else if (c === 0x26)
          p = put5(buf, p, 0x26, 0x61, 0x6d, 0x70, 0x3b); // &amp;
        else if (c === 0x3c)
          p = put4(buf, p, 0x26, 0x6c, 0x74, 0x3b); // &lt;
        else if (c === 0x3e)
          p = put4(buf, p, 0x26, 0x67, 0x74, 0x3b); // &gt;
        else if (c === 0x0d)
          p = put5(buf, p, 0x26, 0x23, 0x31, 0x33, 0x3b); // &#13;
        else if (c === 0x09 || c === 0x0a || c === 0x7f) buf[p++] = c;
        else return false;
        i++;
        continue;
      }
      // Multi-byte UTF-8: copy only well-formed, shortest-form sequences of scalar values.
      let n: number;
      if (c >= 0xc2 && c <= 0xdf) n = 1;
      else if (c >= 0xe0 && c <= 0xef) n = 2;
      else if (c >= 0xf0 && c <= 0xf4) n = 3;
      else return false;
      if (i + n >= stop) return false;
      const c1 = src[i + 1]!;
      if ((c1 & 0xc0) !== 0x80) return false;
      if (n >= 2) {
        if ((src[i + 2]! & 0xc0) !== 0x80) return false;
        if (c === 0xe0 && c1 < 0xa0) return false; // overlong
        if (c === 0xed && c1 >= 0xa0) return false; // surrogates
        if (c === 0xef && c1 === 0xbf && (src[i + 2]! === 0xbe || src[i + 2]! === 0xbf)) return false; // U+FFFE/F
        if (n === 3) {
          if ((src[i + 3]! & 0xc0) !== 0x80) return false;
          if (c === 0xf0 && c1 < 0x90) return false; // overlong
          if (c === 0xf4 && c1 >= 0x90) return false; // above U+10FFFF
        }
      }
      for (let k = 0; k <= n; k++) buf[p++] = src[i + k]!;
      i += n + 1;
    }
    this.pos = p;
    return true;
  }

  result(): Uint8Array {
    // Buffer.allocUnsafe takes small results from Node's pool: cheaper than a fresh zeroed array.
    const r = Buffer.allocUnsafe(this.pos);
    r.set(this.buf.subarray(0, this.pos));
    if (this.buf.length > 1 << 20) this.buf = Buffer.allocUnsafe(4096); // do not keep a huge buffer alive
    return r;
  }
}
const output = new Output();
const SLASH_GT = ascii('/>');

/** Transcodes a WBXML document to compact XML text. @throws DecodeError (`wbxml.*`), EncodeError (`xml.invalid`) */
export function wbxmlToXml(bytes: Uint8Array, limits?: WbxmlLimits): string {
  const out = wbxmlToXmlBytes(bytes, limits);
  return Buffer.from(out.buffer, out.byteOffset, out.length).toString('utf8');
}

/** Transcodes a WBXML document to compact XML, as UTF-8 bytes. @throws DecodeError (`wbxml.*`), EncodeError (`xml.invalid`) */
export function wbxmlToXmlBytes(bytes: Uint8Array, limits?: WbxmlLimits): Uint8Array {
  const { r, header } = readHeader(bytes, limits);
  const maxDepth = limits?.maxDepth ?? DEFAULT_WBXML_LIMITS.maxDepth;
  const maxElements = limits?.maxElements ?? DEFAULT_WBXML_LIMITS.maxElements;
  const pages = header.pages;
  const buf = r.bytes;
  const end = r.end;
  let page = pages[0]!;
  let tags = page.tags;
  let pb = bytesOf(page);
  const names: string[] = [];
  const nss: string[] = [];
  /** How each open element is closed: its `</Name>` bytes. */
  const closes: Uint8Array[] = [];
  const w = output;
  w.start(bytes.length * 4 + 64);
  /** The innermost start tag still lacks its '>' (an element with no content yet is written `<x/>`). */
  let pending = false;
  let rootSeen = false;
  let elements = 0;

  while (r.pos < end) {
    const at = r.pos;
    const tok = buf[r.pos++]!;
    let t: string | undefined;
    switch (tok) {
      case Token.SWITCH_PAGE: {
        const n = r.byte();
        const p = pages[n];
        if (p === undefined) throw new WbxmlError('wbxml.page', `unknown code page ${n}`, at);
        page = p;
        tags = p.tags;
        pb = bytesOf(p);
        continue;
      }
      case Token.END: {
        const close = closes.pop();
        if (close === undefined) throw new WbxmlError('wbxml.token', 'END outside any element', at);
        names.pop();
        nss.pop();
        w.put(pending ? SLASH_GT : close);
        pending = false;
        continue;
      }
      case Token.STR_I: {
        const start = r.pos;
        let nul = start;
        while (nul < end && buf[nul] !== 0) nul++;
        if (nul >= end)
          throw new WbxmlError('wbxml.truncated', 'inline string without its NUL terminator', start);
        r.pos = nul + 1;
        if (names.length === 0) throw new WbxmlError('wbxml.token', 'text outside any element', at);
        if (nul === start) continue;
        if (pending) {
          w.byte(GT);
          pending = false;
        }
        if (!w.copyPlain(buf, start, nul)) w.text(checkedText(text(buf, start, nul), names));
        continue;
      }
      case Token.STR_T: {
        const offset = r.mbUint32();
        if (names.length === 0) {
          r.tableString(offset, at); // a bad reference is reported first, as on the tree path
          throw new WbxmlError('wbxml.token', 'text outside any element', at);
        }
        const start = r.strtblStart + offset;
        const stop = r.tableEntryEnd(offset, at);
        if (stop === start) continue;
        if (pending) {
          w.byte(GT);
          pending = false;
        }
        if (!w.copyPlain(buf, start, stop)) w.text(checkedText(text(buf, start, stop), names));
        continue;
      }
      case Token.ENTITY: {
        t = entityText(r.mbUint32(), at);
        break;
      }
      case Token.OPAQUE: {
        if (names.length === 0) throw new WbxmlError('wbxml.token', 'OPAQUE outside any element', at);
        const lenAt = r.pos;
        const len = r.mbUint32();
        if (len > end - r.pos)
          throw new WbxmlError('wbxml.truncated', `OPAQUE of ${len} bytes runs past the end`, lenAt);
        const start = r.pos;
        r.pos += len;
        if (pending) {
          w.byte(GT);
          pending = false;
        }
        // A leading BOM makes the XML writer fall back to base64: leave that to the string path.
        const bom = len >= 3 && buf[start] === 0xef && buf[start + 1] === 0xbb && buf[start + 2] === 0xbf;
        if (bom || !w.copyPlain(buf, start, start + len))
          w.text(opaqueText(buf.subarray(start, start + len)));
        continue;
      }
      case Token.PI:
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
    if (t !== undefined) {
      if (names.length === 0) throw new WbxmlError('wbxml.token', 'text outside any element', at);
      if (t.length === 0) continue;
      if (pending) {
        w.byte(GT);
        pending = false;
      }
      w.text(checkedText(t, names));
      continue;
    }
    // A tag.
    const low = tok & TAG_MASK;
    let name: string | undefined;
    let open: Uint8Array | undefined;
    let close: Uint8Array | undefined;
    const parentNs = nss.length > 0 ? nss[nss.length - 1]! : '';
    if (low === Token.LITERAL) {
      name = r.tableString(r.mbUint32(), at);
      if (!NAME_RE.test(name))
        throw new EncodeError('xml.invalid', `invalid XML name "${name}"`, names.join('/'));
      const enc = new TextEncoder();
      open = enc.encode(page.ns !== parentNs ? `<${name} xmlns="${escapeAttr(page.ns)}"` : `<${name}`);
      close = enc.encode(`</${name}>`);
    } else {
      name = tags[low];
      if (name === undefined) {
        throw new WbxmlError(
          'wbxml.tag',
          `unknown tag token 0x${low.toString(16)} on code page ${page.page}`,
          at,
        );
      }
      open = page.ns !== parentNs ? pb.openNs[low] : pb.open[low];
      close = pb.close[low];
    }
    if (++elements > maxElements)
      throw new WbxmlError('wbxml.elements', `more than ${maxElements} elements`, at);
    if (names.length === 0) {
      if (rootSeen) throw new WbxmlError('wbxml.token', 'a second root element', at);
      rootSeen = true;
    }
    if (pending) w.byte(GT);
    w.put(open!);
    if ((tok & TAG_ATTRIBUTES) !== 0) {
      const attrs = parseAttributes(r, at);
      if (attrs !== undefined) {
        let a = '';
        for (const k of Object.keys(attrs)) {
          if (!ATTR_NAME_RE.test(k) || k === 'xmlns' || k.startsWith('xmlns:')) {
            throw new EncodeError('xml.invalid', `invalid attribute name "${k}"`, names.join('/'));
          }
          const v = attrs[k]!;
          if (FORBIDDEN_RE.test(v) || !v.isWellFormed()) {
            throw new EncodeError(
              'xml.invalid',
              'text contains characters XML 1.0 cannot carry',
              names.join('/'),
            );
          }
          a += ` ${k}="${escapeAttr(v)}"`;
        }
        w.text(a);
      }
    }
    if ((tok & TAG_CONTENT) !== 0) {
      if (names.length >= maxDepth)
        throw new WbxmlError('wbxml.depth', `elements nested deeper than ${maxDepth}`, at);
      names.push(name);
      nss.push(page.ns);
      closes.push(close!);
      pending = true;
    } else {
      w.put(SLASH_GT);
      pending = false;
    }
  }
  if (!rootSeen) throw new WbxmlError('wbxml.truncated', 'document has no root element', r.pos);
  if (names.length > 0) {
    throw new WbxmlError(
      'wbxml.truncated',
      `input ends inside <${names[names.length - 1]}> (missing END)`,
      r.pos,
    );
  }
  return w.result();
}
