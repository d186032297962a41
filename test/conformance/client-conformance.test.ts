/**
 * issue 20 §1 and §2 on the client side: the client engine (omadm's device) driven by a scripted
 * server over real HTTP. No message of the client exceeds the MaxMsgSize the server announced,
 * whatever Statuses and Results it has to send; when its own package is open and the server
 * answers with Statuses but no Alert 1222 (its package still open, §3.3), the client continues its
 * package instead of looping; exchanges that make no progress are capped.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { Results } from '../../src/representation/index.ts';
import { DeviceSim } from '../server/device-sim.ts';
import { type Received, scriptedServer, serverHeader, statusesFor } from './scripted-server.ts';

const MAX = 1500;
const meta = `<MaxMsgSize xmlns="syncml:metinf">${MAX}</MaxMsgSize>`;
const get = (n: number, uri: string) =>
  `<Get><CmdID>${n}</CmdID><Item><Target><LocURI>${uri}</LocURI></Target></Item></Get>`;
const syncml = (hdr: string, body: string) =>
  `<SyncML xmlns="SYNCML:SYNCML1.2">${hdr}<SyncBody>${body}</SyncBody></SyncML>`;

/** URIs whose value arrived complete (last chunk: no MoreData) in any message so far. */
function completed(all: readonly Received[]): Set<string> {
  const done = new Set<string>();
  let current: string | undefined;
  for (const r of all) {
    for (const c of r.msg.SyncBody.commands) {
      if (c.type !== 'Results') continue;
      const it = (c as Results).Item[0]!;
      current = it.Source?.LocURI ?? current;
      if (!it.MoreData && current) done.add(current);
    }
  }
  return done;
}

function device(values: number): DeviceSim {
  const tree: Record<string, string> = {};
  for (let i = 0; i < values; i++) tree[`./Vendor/Log${i}`] = `${i}:`.padEnd(700, 'x');
  return new DeviceSim({ deviceId: 'IMEI:357000000000001', secret: 'x', auth: 'transport', tree });
}

test('client: every message fits the server MaxMsgSize while the server package is open', async (t) => {
  let part2 = false;
  const { url, got } = await scriptedServer(t, (r, i) => {
    const n = r.msg.SyncBody.commands.length + 2;
    if (i === 0) {
      // Package 2, first message: four Gets of 700-byte values, more to come (no Final).
      const gets = [0, 1, 2, 3].map((k) => get(n + k, `./Vendor/Log${k}`)).join('');
      return syncml(serverHeader(r, 1, meta), statusesFor(r) + gets);
    }
    if (!part2) {
      part2 = true;
      return syncml(serverHeader(r, i + 1, meta), `${statusesFor(r)}${get(n, './Vendor/Log4')}<Final/>`);
    }
    // The client's package continues: "next message" response, else the end.
    if (!r.msg.SyncBody.Final)
      return syncml(
        serverHeader(r, i + 1, meta),
        `${statusesFor(r)}<Alert><CmdID>${n}</CmdID><Data>1222</Data></Alert>`,
      );
    return syncml(serverHeader(r, i + 1, meta), `${statusesFor(r)}<Final/>`);
  });
  const sim = device(5);
  const { result } = await sim.session(url);
  assert.equal(result?.outcome, 'completed');
  for (const r of got.slice(1))
    assert.ok(r.bytes.byteLength <= MAX, `client message of ${r.bytes.byteLength} bytes`);
  assert.deepEqual(
    [...completed(got)].sort(),
    [0, 1, 2, 3, 4].map((k) => `./Vendor/Log${k}`),
  );
});

test('client: its open package continues when the server answers with Statuses but no 1222', async (t) => {
  const { url, got } = await scriptedServer(t, (r, i) => {
    const n = r.msg.SyncBody.commands.length + 2;
    if (i === 0) {
      const gets = [0, 1, 2].map((k) => get(n + k, `./Vendor/Log${k}`)).join('');
      return syncml(serverHeader(r, 1, meta), statusesFor(r) + gets);
    }
    assert.ok(i < 20, 'no livelock');
    // Until every value arrived, the server keeps its package open and asks for nothing (no 1222).
    if (completed(got).size < 3) return syncml(serverHeader(r, i + 1, meta), statusesFor(r));
    return syncml(serverHeader(r, i + 1, meta), `${statusesFor(r)}<Final/>`);
  });
  const sim = device(3);
  const { result } = await sim.session(url);
  assert.equal(result?.outcome, 'completed');
  assert.equal(completed(got).size, 3);
  assert.ok(got.length < 12, `${got.length} messages`);
});

test('client: exchanges that make no progress are capped (1223, outcome stalled)', async (t) => {
  const { url, got } = await scriptedServer(t, (r, i) => {
    assert.ok(i < 40, 'the client ends a session that makes no progress');
    // A server stuck in a loop: Statuses only, never Final, never a command.
    return syncml(serverHeader(r, i + 1), statusesFor(r));
  });
  const sim = device(0);
  const { result } = await sim.session(url);
  assert.equal(result?.outcome, 'stalled');
  const last = got[got.length - 1]!.msg.SyncBody;
  assert.ok(last.commands.some((c) => c.type === 'Alert' && c.Data === 1223));
});

test('client property: for any server MaxMsgSize and any mix of values, no client message exceeds it', async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 900, max: 8000 }),
      fc.array(fc.integer({ min: 0, max: 3000 }), { minLength: 1, maxLength: 6 }),
      fc.integer({ min: 0, max: 6 }),
      async (max, sizes, split) => {
        const metaMax = `<MaxMsgSize xmlns="syncml:metinf">${max}</MaxMsgSize>`;
        const uris = sizes.map((_, k) => `./Vendor/V${k}`);
        const first = uris.slice(0, Math.min(split, uris.length));
        const second = uris.slice(first.length);
        let part2 = second.length === 0;
        const { url, got } = await scriptedServer(t, (r, i) => {
          const n = r.msg.SyncBody.commands.length + 2;
          const gets = (list: string[]) => list.map((u, k) => get(n + k, u)).join('');
          if (i === 0) {
            // Package 2: the first Gets, Final only if there is no second part.
            const list = first.length > 0 ? first : second;
            if (first.length === 0) part2 = true;
            return syncml(
              serverHeader(r, 1, metaMax),
              statusesFor(r) + gets(list) + (part2 ? '<Final/>' : ''),
            );
          }
          if (!part2) {
            part2 = true;
            return syncml(serverHeader(r, i + 1, metaMax), `${statusesFor(r)}${gets(second)}<Final/>`);
          }
          if (!r.msg.SyncBody.Final)
            return syncml(
              serverHeader(r, i + 1, metaMax),
              `${statusesFor(r)}<Alert><CmdID>${n}</CmdID><Data>1222</Data></Alert>`,
            );
          return syncml(serverHeader(r, i + 1, metaMax), `${statusesFor(r)}<Final/>`);
        });
        const tree: Record<string, string> = {};
        sizes.forEach((size, k) => {
          tree[`./Vendor/V${k}`] = 'é'.repeat(size >> 1) + 'x'.repeat(size & 1);
        });
        const sim = new DeviceSim({ deviceId: 'IMEI:357000000000002', secret: 'x', auth: 'transport', tree });
        const { result } = await sim.session(url);
        assert.equal(result?.outcome, 'completed');
        for (const r of got.slice(1)) assert.ok(r.bytes.byteLength <= max, `${r.bytes.byteLength} > ${max}`);
        assert.equal(completed(got).size, uris.length);
      },
    ),
    { numRuns: 15, seed: 1401 },
  );
});
