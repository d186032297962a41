/**
 * Element tree → XML text. Strict: names are checked, text is escaped (or put in CDATA), characters
 * XML 1.0 cannot carry are refused. Compact by default; `pretty` indents element-only content and
 * never touches text, so pretty output decodes to the same tree.
 *
 * Namespaces are written as default-namespace declarations (`xmlns="…"`), only where the
 * effective namespace differs from the parent's (so MetInf children each carry
 * `xmlns="syncml:metinf"`, like every DM peer writes them).
 */
import { type Element, type ElementChild, isElement } from '../element.ts';
import { EncodeError } from '../errors.ts';

export interface XmlWriteOptions {
  /** Indent element-only content (default false: compact). */
  readonly pretty?: boolean;
  /** Indentation unit when pretty (default two spaces). */
  readonly indent?: string;
  /** Start with `<?xml version="1.0" encoding="UTF-8"?>` (default false; DM peers do not need it). */
  readonly declaration?: boolean;
  /**
   * How text is protected: `escape` (default) escapes `&`, `<`, `>`; `cdata` wraps text containing
   * markup characters in CDATA sections (readable embedded XML).
   */
  readonly text?: 'escape' | 'cdata';
  /**
   * Opaque bytes (from WBXML) cannot appear in XML as such. `utf8` (default) writes them as text
   * when they are valid UTF-8 XML characters and as base64 otherwise; `base64` always encodes.
   */
  readonly opaque?: 'utf8' | 'base64';
}

const NAME_RE = /^[A-Za-z_\u00C0-\uFFFF][A-Za-z0-9._\-\u00B7\u00C0-\uFFFF]*$/;
const validNames = new Set<string>();

function checkName(name: string, path: string): void {
  if (validNames.has(name)) return;
  if (!NAME_RE.test(name)) throw new EncodeError('xml.invalid', `invalid XML name "${name}"`, path);
  if (validNames.size < 4096) validNames.add(name);
}

