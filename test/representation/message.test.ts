import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type Command,
  charsetOf,
  DecodeError,
  decodeMessage,
  decodeXml,
  detectEncoding,
  EncodeError,
  elementToMessage,
  encodeMessage,
  encodeWbxml,
  encodeXml,
  messageToElement,
  parseXmlElement,
  type SyncML,
} from '../../src/representation/index.ts';

const HDR = `<SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>1</SessionID><MsgID>1</MsgID>
<Target><LocURI>IMEI:1</LocURI></Target><Source><LocURI>https://s</LocURI></Source></SyncHdr>`;
const msg = (body: string, hdr = HDR): string =>
  `<SyncML xmlns="SYNCML:SYNCML1.2">${hdr}<SyncBody>${body}</SyncBody></SyncML>`;

function decodeCode(xml: string, strict = false): string {
  try {
    decodeXml(xml, { strict });
  } catch (e) {
    assert.ok(e instanceof DecodeError, String(e));
    return e.code;
  }
  assert.fail('expected a DecodeError');
}

function base(commands: Command[], Final = true): SyncML {
  return {
    SyncHdr: {
      VerDTD: '1.2',
      VerProto: 'DM/1.2',
      SessionID: '1A2B',
      MsgID: '1',
      Target: { LocURI: 'https://dm.example.com/dm' },
      Source: { LocURI: 'IMEI:1', LocName: 'dev1' },
    },
    SyncBody: { commands, Final },
  };
}

