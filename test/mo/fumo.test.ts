/**
 * FUMO state machine against objects.md §1.2–§1.4: the State at every step, 202/405 answers, one
 * report per operation with the alert type of the operation, the Correlator and the result code,
 * the package kept or deleted (70/80, 90/100), and resumption from the persisted record.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  FUMO_MO_ID,
  FumoAlertType,
  type FumoDevice,
  type FumoFetchOutcome,
  type FumoInstallOutcome,
  FumoObject,
  type FumoReport,
  FumoState,
  fumoDdf,
  fumoMark,
  isFumoSuccess,
  MemoryFumoStore,
  sha256FromUrl,
} from '../../src/mo/index.ts';
import { StatusCode } from '../../src/representation/index.ts';
import { ManagementTree, serverPrincipal } from '../../src/tree/index.ts';

const SRV = serverPrincipal('srv-1');
const HASH = 'a'.repeat(64);

/** A device whose download/install outcomes the test scripts, step by step. */
class FakeDevice implements FumoDevice {
  stored = false;
  downloads: { url: string; sha256?: string }[] = [];
  installs = 0;
  confirms = 0;
  reboots = 0;
  downloadOutcome: () => Promise<FumoFetchOutcome> = async () => ({
    ok: true,
    pkg: { sha256: HASH, size: 10 },
  });
  installOutcome: () => Promise<FumoInstallOutcome> = async () => ({ result: 200 });
  confirmOutcome: () => Promise<FumoInstallOutcome> = async () => ({ result: 200 });
  async download(r: { url: string; sha256?: string }): Promise<FumoFetchOutcome> {
    this.downloads.push({ url: r.url, ...(r.sha256 ? { sha256: r.sha256 } : {}) });
    const out = await this.downloadOutcome();
    if (out.ok) this.stored = true;
    return out;
  }
  async storeInBand(data: Uint8Array): Promise<FumoFetchOutcome> {
    this.stored = true;
    return { ok: true, pkg: { sha256: HASH, size: data.byteLength } };
  }
  async install(): Promise<FumoInstallOutcome> {
    this.installs++;
    return this.installOutcome();
  }
  async confirm(): Promise<FumoInstallOutcome> {
    this.confirms++;
    return this.confirmOutcome();
  }
  async reboot(): Promise<void> {
    this.reboots++;
  }
  hasPackage(): boolean {
    return this.stored;
  }
  discardPackage(): void {
    this.stored = false;
  }
}

async function setup(options: { keepPackage?: boolean; store?: MemoryFumoStore; device?: FakeDevice } = {}) {
  const device = options.device ?? new FakeDevice();
  const reports: FumoReport[] = [];
  const states: number[] = [];
  const store = options.store ?? new MemoryFumoStore();
  const fumo = new FumoObject({
    device,
    store,
    report: (r) => {
      reports.push(r);
    },
    onState: (s) => states.push(s),
    ...(options.keepPackage !== undefined ? { keepPackage: options.keepPackage } : {}),
  });
  const tree = await ManagementTree.open();
  await tree.mount('./FUMO', fumo);
  await tree.replace('./FUMO?prop=ACL', { data: 'Get=*&Replace=*&Exec=*' });
  const get = async (uri: string) => {
    const g = await tree.get(uri, SRV);
    return g.status === 200 ? String(g.items[0]?.data) : g.status;
  };
  const set = (uri: string, data: string) => tree.replace(uri, { format: 'chr', data }, SRV);
  const exec = (op: string, correlator?: string) =>
    tree.exec(`./FUMO/${op}`, correlator ? { correlator } : {}, SRV);
  return { fumo, tree, device, reports, states, store, get, set, exec };
}

