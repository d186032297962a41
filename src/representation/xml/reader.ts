/**
 * A hand-written XML reader producing the generic element tree. One pass: structure is scanned on
 * the code units in a typed array (see codeUnits), runs of text are found with indexOf on the
 * decoded string and sliced from it; no regular expressions on the hot path, no per-character
 * concatenation.
 *
 * Hostile-input rules: no entity declarations (a DOCTYPE internal subset declaring entities is
 * refused), no external DTD or entity is ever fetched (DOCTYPE ids are read and ignored), only
 * the 5 predefined and numeric character references are expanded, and every limit in XmlLimits
 * is checked before the memory it guards is spent.
 *
 * Whitespace: whitespace-only text in an element that has element children is dropped (it is
 * formatting); a leaf keeps its text verbatim. Line ends are normalised to LF as XML requires.
 */
import type { Element, ElementChild } from '../element.ts';
import { DecodeError, type DecodeErrorCode } from '../errors.ts';
import { DEFAULT_XML_LIMITS, type XmlReadOptions } from './limits.ts';

const XML_NS = 'http://www.w3.org/XML/1998/namespace';

/** Per-ASCII-code flags: 1 = name start char, 2 = name char. Non-ASCII is accepted as both. */
const NAME = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  if (/[A-Za-z_:]/.test(ch)) NAME[c] = 3;
  else if (/[0-9.-]/.test(ch)) NAME[c] = 2;
}

function isWs(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d;
}

/**
 * Namespace scope: the default namespace and the prefixes declared on one element, linked to the
 * enclosing scope. Shared by every element that declares nothing. Declaring is O(own
 * declarations) — copying the inherited bindings would make a deep chain of declarations with
 * many declaring siblings quadratic — and lookups walk the chain once per scope, then hit `cache`.
 */
interface Scope {
  readonly def: string;
  /** Prefixes declared by the element that opened this scope. */
  readonly own: Map<string, string> | null;
  /** The nearest enclosing scope with prefix declarations. */
  readonly up: Scope | null;
  cache: Map<string, string> | null;
  /** The last scope made from this one by a default namespace declaration alone (reused). */
  defChild: Scope | null;
}

function lookupPrefix(scope: Scope, prefix: string): string | undefined {
  const hit = scope.cache?.get(prefix);
  if (hit !== undefined) return hit;
  for (let sc: Scope | null = scope; sc !== null; sc = sc.up) {
    const v = sc.own?.get(prefix);
    if (v !== undefined) {
      if (sc !== scope) {
        scope.cache ??= new Map();
        scope.cache.set(prefix, v);
      }
      return v;
    }
  }
  return undefined;
}

/**
 * Reads an XML document into an Element tree.
 * @throws DecodeError with codes `xml.*`; `offset` is the UTF-8 byte offset of the problem.
 */
export function parseXmlElement(input: string | Uint8Array, options?: XmlReadOptions): Element {
  const limits = options ? { ...DEFAULT_XML_LIMITS, ...stripUndefined(options) } : DEFAULT_XML_LIMITS;
  let text: string;
  let byteBase = 0;
  let latin1 = false;
  let units: Uint8Array | Uint16Array;
  if (typeof input === 'string') {
    // UTF-16 length ≤ UTF-8 length ≤ 3 × UTF-16 length: only measure when it can matter.
    if (
      input.length > limits.maxBytes ||
      (input.length * 3 > limits.maxBytes && Buffer.byteLength(input) > limits.maxBytes)
    ) {
      throw new DecodeError(
        'xml.size',
        `XML input larger than the ${limits.maxBytes}-byte limit`,
        limits.maxBytes,
      );
    }
    text = input.charCodeAt(0) === 0xfeff ? input.slice(1) : input;
    units = codeUnits(text, null);
  } else {
    if (input.length > limits.maxBytes) {
      throw new DecodeError(
        'xml.size',
        `XML input larger than the ${limits.maxBytes}-byte limit`,
        limits.maxBytes,
      );
    }
    const decoded = decodeBytes(input, options?.charset);
    text = decoded.text;
    byteBase = decoded.bom;
    latin1 = decoded.latin1;
    units = codeUnits(text, latin1 ? null : input.subarray(byteBase));
  }
  const reader = new Reader(text, units, limits, options?.strict === true, byteBase, latin1);
  return reader.document();
}

