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
