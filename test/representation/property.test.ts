/**
 * Property-based round trips: generated messages survive encodeXml → decodeXml unchanged, and
 * generated element trees with hostile text survive writeXmlElement → parseXmlElement.
 * Seeds are fixed so runs are reproducible; change them locally to explore further.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  type Command,
  CommandNames,
  type Data,
  DecodeError,
  decodeXml,
  type Element,
  EncodeError,
  elementToMessage,
  encodeXml,
  Format,
  type Item,
  type Meta,
  parseXmlElement,
  type SyncML,
  writeXmlElement,
} from '../../src/representation/index.ts';
import { xmlText } from './arbitraries.ts';

/** Text rich in markup characters, line ends and non-ASCII. */
const text = xmlText({ maxLength: 20 });
/** Values the decoder trims (identifiers, URIs, MetInf text): no surrounding whitespace, non-empty. */
const token = text.map((s) => s.trim()).filter((s) => s !== '');
const uint = fc.nat({ max: 2 ** 31 });

const nsName = fc.constantFrom('MgmtTree', 'Node', 'NodeName', 'Value', 'x', 'a-b', 'a.b', '_u', 'ä');

const element: fc.Arbitrary<Element> = fc.letrec<{ el: Element }>((tie) => ({
  el: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    // A leaf: no children or one non-empty text.
    fc.record({
      name: nsName,
      ns: fc.constantFrom('syncml:dmddf1.2', 'urn:x', ''),
      children: fc.oneof(
        fc.constant<Element['children']>([]),
        text.filter((t) => t !== '').map((t): Element['children'] => [t]),
      ),
    }),
    // Element-only content.
    fc.record({
      name: nsName,
      ns: fc.constantFrom('syncml:dmddf1.2', 'urn:x', ''),
      children: fc.array(tie('el'), { minLength: 1, maxLength: 3 }),
    }),
  ),
})).el;

const data: fc.Arbitrary<Data> = fc.oneof(
  { weight: 4, arbitrary: text.map((t): Data => ({ kind: 'text', text: t })) },
  { weight: 1, arbitrary: element.map((e): Data => ({ kind: 'element', element: e })) },
);

const meta: fc.Arbitrary<Meta> = fc.record(
  {
    Format: fc.constantFrom(...Object.values(Format)),
    Type: token,
    Mark: fc.constantFrom('fatal', 'critical', 'informational'),
    Size: uint,
    Anchor: fc.record({ Last: token, Next: token }, { requiredKeys: ['Next'] }),
    Version: token,
    NextNonce: token,
    MaxMsgSize: uint,
    MaxObjSize: uint,
    EMI: fc.array(token, { minLength: 1, maxLength: 2 }),
    Mem: fc.record({ SharedMem: fc.constant(true), FreeMem: uint, FreeID: uint }, { requiredKeys: [] }),
    FieldLevel: fc.constant(true),
  },
  { requiredKeys: [] },
);

const target = fc.record({ LocURI: token, LocName: token }, { requiredKeys: ['LocURI'] });

const item: fc.Arbitrary<Item> = fc.record(
  { Target: target, Source: target, Meta: meta, Data: data, MoreData: fc.constant(true) },
  { requiredKeys: [] },
);
const items = fc.array(item, { maxLength: 3 });
const cred = fc.record({ Meta: meta, Data: data }, { requiredKeys: ['Data'] });

