/**
 * The client engine against real server packages (../shared/vectors/server-messages: the
 * Motorola/Android engine's test suite, DM 1.1 and 1.2): each decodes, every command is executed
 * through the handler and UI callback, and the answer carries the SyncHdr Status first and one
 * Status per command (members of Atomic/Sequence included), in order.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { DmClientSession } from '../../src/protocol/client-session.ts';
import type { UiResponse } from '../../src/protocol/client-types.ts';
import { syncmlCodec } from '../../src/protocol/default-codec.ts';
import { type Command, decodeMessage, detectEncoding, type Status } from '../../src/representation/index.ts';
import { MapTree } from './helpers.ts';

const root = new URL('../../../shared/vectors/server-messages/', import.meta.url);

function expectedRefs(cmds: readonly Command[]): string[] {
  const out: string[] = [];
  for (const c of cmds) {
    if (c.type === 'Status' || c.type === 'Results') continue;
    out.push(c.CmdID ?? '0');
    if (c.type === 'Atomic' || c.type === 'Sequence') out.push(...expectedRefs(c.commands));
  }
  return out;
}

for (const version of ['dm11', 'dm12']) {
  describe(`server messages ${version}`, () => {
    for (const file of readdirSync(new URL(`${version}/`, root)).sort()) {
      test(file, async () => {
        const body = new Uint8Array(readFileSync(new URL(`${version}/${file}`, root)));
        const msg = decodeMessage(body);
        const ui: string[] = [];
        const client = new DmClientSession({
          codec: syncmlCodec,
          encoding: detectEncoding(body) ?? 'xml',
          deviceId: msg.SyncHdr.Target.LocURI,
          sessionId: msg.SyncHdr.SessionID,
          devInfo: { './DevInfo/DevId': msg.SyncHdr.Target.LocURI },
          account: {
            serverId: 'motorola',
            serverUri: 'http://h/dm',
            client: { mode: 'none', name: 'd', secret: '' },
          },
          handler: new MapTree(),
          ui: async (r): Promise<UiResponse> => {
            ui.push(`${r.code}:${r.text}`);
            if (r.code === 1101) return { kind: 'yes' };
            if (r.code === 1102) return { kind: 'text', text: 'abc' };
            if (r.code === 1103 || r.code === 1104) return { kind: 'choice', selected: [1] };
            return { kind: 'ok' };
          },
          sleep: async () => new Promise(() => {}),
        });
        await client.start();
        const req = await client.receive({ body });
        const want = expectedRefs(msg.SyncBody.commands);
        if (want.length === 0) {
          assert.equal(req, undefined);
          return;
        }
        assert.ok(req, 'the client answers');
        const reply = decodeMessage(req.body);
        const statuses = reply.SyncBody.commands.filter((c): c is Status => c.type === 'Status');
        assert.equal(statuses[0]!.CmdRef, '0');
        assert.equal(statuses[0]!.MsgRef, msg.SyncHdr.MsgID);
        assert.deepEqual(
          statuses.slice(1).map((s) => s.CmdRef),
          want,
        );
        if (file.includes('alert')) assert.ok(ui.length > 0, 'UI callback used');
      });
    }
  });
}
