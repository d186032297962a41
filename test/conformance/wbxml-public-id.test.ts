/**
 * issue 11 (protocol defects): a WBXML document of another type (DevInf) must not decode as SyncML.
 * The decoder checks the public id, numeric and string-table form: `omadm server` refuses such a
 * message (HTTP 400), `omadm codec decode` exits non-zero with the reason, and real SyncML public
 * ids (1.1's and 1.2's, numeric and as FPI, and "unknown") still decode.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { syncmlCodec } from '../../src/protocol/default-codec.ts';
import { DecodeError, decodeMessage } from '../../src/representation/index.ts';
import type { Store } from '../../src/server/store/index.ts';
import { api, type Backend, freshBackend, type Running, startServer } from '../server/helpers.ts';
import { ScriptedDevice } from '../server/scripted-device.ts';

const BIN = fileURLToPath(new URL('../../bin/omadm.js', import.meta.url));

/** A WBXML 1.2 document: `publicId` (numeric, or an FPI in the string table) and `body` tokens. */
function document(publicId: number | string, body: Uint8Array): Uint8Array {
  if (typeof publicId === 'number') {
    const id = publicId < 0x80 ? [publicId] : [0x80 | (publicId >> 7), publicId & 0x7f];
    return new Uint8Array([0x02, ...id, 0x6a, 0x00, ...body]);
  }
  const fpi = Buffer.from(`${publicId}\0`);
  return new Uint8Array([0x02, 0x00, 0x00, 0x6a, fpi.length, ...fpi, ...body]);
}

/** The token stream of a valid SyncML package 1 (as omadm encodes it with a numeric id). */
function syncmlBody(dev: ScriptedDevice): Uint8Array {
  const bytes = syncmlCodec.encode(syncmlCodec.decode(Buffer.from(dev.package1()), 'xml'), 'wbxml');
  // version, mb_u_int32 public id 0x1201 (2 bytes), charset, empty string table.
  assert.deepEqual([...bytes.subarray(0, 5)], [0x02, 0xa4, 0x01, 0x6a, 0x00]);
  return bytes.subarray(5);
}

const DEVINF = [
  { name: 'numeric DevInf 1.2 (0x1203)', id: 0x1203 },
  { name: 'numeric DevInf 1.1 (0x0FD4)', id: 0x0fd4 },
  { name: 'string-table DevInf 1.2', id: '-//SYNCML//DTD DevInf 1.2//EN' },
] as const;

describe('WBXML public id (issue 11)', () => {
  let backend: Backend;
  let store: Store;
  let srv: Running;

  before(async () => {
    backend = await freshBackend('sqlite');
    store = await backend.open();
    srv = await startServer(store);
    await api(srv.url, srv.admin, 'POST', '/devices', {
      id: 'IMEI:355000000000001',
      secret: 's',
      authType: 'basic',
    });
  });
  after(async () => {
    await srv?.close();
    await store?.close();
    await backend?.cleanup();
  });

  for (const { name, id } of DEVINF) {
    test(`the server refuses a ${name} document carrying SyncML tokens`, async () => {
      const dev = new ScriptedDevice(`${srv.url}/dm`, { deviceId: 'IMEI:355000000000001', secret: 's' });
      const body = document(id, syncmlBody(dev));
      assert.throws(
        () => decodeMessage(body),
        (e: unknown) =>
          e instanceof DecodeError &&
          e.code === 'wbxml.publicid' &&
          /not a SyncML DM document/.test(e.message),
      );
      const res = await fetch(`${srv.url}/dm`, {
        method: 'POST',
        headers: { 'content-type': 'application/vnd.syncml.dm+wbxml' },
        body,
      });
      assert.equal(res.status, 400);
      await res.arrayBuffer();
    });
  }

  test('SyncML public ids still decode: 1.2 and 1.1 numeric and as FPI, and "unknown" (1)', async () => {
    const dev = new ScriptedDevice(`${srv.url}/dm`, { deviceId: 'IMEI:355000000000001', secret: 's' });
    const body = syncmlBody(dev);
    for (const id of [0x1201, 0x0fd3, 1, '-//SYNCML//DTD SyncML 1.2//EN', '-//SYNCML//DTD SyncML 1.1//EN']) {
      assert.equal(decodeMessage(document(id, body)).SyncHdr.SessionID, dev.sessionId, String(id));
    }
    // And the server answers such a package 1.
    const res = await fetch(`${srv.url}/dm`, {
      method: 'POST',
      headers: { 'content-type': 'application/vnd.syncml.dm+wbxml' },
      body: document('-//SYNCML//DTD SyncML 1.1//EN', body),
    });
    assert.equal(res.status, 200);
    await res.arrayBuffer();
  });

  test('omadm codec decode exits non-zero with the reason for a DevInf document', () => {
    const dev = new ScriptedDevice(`${srv.url}/dm`, { deviceId: 'IMEI:355000000000001', secret: 's' });
    for (const { id } of DEVINF) {
      const r = spawnSync(process.execPath, [BIN, 'codec', 'decode', '-'], {
        input: document(id, syncmlBody(dev)),
      });
      assert.notEqual(r.status, 0);
      assert.match(r.stderr.toString(), /not a SyncML DM document/);
      assert.equal(r.stdout.toString(), '');
    }
  });
});
