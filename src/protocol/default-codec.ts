/** The MessageCodec over omadm's own XML and WBXML codecs (representation layer). */
import { decodeMessage, encodeWbxmlMessage, encodeXml } from '../representation/index.ts';
import type { MessageCodec } from './codec.ts';

export const syncmlCodec: MessageCodec = Object.freeze({
  encode(message, encoding) {
    return encoding === 'wbxml'
      ? encodeWbxmlMessage(message)
      : new Uint8Array(Buffer.from(encodeXml(message), 'utf8'));
  },
  decode(bytes, encoding) {
    // The bytes decide (peers mislabel); the encoding is the hint.
    return decodeMessage(
      bytes,
      encoding === 'wbxml' ? 'application/vnd.syncml.dm+wbxml' : 'application/vnd.syncml.dm+xml',
    );
  },
} satisfies MessageCodec);