describe('FUMO tree (objects.md §1.1)', () => {
  test('every node of the shipped DDF is in the plugin tree with the DDF format', async () => {
    const { tree } = await setup();
    const walk = async (n: ReturnType<typeof fumoDdf>['nodes'][number], uri: string): Promise<void> => {
      const got = await tree.get(uri);
      assert.equal(got.status, 200, uri);
      assert.equal(got.items[0]?.format, n.df.format, uri);
      for (const c of n.children) await walk(c, `${uri}/${c.name}`);
    };
    const root = fumoDdf().nodes[0]!;
    assert.deepEqual(root.df.type, { ddfName: FUMO_MO_ID });
    await walk(root, './FUMO');
    const top = await tree.get('./FUMO');
    assert.equal(top.items[0]?.type, FUMO_MO_ID);
    assert.equal(top.items[0]?.data, 'PkgName/PkgVersion/Download/Update/DownloadAndUpdate/State/Ext');
  });

  test('State is read-only, PkgName/PkgVersion/PkgURL/Ext/SHA256 are replaceable, a bad hash is 400', async () => {
    const { get, set } = await setup();
    assert.equal(await get('./FUMO/State'), '10');
    assert.equal(await set('./FUMO/State', '100'), StatusCode.CommandNotAllowed);
    assert.equal(await set('./FUMO/PkgName', 'fw'), 200);
    assert.equal(await set('./FUMO/PkgVersion', '2.0'), 200);
    assert.equal(await set('./FUMO/Download/PkgURL', 'http://x/fw.bin'), 200);
    assert.equal(await get('./FUMO/Download/PkgURL'), 'http://x/fw.bin');
    assert.equal(await set('./FUMO/Ext/SHA256', 'nothex'), StatusCode.BadRequest);
    assert.equal(await set('./FUMO/Ext/SHA256', HASH.toUpperCase()), 200);
    assert.equal(await get('./FUMO/Ext/SHA256'), HASH);
    assert.equal(await set('./FUMO/Ext/Progress', '5'), StatusCode.CommandNotAllowed);
  });
});

