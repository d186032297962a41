/**
 * Test backends for the store contract suite: a temp-file SQLite database and a fresh schema on
 * the PostgreSQL at 127.0.0.1:5432 (override with OMADM_TEST_PG_URL). Each fixture is a fresh,
 * empty database; `open()` gives another store instance (another connection/pool) on the same one,
 * which is how the suite simulates a second server process.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { openStore, type Store, type StoreOptions } from '../../../src/server/store/index.ts';

export const PG_URL = process.env.OMADM_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A settable clock shared by every store of a fixture. */
export interface TestClock {
  t: number;
  readonly now: () => number;
  advance(ms: number): void;
}

export function testClock(start = Date.UTC(2026, 0, 1)): TestClock {
  const c: TestClock = {
    t: start,
    now: () => c.t,
    advance(ms: number) {
      c.t += ms;
    },
  };
  return c;
}

export interface Fixture extends AsyncDisposable {
  readonly store: Store;
  readonly clock: TestClock;
  readonly url: string;
  /** Options (such as the PostgreSQL schema) needed to open this database again. */
  readonly options: StoreOptions;
  /** Another store instance on the same database (closed with the fixture). */
  open(options?: StoreOptions): Promise<Store>;
}

export interface TestBackend {
  readonly name: 'sqlite' | 'postgres';
  /** Opens a fresh, empty database. */
  fresh(options?: StoreOptions): Promise<Fixture>;
}

async function fixture(
  url: string,
  extra: StoreOptions,
  options: StoreOptions,
  cleanup: () => Promise<void>,
): Promise<Fixture> {
  const clock = testClock();
  const opened: Store[] = [];
  const open = async (o: StoreOptions = {}) => {
    const s = await openStore(url, { now: clock.now, ...extra, ...options, ...o });
    opened.push(s);
    return s;
  };
  let store: Store;
  try {
    store = await open();
  } catch (e) {
    await cleanup();
    throw e;
  }
  return {
    store,
    clock,
    url,
    options: extra,
    open,
    async [Symbol.asyncDispose]() {
      for (const s of opened) await s.close();
      await cleanup();
    },
  };
}

export const sqliteBackend: TestBackend = {
  name: 'sqlite',
  async fresh(options = {}) {
    const dir = await mkdtemp(join(tmpdir(), 'omadm-store-'));
    return fixture(`sqlite:${join(dir, 'omadm.db')}`, {}, options, () =>
      rm(dir, { recursive: true, force: true }),
    );
  },
};

export const postgresBackend: TestBackend = {
  name: 'postgres',
  async fresh(options = {}) {
    const schema = `omadm_test_${randomBytes(6).toString('hex')}`;
    return fixture(PG_URL, { schema }, options, async () => {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      try {
        await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } finally {
        await c.end();
      }
    });
  },
};

/** Undefined when PostgreSQL answers, else why not (used as the skip message). */
export async function postgresUnavailable(): Promise<string | undefined> {
  const c = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    await c.query('select 1');
    return undefined;
  } catch (e) {
    return `PostgreSQL not reachable at ${PG_URL} (${(e as Error).message}); set OMADM_TEST_PG_URL to run these tests`;
  } finally {
    await c.end().catch(() => {});
  }
}
