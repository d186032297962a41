/**
 * A real omadm server (createServer on SQLite in a temp dir) on 127.0.0.1:0 with an admin token,
 * for the client and simulator tests.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type OmadmServer } from '../../src/server/index.ts';
import { openStore, type Store } from '../../src/server/store/index.ts';

export interface TestServer {
  readonly url: string;
  readonly dm: string;
  readonly token: string;
  readonly store: Store;
  readonly server: OmadmServer;
  /** A scratch directory removed by close(). */
  readonly dir: string;
  // biome-ignore lint/suspicious/noExplicitAny: tests read JSON answers freely.
  api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

export async function startTestServer(): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'omadm-client-test-'));
  const store = await openStore(`sqlite:${join(dir, 'omadm.db')}`, {
    secretKey: new Uint8Array(randomBytes(32)),
  });
  const server = await createServer({ store, logger: false, sweepIntervalMs: 0 });
  const token = `admin-${randomBytes(12).toString('hex')}`;
  await store.tokens.create({ name: 'admin', role: 'admin', secret: token });
  const { url } = await server.listen({ host: '127.0.0.1', port: 0 });
  return {
    url,
    dm: `${url}/dm`,
    token,
    store,
    server,
    dir,
    async api(method, path, body) {
      const res = await fetch(`${url}/api/v1${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined };
    },
    async close() {
      await server.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
