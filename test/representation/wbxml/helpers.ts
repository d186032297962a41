/**
 * Test helpers for the WBXML codec: an independent XML → Element reader (saxes; used as the
 * oracle so WBXML tests do not depend on the XML codec under test), normalisation for
 * comparing trees, and libwbxml's command-line tools.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SaxesParser } from 'saxes';
import type { Element, ElementChild } from '../../../src/representation/element.ts';
import { decodeWbxml } from '../../../src/representation/wbxml/index.ts';

export const VECTORS = new URL('../../../../shared/vectors/', import.meta.url);

export function vector(path: string): Uint8Array {
  return new Uint8Array(readFileSync(new URL(path, VECTORS)));
}

/** XML text → Element, namespaces resolved; whitespace-only text between elements dropped. */
export function parseXml(xml: string): Element {
  const parser = new SaxesParser({ xmlns: true });
  const stack: Element[] = [];
  let root: Element | undefined;
  parser.on('opentag', (tag) => {
    const attrs: Record<string, string> = {};
    let n = 0;
    for (const a of Object.values(tag.attributes)) {
      if (a.prefix === 'xmlns' || a.name === 'xmlns') continue;
      attrs[a.local] = a.value;
      n++;
    }
    const el: Element = { name: tag.local, ns: tag.uri, children: [] };
    if (n > 0) el.attrs = attrs;
    if (stack.length > 0) stack[stack.length - 1]!.children.push(el);
    else root = el;
    stack.push(el);
  });
  const text = (t: string) => {
    if (stack.length === 0) return;
    const ch = stack[stack.length - 1]!.children;
    const last = ch[ch.length - 1];
    if (typeof last === 'string') ch[ch.length - 1] = last + t;
    else ch.push(t);
  };
  parser.on('text', text);
  parser.on('cdata', text);
  parser.on('closetag', () => {
    const el = stack.pop()!;
    if (el.children.some((c) => typeof c === 'object')) {
      el.children = el.children.filter((c) => typeof c !== 'string' || c.trim() !== '');
    }
  });
  parser.write(xml).close();
  if (root === undefined) throw new Error('no root');
  return root;
}

/**
 * Canonical form for comparing what the XML says with what the WBXML says: nested WBXML inside
 * OPAQUE Data is decoded (libwbxml writes TNDS that way), and `dmtnds+wbxml` reads as
 * `dmtnds+xml` (libwbxml relabels it), the way libwbxml's own wbxml2xml presents it.
 */
export function normalize(el: Element): Element {
  const children: ElementChild[] = [];
  for (const c of el.children) {
    if (typeof c === 'string') {
      children.push(c === 'application/vnd.syncml.dmtnds+wbxml' ? 'application/vnd.syncml.dmtnds+xml' : c);
    } else if (c instanceof Uint8Array) {
      if (el.name === 'Data' && c.length > 4 && c[0]! <= 3) {
        try {
          children.push(normalize(decodeWbxml(c).root));
          continue;
        } catch {
          // not a nested document
        }
      }
      // OPAQUE text (libwbxml writes Add/Replace item data so; libdmclient all Data): the model
      // layer reads it as UTF-8 text when the Format is not bin; so do we here.
      const s = el.name === 'Data' ? utf8OrUndefined(c) : undefined;
      const last = children[children.length - 1];
      if (s !== undefined && typeof last === 'string') children[children.length - 1] = last + s;
      else children.push(s ?? c);
    } else children.push(normalize(c));
  }
  const out: Element = { name: el.name, ns: el.ns, children };
  if (el.attrs !== undefined && Object.keys(el.attrs).length > 0) out.attrs = { ...el.attrs };
  return out;
}

function utf8OrUndefined(b: Uint8Array): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(b);
  } catch {
    return undefined;
  }
}

/** What an XML round trip does to text: line ends normalised to LF (XML 1.0 §2.11). */
export function xmlLineEnds(el: Element): Element {
  return {
    ...el,
    children: el.children.map((c) =>
      typeof c === 'string' ? c.replace(/\r\n?/g, '\n') : c instanceof Uint8Array ? c : xmlLineEnds(c),
    ),
  };
}

/** Whether libwbxml's tools are installed; tests that need them fail loudly when not. */
export function requireLibwbxmlTools(): void {
  const r = spawnSync('xml2wbxml', [], { encoding: 'utf8' });
  const s = spawnSync('wbxml2xml', [], { encoding: 'utf8' });
  if (r.error || s.error) {
    throw new Error(
      "libwbxml's xml2wbxml/wbxml2xml are not installed: apt-get install -y libwbxml2-utils " +
        '(CI installs them in .ci/run)',
    );
  }
}

function withTemp<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'omadm-wbxml-'));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs libwbxml's xml2wbxml with the given flags on an XML text. */
export function xml2wbxml(xml: string | Uint8Array, flags: string[]): Uint8Array {
  return withTemp((dir) => {
    const input = join(dir, 'in.xml');
    const output = join(dir, 'out.wbxml');
    writeFileSync(input, xml);
    execFileSync('xml2wbxml', [...flags, '-o', output, input], { stdio: 'pipe' });
    return new Uint8Array(readFileSync(output));
  });
}

/** Runs libwbxml's wbxml2xml on bytes and returns the XML text. */
export function wbxml2xml(bytes: Uint8Array): string {
  return withTemp((dir) => {
    const input = join(dir, 'in.wbxml');
    const output = join(dir, 'out.xml');
    writeFileSync(input, bytes);
    execFileSync('wbxml2xml', ['-o', output, input], { stdio: 'pipe' });
    return readFileSync(output, 'utf8');
  });
}

export function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}
