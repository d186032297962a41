/**
 * Errors of the representation layer. Each carries a stable `code` (for programs and logs) and,
 * for decoding, the byte `offset` in the input where the problem was seen (-1 when not tied to a
 * position, e.g. a missing SyncHdr element found while building the model).
 */

/** Stable codes of decoding failures. Bands: `xml.*`, `wbxml.*`, `syncml.*`, `input.*`. */
export const DecodeErrorCode = {
  /** Not well-formed XML: bad syntax, mismatched or unclosed tags, junk after the root. */
  XmlMalformed: 'xml.malformed',
  /** An entity reference that is not one of the 5 predefined or a numeric one; a bad char ref. */
  XmlEntity: 'xml.entity',
  /** A DOCTYPE with an internal subset (entity declarations are refused), or a bad DOCTYPE. */
  XmlDoctype: 'xml.doctype',
  /** Element nesting deeper than the limit. */
  XmlDepth: 'xml.depth',
  /** Input larger than the byte limit. */
  XmlSize: 'xml.size',
  /** More elements than the limit. */
  XmlElements: 'xml.elements',
  /** More attributes on one element than the limit, or a duplicate attribute. */
  XmlAttributes: 'xml.attributes',
  /** A text node (or attribute value) longer than the limit. */
  XmlText: 'xml.text',
  /** Undeclared namespace prefix. */
  XmlNamespace: 'xml.namespace',
  /** Input bytes are not valid UTF-8, or the declaration names an unsupported encoding. */
  XmlEncoding: 'xml.encoding',
  // The wbxml.* codes are those of WbxmlError (wbxml/errors.ts); decodeMessage carries them over.
  /** Input ends inside a token, or a length runs past the end. */
  WbxmlTruncated: 'wbxml.truncated',
  /** mb_u_int32 longer than 5 bytes or above 2^32-1. */
  WbxmlMbUint: 'wbxml.mbuint',
  /** Unsupported WBXML version byte. */
  WbxmlVersion: 'wbxml.version',
  /** Charset other than UTF-8 (MIBenum 106). */
  WbxmlCharset: 'wbxml.charset',
  /** Unknown or misplaced token. */
  WbxmlToken: 'wbxml.token',
  /** SWITCH_PAGE to a code page the document type does not define. */
  WbxmlPage: 'wbxml.page',
  /** A tag with no name in the current code page. */
  WbxmlTag: 'wbxml.tag',
  /** String-table reference outside the table, or an entry without terminator. */
  WbxmlStringTable: 'wbxml.strtbl',
  /** Element nesting deeper than the limit. */
  WbxmlDepth: 'wbxml.depth',
  /** Input, opaque or string larger than the limit. */
  WbxmlSize: 'wbxml.size',
  /** More elements than the limit. */
  WbxmlElements: 'wbxml.elements',
  /** Attributes (SyncML DM defines none). */
  WbxmlAttribute: 'wbxml.attribute',
  /** The public id names another document type (e.g. DevInf): not a SyncML DM or DM DDF document. */
  WbxmlPublicId: 'wbxml.publicid',
  /** Root is not `SyncML`, or SyncHdr/SyncBody missing or misplaced. */
  SyncmlStructure: 'syncml.structure',
  /** A required element is missing (e.g. SyncHdr/MsgID). */
  SyncmlMissing: 'syncml.missing',
  /** An element has a value of the wrong kind (non-numeric MaxMsgSize, Status Data, …). */
  SyncmlValue: 'syncml.value',
  /** Neither XML nor WBXML, or an unsupported content type. */
  InputUnknown: 'input.unknown',
} as const;
export type DecodeErrorCode = (typeof DecodeErrorCode)[keyof typeof DecodeErrorCode];

/** Stable codes of encoding failures. */
export const EncodeErrorCode = {
  /** An element name is not valid XML, or text contains characters XML cannot carry. */
  XmlInvalid: 'xml.invalid',
  /** WBXML encoding failed (WbxmlError `wbxml.encode`: a tag without a token, …). */
  WbxmlEncode: 'wbxml.encode',
  /** The message model is missing something mandatory or holds an impossible value. */
  SyncmlInvalid: 'syncml.invalid',
} as const;
export type EncodeErrorCode = (typeof EncodeErrorCode)[keyof typeof EncodeErrorCode];

/** Input could not be decoded. `offset` is the byte offset in the input, or -1. */
export class DecodeError extends Error {
  readonly code: DecodeErrorCode;
  readonly offset: number;
  /** Element path where a model error was found, e.g. `SyncML/SyncBody/Status[2]/Data`. */
  readonly path: string | undefined;
  constructor(code: DecodeErrorCode, message: string, offset = -1, path?: string) {
    super(offset >= 0 ? `${message} (at byte ${offset})` : path ? `${message} (at ${path})` : message);
    this.name = 'DecodeError';
    this.code = code;
    this.offset = offset;
    this.path = path;
  }
}

/** A message or element tree could not be encoded. */
export class EncodeError extends Error {
  readonly code: EncodeErrorCode;
  /** Element path of the offending element, when known. */
  readonly path: string | undefined;
  constructor(code: EncodeErrorCode, message: string, path?: string) {
    super(path ? `${message} (at ${path})` : message);
    this.name = 'EncodeError';
    this.code = code;
    this.path = path;
  }
}
