/**
 * DDF documents as text: parse a DM DDF 1.2 file into the typed model and write one back.
 */
import type { Element } from '../../representation/element.ts';
import { DecodeError } from '../../representation/errors.ts';
import type { XmlReadOptions } from '../../representation/xml/limits.ts';
import { parseXmlElement } from '../../representation/xml/reader.ts';
import { writeXmlElement } from '../../representation/xml/writer.ts';
import { MgmtTreeError, MgmtTreeErrorCode } from './errors.ts';
import { DDF_PUBLIC_ID, DDF_SYSTEM_ID, type Ddf } from './model.ts';
import { readMgmtTree } from './read.ts';
import { writeMgmtTree } from './write.ts';

export interface ParseDdfOptions {
  /** XML reader limits (bytes, depth, elements). */
  xml?: XmlReadOptions;
  /** Most Node elements (default 100 000). */
  maxNodes?: number;
  /** Deepest Node nesting (default 64). */
  maxDepth?: number;
}

/** Read a DDF from an already parsed `MgmtTree` element. @throws MgmtTreeError */
export function ddfFromElement(root: Element, options: ParseDdfOptions = {}): Ddf {
  return readMgmtTree(root, { kind: 'ddf', maxNodes: options.maxNodes, maxDepth: options.maxDepth }) as Ddf;
}

/** Parse a DDF document (XML text or bytes). @throws MgmtTreeError (XML problems as code `ddf.malformed`) */
export function parseDdf(input: string | Uint8Array, options: ParseDdfOptions = {}): Ddf {
  let root: Element;
  try {
    root = parseXmlElement(input, options.xml);
  } catch (err) {
    if (err instanceof DecodeError) {
      const limit = ['xml.size', 'xml.depth', 'xml.elements', 'xml.attributes', 'xml.text'].includes(
        err.code,
      );
      const code = limit ? MgmtTreeErrorCode.TooLarge : MgmtTreeErrorCode.Malformed;
      throw new MgmtTreeError(code, `DDF is not well-formed XML: ${err.message}`);
    }
    throw err;
  }
  return ddfFromElement(root, options);
}

export interface SerializeDdfOptions {
  /** Element namespace: '' (default, as OMA publishes DDF files) or `syncml:dmddf1.2`. */
  ns?: string;
  /** Indent (default true). */
  pretty?: boolean;
  /** Write the XML declaration and the DM DDF 1.2 DOCTYPE (default true). */
  doctype?: boolean;
}

/** The `MgmtTree` element of a DDF. */
export function ddfToElement(ddf: Ddf, options: { ns?: string } = {}): Element {
  return writeMgmtTree(ddf, { ns: options.ns ?? '' });
}

/** Write a DDF document as XML text. */
export function serializeDdf(ddf: Ddf, options: SerializeDdfOptions = {}): string {
  const body = writeXmlElement(ddfToElement(ddf, options), { pretty: options.pretty ?? true });
  if (options.doctype === false) return body;
  return `<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE MgmtTree PUBLIC "${DDF_PUBLIC_ID}" "${DDF_SYSTEM_ID}">\n${body}`;
}
