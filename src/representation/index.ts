/**
 * omadm/representation: the SyncML DM message model, its status/alert codes, the generic element
 * tree shared by the codecs, the XML and WBXML codecs, and the errors they raise.
 */
export type { Element, ElementChild } from './element.ts';
export { isElement } from './element.ts';
export * from './model.ts';
export * from './codes.ts';
export * from './errors.ts';
export {
  charsetOf,
  type DecodeOptions,
  decodeMessage,
  decodeWbxmlMessage,
  decodeWbxmlRoot,
  decodeXml,
  detectEncoding,
  type Encoding,
  encodeMessage,
  encodeWbxmlMessage,
  encodeXml,
  parseElement,
} from './codec.ts';
export { dataBytes, dataText, embeddedElement } from './data.ts';
export { elementToMessage, type ModelReadOptions, textOf } from './message/decode.ts';
export { messageToElement, syncmlNamespace } from './message/encode.ts';
export { DEFAULT_XML_LIMITS, type XmlLimits, type XmlReadOptions } from './xml/limits.ts';
export { parseXmlElement } from './xml/reader.ts';
export { escapeAttr, escapeText, type XmlWriteOptions, writeXmlElement } from './xml/writer.ts';
export { canonicalMessage, equivalentMessages } from './equivalence.ts';
export { toXmlForm } from './xml-form.ts';
// The WBXML layer (element tree ↔ bytes, one-pass WBXML → XML); docs/wbxml.md.
export {
  Charset,
  DEFAULT_WBXML_LIMITS,
  decodeWbxml,
  encodeWbxml,
  Fpi,
  LIBWBXML_OPTIONS,
  PublicId,
  TndsType,
  type WbxmlDocument,
  type WbxmlEncodeOptions,
  WbxmlError,
  type WbxmlErrorCode,
  type WbxmlLimits,
  WbxmlVersion,
  wbxmlToXml,
  wbxmlToXmlBytes,
} from './wbxml/index.ts';