describe('FUMO Exec semantics (objects.md §1.2–§1.4)', () => {
  test('DownloadAndUpdate: 202, States 30 → 40 → 60 → 100, one report with its alert type, the Correlator and 200', async () => {
    const { fumo, device, reports, states, get, set, exec } = await setup();
    assert.equal(await exec('DownloadAndUpdate', 'c-1'), StatusCode.CommandNotAllowed, 'no PkgURL: 405');
    await set('./FUMO/DownloadAndUpdate/PkgURL', `http://fw/p.bin#sha256=${HASH}`);
    assert.equal(await exec('DownloadAndUpdate', 'c-1'), StatusCode.AcceptedForProcessing);
    await fumo.idle();
    assert.deepEqual(states, [30, 40, 60, 100]);
    assert.equal(await get('./FUMO/State'), '100');
    assert.equal(device.downloads[0]?.sha256, HASH, 'the #sha256= fragment is the expected hash');
    assert.deepEqual(reports, [
      {
        uri: './FUMO',
        serverId: 'srv-1',
        correlator: 'c-1',
        alertType: FumoAlertType.DownloadAndUpdate,
        resultCode: 200,
        mark: 'informational',
        state: 100,
      },
    ]);
    assert.equal(device.stored, false, 'package deleted after the update (100 = no data)');
    assert.equal(await get('./FUMO/Ext/LastResult'), '200');
  });

  test('a failed download ends in State 20 with the download failure under the DownloadAndUpdate alert type', async () => {
    const { fumo, device, reports, states, set, exec } = await setup();
    device.downloadOutcome = async () => ({ ok: false, result: 411 });
    await set('./FUMO/DownloadAndUpdate/PkgURL', 'http://fw/missing.bin');
    assert.equal(await exec('DownloadAndUpdate', 'c-2'), 202);
    await fumo.idle();
    assert.deepEqual(states, [30, 20]);
    assert.equal(reports[0]?.alertType, FumoAlertType.DownloadAndUpdate);
    assert.equal(reports[0]?.resultCode, 411);
    assert.equal(reports[0]?.mark, 'warning');
    assert.equal(device.installs, 0, 'nothing installed');
  });

  test('Download then Update: 30 → 40 → 50 (download alert), then 60 → 100 (update alert); Update with no package is 405', async () => {
    const { fumo, reports, states, set, exec } = await setup();
    assert.equal(await exec('Update', 'u-0'), StatusCode.CommandNotAllowed);
    await set('./FUMO/Download/PkgURL', 'http://fw/p.bin');
    assert.equal(await exec('Download', 'd-1'), 202);
    await fumo.idle();
    assert.deepEqual(states, [30, 40, 50]);
    assert.equal(reports[0]?.alertType, FumoAlertType.Download);
    assert.equal(reports[0]?.resultCode, 200);
    assert.equal(await exec('Update', 'u-1'), 202);
    await fumo.idle();
    assert.deepEqual(states, [30, 40, 50, 60, 100]);
    assert.equal(reports[1]?.alertType, FumoAlertType.Update);
    assert.equal(reports[1]?.correlator, 'u-1');
  });

  test('an update failure keeps the package (70) and may be retried; a rejected package is deleted (80)', async () => {
    const { fumo, device, reports, states, set, exec } = await setup();
    device.installOutcome = async () => ({ result: 410 });
    await set('./FUMO/DownloadAndUpdate/PkgURL', 'http://fw/p.bin');
    await exec('DownloadAndUpdate', 'a');
    await fumo.idle();
    assert.equal(fumo.state, FumoState.UpdateFailedHaveData);
    assert.equal(reports[0]?.resultCode, 410);
    assert.equal(reports[0]?.mark, 'critical');
    assert.equal(device.stored, true);
    device.installOutcome = async () => ({ result: 404 });
    assert.equal(await exec('Update', 'b'), 202, 'Update from 70');
    await fumo.idle();
    assert.equal(fumo.state, FumoState.UpdateFailedNoData);
    assert.equal(device.stored, false);
    assert.equal(reports[1]?.resultCode, 404);
    assert.equal(await exec('Update', 'c'), 405, 'no package left');
    assert.deepEqual(states.slice(-2), [60, 80]);
  });

  test('keepPackage: a successful update ends in 90 (have data)', async () => {
    const { fumo, device, set, exec } = await setup({ keepPackage: true });
    await set('./FUMO/DownloadAndUpdate/PkgURL', 'http://fw/p.bin');
    await exec('DownloadAndUpdate');
    await fumo.idle();
    assert.equal(fumo.state, FumoState.UpdateSuccessfulHaveData);
    assert.equal(device.stored, true);
  });

  test('one operation at a time: a second Exec while one runs is 405', async () => {
    const { fumo, device, set, exec, get } = await setup();
    let release!: () => void;
    device.downloadOutcome = () =>
      new Promise((r) => {
        release = () => r({ ok: true, pkg: { sha256: HASH, size: 1 } });
      });
    await set('./FUMO/DownloadAndUpdate/PkgURL', 'http://fw/p.bin');
    await set('./FUMO/Download/PkgURL', 'http://fw/p.bin');
    assert.equal(await exec('DownloadAndUpdate', 'x'), 202);
    await new Promise((r) => setImmediate(r));
    assert.equal(await get('./FUMO/State'), '30');
    assert.equal(await exec('Download', 'y'), 405);
    assert.equal(await exec('Update', 'z'), 405);
    release();
    await fumo.idle();
    assert.equal(fumo.state, 100);
  });

  test('in-band package (Replace Update/PkgData) → 50, then Exec Update', async () => {
    const { fumo, tree, reports, states, exec } = await setup();
    const st = await tree.replace(
      './FUMO/Update/PkgData',
      { format: 'bin', data: new Uint8Array([1, 2, 3]) },
      SRV,
    );
    assert.equal(st, 200);
    assert.deepEqual(states, [50]);
    const b64 = Buffer.from([4, 5]).toString('base64');
    assert.equal(
      await tree.replace('./FUMO/Update/PkgData', { format: 'b64', data: b64 }, SRV),
      200,
      'b64 (XML) too',
    );
    assert.equal(await exec('Update', 'ib'), 202);
    await fumo.idle();
    assert.equal(fumo.state, 100);
    assert.equal(reports[0]?.alertType, FumoAlertType.Update);
  });

  test('Exec is refused inside an Atomic (cannot be undone)', async () => {
    const { tree, set } = await setup();
    await set('./FUMO/Download/PkgURL', 'http://fw/p.bin');
    const tx = await tree.begin();
    assert.equal(await tx.exec('./FUMO/Download', {}, SRV), 500);
    await tx.rollback();
  });
});

