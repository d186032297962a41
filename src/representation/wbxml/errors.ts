/**
 * Decoding errors of the WBXML codec: DecodeErrors (../errors.ts) whose codes are the `wbxml.*`
 * band — wbxml.truncated, wbxml.mbuint, wbxml.version, wbxml.charset, wbxml.token, wbxml.page,
 * wbxml.tag, wbxml.strtbl, wbxml.depth, wbxml.size, wbxml.elements, wbxml.attribute — with the
 * byte offset where decoding stopped. Encoding failures are EncodeError `wbxml.encode`.
 */
import { DecodeError, type DecodeErrorCode } from '../errors.ts';

export type WbxmlErrorCode = Extract<DecodeErrorCode, `wbxml.${string}`>;

export class WbxmlError extends DecodeError {
  constructor(code: WbxmlErrorCode, message: string, offset = -1) {
    super(code, message, offset);
    this.name = 'WbxmlError';
  }
}