/**
 * The text's UTF-16 code units as a typed array, which the scanner indexes instead of calling
 * charCodeAt: a typed-array load is a bounds check and a byte load, while charCodeAt dispatches on
 * the string's representation at every call — scanning bytes is about twice as fast. For ASCII
 * text (nearly all DM traffic) the UTF-8 bytes are those code units, one per character, so the
 * input is used as is; otherwise the code units are copied once. Positions are therefore string
 * indexes either way (slices, error offsets). Reading past the end gives `undefined`, which, like
 * charCodeAt's NaN, equals no character code.
 */
function codeUnits(text: string, utf8Bytes: Uint8Array | null): Uint8Array | Uint16Array {
  // For a string, counting its UTF-8 length tells whether it is ASCII without encoding it.
  const bytes =
    utf8Bytes ?? (Buffer.byteLength(text, 'utf8') === text.length ? Buffer.from(text, 'latin1') : null);
  if (bytes !== null && bytes.length === text.length) {
    // A plain Uint8Array view (not a Buffer subclass) keeps the scanner's loads monomorphic.
    return bytes.constructor === Uint8Array
      ? bytes
      : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
  }
  const u = new Uint16Array(text.length);
  for (let i = 0; i < text.length; i++) u[i] = text.charCodeAt(i);
  return u;
}

function stripUndefined(o: XmlReadOptions): XmlReadOptions {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out as XmlReadOptions;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function decodeBytes(bytes: Uint8Array, charset?: string): { text: string; bom: number; latin1: boolean } {
  let start = 0;
  if (bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) start = 3;
  else if (
    bytes.length >= 2 &&
    ((bytes[0] === 0xfe && bytes[1] === 0xff) || (bytes[0] === 0xff && bytes[1] === 0xfe))
  ) {
    throw new DecodeError('xml.encoding', 'UTF-16 XML is not supported (send UTF-8)', 0);
  }
  const body = start ? bytes.subarray(start) : bytes;
  // The transport's charset wins over the declaration (RFC 7303 §3.2); a BOM wins over both.
  const enc = start ? null : charset?.trim().toLowerCase() || declaredEncoding(body);
  if (enc !== null && enc !== 'utf-8' && enc !== 'utf8' && enc !== 'us-ascii' && enc !== 'ascii') {
    if (enc === 'iso-8859-1' || enc === 'latin1' || enc === 'iso_8859-1' || enc === 'windows-1252') {
      return {
        text: new TextDecoder(enc === 'windows-1252' ? 'windows-1252' : 'latin1').decode(body),
        bom: start,
        latin1: true,
      };
    }
    throw new DecodeError(
      'xml.encoding',
      `unsupported XML encoding "${enc}" (UTF-8 and ISO-8859-1 are read)`,
      start,
    );
  }
  try {
    return { text: utf8.decode(body), bom: start, latin1: false };
  } catch {
    throw new DecodeError('xml.encoding', 'input is not valid UTF-8', start + firstBadUtf8(body));
  }
}

const latin1 = new TextDecoder('latin1');

/** The encoding named by an XML declaration at the very start, lower-cased, or null. */
function declaredEncoding(b: Uint8Array): string | null {
  // `<?xml` then up to ~200 bytes of pseudo-attributes; the declaration is ASCII.
  if (!(b[0] === 0x3c && b[1] === 0x3f && b[2] === 0x78 && b[3] === 0x6d && b[4] === 0x6c)) return null;
  const limit = Math.min(b.length, 256);
  let end = 5;
  while (end < limit && b[end] !== 0x3e) end++;
  // One latin1 decode of the declaration, not a string concatenation per byte.
  const head = latin1.decode(b.subarray(0, end));
  const m = /encoding\s*=\s*(["'])([A-Za-z0-9._-]+)\1/.exec(head);
  return m ? m[2]!.toLowerCase() : null;
}

/** Offset of the first byte that does not start a well-formed UTF-8 sequence (RFC 3629). */
function firstBadUtf8(b: Uint8Array): number {
  const n = b.length;
  let i = 0;
  while (i < n) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    let len: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) len = 2;
    else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      if (c === 0xe0)
        lo = 0xa0; // no overlongs
      else if (c === 0xed) hi = 0x9f; // no surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      if (c === 0xf0) lo = 0x90;
      else if (c === 0xf4) hi = 0x8f; // ≤ U+10FFFF
    } else return i;
    if (i + len > n) return i;
    const c1 = b[i + 1]!;
    if (c1 < lo || c1 > hi) return i;
    for (let k = 2; k < len; k++) {
      const ck = b[i + k]!;
      if (ck < 0x80 || ck > 0xbf) return i;
    }
    i += len;
  }
  return i;
}

