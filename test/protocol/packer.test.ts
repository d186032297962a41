/**
 * Property tests of the packer: for any commands and any MaxMsgSize, every message fits, commands
 * keep their order, large objects split into chunks that reassemble byte-exactly (Meta/Size on
 * the first, MoreData on all but the last), Final only on the last message.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { syncmlCodec } from '../../src/protocol/default-codec.ts';
import { receiveChunk, type IncomingObject } from '../../src/protocol/large-object.ts';
import { defaultLimits } from '../../src/protocol/limits.ts';
import { header } from '../../src/protocol/message.ts';
import { type OutEntry, pack } from '../../src/protocol/packer.ts';
import type { Command, Replace, Status } from '../../src/representation/index.ts';

const hdr = header({
  VerDTD: '1.2',
  VerProto: 'DM/1.2',
  SessionID: '1',
  MsgID: 1,
  target: 'IMEI:1',
  source: 'http://s/dm',
});
const lead: Status = {
  type: 'Status',
  CmdID: '0',
  MsgRef: '1',
  CmdRef: '0',
  Cmd: 'SyncHdr',
  TargetRef: [],
  SourceRef: [],
  Data: 200,
  Item: [],
};

const text = fc.oneof(
  fc.string({ maxLength: 3000 }),
  fc.string({ unit: 'grapheme', maxLength: 1500 }),
  fc.constantFrom('', '<&>"\'', ']]>', 'é'.repeat(700)),
);
const payload = fc.oneof(
  text.map((t) => ({ kind: 'text' as const, text: t })),
  fc.uint8Array({ maxLength: 4000 }).map((bytes) => ({ kind: 'bytes' as const, bytes })),
);

test('every message fits MaxMsgSize; order kept; chunks reassemble exactly; Final only last', () => {
  fc.assert(
    fc.property(
      fc.array(payload, { minLength: 1, maxLength: 12 }),
      fc.integer({ min: 900, max: 6000 }),
      fc.constantFrom('xml' as const, 'wbxml' as const),
      (datas, max, encoding) => {
        // Bytes only go into WBXML (XML has no opaque data).
        const ds =
          encoding === 'xml'
            ? datas.map((d) =>
                d.kind === 'bytes'
                  ? { kind: 'text' as const, text: Buffer.from(d.bytes).toString('base64') }
                  : d,
              )
            : datas;
        const queue: OutEntry[] = ds.map((Data, i) => ({
          cmd: {
            type: 'Replace',
            CmdID: '0',
            Item: [{ Target: { LocURI: `./N${i}` }, Meta: { Format: 'chr' }, Data }],
          },
          tag: String(i),
        }));
        let rest: readonly OutEntry[] = queue;
        const received: Command[] = [];
        let incoming: IncomingObject | undefined;
        let messages = 0;
        while (rest.length > 0) {
          const out = pack({
            codec: syncmlCodec,
            encoding,
            header: hdr,
            lead: [lead],
            queue: rest,
            maxMsgSize: max,
            finalWhenDone: true,
          });
          messages++;
          assert.ok(out.bytes.byteLength <= max, `message of ${out.bytes.byteLength} > ${max}`);
          assert.ok(out.packed.length > 0, 'progress');
          assert.equal(out.final, out.rest.length === 0);
          // Decode what was sent and reassemble like a receiver would.
          const msg = syncmlCodec.decode(out.bytes, encoding);
          for (const c of msg.SyncBody.commands.slice(1)) {
            const r = c as Replace;
            const it = r.Item[0]!;
            if (it.MoreData || incoming) {
              const v = receiveChunk(incoming, r, '1', undefined);
              if (v.kind === 'buffered') {
                incoming = v.state;
                continue;
              }
              assert.equal(v.kind, 'complete', JSON.stringify(v));
              incoming = undefined;
              if (v.kind === 'complete') received.push(v.cmd);
            } else {
              received.push(r);
            }
          }
          rest = out.rest;
          assert.ok(messages < 500);
        }
        assert.equal(received.length, ds.length);
        received.forEach((c, i) => {
          const it = (c as Replace).Item[0]!;
          assert.equal(it.Target?.LocURI, `./N${i}`);
          const want = ds[i]!;
          const got = it.Data;
          const norm = (d: typeof got) =>
            d === undefined
              ? ''
              : d.kind === 'bytes'
                ? Buffer.from(d.bytes).toString('hex')
                : d.kind === 'text'
                  ? Buffer.from(d.text).toString('hex')
                  : '?';
          assert.equal(norm(got), norm(want));
        });
      },
    ),
    { numRuns: 150, seed: 4242 },
  );
});

/** A command of any kind a server queues, with values of any size. */
const leafValue = fc.string({ maxLength: 400 });
const target = fc.integer({ min: 0, max: 999 }).map((n) => `./Vendor/Node${n}`);
const leaf: fc.Arbitrary<Command> = fc.oneof(
  target.map((t): Command => ({ type: 'Get', CmdID: '0', Item: [{ Target: { LocURI: t } }] })),
  target.map((t): Command => ({ type: 'Delete', CmdID: '0', Item: [{ Target: { LocURI: t } }] })),
  fc.tuple(target, leafValue).map(
    ([t, v]): Command => ({
      type: 'Exec',
      CmdID: '0',
      Correlator: 'c0ffee',
      Item: [{ Target: { LocURI: t }, Data: { kind: 'text', text: v } }],
    }),
  ),
  fc.tuple(target, text, fc.constantFrom('Add' as const, 'Replace' as const)).map(
    ([t, v, type]): Command => ({
      type,
      CmdID: '0',
      Item: [{ Target: { LocURI: t }, Meta: { Format: 'chr' }, Data: { kind: 'text', text: v } }],
    }),
  ),
);
const anyCommand: fc.Arbitrary<Command> = fc.oneof(
  { weight: 4, arbitrary: leaf },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        fc.constantFrom('Atomic' as const, 'Sequence' as const),
        fc.array(leaf, { minLength: 1, maxLength: 8 }),
      )
      .map(([type, commands]): Command => ({ type, CmdID: '0', commands })),
  },
);
const statusOf = (n: number): Status => ({
  ...lead,
  CmdRef: String(n),
  Cmd: 'Replace',
  TargetRef: [`./DevInfo/L${n}`],
});
const spare: Status = { ...lead, MsgRef: '99999', CmdRef: '9999', Cmd: 'Alert' };

