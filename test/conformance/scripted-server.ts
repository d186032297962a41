/**
 * A scripted DM server for client conformance tests: a plain HTTP server on 127.0.0.1 that records
 * every message the client posts and answers with exactly the SyncML a test writes (XML text). No
 * part of omadm's server is involved.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';
import { syncmlCodec } from '../../src/protocol/default-codec.ts';
import type { Status, SyncML } from '../../src/representation/index.ts';

export interface Received {
  readonly bytes: Uint8Array;
  readonly msg: SyncML;
}

/** The answer to the `index`-th message (0-based); `msgId` is the server MsgID to use. */
export type Script = (got: Received, index: number, all: readonly Received[]) => string;

export async function scriptedServer(
  t: TestContext,
  script: Script,
): Promise<{ url: string; got: Received[] }> {
  const got: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        const bytes = new Uint8Array(Buffer.concat(chunks));
        const wbxml = (req.headers['content-type'] ?? '').includes('wbxml');
        const msg = syncmlCodec.decode(bytes, wbxml ? 'wbxml' : 'xml');
        const r: Received = { bytes, msg };
        got.push(r);
        const xml = script(r, got.length - 1, got);
        const out = wbxml
          ? syncmlCodec.encode(syncmlCodec.decode(Buffer.from(xml), 'xml'), 'wbxml')
          : Buffer.from(xml);
        res.writeHead(200, { 'content-type': `application/vnd.syncml.dm+${wbxml ? 'wbxml' : 'xml'}` });
        res.end(out);
      } catch (err) {
        res.writeHead(500);
        res.end(String(err));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/dm`, got };
}

/** A server SyncHdr answering `got` (no credentials: the client account is set to auth none). */
export function serverHeader(got: Received, msgId: number, meta = ''): string {
  const h = got.msg.SyncHdr;
  return (
    `<SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>${h.SessionID}</SessionID>` +
    `<MsgID>${msgId}</MsgID><Target><LocURI>${h.Source.LocURI}</LocURI></Target>` +
    `<Source><LocURI>${h.Target.LocURI}</LocURI></Source>${meta ? `<Meta>${meta}</Meta>` : ''}</SyncHdr>`
  );
}

/** Status 200 (212 for the SyncHdr) for every command of `got` that gets one. */
export function statusesFor(got: Received, firstCmdId = 1): string {
  const h = got.msg.SyncHdr;
  let n = firstCmdId;
  let out =
    `<Status><CmdID>${n++}</CmdID><MsgRef>${h.MsgID}</MsgRef><CmdRef>0</CmdRef><Cmd>SyncHdr</Cmd>` +
    `<TargetRef>${h.Target.LocURI}</TargetRef><SourceRef>${h.Source.LocURI}</SourceRef><Data>212</Data></Status>`;
  for (const c of got.msg.SyncBody.commands) {
    if (c.type === 'Status' || c.type === 'Results') continue;
    out += `<Status><CmdID>${n++}</CmdID><MsgRef>${h.MsgID}</MsgRef><CmdRef>${c.CmdID}</CmdRef><Cmd>${c.type}</Cmd><Data>200</Data></Status>`;
  }
  return out;
}

export function statusesOf(got: Received): Status[] {
  return got.msg.SyncBody.commands.filter((c): c is Status => c.type === 'Status');
}