class Reader {
  private readonly s: string;
  /** The code units of `s` (see codeUnits). */
  private readonly b: Uint8Array | Uint16Array;
  private readonly len: number;
  private pos = 0;
  private readonly strict: boolean;
  private readonly maxDepth: number;
  private readonly maxElements: number;
  private readonly maxAttributes: number;
  private readonly maxText: number;
  private readonly byteBase: number;
  private readonly latin1: boolean;
  private elements = 0;
  /** Index of the next '&' at or after the last lookup (cached: indexOf would rescan to the end). */
  private nextAmp = -2;
  /** Whether the input contains a CR at all: line-end normalisation is skipped when not. */
  private readonly hasCR: boolean;

  constructor(
    s: string,
    b: Uint8Array | Uint16Array,
    limits: typeof DEFAULT_XML_LIMITS,
    strict: boolean,
    byteBase: number,
    latin1: boolean,
  ) {
    this.s = s;
    this.b = b;
    this.len = s.length;
    this.strict = strict;
    this.maxDepth = limits.maxDepth;
    this.maxElements = limits.maxElements;
    this.maxAttributes = limits.maxAttributes;
    this.maxText = limits.maxTextLength;
    this.byteBase = byteBase;
    this.latin1 = latin1;
    this.hasCR = s.indexOf('\r') >= 0;
  }

  private norm(t: string): string {
    return this.hasCR ? normalizeNewlines(t) : t;
  }

  /** The next '&' in [start, end), or -1. */
  private ampIn(start: number, end: number): number {
    let a = this.nextAmp;
    if (a === -1) return -1;
    if (a < start) {
      a = this.s.indexOf('&', start);
      this.nextAmp = a;
      if (a < 0) return -1;
    }
    return a < end ? a : -1;
  }

  private fail(code: DecodeErrorCode, message: string, at: number = this.pos): never {
    const p = Math.min(Math.max(at, 0), this.len);
    const offset = this.byteBase + (this.latin1 ? p : Buffer.byteLength(this.s.slice(0, p)));
    throw new DecodeError(code, message, offset);
  }

  document(): Element {
    const s = this.s;
    const b = this.b;
    // Prolog: XML declaration, then comments, PIs, whitespace and at most one DOCTYPE.
    if (s.startsWith('<?xml', 0) && (isWs(b[5]!) || b[5]! === 0x3f)) this.skipPi();
    let sawDoctype = false;
    for (;;) {
      this.skipWs();
      if (this.pos >= this.len) this.fail('xml.malformed', 'no root element');
      if (b[this.pos]! !== 0x3c) this.fail('xml.malformed', 'text before the root element');
      const c = b[this.pos + 1]!;
      if (c === 0x3f) this.skipPi();
      else if (c === 0x21) {
        if (s.startsWith('<!--', this.pos)) this.skipComment();
        else if (s.startsWith('<!DOCTYPE', this.pos)) {
          if (sawDoctype) this.fail('xml.doctype', 'second DOCTYPE');
          sawDoctype = true;
          this.skipDoctype();
        } else this.fail('xml.malformed', 'unexpected markup before the root element');
      } else break;
    }
    const root = this.element();
    // Misc after the root: whitespace, comments, PIs only.
    for (;;) {
      this.skipWs();
      if (this.pos >= this.len) return root;
      if (s.startsWith('<!--', this.pos)) this.skipComment();
      else if (s.startsWith('<?', this.pos)) this.skipPi();
      else this.fail('xml.malformed', 'content after the root element');
    }
  }

  private skipWs(): void {
    const b = this.b;
    let p = this.pos;
    while (p < this.len && isWs(b[p]!)) p++;
    this.pos = p;
  }

  private skipPi(): void {
    const start = this.pos;
    const end = this.s.indexOf('?>', start + 2);
    if (end < 0) this.fail('xml.malformed', 'unterminated processing instruction', start);
    const nameStart = start + 2;
    const nameEnd = this.nameEnd(nameStart);
    if (nameEnd === nameStart)
      this.fail('xml.malformed', 'processing instruction without a target', nameStart);
    const target = this.s.slice(nameStart, nameEnd);
    if (start !== 0 && target.toLowerCase() === 'xml')
      this.fail('xml.malformed', 'XML declaration not at the start', start);
    this.pos = end + 2;
  }

