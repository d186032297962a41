/**
 * Management tree: load time and memory of a 10,000-node persisted tree (targets: < 100 ms,
 * < 5 MB), plus Get / Replace throughput with and without fsync.
 *
 * Runs under bench/run.ts, or alone: `./omadm node bench/sections/tree.ts`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  JournalTreeStore,
  journalFootprint,
  ManagementTree,
  SqliteTreeStore,
  serverPrincipal,
} from '../../src/tree/index.ts';
import type { BenchContext } from '../run.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/** 10,000 nodes shaped like real MOs: 400 accounts of 24 nodes, plus DevInfo/DevDetail. */
async function build(dir: string): Promise<number> {
  const store = new JournalTreeStore({ dir, fsync: false, compactBytes: 64 * 1024 * 1024 });
  const tree = await ManagementTree.open({ store });
  await tree.ensure('./DevInfo/DevId', { data: 'IMEI:490154203237518', permanent: true });
  await tree.ensure('./DevInfo/Man', { data: 'ACME', permanent: true });
  await tree.ensure('./DevDetail/URI/MaxDepth', { data: '20', permanent: true });
  const tx = await tree.begin();
  for (let a = 0; tree.size < 10_000; a++) {
    const base = `./Vendor/Acct/${a}`;
    await tx.add(base, { format: 'node', type: 'urn:oma:mo:oma-dm-dmacc:1.0' });
    await tx.replace(`${base}?prop=ACL`, { data: `Get=srv${a}&Replace=srv${a}&Delete=srv${a}` });
    await tx.add(`${base}/AppID`, { data: 'w7' });
    await tx.add(`${base}/ServerID`, { data: `srv${a}.example.com` });
    await tx.add(`${base}/Name`, { data: `Server number ${a}` });
    await tx.add(`${base}/AppAddr/1/Addr`, { data: `https://srv${a}.example.com/oma/dm` });
    await tx.add(`${base}/AppAddr/1/AddrType`, { data: 'URI' });
    await tx.add(`${base}/AppAddr/1/Port/1/PortNbr`, { format: 'int', data: '443' });
    await tx.add(`${base}/AAuthPref`, { data: 'HMAC' });
    for (const level of ['CLCRED', 'SRVCRED']) {
      await tx.add(`${base}/AppAuth/${level}/AAuthLevel`, { data: level });
      await tx.add(`${base}/AppAuth/${level}/AAuthType`, { data: 'DIGEST' });
      await tx.add(`${base}/AppAuth/${level}/AAuthName`, { data: `device-${a}` });
      await tx.add(`${base}/AppAuth/${level}/AAuthSecret`, { data: 'c2VjcmV0LXNlY3JldA==' });
      await tx.add(`${base}/AppAuth/${level}/AAuthData`, {
        format: 'bin',
        data: new Uint8Array(16).fill(a & 0xff),
      });
    }
    await tx.add(`${base}/Ext/Flag`, { format: 'bool', data: 'true' });
  }
  await tx.commit();
  const size = tree.size;
  await store.compact(tree.toSnapshot());
  await tree.close();
  return size;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export default async function treeBench(ctx: BenchContext): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'omadm-bench-tree-'));
  try {
    const nodes = await build(dir);
    const files = await journalFootprint(dir);
    const loads: number[] = [];
    let heap = 0;
    for (let i = 0; i < 7; i++) {
      const before = heapAfterGc();
      const t0 = performance.now();
      const tree = await ManagementTree.open({ store: new JournalTreeStore({ dir, fsync: false }) });
      loads.push(performance.now() - t0);
      if (i === 0) heap = heapAfterGc() - before;
      await tree.close();
    }
    ctx.log(`tree: ${nodes} nodes, snapshot ${(files.snapshot / 1024).toFixed(0)} KiB on disk`);
    ctx.log(
      `  load: first ${loads[0]!.toFixed(1)} ms, median ${median(loads).toFixed(1)} ms (target < 100 ms)`,
    );
    ctx.log(`  heap retained by the loaded tree: ${(heap / 1024 / 1024).toFixed(2)} MB (target < 5 MB)`);

    // The same tree in SQLite (snapshot row + batches).
    const dbPath = join(dir, 'tree.db');
    const src = await ManagementTree.open({ store: new JournalTreeStore({ dir, fsync: false }) });
    const sqlite = new SqliteTreeStore({ path: dbPath });
    const copy = await ManagementTree.open({ store: sqlite });
    await sqlite.compact(src.toSnapshot());
    await copy.close();
    await src.close();
    const sqliteLoads: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      const t = await ManagementTree.open({ store: new SqliteTreeStore({ path: dbPath }) });
      sqliteLoads.push(performance.now() - t0);
      if (t.size !== nodes) throw new Error(`sqlite copy has ${t.size} nodes`);
      await t.close();
    }
    ctx.log(`  load from SQLite: median ${median(sqliteLoads).toFixed(1)} ms`);

    const tree = await ManagementTree.open({ store: new JournalTreeStore({ dir, fsync: false }) });
    const who = serverPrincipal('srv7');
    const run = async (label: string, fn: (i: number) => Promise<unknown>) => {
      const until = performance.now() + ctx.seconds * 1000;
      let n = 0;
      while (performance.now() < until) {
        for (let j = 0; j < 100; j++) await fn(n++);
      }
      const rate = n / ctx.seconds;
      ctx.log(`  ${label}: ${Math.round(rate).toLocaleString('en')} ops/s`);
      return rate;
    };
    const getRate = await run('Get leaf (ACL checked)', () =>
      tree.get('./Vendor/Acct/7/AppAddr/1/Addr', who),
    );
    const replaceRate = await run('Replace leaf, journal without fsync', (i) =>
      tree.replace('./Vendor/Acct/7/Name', { data: `name ${i}` }, who),
    );
    await tree.close();
    const synced = await ManagementTree.open({ store: new JournalTreeStore({ dir, fsync: true }) });
    const syncedRate = await run('Replace leaf, journal with fdatasync', (i) =>
      synced.replace('./Vendor/Acct/7/Name', { data: `name ${i}` }, who),
    );
    await synced.close();
    ctx.results.tree = {
      nodes,
      snapshotBytes: files.snapshot,
      loadFirstMs: loads[0],
      loadMedianMs: median(loads),
      heapBytes: heap,
      sqliteLoadMedianMs: median(sqliteLoads),
      getPerSec: getRate,
      replacePerSec: replaceRate,
      replaceFsyncPerSec: syncedRate,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = new URL('../../', import.meta.url);
  await treeBench({
    seconds: 1,
    results: {},
    root,
    shared: new URL('../shared/', root),
    log: (line = '') => process.stdout.write(`${line}\n`),
  });
}