describe('liberal decoding', () => {
  test('children in any order, MetInf namespace inherited, prefixed or absent, `Chr` → chr', () => {
    const m = decodeXml(
      msg(
        `<Replace><Item><Data>v</Data><Meta><Type>text/plain</Type><mi:Format xmlns:mi="syncml:metinf">Chr</mi:Format></Meta>
         <Target><LocURI> ./A/B </LocURI></Target></Item><CmdID>3</CmdID></Replace>
         <Final/>`,
        `<SyncHdr><MsgID>7</MsgID><Source><LocURI>dev</LocURI></Source><SessionID>24673</SessionID><VerProto>DM/1.1</VerProto>
         <Meta xmlns="syncml:metinf"><MaxMsgSize>3500</MaxMsgSize></Meta><Target><LocURI>srv</LocURI></Target><VerDTD>1.1</VerDTD></SyncHdr>`,
      ),
    );
    assert.deepEqual(m.SyncHdr, {
      VerDTD: '1.1',
      VerProto: 'DM/1.1',
      SessionID: '24673',
      MsgID: '7',
      Target: { LocURI: 'srv' },
      Source: { LocURI: 'dev' },
      Meta: { MaxMsgSize: 3500 },
    });
    assert.deepEqual(m.SyncBody, {
      commands: [
        {
          type: 'Replace',
          CmdID: '3',
          Item: [
            {
              Data: { kind: 'text', text: 'v' },
              Meta: { Type: 'text/plain', Format: 'chr' },
              Target: { LocURI: './A/B' },
            },
          ],
        },
      ],
      Final: true,
    });
  });

  test('repeated EMI keep their order', () => {
    const emis = Array.from({ length: 1000 }, (_, i) => `<EMI xmlns="syncml:metinf">e${i}</EMI>`).join('');
    const m = decodeXml(msg('', HDR.replace('</SyncHdr>', `<Meta>${emis}</Meta></SyncHdr>`)));
    assert.deepEqual(
      m.SyncHdr.Meta?.EMI,
      Array.from({ length: 1000 }, (_, i) => `e${i}`),
    );
  });

  test('Meta on the command and on the item; an explicit MetInf wrapper is flattened', () => {
    const m = decodeXml(
      msg(`<Add><CmdID>1</CmdID><Meta><MetInf xmlns="syncml:metinf"><Format>int</Format><Size>4</Size></MetInf></Meta>
           <Item><Target><LocURI>./X</LocURI></Target><Meta><Format xmlns="syncml:metinf">chr</Format></Meta><Data>1234</Data></Item></Add>`),
    );
    const add = m.SyncBody.commands[0]!;
    assert.ok(add.type === 'Add');
    assert.deepEqual(add.Meta, { Format: 'int', Size: 4 });
    assert.deepEqual(add.Item[0]!.Meta, { Format: 'chr' });
    assert.equal(m.SyncBody.Final, false);
  });

  test('Alert: Correlator before or after Data; Status: all fields; Results: refs', () => {
    const m = decodeXml(
      msg(`<Alert><CmdID>2</CmdID><Correlator>job-1</Correlator><Data>1226</Data>
             <Item><Meta><Mark xmlns="syncml:metinf">critical</Mark></Meta><Data>200</Data></Item></Alert>
           <Status><CmdID>3</CmdID><MsgRef>1</MsgRef><CmdRef>0</CmdRef><Cmd>SyncHdr</Cmd><TargetRef>a</TargetRef><TargetRef>b</TargetRef>
             <SourceRef>c</SourceRef><Chal><Meta><Type xmlns="syncml:metinf">syncml:auth-md5</Type><NextNonce xmlns="syncml:metinf">Tm9uY2U=</NextNonce></Meta></Chal><Data> 401 </Data></Status>
           <Results><CmdID>4</CmdID><CmdRef>5</CmdRef><TargetRef>./T</TargetRef><Item><Source><LocURI>./T</LocURI></Source><Data/></Item></Results>`),
    );
    const [alert, status, results] = m.SyncBody.commands;
    assert.deepEqual(alert, {
      type: 'Alert',
      CmdID: '2',
      Correlator: 'job-1',
      Data: 1226,
      Item: [{ Meta: { Mark: 'critical' }, Data: { kind: 'text', text: '200' } }],
    });
    assert.deepEqual(status, {
      type: 'Status',
      CmdID: '3',
      MsgRef: '1',
      CmdRef: '0',
      Cmd: 'SyncHdr',
      TargetRef: ['a', 'b'],
      SourceRef: ['c'],
      Chal: { Meta: { Type: 'syncml:auth-md5', NextNonce: 'Tm9uY2U=' } },
      Data: 401,
      Item: [],
    });
    assert.deepEqual(results, {
      type: 'Results',
      CmdID: '4',
      CmdRef: '5',
      TargetRef: './T',
      Item: [{ Source: { LocURI: './T' }, Data: { kind: 'text', text: '' } }],
    });
  });

  test('Data keeps text verbatim (whitespace, CDATA) and embeds elements', () => {
    const m = decodeXml(
      msg(`<Replace><CmdID>1</CmdID>
        <Item><Data>  two  spaces </Data></Item>
        <Item><Data><![CDATA[<b>not markup</b>]]></Data></Item>
        <Item><Data>
          <MgmtTree xmlns="syncml:dmddf1.2"><VerDTD>1.2</VerDTD></MgmtTree>
        </Data></Item></Replace>`),
    );
    const r = m.SyncBody.commands[0]!;
    assert.ok(r.type === 'Replace');
    assert.deepEqual(r.Item[0]!.Data, { kind: 'text', text: '  two  spaces ' });
    assert.deepEqual(r.Item[1]!.Data, { kind: 'text', text: '<b>not markup</b>' });
    assert.deepEqual(r.Item[2]!.Data, {
      kind: 'element',
      element: {
        name: 'MgmtTree',
        ns: 'syncml:dmddf1.2',
        children: [{ name: 'VerDTD', ns: 'syncml:dmddf1.2', children: ['1.2'] }],
      },
    });
  });

  test('Atomic and Sequence nest commands in order', () => {
    const m = decodeXml(
      msg(`<Sequence><CmdID>1</CmdID><Get><CmdID>2</CmdID><Item><Target><LocURI>./A</LocURI></Target></Item></Get>
           <Atomic><CmdID>3</CmdID><Delete><CmdID>4</CmdID><Item><Target><LocURI>./B</LocURI></Target></Item></Delete>
           <Copy><CmdID>5</CmdID><Item><Target><LocURI>./C</LocURI></Target><Source><LocURI>./D</LocURI></Source></Item></Copy></Atomic>
           <Exec><CmdID>6</CmdID><Correlator>c</Correlator><Item><Target><LocURI>./E</LocURI></Target></Item></Exec></Sequence><Final/>`),
    );
    const seq = m.SyncBody.commands[0]!;
    assert.ok(seq.type === 'Sequence');
    assert.deepEqual(
      seq.commands.map((c) => c.type),
      ['Get', 'Atomic', 'Exec'],
    );
    const atomic = seq.commands[1]!;
    assert.ok(atomic.type === 'Atomic');
    assert.deepEqual(
      atomic.commands.map((c) => [c.type, c.type !== 'Unknown' && c.CmdID]),
      [
        ['Delete', '4'],
        ['Copy', '5'],
      ],
    );
    const exec = seq.commands[2]!;
    assert.ok(exec.type === 'Exec');
    assert.equal(exec.Correlator, 'c');
  });

  test('unknown and broken commands become Unknown with a reason (liberal) or errors (strict)', () => {
    const xml =
      msg(`<Sync><CmdID>1</CmdID></Sync><Get><Item/></Get><Status><CmdID>3</CmdID><CmdRef>1</CmdRef><Cmd>Get</Cmd><Data>OK</Data></Status>
                     <Alert><CmdID>4</CmdID><Data>1201</Data></Alert>`);
    const m = decodeXml(xml);
    const [sync, get, status, alert] = m.SyncBody.commands;
    assert.ok(sync?.type === 'Unknown');
    assert.equal(sync.name, 'Sync');
    assert.equal(sync.CmdID, '1');
    assert.match(sync.reason, /unknown command/);
    assert.ok(get?.type === 'Unknown');
    assert.equal(get.CmdID, undefined);
    assert.match(get.reason, /CmdID/);
    assert.ok(status?.type === 'Unknown');
    assert.match(status.reason, /not a number/);
    assert.equal(alert?.type, 'Alert');
    // Unknown commands re-encode as received.
    assert.deepEqual(decodeXml(encodeXml(m)), m);
    assert.equal(decodeCode(xml, true), 'syncml.structure');
    assert.equal(decodeCode(msg('<Get><Item/></Get>'), true), 'syncml.missing');
  });

  test('a broken Item (no LocURI, Data mixing text and an element) costs only its command', () => {
    const xml = msg(
      `<Replace><CmdID>1</CmdID><Item><Target/><Data>x</Data></Item></Replace>
       <Add><CmdID>2</CmdID><Item><Data>text<MgmtTree/></Data></Item></Add>
       <Get><CmdID>3</CmdID><Item><Target><LocURI>./A</LocURI></Target></Item></Get>`,
    );
    const m = decodeXml(xml);
    const [replace, add, get] = m.SyncBody.commands;
    assert.ok(replace?.type === 'Unknown' && replace.CmdID === '1');
    assert.match(replace.reason, /no <LocURI> in <Target>/);
    assert.ok(add?.type === 'Unknown' && add.CmdID === '2');
    assert.match(add.reason, /mixes an element with text/);
    assert.equal(get?.type, 'Get');
    assert.equal(decodeCode(xml, true), 'syncml.missing');
    // The same problems in the header fail the message.
    assert.equal(decodeCode(msg('', HDR.replace('<LocURI>https://s</LocURI>', ''))), 'syncml.missing');
    const badCred = HDR.replace('</SyncHdr>', '<Cred><Meta/></Cred></SyncHdr>');
    assert.equal(decodeCode(msg('', badCred)), 'syncml.missing');
  });

  test('Atomic/Sequence nesting is bounded (the deepest becomes Unknown), even with raised XML limits', () => {
    const depth = 5000;
    const xml = msg(`${'<Sequence><CmdID>1</CmdID>'.repeat(depth)}${'</Sequence>'.repeat(depth)}`);
    const m = decodeXml(xml, { maxDepth: depth + 10 });
    let c = m.SyncBody.commands[0]!;
    let levels = 0;
    while (c.type === 'Sequence') {
      levels++;
      c = c.commands[0]!;
    }
    assert.equal(levels, 32);
    assert.ok(c.type === 'Unknown');
    assert.match(c.reason, /nested deeper than 32/);
  });

  test('strict mode refuses unknown elements and bad MetInf numbers that liberal mode skips', () => {
    const xml = msg(
      '<Add><CmdID>1</CmdID><Foo/><Item><Meta><Size xmlns="syncml:metinf">big</Size></Meta></Item></Add>',
    );
    const m = decodeXml(xml);
    const add = m.SyncBody.commands[0]!;
    assert.ok(add.type === 'Add');
    assert.deepEqual(add.Item[0], { Meta: {} });
    assert.equal(decodeCode(xml, true), 'syncml.structure');
    assert.equal(
      decodeCode(
        msg('<Add><CmdID>1</CmdID><Item><Meta><Size xmlns="syncml:metinf">big</Size></Meta></Item></Add>'),
        true,
      ),
      'syncml.value',
    );
  });

  test('structurally wrong messages are typed errors with a path', () => {
    assert.equal(decodeCode('<Foo/>'), 'syncml.structure');
    assert.equal(decodeCode('<SyncML><SyncBody/></SyncML>'), 'syncml.missing');
    assert.equal(decodeCode(`<SyncML>${HDR}</SyncML>`), 'syncml.missing');
    assert.equal(decodeCode(msg('', HDR.replace('<MsgID>1</MsgID>', ''))), 'syncml.missing');
    assert.equal(decodeCode(msg('', HDR.replace('<LocURI>IMEI:1</LocURI>', ''))), 'syncml.missing');
    try {
      decodeXml(msg('', HDR.replace('<MsgID>1</MsgID>', '')));
    } catch (e) {
      assert.ok(e instanceof DecodeError);
      assert.equal(e.path, 'SyncML/SyncHdr');
      assert.equal(e.offset, -1);
    }
  });
});

