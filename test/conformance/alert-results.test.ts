/**
 * issue 20 §3: a Generic Alert's result is judged by its alert type, one table per object (FUMO
 * 200 and 250–299; SCOMO, LAWMO, DCMO 1200–1299), the same for Data and for SCOMO's XML result
 * fragment; a type no table knows is kept as sent, without a verdict; `omadm cmd show` prints the
 * alert's result code, not only the Exec's 202. A scripted device answers each Exec 202 and then
 * reports its result in a Generic Alert, over real HTTP.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { redirectOutput } from '../../src/cli/api/output.ts';
import { main } from '../../src/cli/main.ts';
import { ALERT_RESULT_TABLES, judgeAlert } from '../../src/mo/alert-results.ts';
import type { Store } from '../../src/server/store/index.ts';
import { api, type Backend, freshBackend, type Running, startServer } from '../server/helpers.ts';
import { ScriptedDevice } from '../server/scripted-device.ts';

const enc = encodeURIComponent;
const SCOMO = 'urn:oma:at:scomo:1.0:OperationComplete';
const LAWMO = 'urn:oma:at:lawmo:1.0:OperationComplete';
const DCMO = 'urn:oma:at:dcmo:1.0:OperationComplete';
const FUMO = 'org.openmobilealliance.dm.firmwareupdate.downloadandupdate';

/** What each Exec reports, and what the command must end as. */
const CASES = [
  {
    target: './SCOMO/Download/P1/Operations/DownloadInstall',
    type: SCOMO,
    format: 'xml',
    data: '<ResultCode>1200</ResultCode><Identifier>C1</Identifier>',
    state: 'succeeded',
    code: 1200,
  },
  {
    target: './SCOMO/Download/P2/Operations/DownloadInstall',
    type: SCOMO,
    format: 'xml',
    data: '<ResultCode>1405</ResultCode><Identifier>C2</Identifier>',
    state: 'failed',
    code: 1405,
  },
  {
    target: './SCOMO/Inventory/Deployed/C3/Operations/Remove',
    type: SCOMO,
    format: 'int',
    data: '1200',
    state: 'succeeded',
    code: 1200,
  },
  {
    target: './LAWMO/Operations/FullyLock',
    type: LAWMO,
    format: 'int',
    data: '1200',
    state: 'succeeded',
    code: 1200,
  },
  {
    target: './LAWMO/Operations/Wipe',
    type: `Reversed-Domain-Name: ${LAWMO}`,
    format: 'int',
    data: '1201',
    state: 'succeeded',
    code: 1201,
  },
  {
    target: './DCMO/Camera/Operations/Enable',
    type: DCMO,
    format: 'int',
    data: '1404',
    state: 'failed',
    code: 1404,
  },
  {
    target: './FUMO/DownloadAndUpdate',
    type: FUMO,
    format: 'int',
    data: '250',
    state: 'succeeded',
    code: 250,
  },
  {
    target: './FUMO2/DownloadAndUpdate',
    type: FUMO,
    format: 'int',
    data: '1200',
    state: 'failed',
    code: 1200,
  },
  {
    target: './Vendor/Op',
    type: 'com.example.vendor.result',
    format: 'int',
    data: '200',
    state: 'unknown',
    code: 200,
  },
] as const;

async function cli(args: string[], env: Record<string, string>): Promise<{ code: number; out: string }> {
  let out = '';
  const add = (t: string) => {
    out += t;
  };
  const restore = redirectOutput({ out: add, err: add });
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    const code = await main(args);
    return { code, out };
  } finally {
    restore();
    for (const k of Object.keys(env)) if (saved[k] === undefined) delete process.env[k];
    process.exitCode = undefined;
  }
}

