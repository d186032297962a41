/**
 * OMA Client Provisioning documents (objects.md §7.3): a small model, a
 * WBXML codec (PROV 1.0 code pages, public id 0x0B, UTF-8) and an XML
 * writer/reader. Decoders treat input as hostile (size and depth limits,
 * no DTD, no entities beyond XML's five).
 */
import { SaxesParser } from 'saxes';
import { CP_ATTR_START, CP_ATTR_VALUE, CP_PUBLIC_ID, CP_PUBLIC_ID_TEXT, CP_TAGS } from './cp-tables.ts';
import { BootstrapError, BootstrapErrorCode } from './errors.ts';

export interface CpParm {
  name: string;
  /** Absent for flag parameters such as INIT. */
  value?: string;
}

export interface CpCharacteristic {
  type: string;
  parms: CpParm[];
  characteristics: CpCharacteristic[];
}

export interface CpDocument {
  /** `wap-provisioningdoc` version attribute; default "1.0". */
  version?: string;
  characteristics: CpCharacteristic[];
}

/** Limits for decoding untrusted CP documents. */
export const CP_LIMITS = { maxBytes: 64 * 1024, maxDepth: 12, maxNodes: 20_000 } as const;

const fail = (message: string): never => {
  throw new BootstrapError(BootstrapErrorCode.BadCpDocument, message);
};

// ------------------------------------------------------------------ WBXML encode

const te = new TextEncoder();
const G = {
  SWITCH_PAGE: 0x00,
  END: 0x01,
  ENTITY: 0x02,
  STR_I: 0x03,
  LITERAL: 0x04,
  STR_T: 0x83,
  OPAQUE: 0xc3,
} as const;

/** Reverse lookup: "attr\u0000prefix" → [page, token]. */
const startIndex = new Map<string, [number, number][]>();
for (const [page, table] of Object.entries(CP_ATTR_START)) {
  for (const [tok, [attr, prefix]] of Object.entries(table)) {
    const key = `${attr}\u0000${prefix}`;
    const list = startIndex.get(key) ?? [];
    list.push([Number(page), Number(tok)]);
    startIndex.set(key, list);
  }
}
const valueIndex = new Map<string, [number, number][]>();
for (const [page, table] of Object.entries(CP_ATTR_VALUE)) {
  for (const [tok, text] of Object.entries(table)) {
    // Prefer the ProvCont 1.1 page-1 AAUTHTYPE tokens (0x90..) when encoding.
    if (page === '1' && Number(tok) >= 0x80 && Number(tok) <= 0x83) continue;
    const list = valueIndex.get(text) ?? [];
    list.push([Number(page), Number(tok)]);
    valueIndex.set(text, list);
  }
}