describe('strict encoding', () => {
  test('DTD order: Status children, Alert Data before Correlator, MetInf order, Item order', () => {
    const m = base([
      {
        type: 'Status',
        CmdID: '1',
        MsgRef: '1',
        CmdRef: '0',
        Cmd: 'SyncHdr',
        TargetRef: ['t'],
        SourceRef: ['s'],
        Chal: { Meta: { NextNonce: 'bg==', Type: 'syncml:auth-md5', Format: 'b64' } },
        Data: 407,
        Item: [],
      },
      { type: 'Alert', CmdID: '2', Correlator: 'x', Data: 1226, Item: [] },
      {
        type: 'Replace',
        CmdID: '3',
        Item: [
          {
            MoreData: true,
            Data: { kind: 'text', text: 'v' },
            Meta: { Size: 10, Type: 't', Format: 'chr' },
            Target: { LocURI: './A' },
          },
        ],
      },
    ]);
    assert.equal(
      encodeXml(m),
      '<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>1A2B</SessionID><MsgID>1</MsgID>' +
        '<Target><LocURI>https://dm.example.com/dm</LocURI></Target><Source><LocURI>IMEI:1</LocURI><LocName>dev1</LocName></Source></SyncHdr><SyncBody>' +
        '<Status><CmdID>1</CmdID><MsgRef>1</MsgRef><CmdRef>0</CmdRef><Cmd>SyncHdr</Cmd><TargetRef>t</TargetRef><SourceRef>s</SourceRef>' +
        '<Chal><Meta><Format xmlns="syncml:metinf">b64</Format><Type xmlns="syncml:metinf">syncml:auth-md5</Type><NextNonce xmlns="syncml:metinf">bg==</NextNonce></Meta></Chal><Data>407</Data></Status>' +
        '<Alert><CmdID>2</CmdID><Data>1226</Data><Correlator>x</Correlator></Alert>' +
        '<Replace><CmdID>3</CmdID><Item><Target><LocURI>./A</LocURI></Target><Meta><Format xmlns="syncml:metinf">chr</Format><Type xmlns="syncml:metinf">t</Type>' +
        '<Size xmlns="syncml:metinf">10</Size></Meta><Data>v</Data><MoreData/></Item></Replace><Final/></SyncBody></SyncML>',
    );
  });

  test('namespace follows VerDTD (1.1 → SYNCML:SYNCML1.1)', () => {
    const m = base([]);
    const m11: SyncML = { ...m, SyncHdr: { ...m.SyncHdr, VerDTD: '1.1', VerProto: 'DM/1.1' } };
    assert.match(encodeXml(m11), /^<SyncML xmlns="SYNCML:SYNCML1\.1">/);
    assert.equal(messageToElement(m11).ns, 'SYNCML:SYNCML1.1');
  });

  test('impossible values are EncodeError syncml.invalid', () => {
    const bad = (m: SyncML) => {
      try {
        encodeXml(m);
      } catch (e) {
        assert.ok(e instanceof EncodeError, String(e));
        return e.code;
      }
      assert.fail('expected EncodeError');
    };
    assert.equal(bad(base([{ type: 'Get', CmdID: '', Item: [] }])), 'syncml.invalid');
    assert.equal(bad(base([{ type: 'Alert', CmdID: '1', Data: -1, Item: [] }])), 'syncml.invalid');
    const m = base([]);
    assert.equal(bad({ ...m, SyncHdr: { ...m.SyncHdr, Meta: { MaxMsgSize: 1.5 } } }), 'syncml.invalid');
    assert.equal(bad({ ...m, SyncHdr: { ...m.SyncHdr, MsgID: '' } }), 'syncml.invalid');
    // Text XML cannot carry.
    assert.equal(
      bad(
        base([
          { type: 'Alert', CmdID: '1', Data: 1100, Item: [{ Data: { kind: 'text', text: 'a\u0001' } }] },
        ]),
      ),
      'xml.invalid',
    );
  });

  test('OPAQUE Data goes to XML in XML form: text, base64 with Format b64, nested WBXML inline', () => {
    const tnds = encodeWbxml(
      {
        name: 'MgmtTree',
        ns: 'syncml:dmddf1.2',
        children: [{ name: 'VerDTD', ns: 'syncml:dmddf1.2', children: ['1.2'] }],
      },
      {},
    );
    const m = base([
      {
        type: 'Replace',
        CmdID: '1',
        Meta: { Format: 'chr' },
        Item: [
          { Data: { kind: 'bytes', bytes: new Uint8Array(Buffer.from('héllo')) } },
          { Data: { kind: 'bytes', bytes: new Uint8Array([0xff, 0, 1]) } },
          {
            Meta: { Format: 'bin', Type: 'application/octet-stream' },
            Data: { kind: 'bytes', bytes: new Uint8Array(Buffer.from('AB')) },
          },
          {
            Meta: { Format: 'xml', Type: 'application/vnd.syncml.dmtnds+wbxml' },
            Data: { kind: 'bytes', bytes: tnds },
          },
        ],
      },
    ]);
    const back = decodeXml(encodeXml(m));
    const r = back.SyncBody.commands[0]!;
    assert.ok(r.type === 'Replace');
    assert.deepEqual(r.Item, [
      { Data: { kind: 'text', text: 'héllo' } },
      { Meta: { Format: 'b64' }, Data: { kind: 'text', text: '/wAB' } },
      { Meta: { Format: 'b64', Type: 'application/octet-stream' }, Data: { kind: 'text', text: 'QUI=' } },
      {
        Meta: { Format: 'xml', Type: 'application/vnd.syncml.dmtnds+xml' },
        Data: {
          kind: 'element',
          element: {
            name: 'MgmtTree',
            ns: 'syncml:dmddf1.2',
            children: [{ name: 'VerDTD', ns: 'syncml:dmddf1.2', children: ['1.2'] }],
          },
        },
      },
    ]);
    // The message itself is not changed, and WBXML keeps the bytes.
    assert.equal(
      m.SyncBody.commands[0]!.type === 'Replace' && m.SyncBody.commands[0]!.Item[1]!.Data?.kind,
      'bytes',
    );
    assert.deepEqual(decodeMessage(encodeMessage(m, 'application/vnd.syncml.dm+wbxml')), m);
  });
});

