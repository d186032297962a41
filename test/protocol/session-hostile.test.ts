/**
 * Hostile input to the server engine: mutated and truncated real messages either get a SyncML
 * answer or a SessionError with a stable code — never another exception, never a hang.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import fc from 'fast-check';
import { syncmlCodec } from '../../src/protocol/default-codec.ts';
import { SessionError } from '../../src/protocol/errors.ts';
import {
  MemoryCommandSource,
  MemoryCredentialSource,
  MemorySessionStore,
} from '../../src/protocol/memory-sources.ts';
import { DmServerEngine } from '../../src/protocol/server-session.ts';

const vectors = new URL('../../../shared/vectors/', import.meta.url);
const seeds = [
  'packages/pkg1.xml',
  'packages/pkg1.wbxml',
  'packages/pkg3.xml',
  'real-clients/hostap-osu/req1.body',
  'real-clients/libdmclient-wbxml/req1.body',
].map((p) => new Uint8Array(readFileSync(new URL(p, vectors))));

test('mutated messages: a SyncML answer or a SessionError, nothing else', async () => {
  const creds = new MemoryCredentialSource();
  creds.put({
    deviceId: 'IMEI:490154203237518',
    clientName: 'dev1',
    clientSecret: 'devpass',
    clientNonce: 'MTIzNDU2Nzg5MA==',
  });
  const engine = new DmServerEngine({
    codec: syncmlCodec,
    credentials: creds,
    commands: new MemoryCommandSource(),
    sessions: new MemorySessionStore(),
  });
  let answered = 0;
  let refused = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.nat({ max: seeds.length - 1 }),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
      fc.option(fc.nat(), { nil: undefined }),
      fc.constantFrom('application/vnd.syncml.dm+xml', 'application/vnd.syncml.dm+wbxml', undefined),
      async (which, flips, cut, contentType) => {
        const body = new Uint8Array(seeds[which]!);
        for (const [at, v] of flips) body[at % body.length] = v;
        const input = cut === undefined ? body : body.subarray(0, cut % (body.length + 1));
        try {
          const res = await engine.handle({ body: input, contentType, sessionToken: undefined });
          assert.ok(res.body.byteLength > 0);
          answered++;
        } catch (e) {
          assert.ok(e instanceof SessionError, `unexpected ${(e as Error)?.stack ?? e}`);
          refused++;
        }
      },
    ),
    { numRuns: 400, seed: 7 },
  );
  assert.ok(answered > 0 && refused > 0, `both outcomes seen (${answered} answered, ${refused} refused)`);
});

test('mutated server messages: the client answers or ends with a SessionError, nothing else', async () => {
  const pkg2 = new Uint8Array(readFileSync(new URL('packages/pkg2.xml', vectors)));
  const pkg2w = new Uint8Array(readFileSync(new URL('packages/pkg2.wbxml', vectors)));
  const { DmClientSession } = await import('../../src/protocol/client-session.ts');
  const { MapTree } = await import('./helpers.ts');
  await fc.assert(
    fc.asyncProperty(
      fc.boolean(),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
      async (wbxml, flips) => {
        const body = new Uint8Array(wbxml ? pkg2w : pkg2);
        for (const [at, v] of flips) body[at % body.length] = v;
        const client = new DmClientSession({
          codec: syncmlCodec,
          encoding: wbxml ? 'wbxml' : 'xml',
          deviceId: 'IMEI:490154203237518',
          sessionId: '1A2B',
          devInfo: { './DevInfo/DevId': 'IMEI:490154203237518' },
          account: {
            serverId: 'srv1',
            serverUri: 'https://dm.example.com/dm',
            client: { mode: 'md5', name: 'dev1', secret: 'devpass' },
            server: { mode: 'md5', name: 'srv1', secret: 'srvpass' },
            clientNonce: 'MTIzNDU2Nzg5MA==',
            serverNonce: 'c2VydmVyTm9uY2U=',
          },
          handler: new MapTree({ './DevDetail/SwV': '1', './Vendor/Example/PollInterval': '1' }),
        });
        await client.start();
        try {
          await client.receive({ body });
        } catch (e) {
          assert.ok(e instanceof SessionError, `unexpected ${(e as Error)?.stack ?? e}`);
        }
      },
    ),
    { numRuns: 300, seed: 11 },
  );
});
