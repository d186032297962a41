/**
 * FUMO on simulated devices against the omadm server: the real bytes are downloaded from PkgURL
 * (counted by the file server) and hashed, a share of updates fails with a real FUMO code, each
 * Exec ends with the Generic Alert the server records, and a wrong hash is a 402.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { Fleet, provisionFleet, SIM_UPDATE_FAILURES } from '../../src/simulator/index.ts';
import { type FileServer, sha256, startFileServer } from '../client/file-server.ts';
import { startTestServer, type TestServer } from '../client/helpers.ts';

let srv: TestServer;
let files: FileServer;
before(async () => {
  srv = await startTestServer();
  files = await startFileServer();
});
after(async () => {
  await files.close();
  await srv.close();
});

/** A seeded generator: the same devices fail on every run. */
function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 2 ** 32;
  };
}

test('20 simulated devices download the real image, half fail their update with a FUMO code, all report', {
  timeout: 60_000,
}, async () => {
  const image = new Uint8Array(randomBytes(64 * 1024));
  files.put('/sim/fw.bin', { body: image });
  const fleet = new Fleet({
    serverUrl: srv.dm,
    devices: 20,
    prefix: 'simfumo-',
    timing: 'none',
    reportAlerts: 'immediately',
    random: lcg(7),
    fumo: { updateMs: 50, failRate: 0.5 },
  });
  try {
    await provisionFleet(fleet, { url: srv.url, token: srv.token, auth: 'md5' });
    const execs: string[] = [];
    for (let i = 0; i < fleet.size; i++) {
      const dev = fleet.deviceId(i);
      const q = async (c: unknown) =>
        (await srv.api('POST', `/devices/${dev}/commands`, c)).body.id as string;
      await q({ type: 'Replace', uri: './FUMO/PkgVersion', value: '2.0.0' });
      const url =
        i === 0
          ? `${files.url}/sim/fw.bin#sha256=${'f'.repeat(64)}`
          : `${files.url}/sim/fw.bin#sha256=${sha256(image)}`;
      await q({ type: 'Replace', uri: './FUMO/DownloadAndUpdate/PkgURL', value: url });
      execs.push(await q({ type: 'Exec', uri: './FUMO/DownloadAndUpdate' }));
    }
    await fleet.round();
    const final = async () => {
      for (;;) {
        const all = await Promise.all(
          execs.map(async (id) => (await srv.api('GET', `/commands/${id}`)).body),
        );
        if (all.every((c) => c.state === 'succeeded' || c.state === 'failed')) return all;
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const done = await final();
    const codes = done.map((c) => c.detail.alerts[0].status as number);
    assert.equal(codes[0], 402, 'a wrong hash is a corrupted package');
    assert.equal(fleet.valueOf(0, './FUMO/State'), '20');
    const ok = codes.filter((c) => c === 200).length;
    const failed = codes.slice(1).filter((c) => c !== 200);
    assert.ok(ok >= 4 && failed.length >= 4, `a real mix: ${JSON.stringify(codes)}`);
    for (const c of failed) assert.ok(SIM_UPDATE_FAILURES.includes(c), `a FUMO failure code: ${c}`);
    for (let i = 1; i < fleet.size; i++) {
      const state = fleet.valueOf(i, './FUMO/State');
      if (codes[i] === 200) {
        assert.equal(state, '100');
        assert.equal(fleet.valueOf(i, './DevDetail/FwV'), '2.0.0');
      } else assert.ok(state === '70' || state === '80', `State ${state} after ${codes[i]}`);
    }
    const gets = files.requests.filter((r) => r.path === '/sim/fw.bin');
    assert.equal(gets.length, 20);
    assert.equal(
      gets.reduce((n, r) => n + r.sent, 0),
      20 * image.byteLength,
      'every device fetched every byte',
    );
    assert.equal(fleet.fumo.stats.downloadBytes, 20 * image.byteLength);
    assert.equal(fleet.fumo.stats.updates, 19);
  } finally {
    fleet.close();
  }
});

test('a simulated device refuses Update without a package (405) and a second Exec while busy (405)', {
  timeout: 30_000,
}, async () => {
  files.put('/sim/slow.bin', { body: new Uint8Array(32 * 1024), throttle: { bytes: 4096, tickMs: 50 } });
  const fleet = new Fleet({
    serverUrl: srv.dm,
    devices: 1,
    prefix: 'simfumo-busy-',
    timing: 'none',
    fumo: { updateMs: 10 },
  });
  try {
    await provisionFleet(fleet, { url: srv.url, token: srv.token, auth: 'md5' });
    const dev = fleet.deviceId(0);
    const q = async (c: unknown) => (await srv.api('POST', `/devices/${dev}/commands`, c)).body.id as string;
    const upd = await q({ type: 'Exec', uri: './FUMO/Update' });
    await q({ type: 'Replace', uri: './FUMO/Download/PkgURL', value: `${files.url}/sim/slow.bin` });
    const first = await q({ type: 'Exec', uri: './FUMO/Download' });
    const second = await q({ type: 'Exec', uri: './FUMO/Download' });
    assert.equal((await fleet.session(0)).ok, true);
    const cmd = async (id: string) => (await srv.api('GET', `/commands/${id}`)).body;
    assert.equal((await cmd(upd)).status, 405);
    assert.equal((await cmd(first)).status, 202);
    assert.equal((await cmd(second)).status, 405);
    assert.equal(fleet.valueOf(0, './FUMO/State'), '30');
    while (fleet.fumo.running > 0) await new Promise((r) => setTimeout(r, 20));
    assert.equal(fleet.valueOf(0, './FUMO/State'), '50');
    assert.equal((await fleet.session(0)).ok, true);
    assert.equal((await cmd(first)).detail.alerts[0].status, 200);
  } finally {
    fleet.close();
  }
});
