/**
 * The seam between the session engines and the byte codecs. Engines work on the typed model but
 * need bytes for three things: the exact message size (MaxMsgSize), the HMAC over the body, and
 * answering in the encoding the peer used. So they take a `MessageCodec` instead of importing a
 * codec, which also keeps them testable with any codec.
 */
import type { SyncML } from '../representation/index.ts';

export const Encoding = { Xml: 'xml', Wbxml: 'wbxml' } as const;
export type Encoding = (typeof Encoding)[keyof typeof Encoding];

/** Encodes and decodes whole SyncML messages. Decoders must treat input as hostile. */
export interface MessageCodec {
  encode(message: SyncML, encoding: Encoding): Uint8Array;
  decode(bytes: Uint8Array, encoding: Encoding): SyncML;
}

export const MediaType = {
  DmXml: 'application/vnd.syncml.dm+xml',
  DmWbxml: 'application/vnd.syncml.dm+wbxml',
  DsXml: 'application/vnd.syncml+xml',
  DsWbxml: 'application/vnd.syncml+wbxml',
} as const;
export type MediaType = (typeof MediaType)[keyof typeof MediaType];

/**
 * The encoding of a received `Content-Type` value (parameters ignored, case-insensitive). The DS
 * types are accepted because real DM clients (libdmclient) send them (protocol.md §8.1 [INTEROP]).
 */
export function encodingOfMediaType(contentType: string | undefined): Encoding | undefined {
  if (!contentType) return undefined;
  const base = contentType.split(';', 1)[0]!.trim().toLowerCase();
  switch (base) {
    case MediaType.DmXml:
    case MediaType.DsXml:
      return Encoding.Xml;
    case MediaType.DmWbxml:
    case MediaType.DsWbxml:
      return Encoding.Wbxml;
    default:
      return undefined;
  }
}

/** The media type to answer with: same family (DM or DS) and encoding as the request. */
export function answerMediaType(requestContentType: string | undefined, encoding: Encoding): MediaType {
  const base = (requestContentType ?? '').split(';', 1)[0]!.trim().toLowerCase();
  const ds = base === MediaType.DsXml || base === MediaType.DsWbxml;
  if (encoding === Encoding.Xml) return ds ? MediaType.DsXml : MediaType.DmXml;
  return ds ? MediaType.DsWbxml : MediaType.DmWbxml;
}

/** Media type for an encoding in the DM family. */
export function mediaTypeOf(encoding: Encoding): MediaType {
  return encoding === Encoding.Xml ? MediaType.DmXml : MediaType.DmWbxml;
}
