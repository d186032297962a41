/**
 * TNDS documents (`application/vnd.syncml.dmtnds+xml` / `+wbxml`) ↔ the MgmtTree model.
 *
 * Input is whatever a SyncML Item's Data held: the MgmtTree element inline (XML, or WBXML code
 * page 2 as the Motorola RTK writes it), escaped XML text, or an OPAQUE nested WBXML document
 * (as libwbxml writes it). All of it is hostile: sizes, depth and node counts are bounded.
 */
import type { Element, ElementChild } from '../../representation/element.ts';
import { DecodeError } from '../../representation/errors.ts';
import { decodeWbxml, WbxmlError, type WbxmlLimits } from '../../representation/wbxml/index.ts';
import { encodeWbxml } from '../../representation/wbxml/encode.ts';
import type { XmlReadOptions } from '../../representation/xml/limits.ts';
import { parseXmlElement } from '../../representation/xml/reader.ts';
import { writeXmlElement } from '../../representation/xml/writer.ts';
import { MgmtTreeError, MgmtTreeErrorCode } from '../ddf/errors.ts';
import { DDF_NAMESPACE, type MgmtNode, type MgmtTree, TNDS_WBXML_TYPE, TNDS_XML_TYPE } from '../ddf/model.ts';
import { readMgmtTree } from '../ddf/read.ts';
import { writeMgmtTree } from '../ddf/write.ts';

export interface TndsReadOptions {
  /** Most Node elements (default 10 000). */
  maxNodes?: number;
  /** Deepest Node nesting (default 32). */
  maxDepth?: number;
  /** Largest document in bytes (default 1 MiB). */
  maxBytes?: number;
}

const DEFAULTS = { maxNodes: 10_000, maxDepth: 32, maxBytes: 1024 * 1024 } as const;

function isEl(child: ElementChild): child is Element {
  return typeof child === 'object' && !(child instanceof Uint8Array);
}

/** True when bytes look like a WBXML document (version byte 0x00–0x03) rather than XML text. */
export function looksLikeWbxml(bytes: Uint8Array): boolean {
  return bytes.length > 0 && bytes[0]! <= 0x03;
}

function fromText(text: string | Uint8Array, o: Required<TndsReadOptions>): Element {
  const xml: XmlReadOptions = {
    maxBytes: o.maxBytes,
    maxDepth: o.maxDepth * 4 + 8,
    maxElements: o.maxNodes * 24,
  };
  try {
    return parseXmlElement(text, xml);
  } catch (err) {
    if (err instanceof DecodeError) {
      const limit = ['xml.size', 'xml.depth', 'xml.elements', 'xml.attributes', 'xml.text'].includes(
        err.code,
      );
      throw new MgmtTreeError(
        limit ? MgmtTreeErrorCode.TooLarge : MgmtTreeErrorCode.Malformed,
        `TNDS is not well-formed XML: ${err.message}`,
      );
    }
    throw err;
  }
}

function fromWbxml(bytes: Uint8Array, o: Required<TndsReadOptions>): Element {
  const limits: WbxmlLimits = {
    maxBytes: o.maxBytes,
    maxDepth: o.maxDepth * 4 + 8,
    maxElements: o.maxNodes * 24,
  };
  try {
    return decodeWbxml(bytes, limits).root;
  } catch (err) {
    if (err instanceof WbxmlError || err instanceof DecodeError) {
      const limit = /size|depth|elements/.test(err.code);
      throw new MgmtTreeError(
        limit ? MgmtTreeErrorCode.TooLarge : MgmtTreeErrorCode.Malformed,
        `TNDS is not valid WBXML: ${err.message}`,
      );
    }
    throw err;
  }
}