describe('FUMO persistence', () => {
  test('an interrupted download is resumed by the next instance (same store) and reported once', async () => {
    const store = new MemoryFumoStore();
    const first = await setup({ store });
    first.device.downloadOutcome = () => new Promise(() => {}); // "killed" mid-download
    await first.set('./FUMO/DownloadAndUpdate/PkgURL', 'http://fw/p.bin');
    assert.equal(await first.exec('DownloadAndUpdate', 'r-1'), 202);
    await new Promise((r) => setImmediate(r));
    assert.equal(store.load()?.state, 30);
    // A new process: same record, a working device.
    const device = new FakeDevice();
    const second = await setup({ store, device });
    assert.equal(second.fumo.state, 30);
    second.fumo.start();
    await second.fumo.idle();
    assert.equal(device.downloads[0]?.url, 'http://fw/p.bin');
    assert.equal(second.fumo.state, 100);
    assert.equal(second.reports.length, 1);
    assert.equal(second.reports[0]?.correlator, 'r-1');
    assert.equal(second.reports[0]?.serverId, 'srv-1');
    assert.equal(store.load()?.job, undefined);
  });

  test('an update applied by a restart is reported after it, with the result the confirmation gives', async () => {
    const store = new MemoryFumoStore();
    const first = await setup({ store });
    first.device.installOutcome = async () => ({ reboot: true });
    await first.set('./FUMO/DownloadAndUpdate/PkgURL', 'http://fw/p.bin');
    await first.exec('DownloadAndUpdate', 'rb');
    await first.fumo.idle();
    assert.equal(first.fumo.state, 60, 'still updating until the restart proves it');
    assert.equal(first.device.reboots, 1);
    assert.equal(first.reports.length, 0, 'never reported before the restart');
    const device = new FakeDevice();
    device.stored = true;
    const second = await setup({ store, device });
    second.fumo.start();
    await second.fumo.idle();
    assert.equal(device.confirms, 1);
    assert.equal(device.installs, 0, 'not installed twice');
    assert.equal(second.fumo.state, 100);
    assert.equal(second.reports[0]?.resultCode, 200);
    assert.equal(second.reports[0]?.alertType, FumoAlertType.DownloadAndUpdate);
  });

  test('a restart that did not bring the new firmware up reports the failure (never success)', async () => {
    const store = new MemoryFumoStore();
    const first = await setup({ store });
    first.device.installOutcome = async () => ({ reboot: true });
    await first.set('./FUMO/DownloadAndUpdate/PkgURL', 'http://fw/p.bin');
    await first.exec('DownloadAndUpdate', 'rb2');
    await first.fumo.idle();
    const device = new FakeDevice();
    device.stored = true;
    device.confirmOutcome = async () => ({ result: 410 });
    const second = await setup({ store, device });
    second.fumo.start();
    await second.fumo.idle();
    assert.equal(second.fumo.state, 70);
    assert.equal(second.reports[0]?.resultCode, 410);
  });

  test('a report the sink could not take is reported again at the next start', async () => {
    const store = new MemoryFumoStore();
    const device = new FakeDevice();
    const fumo = new FumoObject({
      device,
      store,
      report: () => {
        throw new Error('outbox full');
      },
    });
    const tree = await ManagementTree.open();
    await tree.mount('./FUMO', fumo);
    await tree.replace('./FUMO/DownloadAndUpdate/PkgURL', { data: 'http://fw/p.bin' });
    assert.equal(await tree.exec('./FUMO/DownloadAndUpdate', { correlator: 'k' }), 202);
    await fumo.idle();
    assert.equal(store.load()?.job?.phase, 'report');
    const again = await setup({ store, device });
    again.fumo.start();
    await again.fumo.idle();
    assert.equal(again.reports[0]?.correlator, 'k');
    assert.equal(again.reports[0]?.resultCode, 200);
    assert.equal(device.installs, 1, 'reporting again does not install again');
  });
});

describe('FUMO codes', () => {
  test('success is 200 and 250–299 only; failures are never marked informational', () => {
    fc.assert(
      fc.property(fc.integer({ min: 100, max: 999 }), (code) => {
        const ok = isFumoSuccess(code);
        assert.equal(ok, code === 200 || (code >= 250 && code <= 299));
        assert.equal(fumoMark(code) === 'informational', ok);
      }),
    );
  });

  test('#sha256= fragment convention', () => {
    assert.equal(sha256FromUrl(`http://h/p#sha256=${HASH}`), HASH);
    assert.equal(sha256FromUrl(`http://h/p#x=1&sha256=${HASH.toUpperCase()}`), HASH);
    assert.equal(sha256FromUrl('http://h/p#sha256=abc'), undefined);
    assert.equal(sha256FromUrl(`http://h/p?sha256=${HASH}`), undefined);
  });
});
