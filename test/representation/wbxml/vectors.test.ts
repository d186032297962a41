/**
 * The WBXML codec against the golden vectors and against libwbxml 0.11.8 itself:
 * decode equals the XML; our encoding is byte-identical to xml2wbxml (with and without string
 * table) and wbxml2xml reads it back as the same message; every real capture decodes.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import {
  decodeWbxml,
  encodeWbxml,
  LIBWBXML_OPTIONS,
  PublicId,
  type WbxmlEncodeOptions,
} from '../../../src/representation/wbxml/index.ts';
import { parseXmlElement } from '../../../src/representation/xml/reader.ts';
import {
  hex,
  normalize,
  xmlLineEnds,
  parseXml,
  requireLibwbxmlTools,
  VECTORS,
  vector,
  wbxml2xml,
  xml2wbxml,
} from './helpers.ts';

const PACKAGES = ['pkg1', 'pkg2', 'pkg3', 'pkg4', 'tnds', 'tndsmsg'];
/** The options under which our output is byte-identical to `xml2wbxml -v 1.2 -n`. */
const LIBWBXML: WbxmlEncodeOptions = LIBWBXML_OPTIONS;

test('LIBWBXML_OPTIONS are the xml2wbxml -v 1.2 -n equivalents', () => {
  assert.deepEqual(LIBWBXML, { version: 0x02, stringTable: false, opaqueData: 'libwbxml', tnds: 'opaque' });
});

function xmlOf(name: string): string {
  return readFileSync(new URL(`packages/${name}.xml`, VECTORS), 'utf8');
}

describe('golden packages', () => {
  for (const name of PACKAGES) {
    test(`${name}.wbxml decodes to the element tree of ${name}.xml`, () => {
      const doc = decodeWbxml(vector(`packages/${name}.wbxml`));
      assert.equal(doc.version, 0x02);
      assert.equal(doc.charset, 106);
      assert.deepEqual(normalize(doc.root), normalize(parseXml(xmlOf(name))));
    });

    test(`${name}.wbxml decodes to the tree the project's XML reader makes of ${name}.xml`, () => {
      const doc = decodeWbxml(vector(`packages/${name}.wbxml`));
      assert.deepEqual(normalize(doc.root), normalize(parseXmlElement(xmlOf(name))));
    });

    test(`${name}: our string-table encoding equals the shipped .wbxml byte for byte`, () => {
      const ours = encodeWbxml(parseXml(xmlOf(name)), { ...LIBWBXML, stringTable: true });
      assert.equal(hex(ours), hex(vector(`packages/${name}.wbxml`)));
    });
  }
});

describe('against libwbxml (xml2wbxml / wbxml2xml)', () => {
  requireLibwbxmlTools();
  for (const name of PACKAGES) {
    const xml = xmlOf(name);
    test(`${name}: byte-identical to xml2wbxml -v 1.2 -n`, () => {
      const ours = encodeWbxml(parseXml(xml), LIBWBXML);
      assert.equal(hex(ours), hex(xml2wbxml(xml, ['-v', '1.2', '-n'])));
    });

    test(`${name}: byte-identical to xml2wbxml -v 1.2 (string table)`, () => {
      const ours = encodeWbxml(parseXml(xml), { ...LIBWBXML, stringTable: true });
      assert.equal(hex(ours), hex(xml2wbxml(xml, ['-v', '1.2'])));
    });

    for (const opts of [{}, { stringTable: true }, { opaqueData: true }] as WbxmlEncodeOptions[]) {
      test(`${name}: wbxml2xml reads our encoding ${JSON.stringify(opts)} as the same message`, () => {
        const ours = encodeWbxml(parseXml(xml), opts);
        assert.deepEqual(normalize(parseXml(wbxml2xml(ours))), normalize(parseXml(xml)));
      });
    }
  }

  test('TNDS typed at command level or item level, escaped TNDS, empty and odd Data: byte-identical', () => {
    const T = (type: string) => `<Meta><Type xmlns="syncml:metinf">${type}</Type></Meta>`;
    const tree =
      '<MgmtTree xmlns="syncml:dmddf1.2"><VerDTD>1.2</VerDTD><Node><NodeName>a</NodeName></Node></MgmtTree>';
    const xml =
      '<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto>' +
      '<SessionID>1</SessionID><MsgID>1</MsgID><Target><LocURI>x</LocURI></Target><Source><LocURI>y</LocURI></Source></SyncHdr><SyncBody>' +
      `<Add><CmdID>1</CmdID>${T('application/vnd.syncml.dmtnds+xml')}<Item><Data>${tree}</Data></Item></Add>` +
      `<Replace><CmdID>2</CmdID><Item>${T('application/vnd.syncml.dmtnds+xml')}<Data>${tree}</Data></Item></Replace>` +
      `<Replace><CmdID>3</CmdID><Item>${T('text/plain')}<Data>plain text value</Data></Item></Replace>` +
      `<Add><CmdID>4</CmdID><Item>${T('text/x-vcard')}<Data>BEGIN:VCARD</Data></Item></Add>` +
      `<Exec><CmdID>5</CmdID><Item>${T('text/clear')}<Data>go</Data></Item></Exec>` +
      `<Replace><CmdID>6</CmdID><Item><Data/></Item></Replace>` +
      `<Results><CmdID>7</CmdID><MsgRef>1</MsgRef><CmdRef>2</CmdRef><Item><Data>result value</Data></Item></Results>` +
      '<Final/></SyncBody></SyncML>';
    for (const st of [false, true]) {
      const ours = encodeWbxml(parseXml(xml), { ...LIBWBXML, stringTable: st });
      assert.equal(
        hex(ours),
        hex(xml2wbxml(xml, st ? ['-v', '1.2'] : ['-v', '1.2', '-n'])),
        `stringTable ${st}`,
      );
    }
  });

  test('WBXML 1.1 and 1.3 outputs match xml2wbxml -v 1.1 / -v 1.3', () => {
    const xml = xmlOf('pkg2');
    assert.equal(
      hex(encodeWbxml(parseXml(xml), { ...LIBWBXML, version: 0x01 })),
      hex(xml2wbxml(xml, ['-v', '1.1', '-n'])),
    );
    assert.equal(
      hex(encodeWbxml(parseXml(xml), { ...LIBWBXML, version: 0x03 })),
      hex(xml2wbxml(xml, ['-v', '1.3', '-n'])),
    );
  });
});

