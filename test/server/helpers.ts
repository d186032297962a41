/**
 * Test helpers for the server product: a store per backend (SQLite in a temp dir, PostgreSQL in a
 * fresh schema when reachable), a running server on 127.0.0.1:0, and a tiny JSON client.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createServer, type OmadmServer, type ServerOptions } from '../../src/server/index.ts';
import { openStore, type Store } from '../../src/server/store/index.ts';

export const PG_URL = process.env.OMADM_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

let pgReachable: Promise<boolean> | undefined;
/** Whether the test PostgreSQL answers (checked once per process). */
export function postgresReachable(): Promise<boolean> {
  pgReachable ??= (async () => {
    const c = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2000 });
    try {
      await c.connect();
      await c.query('select 1');
      return true;
    } catch {
      return false;
    } finally {
      await c.end().catch(() => undefined);
    }
  })();
  return pgReachable;
}

export const SECRET_KEY = new Uint8Array(randomBytes(32));

export interface Backend {
  readonly name: 'sqlite' | 'postgres';
  /** Opens a store on this backend's database for the current test (several opens share it). */
  open(): Promise<Store>;
  /** Removes the database (temp dir or schema). */
  cleanup(): Promise<void>;
}

/** A fresh database on the named backend. */
export async function freshBackend(name: 'sqlite' | 'postgres'): Promise<Backend> {
  if (name === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'omadm-server-test-'));
    const url = `sqlite:${join(dir, 'omadm.db')}`;
    return {
      name,
      open: () => openStore(url, { secretKey: SECRET_KEY }),
      cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    };
  }
  const schema = `t_${randomBytes(6).toString('hex')}`;
  return {
    name,
    open: () => openStore(PG_URL, { secretKey: SECRET_KEY, schema, poolSize: 4 }),
    cleanup: async () => {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      try {
        await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } finally {
        await c.end();
      }
    },
  };
}

/** The backends to run on: SQLite always, PostgreSQL when reachable (skip reason otherwise). */
export async function backends(): Promise<{ name: 'sqlite' | 'postgres'; skip: string | false }[]> {
  const pgOk = await postgresReachable();
  return [
    { name: 'sqlite', skip: false },
    { name: 'postgres', skip: pgOk ? false : `PostgreSQL not reachable at ${PG_URL}` },
  ];
}

export interface Running {
  readonly server: OmadmServer;
  readonly store: Store;
  readonly url: string;
  readonly admin: string;
  close(): Promise<void>;
}

/** A server on 127.0.0.1:0 with an admin token. */
export async function startServer(
  store: Store,
  options: Partial<ServerOptions> = {},
  admin = `admin-${randomBytes(12).toString('hex')}`,
): Promise<Running> {
  const server = await createServer({ store, logger: false, sweepIntervalMs: 0, ...options });
  if (!(await store.tokens.verify(admin)))
    await store.tokens.create({ name: 'admin', role: 'admin', secret: admin });
  const { url } = await server.listen({ host: '127.0.0.1', port: 0 });
  return { server, store, url, admin, close: () => server.close() };
}

export interface JsonResponse<T = unknown> {
  readonly status: number;
  readonly body: T;
  readonly headers: Headers;
}

/** A JSON request against the API of `base` (`/api/v1` prefix added for relative API paths). */
// biome-ignore lint/suspicious/noExplicitAny: tests inspect JSON answers freely.
export async function api<T = any>(
  base: string,
  token: string | undefined,
  method: string,
  path: string,
  body?: unknown,
): Promise<JsonResponse<T>> {
  const url =
    path.startsWith('/api/') ||
    path.startsWith('/openapi') ||
    path.startsWith('/metrics') ||
    path.startsWith('/healthz')
      ? base + path
      : `${base}/api/v1${path}`;
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(url, {
    method,
    headers,
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON (metrics)
  }
  return { status: res.status, body: parsed as T, headers: res.headers };
}