const simple: fc.Arbitrary<Command> = fc.oneof(
  fc.record(
    {
      type: fc.constantFrom('Add' as const, 'Copy' as const, 'Replace' as const),
      CmdID: token,
      NoResp: fc.constant(true),
      Cred: cred,
      Meta: meta,
      Item: items,
    },
    { requiredKeys: ['type', 'CmdID', 'Item'] },
  ),
  fc.record(
    {
      type: fc.constant('Delete' as const),
      CmdID: token,
      Archive: fc.constant(true),
      SftDel: fc.constant(true),
      Meta: meta,
      Item: items,
    },
    { requiredKeys: ['type', 'CmdID', 'Item'] },
  ),
  fc.record(
    { type: fc.constant('Get' as const), CmdID: token, Lang: token, Meta: meta, Item: items },
    { requiredKeys: ['type', 'CmdID', 'Item'] },
  ),
  fc.record(
    { type: fc.constant('Exec' as const), CmdID: token, Meta: meta, Correlator: token, Item: items },
    { requiredKeys: ['type', 'CmdID', 'Item'] },
  ),
  fc.record(
    {
      type: fc.constant('Alert' as const),
      CmdID: token,
      Data: fc.nat({ max: 9999 }),
      Correlator: token,
      Item: items,
    },
    { requiredKeys: ['type', 'CmdID', 'Item'] },
  ),
  fc.record(
    {
      type: fc.constant('Status' as const),
      CmdID: token,
      MsgRef: token,
      CmdRef: token,
      Cmd: token,
      TargetRef: fc.array(token, { maxLength: 2 }),
      SourceRef: fc.array(token, { maxLength: 2 }),
      Chal: fc.record({ Meta: meta }),
      Data: fc.integer({ min: 100, max: 599 }),
      Item: items,
    },
    { requiredKeys: ['type', 'CmdID', 'CmdRef', 'Cmd', 'TargetRef', 'SourceRef', 'Data', 'Item'] },
  ),
  fc.record(
    {
      type: fc.constant('Results' as const),
      CmdID: token,
      MsgRef: token,
      CmdRef: token,
      Meta: meta,
      TargetRef: token,
      SourceRef: token,
      Item: items,
    },
    { requiredKeys: ['type', 'CmdID', 'CmdRef', 'Item'] },
  ),
);

const command: fc.Arbitrary<Command> = fc.oneof(
  { weight: 5, arbitrary: simple },
  {
    weight: 1,
    arbitrary: fc.record(
      {
        type: fc.constantFrom('Atomic' as const, 'Sequence' as const),
        CmdID: token,
        Meta: meta,
        commands: fc.array(simple, { maxLength: 3 }),
      },
      { requiredKeys: ['type', 'CmdID', 'commands'] },
    ),
  },
);

const message: fc.Arbitrary<SyncML> = fc.record({
  SyncHdr: fc.record(
    {
      VerDTD: fc.constantFrom('1.1', '1.2'),
      VerProto: fc.constantFrom('DM/1.1', 'DM/1.2', 'DM/1.3'),
      SessionID: token,
      MsgID: token,
      Target: target,
      Source: target,
      RespURI: token,
      Cred: cred,
      Meta: meta,
    },
    { requiredKeys: ['VerDTD', 'VerProto', 'SessionID', 'MsgID', 'Target', 'Source'] },
  ),
  SyncBody: fc.record({ commands: fc.array(command, { maxLength: 5 }), Final: fc.boolean() }),
});

const VOCAB = [
  'SyncML',
  'SyncHdr',
  'SyncBody',
  'VerDTD',
  'VerProto',
  'SessionID',
  'MsgID',
  'Target',
  'Source',
  'LocURI',
  'LocName',
  'RespURI',
  'NoResp',
  'Cred',
  'Meta',
  'Data',
  'Item',
  'MoreData',
  'CmdID',
  'MsgRef',
  'CmdRef',
  'Cmd',
  'TargetRef',
  'SourceRef',
  'Chal',
  'Correlator',
  'Final',
  ...CommandNames,
  'Sync',
  'Format',
  'Type',
  'Size',
  'MaxMsgSize',
  'NextNonce',
  'EMI',
  'Anchor',
  'Next',
  'Mem',
  'FreeMem',
  'MetInf',
  'MgmtTree',
];
/** Element trees made of SyncML names in any arrangement: structurally hostile messages. */
const syncmlish: fc.Arbitrary<Element> = fc.letrec<{ el: Element }>((tie) => ({
  el: fc.record({
    name: fc.constantFrom(...VOCAB),
    ns: fc.constantFrom('SYNCML:SYNCML1.2', 'syncml:metinf', ''),
    children: fc.array(
      fc.oneof(
        // Leaves first: fast-check's depth bias favours the first arbitrary as trees deepen.
        { depthSize: 'small', maxDepth: 6 },
        fc.constantFrom('1', '1.2', '200', ' x ', '', '-1', 'chr', 'Chr', '1201', '99999999999'),
        fc.uint8Array({ maxLength: 4 }),
        tie('el'),
      ),
      { maxLength: 5 },
    ),
  }),
})).el;