function mbUint(n: number): number[] {
  const out = [n & 0x7f];
  let v = n >>> 7;
  while (v > 0) {
    out.unshift((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  return out;
}

function strI(s: string): number[] {
  const b = te.encode(s);
  if (b.includes(0)) fail('CP strings may not contain NUL');
  return [G.STR_I, ...b, 0];
}

class Encoder {
  readonly out: number[] = [];
  attrPage = 0;

  /** Picks a token for (attr, prefix) preferring the current attribute page; switches page when needed. */
  start(attr: string, prefix: string): boolean {
    const hits = startIndex.get(`${attr}\u0000${prefix}`);
    if (!hits) return false;
    const hit = hits.find(([p]) => p === this.attrPage) ?? hits[0]!;
    this.page(hit[0]);
    this.out.push(hit[1]);
    return true;
  }

  page(p: number): void {
    if (p !== this.attrPage) {
      this.out.push(G.SWITCH_PAGE, p);
      this.attrPage = p;
    }
  }

  attr(attr: string, value: string): void {
    if (this.start(attr, value)) return;
    if (!this.start(attr, '')) fail(`no token for attribute ${attr}`);
    this.value(value);
  }

  value(value: string): void {
    const hits = valueIndex.get(value);
    const hit = hits?.find(([p]) => p === this.attrPage);
    if (hit) this.out.push(hit[1]);
    else this.out.push(...strI(value));
  }
}

function encodeCharacteristic(e: Encoder, c: CpCharacteristic): void {
  const hasContent = c.parms.length > 0 || c.characteristics.length > 0;
  e.out.push(0x06 | 0x80 | (hasContent ? 0x40 : 0));
  e.attr('type', c.type);
  e.out.push(G.END);
  for (const p of c.parms) {
    e.out.push(0x07 | 0x80);
    if (!e.start('name', p.name)) {
      e.start('name', '');
      e.out.push(...strI(p.name));
    }
    if (p.value !== undefined) {
      e.start('value', '');
      e.value(p.value);
    }
    e.out.push(G.END);
  }
  for (const child of c.characteristics) encodeCharacteristic(e, child);
  if (hasContent) e.out.push(G.END);
}

/** Encodes a CP document as WBXML 1.3, public id 0x0B, UTF-8, no string table. Tags stay on page 0. */
export function encodeCpWbxml(doc: CpDocument): Uint8Array {
  const e = new Encoder();
  e.out.push(0x03, ...mbUint(CP_PUBLIC_ID), 0x6a, 0x00);
  const hasContent = doc.characteristics.length > 0;
  e.out.push(0x05 | 0x80 | (hasContent ? 0x40 : 0));
  e.attr('version', doc.version ?? '1.0');
  e.out.push(G.END);
  for (const c of doc.characteristics) encodeCharacteristic(e, c);
  if (hasContent) e.out.push(G.END);
  return Uint8Array.from(e.out);
}

// ------------------------------------------------------------------ WBXML decode

interface RawElement {
  name: string;
  attrs: Record<string, string>;
  children: RawElement[];
}

const td = new TextDecoder('utf-8', { fatal: true });

class Decoder {
  readonly b: Uint8Array;
  pos = 0;
  tagPage = 0;
  attrPage = 0;
  strtbl: Uint8Array = new Uint8Array(0);
  nodes = 0;
  constructor(b: Uint8Array) {
    this.b = b;
  }
  byte(): number {
    if (this.pos >= this.b.byteLength) fail('truncated WBXML');
    return this.b[this.pos++]!;
  }
  mb(): number {
    let v = 0;
    for (let i = 0; i < 5; i++) {
      const c = this.byte();
      v = v * 128 + (c & 0x7f);
      if (!(c & 0x80)) return v;
    }
    return fail('mb_u_int32 too long');
  }
  cstr(): string {
    const start = this.pos;
    const end = this.b.indexOf(0, start);
    if (end < 0) fail('unterminated inline string');
    this.pos = end + 1;
    return this.decode(this.b.subarray(start, end));
  }
  tableStr(): string {
    const off = this.mb();
    if (off >= this.strtbl.byteLength) fail('string table reference out of range');
    const end = this.strtbl.indexOf(0, off);
    return this.decode(this.strtbl.subarray(off, end < 0 ? this.strtbl.byteLength : end));
  }
  decode(bytes: Uint8Array): string {
    try {
      return td.decode(bytes);
    } catch {
      return fail('string is not UTF-8');
    }
  }
  /** Reads attribute value parts until the next attribute start or END. */
  attrValue(): string {
    let v = '';
    for (;;) {
      if (this.pos >= this.b.byteLength) fail('truncated attributes');
      const t = this.b[this.pos]!;
      if (t === G.SWITCH_PAGE) {
        this.pos++;
        this.attrPage = this.byte();
      } else if (t === G.STR_I) {
        this.pos++;
        v += this.cstr();
      } else if (t === G.STR_T) {
        this.pos++;
        v += this.tableStr();
      } else if (t === G.ENTITY) {
        this.pos++;
        const cp = this.mb();
        if (cp > 0x10ffff) fail('bad entity');
        v += String.fromCodePoint(cp);
      } else if (t >= 0x80) {
        this.pos++;
        const text = CP_ATTR_VALUE[this.attrPage]?.[t];
        if (text === undefined)
          fail(`unknown attribute value token 0x${t.toString(16)} on page ${this.attrPage}`);
        v += text;
      } else return v;
      if (v.length > 4096) fail('attribute value too long');
    }
  }
  attrs(): Record<string, string> {
    const out: Record<string, string> = {};
    for (;;) {
      const t = this.byte();
      if (t === G.END) return out;
      if (t === G.SWITCH_PAGE) {
        this.attrPage = this.byte();
        continue;
      }
      let name: string;
      let prefix: string;
      if (t === G.LITERAL) {
        name = this.tableStr();
        prefix = '';
      } else if (t < 0x80) {
        const entry = CP_ATTR_START[this.attrPage]?.[t];
        if (!entry) fail(`unknown attribute token 0x${t.toString(16)} on page ${this.attrPage}`);
        [name, prefix] = entry!;
      } else return fail(`attribute value token 0x${t.toString(16)} without attribute`);
      out[name] = prefix + this.attrValue();
    }
  }
  element(depth: number): RawElement {
    if (depth > CP_LIMITS.maxDepth) fail('CP document nested too deeply');
    if (++this.nodes > CP_LIMITS.maxNodes) fail('CP document has too many elements');
    let t = this.byte();
    while (t === G.SWITCH_PAGE) {
      this.tagPage = this.byte();
      t = this.byte();
    }
    const id = t & 0x3f;
    let name: string | undefined;
    if (id === G.LITERAL) name = this.tableStr();
    else name = CP_TAGS[this.tagPage]?.[id];
    if (name === undefined) fail(`unknown tag 0x${t.toString(16)} on page ${this.tagPage}`);
    const el: RawElement = { name: name!, attrs: t & 0x80 ? this.attrs() : {}, children: [] };
    if (t & 0x40) {
      for (;;) {
        if (this.pos >= this.b.byteLength) fail('truncated WBXML: missing END');
        const c = this.b[this.pos]!;
        if (c === G.END) {
          this.pos++;
          break;
        }
        if (c === G.STR_I) {
          this.pos++;
          if (this.cstr().trim() !== '') fail('text content is not allowed in CP documents');
        } else if (c === G.STR_T || c === G.ENTITY || c === G.OPAQUE || c === 0x43 /* PI */) {
          fail(`unexpected token 0x${c.toString(16)} in element content`);
        } else el.children.push(this.element(depth + 1));
      }
    }
    return el;
  }
}

function toDocument(root: RawElement): CpDocument {
  if (root.name !== 'wap-provisioningdoc') fail(`root element is ${root.name}, not wap-provisioningdoc`);
  const characteristic = (el: RawElement): CpCharacteristic => {
    if (el.name !== 'characteristic') fail(`unexpected element ${el.name}`);
    const type = el.attrs.type;
    if (!type) fail('characteristic without type');
    const c: CpCharacteristic = { type: type!, parms: [], characteristics: [] };
    for (const child of el.children) {
      if (child.name === 'parm') {
        const name = child.attrs.name;
        if (!name) fail('parm without name');
        c.parms.push(
          child.attrs.value === undefined ? { name: name! } : { name: name!, value: child.attrs.value },
        );
      } else c.characteristics.push(characteristic(child));
    }
    return c;
  };
  const doc: CpDocument = { characteristics: root.children.map(characteristic) };
  if (root.attrs.version !== undefined) doc.version = root.attrs.version;
  return doc;
}

/** Decodes a CP WBXML document (typed `BootstrapError` `BOOTSTRAP_BAD_CP_DOCUMENT` on anything wrong). */
export function decodeCpWbxml(bytes: Uint8Array): CpDocument {
  if (bytes.byteLength > CP_LIMITS.maxBytes) fail('CP document too large');
  const d = new Decoder(bytes);
  const version = d.byte();
  if (version > 0x03) fail(`unsupported WBXML version 0x${version.toString(16)}`);
  const pub = d.mb();
  let pubText: string | undefined;
  let pubIndex = -1;
  if (pub === 0) pubIndex = d.mb();
  const charset = d.mb();
  if (charset !== 0x6a && charset !== 0x03 && charset !== 0x04)
    fail(`unsupported charset MIBenum ${charset}`);
  const tlen = d.mb();
  if (d.pos + tlen > bytes.byteLength) fail('string table beyond end');
  d.strtbl = bytes.subarray(d.pos, d.pos + tlen);
  d.pos += tlen;
  if (pubIndex >= 0) {
    if (pubIndex >= tlen) fail('public id string out of range');
    const end = d.strtbl.indexOf(0, pubIndex);
    pubText = d.decode(d.strtbl.subarray(pubIndex, end < 0 ? tlen : end));
  }
  // Liberal: public id 0x0B, its text form, or "unknown" (0x01) as some encoders emit.
  if (pub !== CP_PUBLIC_ID && pub !== 0x01 && pubText !== CP_PUBLIC_ID_TEXT)
    fail(`not a CP document (public id ${pub})`);
  const root = d.element(0);
  return toDocument(root);
}

// ------------------------------------------------------------------ XML

const escapeAttr = (s: string) =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!,
  );

/** Serialises a CP document as XML (text/vnd.wap.connectivity-xml). */
export function cpToXml(doc: CpDocument): string {
  const lines: string[] = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<!DOCTYPE wap-provisioningdoc PUBLIC "${CP_PUBLIC_ID_TEXT}" "http://www.wapforum.org/DTD/prov.dtd">`,
    `<wap-provisioningdoc version="${escapeAttr(doc.version ?? '1.0')}">`,
  ];
  const walk = (c: CpCharacteristic, indent: string) => {
    lines.push(`${indent}<characteristic type="${escapeAttr(c.type)}">`);
    for (const p of c.parms) {
      lines.push(
        p.value === undefined
          ? `${indent}  <parm name="${escapeAttr(p.name)}"/>`
          : `${indent}  <parm name="${escapeAttr(p.name)}" value="${escapeAttr(p.value)}"/>`,
      );
    }
    for (const child of c.characteristics) walk(child, `${indent}  `);
    lines.push(`${indent}</characteristic>`);
  };
  for (const c of doc.characteristics) walk(c, '  ');
  lines.push('</wap-provisioningdoc>', '');
  return lines.join('\n');
}

/** Parses CP XML. A DOCTYPE is tolerated (never fetched); entities other than XML's five are errors. */
export function parseCpXml(xml: string): CpDocument {
  if (xml.length > CP_LIMITS.maxBytes * 4) fail('CP document too large');
  const parser = new SaxesParser({ xmlns: false });
  const stack: RawElement[] = [];
  let root: RawElement | undefined;
  let nodes = 0;
  let error: Error | undefined;
  parser.on('error', (e) => {
    error ??= e;
  });
  parser.on('opentag', (tag) => {
    if (++nodes > CP_LIMITS.maxNodes || stack.length > CP_LIMITS.maxDepth) {
      error ??= new Error('CP document too large or too deep');
      return;
    }
    const el: RawElement = {
      name: tag.name,
      attrs: { ...(tag.attributes as Record<string, string>) },
      children: [],
    };
    if (stack.length > 0) stack[stack.length - 1]!.children.push(el);
    else root = el;
    stack.push(el);
  });
  parser.on('closetag', () => {
    stack.pop();
  });
  parser.on('text', (t) => {
    if (stack.length > 0 && t.trim() !== '')
      error ??= new Error('text content is not allowed in CP documents');
  });
  try {
    parser.write(xml).close();
  } catch (e) {
    error ??= e as Error;
  }
  if (error) fail(`CP XML: ${error.message}`);
  if (!root) fail('CP XML: no root element');
  return toDocument(root!);
}
