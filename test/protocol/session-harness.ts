/** Builds a server engine + client session pair on memory sources for session tests. */
import { syncmlCodec } from '../../src/protocol/default-codec.ts';
import type { Encoding } from '../../src/protocol/codec.ts';
import { DmClientSession, type ClientSessionOptions } from '../../src/protocol/client-session.ts';
import type { AccountState, AlertOutbox, PendingAlert, UiHandler } from '../../src/protocol/client-types.ts';
import type { SessionLimits } from '../../src/protocol/limits.ts';
import {
  MemoryCommandSource,
  MemoryCredentialSource,
  MemorySessionStore,
} from '../../src/protocol/memory-sources.ts';
import type { AuthMode } from '../../src/protocol/server-sources.ts';
import { DmServerEngine } from '../../src/protocol/server-session.ts';
import { MapTree } from './helpers.ts';

export const DEVICE = 'IMEI:490154203237518';

export interface Pair {
  readonly server: DmServerEngine;
  readonly creds: MemoryCredentialSource;
  readonly queue: MemoryCommandSource;
  readonly sessions: MemorySessionStore;
  readonly tree: MapTree;
  readonly nonces: { clientNonce?: string; serverNonce?: string };
  readonly outbox: MemoryAlertOutbox;
  client(extra?: Partial<ClientSessionOptions>): DmClientSession;
  /** Changes where later clients send package 1. */
  setServerUri(uri: string): void;
}

export class MemoryAlertOutbox implements AlertOutbox {
  items: PendingAlert[] = [];
  readonly statuses: { id: string; status: number }[] = [];
  pending(): readonly PendingAlert[] {
    return this.items;
  }
  delivered(id: string, status: number): void {
    this.statuses.push({ id, status });
    if (status >= 200 && status < 300) this.items = this.items.filter((p) => p.id !== id);
  }
}

export function makePair(
  opts: {
    auth?: AuthMode;
    serverAuth?: AuthMode;
    /** Secret the client uses (defaults to the right one). */
    clientSecret?: string;
    /** Secret the client expects from the server (defaults to the right one). */
    serverSecretOnClient?: string;
    encoding?: Encoding;
    serverLimits?: Partial<SessionLimits>;
    clientLimits?: Partial<SessionLimits>;
    ui?: UiHandler;
    tree?: Record<string, string>;
    /** Where the client sends package 1 (default: the loopback transport's URL). */
    serverUri?: string;
  } = {},
): Pair {
  const auth = opts.auth ?? 'md5';
  const serverAuth = opts.serverAuth ?? 'md5';
  const creds = new MemoryCredentialSource();
  creds.put({
    deviceId: DEVICE,
    clientAuth: auth,
    clientName: 'dev1',
    clientSecret: 'devpass',
    serverAuth,
    serverName: 'srv1',
    serverSecret: 'srvpass',
  });
  const queue = new MemoryCommandSource();
  const sessions = new MemorySessionStore();
  const server = new DmServerEngine({
    codec: syncmlCodec,
    credentials: creds,
    commands: queue,
    sessions,
    ...(opts.serverLimits ? { limits: opts.serverLimits } : {}),
  });
  const tree = new MapTree(opts.tree ?? { './DevDetail/SwV': '4.2.1', './Vendor/Poll': '60' });
  const nonces: { clientNonce?: string; serverNonce?: string } = {};
  const accountState: AccountState = {
    async saveNonces(n) {
      Object.assign(nonces, n);
    },
  };
  const outbox = new MemoryAlertOutbox();
  let serverUri = opts.serverUri ?? 'http://loopback/dm';
  return {
    setServerUri(uri) {
      serverUri = uri;
    },
    server,
    creds,
    queue,
    sessions,
    tree,
    nonces,
    outbox,
    client(extra = {}) {
      return new DmClientSession({
        codec: syncmlCodec,
        encoding: opts.encoding ?? 'xml',
        deviceId: DEVICE,
        devInfo: {
          './DevInfo/DevId': DEVICE,
          './DevInfo/Man': 'ExampleCorp',
          './DevInfo/Mod': 'EX-100',
          './DevInfo/DmV': '1.2',
          './DevInfo/Lang': 'en-US',
        },
        account: {
          serverId: 'srv1',
          serverUri,
          client: { mode: auth, name: 'dev1', secret: opts.clientSecret ?? 'devpass' },
          server: { mode: serverAuth, name: 'srv1', secret: opts.serverSecretOnClient ?? 'srvpass' },
          ...(nonces.clientNonce ? { clientNonce: nonces.clientNonce } : {}),
          ...(nonces.serverNonce ? { serverNonce: nonces.serverNonce } : {}),
        },
        accountState,
        handler: tree,
        alerts: outbox,
        ...(opts.ui ? { ui: opts.ui } : {}),
        ...(opts.clientLimits ? { limits: opts.clientLimits } : {}),
        ...extra,
      });
    },
  };
}
