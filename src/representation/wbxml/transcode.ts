/**
 * WBXML → XML text in one pass, without building the element tree: what a gateway or a log viewer
 * needs. The output is exactly `writeXmlElement(decodeWbxml(bytes).root)` (compact; xmlns where the
 * namespace changes; OPAQUE as UTF-8 text when it is valid XML text, base64 otherwise), and the
 * same limits and typed errors apply.
 */
import { Buffer } from 'node:buffer';
import { EncodeError } from '../errors.ts';
import { escapeAttr, escapeText } from '../xml/writer.ts';
import { DEFAULT_WBXML_LIMITS, parseAttributes, readHeader, type WbxmlLimits } from './decode.ts';
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

/** Transcodes a WBXML document to compact XML text. @throws DecodeError (`wbxml.*`), EncodeError (`xml.invalid`) */
export function wbxmlToXml(bytes: Uint8Array, limits?: WbxmlLimits): string {
  const { r, header } = readHeader(bytes, limits?.maxBytes ?? DEFAULT_WBXML_LIMITS.maxBytes);
  const maxDepth = limits?.maxDepth ?? DEFAULT_WBXML_LIMITS.maxDepth;
  const maxElements = limits?.maxElements ?? DEFAULT_WBXML_LIMITS.maxElements;
  const pages = header.pages;
  const buf = r.bytes;
  const end = r.end;
  let page = pages[0]!;
  let tags = page.tags;
  const names: string[] = [];
  const nss: string[] = [];
  let out = '';
  /** The innermost start tag still lacks its '>' (an element with no content yet is written `<x/>`). */
  let pending = false;
  let rootSeen = false;
  let elements = 0;
  const path = () => names.join('/');

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
        continue;
      }
      case Token.END: {
        const name = names.pop();
        if (name === undefined) throw new WbxmlError('wbxml.token', 'END outside any element', at);
        nss.pop();
        out += pending ? '/>' : `</${name}>`;
        pending = false;
        continue;
      }
      case Token.STR_I:
        t = r.inlineString();
        break;
      case Token.STR_T:
        t = r.tableString(r.mbUint32(), at);
        break;
      case Token.ENTITY: {
        const code = r.mbUint32();
        if (code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) {
          throw new WbxmlError('wbxml.token', `ENTITY ${code} is not a Unicode scalar value`, at);
        }
        t = String.fromCodePoint(code);
        break;
      }
      case Token.OPAQUE: {
        if (names.length === 0) throw new WbxmlError('wbxml.token', 'OPAQUE outside any element', at);
        const o = r.opaque();
        if (pending) {
          out += '>';
          pending = false;
        }
        out += opaqueText(o);
        continue;
      }
      case Token.PI:
        parseAttributes(r, tags, at);
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
        throw new WbxmlError(
          'wbxml.token',
          `extension token 0x${tok.toString(16)} is not defined for SyncML`,
          at,
        );
    }
    if (t !== undefined) {
      if (names.length === 0) throw new WbxmlError('wbxml.token', 'text outside any element', at);
      if (t.length === 0) continue;
      if (pending) {
        out += '>';
        pending = false;
      }
      out += checkedText(t, names);
      continue;
    }
    // A tag.
    const low = tok & TAG_MASK;
    let name: string | undefined;
    if (low === Token.LITERAL) {
      name = r.tableString(r.mbUint32(), at);
      if (!NAME_RE.test(name)) throw new EncodeError('xml.invalid', `invalid XML name "${name}"`, path());
    } else {
      name = tags[low];
      if (name === undefined) {
        throw new WbxmlError(
          'wbxml.tag',
          `unknown tag token 0x${low.toString(16)} on code page ${page.page}`,
          at,
        );
      }
    }
    if (++elements > maxElements)
      throw new WbxmlError('wbxml.elements', `more than ${maxElements} elements`, at);
    if (names.length === 0) {
      if (rootSeen) throw new WbxmlError('wbxml.token', 'a second root element', at);
      rootSeen = true;
    }
    if (pending) out += '>';
    const parentNs = nss.length > 0 ? nss[nss.length - 1]! : '';
    out += page.ns !== parentNs ? `<${name} xmlns="${escapeAttr(page.ns)}"` : `<${name}`;
    if ((tok & TAG_ATTRIBUTES) !== 0) {
      const attrs = parseAttributes(r, tags, at);
      if (attrs !== undefined) {
        for (const k of Object.keys(attrs)) {
          if (!ATTR_NAME_RE.test(k) || k === 'xmlns' || k.startsWith('xmlns:')) {
            throw new EncodeError('xml.invalid', `invalid attribute name "${k}"`, path());
          }
          const v = attrs[k]!;
          if (FORBIDDEN_RE.test(v) || !v.isWellFormed()) {
            throw new EncodeError('xml.invalid', 'text contains characters XML 1.0 cannot carry', path());
          }
          out += ` ${k}="${escapeAttr(v)}"`;
        }
      }
    }
    if ((tok & TAG_CONTENT) !== 0) {
      if (names.length >= maxDepth)
        throw new WbxmlError('wbxml.depth', `elements nested deeper than ${maxDepth}`, at);
      names.push(name);
      nss.push(page.ns);
      pending = true;
    } else {
      out += '/>';
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
  return out;
}