describe('real captures', () => {
  const captures = [
    'real-clients/libdmclient-wbxml/req1.body',
    ...['dm11', 'dm12'].flatMap((d) =>
      readdirSync(new URL(`server-messages/${d}/`, VECTORS))
        .filter((f) => f.endsWith('.wbxml'))
        .map((f) => `server-messages/${d}/${f}`),
    ),
  ];
  assert.ok(captures.length >= 9);
  requireLibwbxmlTools();
  for (const path of captures) {
    test(`${path} decodes, to what libwbxml's wbxml2xml reads`, () => {
      const bytes = vector(path);
      const doc = decodeWbxml(bytes);
      assert.equal(doc.root.name, 'SyncML');
      assert.deepEqual(
        doc.root.children
          .filter((c) => typeof c === 'object' && !(c instanceof Uint8Array))
          .map((c) => (c as { name: string }).name),
        ['SyncHdr', 'SyncBody'],
      );
      // wbxml2xml writes CR LF as is; an XML reader then sees LF (XML 1.0 §2.11).
      assert.deepEqual(xmlLineEnds(normalize(doc.root)), normalize(parseXml(wbxml2xml(bytes))));
    });
  }

  test('libdmclient: numeric public id, Data as OPAQUE, matches its decoded req1.xml', () => {
    const doc = decodeWbxml(vector('real-clients/libdmclient-wbxml/req1.body'));
    assert.equal(doc.publicId, PublicId.SyncML12);
    const xml = readFileSync(new URL('real-clients/libdmclient-wbxml/req1.xml', VECTORS), 'utf8');
    assert.deepEqual(normalize(doc.root), normalize(parseXml(xml)));
  });

  test('dm12: string-table FPI without NUL saying SyncML 1.1 while VerDTD says 1.2', () => {
    const doc = decodeWbxml(vector('server-messages/dm12/testadd.wbxml'));
    assert.equal(doc.publicId, '-//SYNCML//DTD SyncML 1.1//EN');
    assert.equal(doc.root.ns, 'SYNCML:SYNCML1.1');
    const hdr = doc.root.children[0] as { children: { name: string; children: unknown[] }[] };
    assert.deepEqual(hdr.children[0], { name: 'VerDTD', ns: 'SYNCML:SYNCML1.1', children: ['1.2'] });
  });

  test('dm11: numeric SyncML 1.1 public id 0x0FD3', () => {
    const doc = decodeWbxml(vector('server-messages/dm11/testadd.wbxml'));
    assert.equal(doc.publicId, PublicId.SyncML11);
    assert.equal(doc.root.ns, 'SYNCML:SYNCML1.1');
  });
});
