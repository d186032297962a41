/**
 * The WBXML codec of SyncML DM: bytes ↔ the generic element tree (../element.ts).
 * Code pages SyncML (0), MetInf (1), DM DDF/TNDS (2); WBXML 1.1–1.3; UTF-8.
 */
export {
  Fpi,
  Namespace,
  PublicId,
  TndsType,
} from './code-pages.ts';
export { DEFAULT_WBXML_LIMITS, decodeWbxml, type WbxmlDocument, type WbxmlLimits } from './decode.ts';
export { encodeWbxml, LIBWBXML_OPTIONS, type WbxmlEncodeOptions } from './encode.ts';
export { wbxmlToXml, wbxmlToXmlBytes } from './transcode.ts';
export { WbxmlError, type WbxmlErrorCode } from './errors.ts';
export { readMbUint32, writeMbUint32 } from './mb-uint32.ts';
export { Charset, WbxmlVersion } from './tokens.ts';