describe('decodeMessage / encodeMessage', () => {
  test('detects XML and WBXML from the bytes, the content type is a hint', () => {
    assert.equal(detectEncoding(Buffer.from('<SyncML/>')), 'xml');
    assert.equal(detectEncoding(Buffer.from('\n<SyncML/>')), 'xml');
    assert.equal(detectEncoding(Buffer.from([0xef, 0xbb, 0xbf, 0x3c])), 'xml');
    assert.equal(detectEncoding(new Uint8Array([0x02, 0x00])), 'wbxml');
    assert.equal(detectEncoding(new Uint8Array([0x03, 0x00]), 'application/vnd.syncml.dm+xml'), 'wbxml');
    assert.equal(detectEncoding(Buffer.from('x'), 'application/vnd.syncml.dm+wbxml'), 'wbxml');
    assert.equal(detectEncoding(Buffer.from('x')), null);
    assert.equal(detectEncoding(new Uint8Array(0)), null);
  });

  test('XML and WBXML round trips through the content-type-driven API', () => {
    const m = base([{ type: 'Alert', CmdID: '1', Data: 1201, Item: [] }]);
    for (const ct of ['application/vnd.syncml.dm+xml', 'application/vnd.syncml.dm+wbxml']) {
      const bytes = encodeMessage(m, ct);
      assert.equal(detectEncoding(bytes), ct.endsWith('wbxml') ? 'wbxml' : 'xml');
      assert.deepEqual(decodeMessage(bytes, ct), m);
    }
  });

  test('the charset of the content type is honoured for XML', () => {
    assert.equal(charsetOf('application/vnd.syncml.dm+xml; charset="ISO-8859-1"'), 'ISO-8859-1');
    assert.equal(charsetOf('application/vnd.syncml.dm+xml'), undefined);
    const xml = encodeXml(
      base([{ type: 'Alert', CmdID: '1', Data: 1100, Item: [{ Data: { kind: 'text', text: 'Grüße' } }] }]),
    );
    const latin1 = Buffer.from(xml, 'latin1');
    const m = decodeMessage(latin1, 'application/vnd.syncml.dm+xml;charset=iso-8859-1');
    const alert = m.SyncBody.commands[0]!;
    assert.ok(alert.type === 'Alert');
    assert.deepEqual(alert.Item[0]!.Data, { kind: 'text', text: 'Grüße' });
    assert.throws(() => decodeMessage(latin1, 'application/vnd.syncml.dm+xml'), { code: 'xml.encoding' });
  });

  test('limits apply to either encoding; wbxml limits can be set apart', () => {
    const m = base([{ type: 'Alert', CmdID: '1', Data: 1201, Item: [] }]);
    const code = (fn: () => unknown): string => {
      try {
        fn();
      } catch (e) {
        assert.ok(e instanceof DecodeError, String(e));
        return e.code;
      }
      return 'ok';
    };
    const xml = encodeMessage(m, 'application/vnd.syncml.dm+xml');
    const wbxml = encodeMessage(m, 'application/vnd.syncml.dm+wbxml');
    assert.equal(
      code(() => decodeMessage(xml, undefined, { maxBytes: 100 })),
      'xml.size',
    );
    assert.equal(
      code(() => decodeMessage(wbxml, undefined, { maxBytes: 50 })),
      'wbxml.size',
    );
    assert.equal(
      code(() => decodeMessage(wbxml, undefined, { maxDepth: 3 })),
      'wbxml.depth',
    );
    assert.equal(
      code(() => decodeMessage(wbxml, undefined, { maxBytes: 50, wbxml: { maxBytes: 1000 } })),
      'ok',
    );
  });

  test('elementToMessage and messageToElement are inverse on an encoded message', () => {
    const m = base([{ type: 'Get', CmdID: '9', Item: [{ Target: { LocURI: './DevDetail' } }] }]);
    assert.deepEqual(elementToMessage(messageToElement(m)), m);
    assert.deepEqual(elementToMessage(parseXmlElement(encodeXml(m))), m);
  });
});
