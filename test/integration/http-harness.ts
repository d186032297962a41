/** Starts the DM HTTP endpoint on 127.0.0.1 (port 0) around a server engine. */
import Fastify, { type FastifyInstance } from 'fastify';
import { type DmHttpPluginOptions, dmHttpPlugin } from '../../src/binding/http/index.ts';
import {
  DmServerEngine,
  MemoryCommandSource,
  MemoryCredentialSource,
  MemorySessionStore,
  syncmlCodec,
} from '../../src/protocol/index.ts';

export interface RunningServer {
  readonly app: FastifyInstance;
  readonly url: string;
  /** Requests seen by the endpoint. */
  readonly requests: { url: string; bytes: number }[];
  close(): Promise<void>;
}

export async function startDmServer(
  options: DmHttpPluginOptions,
  https?: { key: string | Buffer; cert: string | Buffer; ca?: string | Buffer; requestCert?: boolean },
): Promise<RunningServer> {
  // One type for both: the plugin does not care whether TLS is on.
  const app = (https
    ? Fastify({ https: { ...https, rejectUnauthorized: false } })
    : Fastify()) as unknown as FastifyInstance;
  const requests: { url: string; bytes: number }[] = [];
  app.addHook('onRequest', async (req) => {
    requests.push({ url: req.url, bytes: Number(req.headers['content-length'] ?? 0) });
  });
  await app.register(dmHttpPlugin, options);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    app,
    url: `${https ? 'https' : 'http'}://127.0.0.1:${port}${options.path ?? '/dm'}`,
    requests,
    close: () => app.close(),
  };
}

/** A DM server held in memory: its credentials and command queue, and its HTTP endpoint. */
export interface MemoryDmServer {
  readonly creds: MemoryCredentialSource;
  readonly queue: MemoryCommandSource;
  readonly http: RunningServer;
}

/** The server engine over memory stores, behind the HTTP binding on 127.0.0.1 (port 0). */
export async function startMemoryDmServer(): Promise<MemoryDmServer> {
  const creds = new MemoryCredentialSource();
  const queue = new MemoryCommandSource();
  const engine = new DmServerEngine({
    codec: syncmlCodec,
    credentials: creds,
    commands: queue,
    sessions: new MemorySessionStore(),
  });
  return { creds, queue, http: await startDmServer({ engine }) };
}