describe('Generic Alert results judged by alert type (issue 20 §3)', () => {
  let backend: Backend;
  let store: Store;
  let srv: Running;
  const A = (method: string, path: string, body?: unknown) => api(srv.url, srv.admin, method, path, body);

  before(async () => {
    backend = await freshBackend('sqlite');
    store = await backend.open();
    srv = await startServer(store);
  });
  after(async () => {
    await srv?.close();
    await store?.close();
    await backend?.cleanup();
  });

  test('SCOMO, LAWMO, DCMO and FUMO results by their tables; an unknown type without a verdict; cmd show prints the result', async () => {
    const id = 'IMEI:353000000000001';
    assert.equal((await A('POST', '/devices', { id, secret: 's3cret', authType: 'basic' })).status, 201);
    const ids: string[] = [];
    for (const c of CASES)
      ids.push((await A('POST', `/devices/${enc(id)}/commands`, { type: 'Exec', uri: c.target })).body.id);

    const dev = new ScriptedDevice(`${srv.url}/dm`, { deviceId: id, secret: 's3cret' });
    const a = await dev.send(dev.package1());
    const execs = a.commands.filter((c) => c.type === 'Exec');
    assert.equal(execs.length, CASES.length);
    // Package 3: 202 for every Exec, then one Generic Alert per finished operation.
    const parts = [dev.hdrStatus(1)];
    let n = 2;
    for (const e of execs) parts.push(dev.status(n++, e.CmdID ?? '', 'Exec', 202));
    for (const e of execs) {
      if (e.type !== 'Exec') continue;
      const c = CASES.find((x) => x.target === e.Item[0]?.Target?.LocURI)!;
      const data = c.data.replace(/</g, '&lt;').replace(/>/g, '&gt;');
      parts.push(
        `<Alert><CmdID>${n++}</CmdID><Data>1226</Data><Correlator>${e.Correlator}</Correlator><Item>` +
          `<Source><LocURI>${c.target}</LocURI></Source><Meta><Type xmlns="syncml:metinf">${c.type}</Type>` +
          `<Format xmlns="syncml:metinf">${c.format}</Format></Meta><Data>${data}</Data></Item></Alert>`,
      );
    }
    const end = await dev.send(dev.message(dev.header(), parts.join(''), true));
    assert.ok(end.final);
    for (const st of end.statuses.filter((s) => s.Cmd === 'Alert')) assert.equal(st.Data, 200);

    for (let i = 0; i < CASES.length; i++) {
      const c = CASES[i]!;
      const got = await A('GET', `/commands/${ids[i]}`);
      assert.equal(got.body.state, c.state, `${c.target}: ${JSON.stringify(got.body.detail)}`);
      assert.equal(got.body.status, 202);
      const alert = got.body.detail.alerts[0];
      assert.equal(alert.status, c.code, c.target);
      assert.equal(alert.type, c.type);
      assert.equal(
        alert.verdict,
        c.state === 'unknown' ? 'none' : c.state === 'succeeded' ? 'success' : 'failure',
      );
    }
    const env = { OMADM_URL: srv.url, OMADM_TOKEN: srv.admin };
    const lawmo = await cli(['cmd', 'show', ids[3]!], env);
    assert.equal(lawmo.code, 0);
    assert.match(
      lawmo.out,
      /succeeded, status 202 .*; result 1200 \(urn:oma:at:lawmo:1\.0:OperationComplete, success\)$/m,
    );
    const unknown = await cli(['cmd', 'show', ids[8]!], env);
    assert.match(
      unknown.out,
      /unknown, status 202 .*; result 200 \(com\.example\.vendor\.result, no verdict\)$/m,
    );
    const failed = await cli(['cmd', 'show', ids[1]!, '--wait', '1'], env);
    assert.notEqual(failed.code, 0);
    assert.match(failed.out, /result 1405/);
  });
});

test('the tables: success ranges by object, failure otherwise, no verdict without a table', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2000 }), (code) => {
      const fumo = judgeAlert(FUMO, String(code)).verdict;
      assert.equal(fumo, code === 200 || (code >= 250 && code <= 299) ? 'success' : 'failure');
      for (const t of [SCOMO, LAWMO, DCMO]) {
        const want = code >= 1200 && code <= 1299 ? 'success' : 'failure';
        assert.equal(judgeAlert(t, String(code)).verdict, want);
        assert.equal(
          judgeAlert(t.toUpperCase(), ` <ResultCode>${code}</ResultCode><Identifier>x</Identifier>`).verdict,
          want,
        );
      }
      // omadm's own async Exec result reads like a Status: 2xx success.
      assert.equal(
        judgeAlert('org.omadm.exec.result', String(code)).verdict,
        code >= 200 && code <= 299 ? 'success' : 'failure',
      );
      assert.equal(judgeAlert('org.example.other', String(code)).verdict, 'none');
      assert.equal(judgeAlert(undefined, String(code)).verdict, 'none');
    }),
  );
  assert.equal(judgeAlert(SCOMO, 'not a code').verdict, 'none');
  assert.equal(judgeAlert('org.openmobilealliance.firmwareupdate.update', '200').verdict, 'success');
  assert.deepEqual(
    ALERT_RESULT_TABLES.map((t) => t.object),
    ['FUMO', 'SCOMO', 'LAWMO', 'DCMO', 'omadm'],
  );
});

describe('an Exec answered synchronously with an MO result code (objects.md §0.3)', () => {
  let backend: Backend;
  let store: Store;
  let srv: Running;
  const A = (method: string, path: string, body?: unknown) => api(srv.url, srv.admin, method, path, body);

  before(async () => {
    backend = await freshBackend('sqlite');
    store = await backend.open();
    srv = await startServer(store);
  });
  after(async () => {
    await srv?.close();
    await store?.close();
    await backend?.cleanup();
  });

  test('Status 1200 succeeds and 1404 fails the Exec; the session goes on (no HTTP 500)', async () => {
    const id = 'IMEI:353000000000002';
    assert.equal((await A('POST', '/devices', { id, secret: 's3cret', authType: 'basic' })).status, 201);
    const lock = await A('POST', `/devices/${enc(id)}/commands`, {
      type: 'Exec',
      uri: './LAWMO/Operations/FullyLock',
    });
    const enable = await A('POST', `/devices/${enc(id)}/commands`, {
      type: 'Exec',
      uri: './DCMO/Camera/Operations/Enable',
    });
    const dev = new ScriptedDevice(`${srv.url}/dm`, { deviceId: id, secret: 's3cret' });
    const a = await dev.send(dev.package1());
    const [e1, e2] = a.commands.filter((c) => c.type === 'Exec');
    const end = await dev.send(
      dev.message(
        dev.header(),
        dev.hdrStatus(1) +
          dev.status(2, e1!.CmdID ?? '', 'Exec', 1200) +
          dev.status(3, e2!.CmdID ?? '', 'Exec', 1404),
        true,
      ),
    );
    assert.ok(end.final);
    const l = await A('GET', `/commands/${lock.body.id}`);
    assert.equal(l.body.state, 'succeeded');
    assert.equal(l.body.status, 1200);
    const d = await A('GET', `/commands/${enable.body.id}`);
    assert.equal(d.body.state, 'failed');
    assert.equal(d.body.status, 1404);
  });
});
