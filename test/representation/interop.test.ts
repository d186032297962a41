/**
 * Our XML writer read by an independent XML parser: libwbxml's xml2wbxml (expat) turns our
 * encodeXml output into WBXML, which must decode to the message we started from. Text is rich in
 * markup characters, line ends and non-ASCII, written escaped and as CDATA.
 * (Data goes in Alert items: libwbxml writes Add/Replace item Data as OPAQUE and rewrites LF to
 * CRLF there, which is its quirk, not ours.)
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  canonicalMessage,
  decodeMessage,
  encodeXml,
  type Item,
  type SyncML,
} from '../../src/representation/index.ts';
import { xmlText } from './arbitraries.ts';
import { requireLibwbxmlTools, xml2wbxml } from './wbxml/helpers.ts';

const text = xmlText({ minLength: 1, maxLength: 24 });

function message(texts: string[]): SyncML {
  const Item: Item[] = texts.map((t, i) => ({
    Source: { LocURI: `./T/${i}` },
    Data: { kind: 'text', text: t },
  }));
  return {
    SyncHdr: {
      VerDTD: '1.2',
      VerProto: 'DM/1.2',
      SessionID: '1',
      MsgID: '1',
      Target: { LocURI: 'https://dm.example.com/dm?a=1&b=<2>' },
      Source: { LocURI: 'IMEI:1', LocName: 'ü"\'' },
    },
    SyncBody: { commands: [{ type: 'Alert', CmdID: '1', Data: 1226, Item }], Final: true },
  };
}

describe("our XML through libwbxml's parser", () => {
  requireLibwbxmlTools();
  const samples = fc.sample(fc.array(text, { minLength: 40, maxLength: 40 }), { numRuns: 3, seed: 20261122 });
  for (const [i, texts] of samples.entries()) {
    for (const mode of ['escape', 'cdata'] as const) {
      test(`sample ${i + 1}, text as ${mode}`, () => {
        const msg = message(texts);
        const wbxml = xml2wbxml(encodeXml(msg, { text: mode }), ['-k', '-n', '-v', '1.2']);
        const back = decodeMessage(wbxml);
        // libwbxml turns CDATA sections into OPAQUE: same text, other form.
        if (mode === 'escape') assert.deepEqual(back, msg);
        else assert.deepEqual(canonicalMessage(back), msg);
      });
    }
  }
});
