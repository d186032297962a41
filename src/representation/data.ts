/**
 * Reading `Data` values whatever form they arrived in (text, opaque bytes, embedded element), so
 * embedded XML/TNDS is available both raw and parsed:
 *
 * ```ts
 * const raw = dataText(item.Data);            // '<MgmtTree xmlns="syncml:dmddf1.2">…' for an element
 * const tree = embeddedElement(item.Data);    // Element, parsed from text/bytes when needed
 * ```
 */
import { parseElement } from './codec.ts';
import type { Element } from './element.ts';
import type { Data } from './model.ts';
import type { XmlReadOptions } from './xml/limits.ts';
import { parseXmlElement } from './xml/reader.ts';
import { writeXmlElement } from './xml/writer.ts';

const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });
const encoder = new TextEncoder();

/** The value as text: text as is, bytes as UTF-8, an element serialised as compact XML. */
export function dataText(data: Data | undefined): string {
  if (!data) return '';
  switch (data.kind) {
    case 'text':
      return data.text;
    case 'bytes':
      return utf8.decode(data.bytes);
    case 'element':
      return writeXmlElement(data.element);
  }
}

/**
 * The value as bytes: text as UTF-8 (Format b64 is NOT decoded here: use `Buffer.from(t,
 * 'base64')`), bytes as is, an element as its UTF-8 XML.
 */
export function dataBytes(data: Data | undefined): Uint8Array {
  if (!data) return new Uint8Array(0);
  if (data.kind === 'bytes') return data.bytes;
  return encoder.encode(dataText(data));
}

/**
 * The embedded document of a Data value (TNDS, DDF, any XML) as an element tree: the element
 * itself, or parsed from escaped/CDATA text or from opaque bytes (XML or a nested WBXML document).
 * Returns undefined when the value is empty or plainly not a document.
 * @throws DecodeError when it looks like a document but does not parse.
 */
export function embeddedElement(data: Data | undefined, options?: XmlReadOptions): Element | undefined {
  if (!data) return undefined;
  if (data.kind === 'element') return data.element;
  if (data.kind === 'bytes') {
    if (data.bytes.length === 0) return undefined;
    const b = data.bytes[0]!;
    if (b > 0x03 && b !== 0x3c && b !== 0xef && b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09)
      return undefined;
    return parseElement(data.bytes, options);
  }
  const t = data.text;
  let i = 0;
  while (i < t.length && (t.charCodeAt(i) <= 0x20 || t.charCodeAt(i) === 0xfeff)) i++;
  if (t.charCodeAt(i) !== 0x3c) return undefined;
  return parseXmlElement(t, options);
}