/** Find the MgmtTree element in a document root, a SyncML Data element or Data's children. */
function mgmtTreeElement(input: string | Uint8Array | Element, o: Required<TndsReadOptions>): Element {
  if (typeof input === 'string') {
    if (input.length > o.maxBytes)
      throw new MgmtTreeError(MgmtTreeErrorCode.TooLarge, 'TNDS larger than the limit');
    return fromText(input, o);
  }
  if (input instanceof Uint8Array) {
    if (input.length > o.maxBytes)
      throw new MgmtTreeError(MgmtTreeErrorCode.TooLarge, 'TNDS larger than the limit');
    return looksLikeWbxml(input) ? fromWbxml(input, o) : fromText(input, o);
  }
  if (input.name === 'MgmtTree') return input;
  // A Data element: an inline MgmtTree, or text/opaque content holding a document.
  const inline = input.children.find(isEl);
  if (inline) return mgmtTreeElement(inline, o);
  const opaque = input.children.filter((c): c is Uint8Array => c instanceof Uint8Array);
  if (opaque.length === 1) return mgmtTreeElement(opaque[0]!, o);
  const text = input.children.filter((c): c is string => typeof c === 'string').join('');
  if (text.trim() === '')
    throw new MgmtTreeError(MgmtTreeErrorCode.MissingElement, 'no TNDS document in Data');
  return mgmtTreeElement(text.trim(), o);
}

/**
 * Parse a TNDS document: XML text or bytes, WBXML bytes, an `MgmtTree` element, or the SyncML
 * `Data` element carrying one. @throws MgmtTreeError (`status` 400 malformed, 413 too large)
 */
export function parseTnds(input: string | Uint8Array | Element, options: TndsReadOptions = {}): MgmtTree {
  const o: Required<TndsReadOptions> = { ...DEFAULTS, ...stripUndefined(options) };
  const root = mgmtTreeElement(input, o);
  return readMgmtTree(root, { kind: 'tnds', maxNodes: o.maxNodes, maxDepth: o.maxDepth });
}

function stripUndefined(o: TndsReadOptions): TndsReadOptions {
  const out: TndsReadOptions = {};
  if (o.maxNodes !== undefined) out.maxNodes = o.maxNodes;
  if (o.maxDepth !== undefined) out.maxDepth = o.maxDepth;
  if (o.maxBytes !== undefined) out.maxBytes = o.maxBytes;
  return out;
}

/** The `MgmtTree` element of a TNDS (namespace `syncml:dmddf1.2`), e.g. to put inline in a SyncML Data. */
export function tndsToElement(tree: MgmtTree): Element {
  return writeMgmtTree(tree, { ns: DDF_NAMESPACE });
}

export interface TndsXmlOptions {
  pretty?: boolean;
  /** Write `<?xml …?>` and the DDF DOCTYPE (default false: the form embedded in Data). */
  doctype?: boolean;
}

/** XML cannot carry raw bytes: binary Values are written base64 (the reader decodes a `bin` Value back). */
function base64Values(tree: MgmtTree): MgmtTree {
  const fix = (n: MgmtNode): MgmtNode => ({
    ...n,
    children: n.children.map(fix),
    ...(n.value instanceof Uint8Array
      ? { value: Buffer.from(n.value.buffer, n.value.byteOffset, n.value.byteLength).toString('base64') }
      : {}),
  });
  return { ...tree, nodes: tree.nodes.map(fix) };
}

/** A TNDS as XML text (MIME `application/vnd.syncml.dmtnds+xml`). */
export function tndsToXml(tree: MgmtTree, options: TndsXmlOptions = {}): string {
  const body = writeXmlElement(tndsToElement(base64Values(tree)), { pretty: options.pretty ?? false });
  if (!options.doctype) return body;
  return `<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE MgmtTree PUBLIC "-//OMA//DTD-DM-DDF 1.2//EN" "http://www.openmobilealliance.org/tech/DTD/dm_ddf-v1_2.dtd">\n${body}`;
}

/** A TNDS as a WBXML document (MIME `application/vnd.syncml.dmtnds+wbxml`), code page 2, FPI in the string table. */
export function tndsToWbxml(tree: MgmtTree): Uint8Array {
  return encodeWbxml(tndsToElement(tree), { version: 0x02 });
}

export { TNDS_WBXML_TYPE, TNDS_XML_TYPE };