  private skipComment(): void {
    const start = this.pos;
    const end = this.s.indexOf('-->', start + 4);
    if (end < 0) this.fail('xml.malformed', 'unterminated comment', start);
    this.pos = end + 3;
  }

  /**
   * DOCTYPE: the name and external ids are read and ignored (never fetched). An internal subset is
   * scanned (honouring quotes and comments); any ENTITY declaration in it is refused, which stops
   * billion-laughs and external-entity attacks at the source.
   */
  private skipDoctype(): void {
    const s = this.s;
    const b = this.b;
    const start = this.pos;
    let p = start + 9;
    for (; p < this.len; p++) {
      const c = b[p]!;
      if (c === 0x3e) {
        this.pos = p + 1;
        return;
      }
      if (c === 0x22 || c === 0x27) {
        const q = s.indexOf(c === 0x22 ? '"' : "'", p + 1);
        if (q < 0) break;
        p = q;
      } else if (c === 0x5b) {
        p = this.scanInternalSubset(p + 1);
      }
    }
    this.fail('xml.doctype', 'unterminated DOCTYPE', start);
  }

  /** Returns the index of the `]` closing the internal subset. */
  private scanInternalSubset(from: number): number {
    const s = this.s;
    const b = this.b;
    for (let p = from; p < this.len; p++) {
      const c = b[p]!;
      if (c === 0x5d) return p;
      if (c === 0x22 || c === 0x27) {
        const q = s.indexOf(c === 0x22 ? '"' : "'", p + 1);
        if (q < 0) break;
        p = q;
      } else if (c === 0x3c) {
        if (s.startsWith('<!--', p)) {
          const e = s.indexOf('-->', p + 4);
          if (e < 0) break;
          p = e + 2;
        } else if (s.startsWith('<!ENTITY', p)) {
          this.fail('xml.doctype', 'entity declarations are not accepted (DOCTYPE internal subset)', p);
        }
      } else if (c === 0x25) {
        this.fail('xml.doctype', 'parameter entity references are not accepted (DOCTYPE internal subset)', p);
      }
    }
    this.fail('xml.doctype', 'unterminated DOCTYPE internal subset', from);
  }

  /** End of a name starting at `p` (p itself when there is no name). */
  private nameEnd(p: number): number {
    const b = this.b;
    const len = this.len;
    if (p >= len) return p;
    let c = b[p]!;
    if (c < 128 && (NAME[c]! & 1) === 0) return p;
    p++;
    while (p < len) {
      c = b[p]!;
      if (c < 128) {
        if (NAME[c] === 0) break;
      } else if (c === 0xa0 || c === 0x3000 || c === 0xfeff) break;
      p++;
    }
    return p;
  }