test('issue 20 §1: for any MaxMsgSize from the smallest workable to the default and any command mix, no message exceeds it', () => {
  for (const encoding of ['xml', 'wbxml'] as const) {
    // The smallest message a session needs: header, SyncHdr Status, the largest other Status and
    // the Status of an Alert 1222.
    const smallest = syncmlCodec.encode(
      { SyncHdr: hdr, SyncBody: { commands: [lead, statusOf(40), spare], Final: true } },
      encoding,
    ).byteLength;
    fc.assert(
      fc.property(
        fc.array(anyCommand, { maxLength: 14 }),
        fc.integer({ min: 0, max: 40 }),
        fc.oneof(
          fc.integer({ min: smallest, max: smallest + 4000 }),
          fc.integer({ min: smallest, max: defaultLimits.maxMsgSize }),
        ),
        (commands, statusCount, max) => {
          const queue: OutEntry[] = commands.map((cmd, i) => ({ cmd, tag: String(i) }));
          let rest: readonly OutEntry[] = queue;
          // Package 2: the Statuses of everything the client sent; later: the 1222's.
          let leadNow: Command[] = [lead, ...Array.from({ length: statusCount }, (_, i) => statusOf(i + 1))];
          const sent = new Set<string>();
          const refused = new Set<string>();
          let statusesSent = 0;
          for (let round = 0; ; round++) {
            assert.ok(round < 2000, 'no progress');
            const out = pack({
              codec: syncmlCodec,
              encoding,
              header: hdr,
              lead: leadNow,
              queue: rest,
              maxMsgSize: max,
              finalWhenDone: true,
            });
            assert.ok(
              out.bytes.byteLength <= max,
              `${encoding}: message of ${out.bytes.byteLength} > ${max}`,
            );
            statusesSent += leadNow.length - 1 - out.restLead.length;
            for (const p of out.packed) if (p.part === 'whole' || p.part === 'last') sent.add(p.tag!);
            const sentLead = leadNow.slice(0, leadNow.length - out.restLead.length);
            for (const o of out.oversize) {
              refused.add(o.tag!);
              // Refused only when it does not fit a message as small as any (the SyncHdr Status
              // and at most one more Status), or not even one with the SyncHdr Status alone.
              const size = (cmds: Command[]) =>
                syncmlCodec.encode({ SyncHdr: hdr, SyncBody: { commands: cmds, Final: true } }, encoding)
                  .byteLength;
              const here = sentLead.length <= 2 ? size([...sentLead, o.cmd]) : 0;
              const alone = size([lead, o.cmd]);
              assert.ok(here > max || alone > max, `refused a command of ${alone} bytes under ${max}`);
            }
            assert.equal(out.final, out.rest.length === 0 && out.restLead.length === 0);
            if (out.final) break;
            rest = out.rest;
            leadNow = [lead, ...out.restLead, spare];
          }
          assert.ok(statusesSent >= statusCount, 'every Status went out');
          for (const e of queue)
            assert.ok(sent.has(e.tag!) !== refused.has(e.tag!), `command ${e.tag} sent xor refused`);
        },
      ),
      { numRuns: 60, seed: 2020 },
    );
  }
});
