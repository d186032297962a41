/**
 * Every real-client Package 1 in ../shared/vectors/real-clients, POSTed exactly as captured
 * (its Content-Type and raw body), gets a valid SyncML answer: decodable, in the request's
 * encoding and media-type family, with a Status for the SyncHdr first, and a Chal when the
 * device is unknown. Provisioned, the same messages authenticate.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { syncmlCodec } from '../../src/protocol/default-codec.ts';
import {
  MemoryCommandSource,
  MemoryCredentialSource,
  MemorySessionStore,
} from '../../src/protocol/memory-sources.ts';
import { DmServerEngine } from '../../src/protocol/server-session.ts';
import { decodeMessage, detectEncoding, type Status } from '../../src/representation/index.ts';
import { type RunningServer, startDmServer } from '../integration/http-harness.ts';

const dir = new URL('../../../shared/vectors/real-clients/', import.meta.url);
const captures = readdirSync(dir).map((name) => {
  const head = readFileSync(new URL(`${name}/req1.headers`, dir), 'utf8');
  const contentType = /^content-type:\s*(.+)$/im.exec(head)?.[1]?.trim() ?? '';
  // Every captured header but those the HTTP client computes itself (Host, Content-Length).
  const headers: Record<string, string> = {};
  for (const line of head.split(/\r?\n/).slice(1)) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const name = line.slice(0, i).trim().toLowerCase();
    if (name !== 'host' && name !== 'content-length') headers[name] = line.slice(i + 1).trim();
  }
  return { name, contentType, headers, body: readFileSync(new URL(`${name}/req1.body`, dir)) };
});

async function post(url: string, headers: Record<string, string>, body: Uint8Array) {
  const res = await fetch(url, { method: 'POST', headers, body });
  return {
    status: res.status,
    contentType: res.headers.get('content-type') ?? '',
    body: new Uint8Array(await res.arrayBuffer()),
  };
}

function hdrStatus(body: Uint8Array): { status: Status; commands: number; statuses: Status[] } {
  const msg = decodeMessage(body);
  const first = msg.SyncBody.commands[0];
  assert.ok(
    first && first.type === 'Status' && first.CmdRef === '0' && first.Cmd === 'SyncHdr',
    'SyncHdr Status first',
  );
  return {
    status: first as Status,
    commands: msg.SyncBody.commands.length,
    statuses: msg.SyncBody.commands.filter((c): c is Status => c.type === 'Status'),
  };
}

describe('real-client package 1 captures', () => {
  assert.equal(captures.length >= 3, true, 'captures found');
  let unknown: RunningServer;
  let known: RunningServer;
  before(async () => {
    const engine = (creds: MemoryCredentialSource) =>
      new DmServerEngine({
        codec: syncmlCodec,
        credentials: creds,
        commands: new MemoryCommandSource(),
        sessions: new MemorySessionStore(),
        // The captures are replayed over plain HTTP; in deployments hostap's OSU talks TLS.
        noAuthWithoutTls: true,
      });
    unknown = await startDmServer({ engine: engine(new MemoryCredentialSource()) });
    const creds = new MemoryCredentialSource();
    // libdmclient's sample account: basic funambol/funambol.
    creds.put({ deviceId: 'DMCtest', clientAuth: 'basic', clientName: 'funambol', clientSecret: 'funambol' });
    // hostap OSU: no DM-level credentials (it authenticates at the TLS layer in deployments).
    creds.put({ deviceId: 'urn:Example:HS20-station:123456', clientAuth: 'none', clientSecret: '' });
    known = await startDmServer({ engine: engine(creds) });
  });
  after(async () => {
    await unknown.close();
    await known.close();
  });

  for (const cap of captures) {
    test(`${cap.name}: unknown device → SyncML answer with 401/407 and a Chal, in the request's encoding`, async () => {
      const res = await post(unknown.url, cap.headers, cap.body);
      assert.equal(res.status, 200);
      assert.equal(
        res.contentType.split(';')[0],
        cap.contentType.split(';')[0]!.toLowerCase(),
        'same media type family',
      );
      assert.equal(detectEncoding(res.body), detectEncoding(cap.body), 'same encoding');
      const { status, statuses } = hdrStatus(res.body);
      assert.ok(status.Data === 401 || status.Data === 407, `auth failure code, got ${status.Data}`);
      assert.ok(status.Chal?.Meta.NextNonce, 'Chal with NextNonce');
      const req = decodeMessage(cap.body);
      const cmds = req.SyncBody.commands.filter((c) => c.type !== 'Status' && c.type !== 'Results');
      assert.equal(statuses.length, cmds.length + 1, 'one Status per received command');
    });

    test(`${cap.name}: provisioned device → authenticated (212) and every command answered`, async () => {
      const res = await post(known.url, cap.headers, cap.body);
      assert.equal(res.status, 200);
      const { status, statuses } = hdrStatus(res.body);
      assert.equal(status.Data, 212);
      for (const s of statuses.slice(1)) assert.equal(s.Data, 200, `${s.Cmd} ${s.CmdRef}`);
      assert.equal(decodeMessage(res.body).SyncBody.Final, true);
    });
  }
});