  /** Reads the element at `pos` (which is '<' followed by a name) and its whole subtree. */
  private element(): Element {
    const s = this.s;
    const b = this.b;
    const len = this.len;
    // Explicit stacks indexed by depth instead of recursion: depth is bounded by a limit, not by
    // the JS stack. Open element i (0-based) is elems[i]; its qualified name is s[qStart[i], +qLen[i]).
    const elems: Element[] = [];
    const qStart: number[] = [];
    const qLen: number[] = [];
    const scopes: Scope[] = [];
    const hasElem: boolean[] = [];
    // Whitespace that may yet be the whole value of the innermost open element (a leaf so far).
    // Only the innermost element can have any: a child's start tag drops its parent's.
    let pendingWs: string | null = null;
    let depth = 0;
    // A root scope per document: memoised child scopes (defChild) must not outlive it.
    let scope: Scope = { def: '', own: null, up: null, cache: null, defChild: null };
    let root: Element | null = null;

    for (;;) {
      // At '<' here.
      const lt = this.pos;
      const c1 = b[lt + 1]!;
      if (c1 === 0x2f) {
        // End tag: must repeat the open element's qualified name exactly.
        if (depth === 0) this.fail('xml.malformed', 'end tag without a start tag', lt);
        const d = depth - 1;
        const qs = qStart[d]!;
        const ql = qLen[d]!;
        let p = lt + 2;
        let ok = p + ql <= len;
        for (let i = 0; ok && i < ql; i++) ok = b[p + i]! === b[qs + i]!;
        p += ql;
        let c = b[p]!;
        if (ok && c !== 0x3e) {
          while (c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d) c = b[++p]!;
          ok = c === 0x3e;
        }
        if (!ok) {
          const nEnd = this.nameEnd(lt + 2);
          this.fail(
            'xml.malformed',
            `end tag </${s.slice(lt + 2, nEnd)}> does not match <${s.slice(qs, qs + ql)}>`,
            lt,
          );
        }
        this.pos = p + 1;
        const el = elems[d]!;
        // A fresh one-slot array: pushing onto the empty one would allocate room for 16.
        if (pendingWs !== null) {
          if (el.children.length === 0) el.children = [pendingWs];
          pendingWs = null;
        }
        depth = d;
        if (depth === 0) return root!;
        scope = scopes[depth - 1]!;
      } else if (c1 === 0x21) {
        if (depth === 0) this.fail('xml.malformed', 'expected the root element', lt);
        if (s.startsWith('<!--', lt)) this.skipComment();
        else if (s.startsWith('<![CDATA[', lt)) {
          const end = s.indexOf(']]>', lt + 9);
          if (end < 0) this.fail('xml.malformed', 'unterminated CDATA section', lt);
          if (end - lt - 9 > this.maxText)
            this.fail('xml.text', `text longer than ${this.maxText} characters`, lt);
          const t = this.norm(s.slice(lt + 9, end));
          this.pos = end + 3;
          const d = depth - 1;
          const el = elems[d]!;
          if (pendingWs !== null) {
            if (!hasElem[d]) this.appendText(el, pendingWs);
            pendingWs = null;
          }
          this.appendText(el, t);
        } else this.fail('xml.malformed', 'unexpected markup declaration in content', lt);
      } else if (c1 === 0x3f) {
        if (depth === 0) this.fail('xml.malformed', 'expected the root element', lt);
        this.skipPi();
      } else {
        // Start tag. Name scanned inline, noting a prefix colon on the way.
        const nStart = lt + 1;
        let p = nStart;
        let c = c1;
        let colon = -1;
        if (!(c >= 128 || (NAME[c]! & 1) !== 0) || c === 0x3a)
          this.fail('xml.malformed', 'invalid element name', nStart);
        for (;;) {
          c = b[++p]!;
          if (c < 128) {
            if (NAME[c] === 0) break;
            if (c === 0x3a) {
              if (colon >= 0) this.fail('xml.malformed', 'invalid element name (two colons)', nStart);
              colon = p;
            }
          } else if (c === 0xa0 || c === 0x3000 || c === 0xfeff || p >= len) break;
        }
        const nEnd = p;
        if (++this.elements > this.maxElements)
          this.fail('xml.elements', `more than ${this.maxElements} elements`, lt);
        if (depth >= this.maxDepth)
          this.fail('xml.depth', `elements nested deeper than ${this.maxDepth}`, lt);
        let attrs: Record<string, string> | undefined;
        let newDef: string | undefined;
        let newPrefixes: Map<string, string> | undefined;
        if (c !== 0x3e && c !== 0x2f) {
          // Attributes (rare in DM: mostly xmlns declarations), read out of line.
          p = this.attributes(p, nStart, nEnd);
          c = b[p]!;
          attrs = this.attrs;
          newDef = this.newDef;
          newPrefixes = this.newPrefixes;
        }
        let selfClosing = false;
        if (c === 0x3e) p++;
        else if (c === 0x2f && b[p + 1]! === 0x3e) {
          selfClosing = true;
          p += 2;
        } else this.fail('xml.malformed', `unterminated start tag <${s.slice(nStart, nEnd)}>`, lt);
        this.pos = p;

        if (newPrefixes !== undefined) {
          scope = {
            def: newDef ?? scope.def,
            own: newPrefixes,
            up: scope.own ? scope : scope.up,
            cache: null,
            defChild: null,
          };
        } else if (newDef !== undefined) {
          // Siblings declaring the same default namespace (`<Format xmlns="syncml:metinf">`, then
          // `<Type xmlns="syncml:metinf">`) share one scope, and so one `ns` string.
          const memo = scope.defChild;
          if (memo !== null && memo.def === newDef) scope = memo;
          else {
            const child: Scope = {
              def: newDef,
              own: null,
              up: scope.own ? scope : scope.up,
              cache: scope.cache,
              defChild: null,
            };
            scope.defChild = child;
            scope = child;
          }
        }
        let name: string;
        let ns = scope.def;
        if (colon < 0) name = s.slice(nStart, nEnd);
        else {
          const prefix = s.slice(nStart, colon);
          name = s.slice(colon + 1, nEnd);
          if (name === '') this.fail('xml.malformed', `invalid element name <${prefix}:>`, nStart);
          const bound = prefix === 'xml' ? XML_NS : lookupPrefix(scope, prefix);
          if (bound === undefined)
            this.fail(
              'xml.namespace',
              `undeclared namespace prefix "${prefix}" on <${prefix}:${name}>`,
              nStart,
            );
          ns = bound;
        }
        if (attrs) this.declarePrefixes(attrs, scope, nStart);
        const el: Element = attrs ? { name, ns, attrs, children: [] } : { name, ns, children: [] };
        if (depth === 0) root = el;
        else {
          const d = depth - 1;
          elems[d]!.children.push(el);
          hasElem[d] = true;
          pendingWs = null;
        }
        if (selfClosing) {
          if (depth === 0) return root!;
          scope = scopes[depth - 1]!;
        } else {
          elems[depth] = el;
          qStart[depth] = nStart;
          qLen[depth] = nEnd - nStart;
          scopes[depth] = scope;
          hasElem[depth] = false;
          depth++;
        }
      }

      // Text up to the next '<': whitespace-only runs are found by looking at their first chars.
      const tStart = this.pos;
      let p = tStart;
      let c = b[p]!;
      while (c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d) c = b[++p]!;
      if (c === 0x3c) {
        // Whitespace only (or nothing) before the next tag.
        if (p > tStart) {
          const d = depth - 1;
          if (!hasElem[d]) {
            // Formatting between elements, unless this turns out to be a leaf's whole value.
            const el = elems[d]!;
            if (p - tStart > this.maxText)
              this.fail('xml.text', `text longer than ${this.maxText} characters`, tStart);
            if (el.children.length > 0) this.appendText(el, this.norm(s.slice(tStart, p)));
            else {
              // Before a start tag the run is only formatting (the child element drops it), so it
              // is not even sliced; before an end tag, comment, CDATA or PI it may be the value.
              const n = b[p + 1];
              if (n === 0x2f || n === 0x21 || n === 0x3f)
                pendingWs = (pendingWs ?? '') + this.norm(s.slice(tStart, p));
            }
          }
        }
        this.pos = p;
        continue;
      }
      const lt2 = p < len ? s.indexOf('<', p) : -1;
      if (lt2 < 0) {
        this.pos = len;
        this.fail(
          'xml.malformed',
          `unclosed element <${s.slice(qStart[depth - 1]!, qStart[depth - 1]! + qLen[depth - 1]!)}>`,
          len,
        );
      }
      if (lt2 - tStart > this.maxText)
        this.fail('xml.text', `text longer than ${this.maxText} characters`, tStart);
      const d = depth - 1;
      const el = elems[d]!;
      if (pendingWs !== null) {
        this.appendText(el, pendingWs);
        pendingWs = null;
      }
      const t = this.textValue(tStart, lt2);
      if (el.children.length === 0) el.children = [t];
      else this.appendText(el, t);
      this.pos = lt2;
    }
  }

