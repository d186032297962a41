/**
 * The shared vectors: golden packages round-trip through the model; real-client captures and
 * server messages decode (with their quirks).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import {
  AlertCode,
  dataText,
  decodeMessage,
  decodeXml,
  type Element,
  embeddedElement,
  encodeXml,
  equivalentMessages,
  parseXmlElement,
  type SyncML,
} from '../../src/representation/index.ts';

const VECTORS = new URL('../../../shared/vectors/', import.meta.url);
const read = (rel: string): Buffer => readFileSync(new URL(rel, VECTORS));
const PACKAGES = ['pkg1', 'pkg2', 'pkg3', 'pkg4', 'tndsmsg'];

describe('golden packages', () => {
  for (const name of PACKAGES) {
    test(`${name}.xml → model → XML is equivalent (models and element trees)`, () => {
      const xml = read(`packages/${name}.xml`);
      const msg = decodeXml(xml);
      for (const pretty of [false, true]) {
        const out = encodeXml(msg, { pretty });
        assert.deepEqual(decodeXml(out), msg);
        // The packages are written in DTD order, so the element trees are identical too.
        assert.deepEqual(parseXmlElement(out), parseXmlElement(xml));
      }
    });

    test(`${name}.wbxml decodes to the same message as ${name}.xml`, () => {
      const fromXml = decodeMessage(read(`packages/${name}.xml`), 'application/vnd.syncml.dm+xml');
      const fromWbxml = decodeMessage(read(`packages/${name}.wbxml`), 'application/vnd.syncml.dm+wbxml');
      assert.ok(equivalentMessages(fromXml, fromWbxml));
    });
  }

  test('pkg1 model content', () => {
    const m = decodeXml(read('packages/pkg1.xml'));
    assert.equal(m.SyncHdr.SessionID, '1A2B');
    assert.equal(m.SyncHdr.Source.LocName, 'dev1');
    assert.deepEqual(m.SyncHdr.Meta, { MaxMsgSize: 20000, MaxObjSize: 1048576 });
    assert.deepEqual(m.SyncHdr.Cred?.Meta, { Format: 'b64', Type: 'syncml:auth-md5' });
    assert.equal(m.SyncBody.Final, true);
    const [alert, replace] = m.SyncBody.commands;
    assert.equal(alert?.type === 'Alert' && alert.Data, AlertCode.ClientInitiatedMgmt);
    assert.ok(replace?.type === 'Replace');
    assert.equal(replace.Item.length, 5);
    assert.deepEqual(replace.Item[0], {
      Source: { LocURI: './DevInfo/DevId' },
      Meta: { Format: 'chr' },
      Data: { kind: 'text', text: 'IMEI:490154203237518' },
    });
  });

  test('pkg2: Status with Chal, then commands, in order', () => {
    const m = decodeXml(read('packages/pkg2.xml'));
    assert.deepEqual(
      m.SyncBody.commands.map((c) => c.type),
      ['Status', 'Status', 'Status', 'Get', 'Replace'],
    );
    const s = m.SyncBody.commands[0]!;
    assert.ok(s.type === 'Status');
    assert.equal(s.Data, 212);
    assert.equal(s.Chal?.Meta.NextNonce, 'bmV4dENsaWVudE5vbmNl');
    assert.deepEqual(s.TargetRef, ['https://dm.example.com/dm']);
    assert.equal(m.SyncHdr.RespURI, 'https://dm.example.com/dm?s=7f3c');
  });

  test('tndsmsg: the embedded TNDS tree is available parsed and raw', () => {
    const m = decodeXml(read('packages/tndsmsg.xml'));
    const add = m.SyncBody.commands[0]!;
    assert.ok(add.type === 'Add');
    const data = add.Item[0]!.Data;
    assert.equal(data?.kind, 'element');
    const tree = embeddedElement(data) as Element;
    assert.equal(tree.name, 'MgmtTree');
    assert.equal(tree.ns, 'syncml:dmddf1.2');
    assert.match(dataText(data), /^<MgmtTree xmlns="syncml:dmddf1\.2"><VerDTD>1\.2<\/VerDTD><Node>/);
    // From WBXML it arrives as a nested document in OPAQUE; the same tree comes out.
    const w = decodeMessage(read('packages/tndsmsg.wbxml'));
    const wadd = w.SyncBody.commands[0]!;
    assert.ok(wadd.type === 'Add');
    assert.deepEqual(embeddedElement(wadd.Item[0]!.Data), tree);
  });
});

describe('real-client captures (req1.body) decode', () => {
  const dirs = readdirSync(new URL('real-clients/', VECTORS));
  assert.ok(dirs.length >= 3);
  for (const dir of dirs) {
    test(dir, () => {
      const headers = read(`real-clients/${dir}/req1.headers`).toString('latin1');
      const contentType = /content-type:\s*([^\r\n]+)/i.exec(headers)?.[1];
      const m: SyncML = decodeMessage(read(`real-clients/${dir}/req1.body`), contentType);
      assert.equal(m.SyncHdr.VerProto, 'DM/1.2');
      const first = m.SyncBody.commands[0];
      assert.ok(first?.type === 'Alert');
      assert.equal(first.Data, AlertCode.ClientInitiatedMgmt);
      // Package 1 of each is re-encodable and decodes to the same message.
      assert.ok(equivalentMessages(decodeXml(encodeXml(m)), m));
    });
  }

  test('hostap-osu: Generic Alert with Format `Chr`... and a tree as escaped XML', () => {
    const m = decodeXml(read('real-clients/hostap-osu/req1.body'));
    const alert = m.SyncBody.commands[1]!;
    assert.ok(alert.type === 'Alert');
    assert.equal(alert.Data, AlertCode.GenericAlert);
    const item = alert.Item[0]!;
    assert.equal(item.Meta?.Type, 'Reversed-Domain-Name: org.wi-fi.hotspot2dot0.SubscriptionCreation');
    const tree = embeddedElement(item.Data) as Element;
    assert.equal(tree.name, 'MgmtTree');
    assert.equal(tree.ns, 'syncml:dmddf1.2');
    // Any `Chr` in the capture comes out as the canonical lower-case format.
    assert.match(read('real-clients/hostap-osu/req1.body').toString(), />Chr</);
    const formats = [...JSON.stringify(m).matchAll(/"Format":"([^"]+)"/g)].map((x) => x[1]);
    assert.deepEqual([...new Set(formats)].sort(), ['chr', 'xml']);
  });

  test('libdmclient-xml: DS content type, basic Cred, no XML declaration', () => {
    const m = decodeMessage(read('real-clients/libdmclient-xml/req1.body'), 'application/vnd.syncml+xml');
    assert.equal(m.SyncHdr.Cred?.Meta?.Type, 'syncml:auth-basic');
    assert.equal(Buffer.from(dataText(m.SyncHdr.Cred?.Data), 'base64').toString(), 'funambol:funambol');
    assert.equal(m.SyncHdr.Meta?.MaxMsgSize, 16384);
  });
});

describe('server messages decode', () => {
  for (const version of ['dm11', 'dm12']) {
    const files = readdirSync(new URL(`server-messages/${version}/`, VECTORS)).sort();
    for (const file of files) {
      test(`${version}/${file}`, () => {
        const m = decodeMessage(read(`server-messages/${version}/${file}`));
        assert.ok(m.SyncBody.commands.length > 0);
        assert.ok(
          m.SyncBody.commands.every((c) => c.type !== 'Unknown'),
          'no unknown commands',
        );
        assert.match(m.SyncHdr.SessionID, /^\d+$/, 'decimal session ids kept as strings');
        if (file.endsWith('.xml')) assert.ok(m.SyncHdr.RespURI);
        // Every one re-encodes to XML that decodes to the same message.
        assert.ok(equivalentMessages(decodeXml(encodeXml(m)), m));
      });
    }
  }

  test('UI alerts keep the bare & of `MAXDT=15&DR=1` as a literal', () => {
    const m = decodeXml(read('server-messages/dm12/testalertconfirm.xml'));
    const alert = m.SyncBody.commands[0]!;
    assert.ok(alert.type === 'Alert');
    assert.equal(alert.Data, AlertCode.ConfirmOrReject);
    assert.equal(dataText(alert.Item[0]!.Data), 'MAXDT=15&DR=1');
    assert.equal(dataText(alert.Item[1]!.Data), 'Testing Confirmation Alert');
    // Re-encoded, the & is escaped.
    assert.match(encodeXml(m), /MAXDT=15&amp;DR=1/);
  });

  test('Atomic with a confirm alert nests commands', () => {
    const m = decodeXml(read('server-messages/dm12/testalertconfirmatomic.xml'));
    const atomic = m.SyncBody.commands[0]!;
    assert.ok(atomic.type === 'Atomic');
    assert.ok(atomic.commands.length >= 2);
    assert.equal(atomic.commands[0]!.type, 'Alert');
  });
});
