/**
 * Errors of the WBXML codec: a stable `code` for programs, and the byte offset where decoding
 * stopped. Codes: wbxml.truncated, wbxml.mbuint, wbxml.version, wbxml.charset, wbxml.token,
 * wbxml.page, wbxml.tag, wbxml.strtbl, wbxml.depth, wbxml.size, wbxml.elements, wbxml.attribute,
 * wbxml.encode.
 */
export type WbxmlErrorCode =
  | 'wbxml.truncated'
  | 'wbxml.mbuint'
  | 'wbxml.version'
  | 'wbxml.charset'
  | 'wbxml.token'
  | 'wbxml.page'
  | 'wbxml.tag'
  | 'wbxml.strtbl'
  | 'wbxml.depth'
  | 'wbxml.size'
  | 'wbxml.elements'
  | 'wbxml.attribute'
  | 'wbxml.encode';

export class WbxmlError extends Error {
  readonly code: WbxmlErrorCode;
  /** Byte offset in the input where the problem was found (-1 when not about input bytes). */
  readonly offset: number;
  constructor(code: WbxmlErrorCode, message: string, offset = -1) {
    super(offset >= 0 ? `${message} (at byte ${offset})` : message);
    this.name = 'WbxmlError';
    this.code = code;
    this.offset = offset;
  }
}