  /** Results of attributes(): plain attributes and namespace declarations of one start tag. */
  private attrs: Record<string, string> | undefined;
  private newDef: string | undefined;
  private newPrefixes: Map<string, string> | undefined;

  /**
   * Reads the attributes of the start tag whose name is s[nStart, nEnd), from `p` (just after the
   * name) up to the `>` or `/`, whose index it returns. Namespace declarations go to newDef and
   * newPrefixes, other attributes to attrs.
   */
  private attributes(p: number, nStart: number, nEnd: number): number {
    const s = this.s;
    const b = this.b;
    const len = this.len;
    let attrs: Record<string, string> | undefined;
    let newDef: string | undefined;
    let newPrefixes: Map<string, string> | undefined;
    let attrCount = 0;
    let c = b[p]!;
    for (;;) {
      let sawWs = false;
      while (c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d) {
        c = b[++p]!;
        sawWs = true;
      }
      if (c === 0x3e || c === 0x2f || p >= len) break;
      if (!sawWs)
        this.fail('xml.malformed', `missing whitespace before attribute in <${s.slice(nStart, nEnd)}>`, p);
      const aStart = p;
      const aEnd = this.nameEnd(p);
      if (aEnd === aStart)
        this.fail('xml.malformed', `invalid attribute name in <${s.slice(nStart, nEnd)}>`, p);
      if (++attrCount > this.maxAttributes)
        this.fail(
          'xml.attributes',
          `more than ${this.maxAttributes} attributes on <${s.slice(nStart, nEnd)}>`,
          p,
        );
      p = aEnd;
      while (p < len && isWs(b[p]!)) p++;
      if (b[p]! !== 0x3d) this.fail('xml.malformed', `attribute ${s.slice(aStart, aEnd)} without a value`, p);
      p++;
      while (p < len && isWs(b[p]!)) p++;
      const q = b[p]!;
      if (q !== 0x22 && q !== 0x27)
        this.fail('xml.malformed', `attribute ${s.slice(aStart, aEnd)} value not quoted`, p);
      // One pass to the closing quote, noting whether the value needs more than a slice:
      // references, literal whitespace to normalise, or a '<' to refuse (attrValue does those).
      const vStart = p + 1;
      let vEnd = vStart;
      let plain = true;
      for (; vEnd < len; vEnd++) {
        const x = b[vEnd]!;
        if (x === q) break;
        if (x === 0x26 || x === 0x3c || x === 0x0a || x === 0x09 || x === 0x0d) plain = false;
      }
      if (vEnd >= len)
        this.fail('xml.malformed', `unterminated value of attribute ${s.slice(aStart, aEnd)}`, p);
      if (vEnd - vStart > this.maxText)
        this.fail('xml.text', `attribute value longer than ${this.maxText} characters`, p);
      const value = plain ? s.slice(vStart, vEnd) : this.attrValue(vStart, vEnd);
      p = vEnd + 1;
      c = b[p]!;
      // xmlns / xmlns:p, recognised on the code units without slicing the name.
      if (
        b[aStart] === 0x78 &&
        b[aStart + 1] === 0x6d &&
        b[aStart + 2] === 0x6c &&
        b[aStart + 3] === 0x6e &&
        b[aStart + 4] === 0x73
      ) {
        if (aEnd - aStart === 5) {
          if (newDef !== undefined)
            this.fail('xml.attributes', `duplicate xmlns on <${s.slice(nStart, nEnd)}>`, aStart);
          newDef = value;
          continue;
        }
        if (b[aStart + 5] === 0x3a) {
          const aName = s.slice(aStart, aEnd);
          const prefix = aName.slice(6);
          if (prefix === '' || prefix === 'xmlns')
            this.fail('xml.namespace', `invalid namespace prefix in ${aName}`, aStart);
          if (value === '') this.fail('xml.namespace', `empty namespace for prefix ${prefix}`, aStart);
          newPrefixes ??= new Map();
          if (newPrefixes.has(prefix))
            this.fail('xml.attributes', `duplicate ${aName} on <${s.slice(nStart, nEnd)}>`, aStart);
          newPrefixes.set(prefix, value);
          continue;
        }
      }
      const aName = s.slice(aStart, aEnd);
      attrs ??= {};
      if (Object.hasOwn(attrs, aName))
        this.fail('xml.attributes', `duplicate attribute ${aName} on <${s.slice(nStart, nEnd)}>`, aStart);
      attrs[aName] = value;
    }
    this.attrs = attrs;
    this.newDef = newDef;
    this.newPrefixes = newPrefixes;
    return p;
  }