const S = 'SYNCML:SYNCML1.2';
const leaf = (name: string, text: string): Element => ({ name, ns: S, children: [text] });
const HDR: Element = {
  name: 'SyncHdr',
  ns: S,
  children: [
    leaf('VerDTD', '1.2'),
    leaf('VerProto', 'DM/1.2'),
    leaf('SessionID', '1'),
    leaf('MsgID', '1'),
    { name: 'Target', ns: S, children: [leaf('LocURI', 't')] },
    { name: 'Source', ns: S, children: [leaf('LocURI', 's')] },
  ],
};

describe('model builder fuzz', () => {
  test('any arrangement of SyncML elements: a message or a DecodeError; re-encoding: XML or an EncodeError', () => {
    let messages = 0;
    const tree = fc.oneof(
      // A valid header and a body of random commands: exercises the command parsers.
      {
        weight: 4,
        arbitrary: fc.array(syncmlish, { maxLength: 6 }).map(
          (body): Element => ({
            name: 'SyncML',
            ns: S,
            children: [HDR, { name: 'SyncBody', ns: S, children: body }],
          }),
        ),
      },
      // Anything at all under SyncML.
      { weight: 1, arbitrary: syncmlish.map((t): Element => ({ ...t, name: 'SyncML' })) },
    );
    fc.assert(
      fc.property(tree, fc.boolean(), (root, strict) => {
        let msg: SyncML;
        try {
          msg = elementToMessage(root, { strict });
        } catch (e) {
          assert.ok(e instanceof DecodeError, String(e));
          return;
        }
        messages++;
        try {
          encodeXml(msg);
        } catch (e) {
          assert.ok(e instanceof EncodeError, String(e));
        }
      }),
      { numRuns: 2000, seed: 20261122 },
    );
    assert.ok(messages > 200, `only ${messages} of 2000 trees built a message`);
  });
});

describe('property-based round trips', () => {
  test('generated messages: encodeXml → decodeXml gives the same model (compact and pretty)', () => {
    fc.assert(
      fc.property(message, fc.boolean(), (msg, pretty) => {
        // fast-check records have a null prototype; compare with plain objects.
        assert.deepEqual(decodeXml(encodeXml(msg, { pretty })), structuredClone(msg));
      }),
      { numRuns: 400, seed: 20261122 },
    );
  });

  test('generated element trees with special characters: write → parse is the identity', () => {
    const attrs = fc.dictionary(fc.constantFrom('a', 'b-c', 'd.e', 'f_g'), text, { maxKeys: 3 });
    const withAttrs = fc
      .tuple(element, attrs)
      .map(([e, a]): Element => (Object.keys(a).length ? { ...e, attrs: a } : e));
    fc.assert(
      fc.property(
        withAttrs,
        fc.constantFrom('escape' as const, 'cdata' as const),
        fc.boolean(),
        (e, mode, pretty) => {
          assert.deepEqual(parseXmlElement(writeXmlElement(e, { text: mode, pretty })), structuredClone(e));
        },
      ),
      { numRuns: 600, seed: 20261122 },
    );
  });

  test('any text survives as a Data value, bare & accepted only escaped or literal', () => {
    fc.assert(
      fc.property(text, (t) => {
        const xml = writeXmlElement({ name: 'Data', ns: '', children: t === '' ? [] : [t] });
        assert.deepEqual(parseXmlElement(xml, { strict: true }).children, t === '' ? [] : [t]);
      }),
      { numRuns: 1000, seed: 20261122 },
    );
  });
});
