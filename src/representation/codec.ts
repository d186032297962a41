/**
 * The message codecs: bytes or text ↔ SyncML model, via the generic element tree.
 *
 * ```ts
 * const msg = decodeMessage(body, req.headers['content-type']); // XML or WBXML, auto-detected
 * const xml = encodeXml(reply);                                  // strict, compact, DTD order
 * const wbxml = encodeWbxmlMessage(reply);                       // WBXML 1.2, SyncML 1.2 public id
 * ```
 */
import type { Element } from './element.ts';
import { DecodeError } from './errors.ts';
import { elementToMessage, type ModelReadOptions } from './message/decode.ts';
import { messageToElement } from './message/encode.ts';
import { ContentType, type SyncML } from './model.ts';
import { decodeWbxml, encodeWbxml, type WbxmlEncodeOptions, type WbxmlLimits } from './wbxml/index.ts';
import { toXmlForm } from './xml-form.ts';
import type { XmlReadOptions } from './xml/limits.ts';
import { parseXmlElement } from './xml/reader.ts';
import { type XmlWriteOptions, writeXmlElement } from './xml/writer.ts';

export interface DecodeOptions extends XmlReadOptions, ModelReadOptions {
  /**
   * Limits for WBXML input. When absent, `maxBytes`, `maxDepth` and `maxElements` given for XML
   * apply to WBXML too (WBXML's own defaults otherwise).
   */
  readonly wbxml?: WbxmlLimits;
}

/** Decodes an XML SyncML DM message. @throws DecodeError (`xml.*`, `syncml.*`) */
export function decodeXml(input: string | Uint8Array, options?: DecodeOptions): SyncML {
  return elementToMessage(parseXmlElement(input, options), options);
}

/**
 * Encodes a message as XML: strict, compact (or `pretty`), elements in DTD order. OPAQUE Data
 * (from WBXML) is put in XML form first: nested WBXML documents inline, binary as base64 with
 * Format b64, text as text (see xml-form.ts). @throws EncodeError
 */
export function encodeXml(msg: SyncML, options?: XmlWriteOptions): string {
  return writeXmlElement(messageToElement(toXmlForm(msg)), options);
}

/** Decodes a WBXML SyncML DM message. @throws DecodeError (`wbxml.*`, `syncml.*`) */
export function decodeWbxmlMessage(bytes: Uint8Array, options?: DecodeOptions): SyncML {
  return elementToMessage(decodeWbxmlRoot(bytes, wbxmlLimits(options)), options);
}

/** Encodes a message as WBXML (default WBXML 1.2, public id from VerDTD, no string table). @throws EncodeError */
export function encodeWbxmlMessage(msg: SyncML, options?: WbxmlEncodeOptions): Uint8Array {
  return encodeWbxml(messageToElement(msg), options);
}

/** The two wire forms of a DM message. */
export type Encoding = 'xml' | 'wbxml';

/**
 * Which encoding bytes are in: WBXML documents start with their version byte (0x00–0x03), XML
 * with `<`, a BOM or whitespace. The content type is only a hint (libdmclient sends the DS type;
 * peers mislabel), the bytes decide. Returns null for neither.
 */
export function detectEncoding(bytes: Uint8Array, contentType?: string): Encoding | null {
  if (bytes.length === 0) return null;
  const b = bytes[0]!;
  if (b <= 0x03) return 'wbxml';
  if (b === 0x3c || b === 0xef || b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d) return 'xml';
  const ct = contentType?.toLowerCase() ?? '';
  if (ct.includes('wbxml')) return 'wbxml';
  if (ct.includes('xml')) return 'xml';
  return null;
}

/**
 * Decodes a DM message in either encoding, detected from the bytes (the content type, e.g.
 * `application/vnd.syncml.dm+wbxml`, is a hint only).
 * @throws DecodeError (`input.unknown`, `xml.*`, `wbxml.*`, `syncml.*`)
 */
export function decodeMessage(bytes: Uint8Array, contentType?: string, options?: DecodeOptions): SyncML {
  const enc = detectEncoding(bytes, contentType);
  if (enc === 'wbxml') return decodeWbxmlMessage(bytes, options);
  if (enc === 'xml') {
    const charset = options?.charset ?? charsetOf(contentType);
    return decodeXml(bytes, charset === undefined ? options : { ...options, charset });
  }
  throw new DecodeError('input.unknown', 'input is neither XML nor WBXML', 0);
}

/** The `charset` parameter of a Content-Type, if any. */
export function charsetOf(contentType: string | undefined): string | undefined {
  if (!contentType) return undefined;
  const m = /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(contentType);
  return m ? m[1] : undefined;
}

/** Encodes a message for a content type: `…+wbxml` types give WBXML, everything else XML bytes. */
export function encodeMessage(msg: SyncML, contentType: string = ContentType.DmXml): Uint8Array {
  if (contentType.toLowerCase().includes('wbxml')) return encodeWbxmlMessage(msg);
  return Buffer.from(encodeXml(msg), 'utf8');
}

function wbxmlLimits(options: DecodeOptions | undefined): WbxmlLimits | undefined {
  if (!options) return undefined;
  if (options.wbxml) return options.wbxml;
  const { maxBytes, maxDepth, maxElements } = options;
  if (maxBytes === undefined && maxDepth === undefined && maxElements === undefined) return undefined;
  const limits: WbxmlLimits = {};
  if (maxBytes !== undefined) limits.maxBytes = maxBytes;
  if (maxDepth !== undefined) limits.maxDepth = maxDepth;
  if (maxElements !== undefined) limits.maxElements = maxElements;
  return limits;
}

/** Decodes WBXML to the element tree. @throws DecodeError (WbxmlError, `wbxml.*` codes) */
export function decodeWbxmlRoot(bytes: Uint8Array, limits?: WbxmlLimits): Element {
  return decodeWbxml(bytes, limits).root;
}

/** Reads an XML or WBXML document (a message, a TNDS tree, …) into the element tree. */
export function parseElement(bytes: Uint8Array, options?: DecodeOptions): Element {
  const enc = detectEncoding(bytes);
  if (enc === 'wbxml') return decodeWbxmlRoot(bytes, wbxmlLimits(options));
  if (enc === 'xml') return parseXmlElement(bytes, options);
  throw new DecodeError('input.unknown', 'input is neither XML nor WBXML', 0);
}