  /**
   * Prefixed attributes (`xsi:type`) keep their qualified name; the declaration of each prefix
   * they use is kept beside them as an `xmlns:p` attribute, so the element can be written alone.
   */
  private declarePrefixes(attrs: Record<string, string>, scope: Scope, at: number): void {
    for (const k of Object.keys(attrs)) {
      const colon = k.indexOf(':');
      if (colon < 0) continue;
      const prefix = k.slice(0, colon);
      if (prefix === 'xml' || prefix === 'xmlns') continue;
      const uri = lookupPrefix(scope, prefix);
      if (uri === undefined)
        this.fail('xml.namespace', `undeclared namespace prefix "${prefix}" on attribute ${k}`, at);
      attrs[`xmlns:${prefix}`] = uri;
    }
  }

  private appendText(el: Element, t: string): void {
    const ch = el.children;
    const last = ch.length - 1;
    if (last >= 0 && typeof ch[last] === 'string') {
      const merged = (ch[last] as string) + t;
      if (merged.length > this.maxText) this.fail('xml.text', `text longer than ${this.maxText} characters`);
      ch[last] = merged;
    } else ch.push(t as ElementChild);
  }

  /** Character data between `start` and `end`: entities resolved, line ends normalised. */
  private textValue(start: number, end: number, attr = false): string {
    const s = this.s;
    let amp = this.ampIn(start, end);
    if (amp < 0) return this.literal(s.slice(start, end), attr);
    // Literal runs are normalised before references are resolved: `&#13;` stays a CR, `&#9;` a tab.
    let out = '';
    let from = start;
    while (amp >= 0) {
      out += this.literal(s.slice(from, amp), attr);
      const r = this.reference(amp, end);
      if (r === null) {
        out += '&';
        from = amp + 1;
      } else {
        out += r.text;
        from = r.next;
      }
      amp = this.ampIn(from, end);
    }
    out += this.literal(s.slice(from, end), attr);
    return out;
  }