// Characters XML 1.0 cannot carry at all (even as references), and lone surrogates.
const FORBIDDEN_RE = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/;
const TEXT_SPECIAL_RE = /[&<>\r]/;
const TEXT_SPECIAL_G = /[&<>\r]/g;
const ATTR_SPECIAL_RE = /[&<>"\r\n\t]/;
const ATTR_SPECIAL_G = /[&<>"\r\n\t]/g;
const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  '\r': '&#13;',
  '\n': '&#10;',
  '\t': '&#9;',
};
const escapeChar = (c: string): string => ESCAPES[c]!;

/** Escapes character data for use between tags. */
export function escapeText(t: string): string {
  return TEXT_SPECIAL_RE.test(t) ? t.replace(TEXT_SPECIAL_G, escapeChar) : t;
}

/** Escapes an attribute value for use in double quotes. */
export function escapeAttr(t: string): string {
  return ATTR_SPECIAL_RE.test(t) ? t.replace(ATTR_SPECIAL_G, escapeChar) : t;
}

/**
 * One pass over a text value: 0 = write as is, 1 = needs escaping, -1 = holds a character the
 * regex checks must look at (a control character XML cannot carry, a surrogate, U+FFFE/U+FFFF).
 * Cheaper than the three regex/isWellFormed scans for the short values DM messages are made of.
 */
function scanText(t: string): number {
  let r = 0;
  for (let i = 0; i < t.length; i++) {
    const c = t.charCodeAt(i);
    if (c < 0x20) {
      if (c === 0x0d) r = 1;
      else if (c !== 0x09 && c !== 0x0a) return -1;
    } else if (c === 0x26 || c === 0x3c || c === 0x3e) r = 1;
    else if (c >= 0xd800 && (c <= 0xdfff || c >= 0xfffe)) return -1;
  }
  return r;
}

function cdata(t: string): string {
  if (t.indexOf('\r') >= 0) return escapeText(t); // CDATA cannot keep a CR through line-end normalisation
  // `]]>` cannot appear inside CDATA: split it across two sections.
  return `<![CDATA[${t.replaceAll(']]>', ']]]]><![CDATA[>')}]]>`;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function opaqueText(bytes: Uint8Array, mode: 'utf8' | 'base64'): string {
  if (mode === 'utf8') {
    try {
      const t = utf8.decode(bytes);
      if (!FORBIDDEN_RE.test(t) && t.charCodeAt(0) !== 0xfeff) return t;
    } catch {
      // not UTF-8: fall through to base64
    }
  }
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/** Writes an element tree as an XML document. @throws EncodeError `xml.invalid`. */
export function writeXmlElement(root: Element, options?: XmlWriteOptions): string {
  const w = new Writer(options);
  let out = options?.declaration ? '<?xml version="1.0" encoding="UTF-8"?>' : '';
  if (w.pretty && out) out += '\n';
  out += w.element(root, '', 0);
  return w.pretty ? `${out}\n` : out;
}

class Writer {
  readonly pretty: boolean;
  private readonly indent: string;
  private readonly cdata: boolean;
  private readonly opaque: 'utf8' | 'base64';
  /**
   * Names of the elements being written, root first. An error's path (`SyncML/SyncBody/Add`) is
   * joined from it only when there is an error, instead of concatenating a path per element.
   */
  private readonly names: string[];
  /** The compact writer for mixed content (this one when not pretty), made on first need. */
  private compact: Writer | null;

  constructor(o?: XmlWriteOptions, names: string[] = []) {
    this.pretty = o?.pretty === true;
    this.indent = o?.indent ?? '  ';
    this.cdata = o?.text === 'cdata';
    this.opaque = o?.opaque ?? 'utf8';
    this.names = names;
    this.compact = this.pretty ? null : this;
  }

  private path(): string {
    return this.names.join('/');
  }

  element(el: Element, parentNs: string, level: number): string {
    const name = el.name;
    const names = this.names;
    names.push(name);
    if (!validNames.has(name)) checkName(name, this.path());
    let out = `<${name}`;
    if (el.ns !== parentNs) out += ` xmlns="${escapeAttr(el.ns)}"`;
    const attrs = el.attrs;
    if (attrs) {
      for (const k in attrs) {
        if (!Object.hasOwn(attrs, k)) continue;
        // Prefixed attributes carry their `xmlns:p` declaration in attrs (the reader keeps it);
        // the default namespace is the element's `ns`, never an attribute.
        if (!/^[A-Za-z_][A-Za-z0-9._-]*(:[A-Za-z_][A-Za-z0-9._-]*)?$/.test(k) || k === 'xmlns') {
          throw new EncodeError('xml.invalid', `invalid attribute name "${k}"`, this.path());
        }
        const v = attrs[k]!;
        this.checkText(v);
        out += ` ${k}="${escapeAttr(v)}"`;
      }
    }
    const children = el.children;
    const n = children.length;
    if (n === 0) {
      names.pop();
      return `${out}/>`;
    }
    out += '>';
    let elementOnly = this.pretty;
    if (elementOnly) {
      for (let i = 0; i < n; i++) {
        if (!isElement(children[i]!)) {
          elementOnly = false;
          break;
        }
      }
    }
    if (elementOnly) {
      const pad = `\n${this.indent.repeat(level + 1)}`;
      for (let i = 0; i < n; i++) out += pad + this.element(children[i] as Element, el.ns, level + 1);
      out += `\n${this.indent.repeat(level)}`;
    } else {
      for (let i = 0; i < n; i++) out += this.child(children[i]!, el.ns, level);
    }
    names.pop();
    return `${out}</${name}>`;
  }

  private checkText(t: string): void {
    if (FORBIDDEN_RE.test(t) || !t.isWellFormed()) {
      throw new EncodeError('xml.invalid', 'text contains characters XML 1.0 cannot carry', this.path());
    }
  }

  private child(c: ElementChild, ns: string, level: number): string {
    if (typeof c === 'string') {
      const scan = c.length <= 256 ? scanText(c) : -1;
      if (scan === 0) return c;
      if (scan < 0) this.checkText(c);
      if (this.cdata && TEXT_SPECIAL_RE.test(c)) return cdata(c);
      return escapeText(c);
    }
    if (c instanceof Uint8Array) {
      const t = opaqueText(c, this.opaque);
      return this.cdata && TEXT_SPECIAL_RE.test(t) ? cdata(t) : escapeText(t);
    }
    // Mixed content is written compactly whatever `pretty` says: indentation would change the text.
    this.compact ??= new Writer(
      { pretty: false, text: this.cdata ? 'cdata' : 'escape', opaque: this.opaque },
      this.names,
    );
    return this.compact.element(c, ns, level);
  }
}