  /** Line ends → LF in text; in attribute values every literal whitespace char → space (XML §3.3.3). */
  private literal(t: string, attr: boolean): string {
    if (!attr) return this.hasCR ? normalizeNewlines(t) : t;
    return ATTR_WS_RE.test(t) ? t.replace(ATTR_WS_G, ' ') : t;
  }

  /** Attribute value: references resolved, literal whitespace characters become spaces. */
  private attrValue(start: number, end: number): string {
    const s = this.s;
    const lt = s.indexOf('<', start);
    if (lt >= 0 && lt < end) this.fail('xml.malformed', "'<' in attribute value", lt);
    return this.textValue(start, end, true);
  }

  /**
   * The reference starting at `amp`, or null for a bare '&' that starts no reference (accepted as
   * a literal '&' in liberal mode: real servers send `MAXDT=15&DR=1`).
   */
  private reference(amp: number, end: number): { text: string; next: number } | null {
    const s = this.s;
    const b = this.b;
    const c = b[amp + 1]!;
    if (c === 0x23) {
      // &#...; or &#x...;
      const hex = b[amp + 2]! === 0x78;
      let p = amp + (hex ? 3 : 2);
      const digitsStart = p;
      let code = 0;
      for (; p < end; p++) {
        const d = b[p]!;
        let v: number;
        if (d >= 0x30 && d <= 0x39) v = d - 0x30;
        else if (hex && d >= 0x61 && d <= 0x66) v = d - 0x57;
        else if (hex && d >= 0x41 && d <= 0x46) v = d - 0x37;
        else break;
        code = code * (hex ? 16 : 10) + v;
        if (code > 0x10ffff) this.fail('xml.entity', 'character reference out of range', amp);
      }
      if (p === digitsStart || b[p]! !== 0x3b) {
        if (this.strict) this.fail('xml.entity', "'&' that starts no valid reference", amp);
        return null;
      }
      if (!isXmlChar(code))
        this.fail(
          'xml.entity',
          `character reference to a character XML does not allow (U+${code.toString(16).toUpperCase()})`,
          amp,
        );
      return { text: String.fromCodePoint(code), next: p + 1 };
    }
    const nEnd = this.nameEnd(amp + 1);
    if (nEnd === amp + 1 || nEnd >= end || b[nEnd]! !== 0x3b) {
      if (this.strict) this.fail('xml.entity', "bare '&' (escape it as &amp;)", amp);
      return null;
    }
    const name = s.slice(amp + 1, nEnd);
    let t: string;
    switch (name) {
      case 'lt':
        t = '<';
        break;
      case 'gt':
        t = '>';
        break;
      case 'amp':
        t = '&';
        break;
      case 'quot':
        t = '"';
        break;
      case 'apos':
        t = "'";
        break;
      default:
        this.fail(
          'xml.entity',
          `undeclared entity &${name}; (only the 5 predefined entities are expanded)`,
          amp,
        );
    }
    return { text: t, next: nEnd + 1 };
  }
}

function isXmlChar(c: number): boolean {
  return (
    c === 0x9 ||
    c === 0xa ||
    c === 0xd ||
    (c >= 0x20 && c <= 0xd7ff) ||
    (c >= 0xe000 && c <= 0xfffd) ||
    (c >= 0x10000 && c <= 0x10ffff)
  );
}

const ATTR_WS_RE = /[\t\n\r]/;
const ATTR_WS_G = /\r\n|[\t\n\r]/g;

function normalizeNewlines(t: string): string {
  if (t.indexOf('\r') < 0) return t;
  return t.replace(/\r\n?/g, '\n');
}
