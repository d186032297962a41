/**
 * A test device: omadm's client session engine over real HTTP (fetch) with a small in-memory tree.
 * Exec on a node listed in `asyncExec` answers 202 and queues a Generic Alert (1226) with the
 * Correlator, delivered in the next session, like a FUMO update would.
 */
import type { Alert, Item } from '../../src/representation/index.ts';
import type {
  AlertOutbox,
  CommandHandler,
  CommandResult,
  PendingAlert,
  TreeCommand,
} from '../../src/protocol/client-types.ts';
import { DmClientSession, type ClientRequest } from '../../src/protocol/client-session.ts';
import { syncmlCodec } from '../../src/protocol/default-codec.ts';
import { dataText } from '../../src/representation/index.ts';

export interface SimOptions {
  readonly deviceId: string;
  readonly secret: string;
  readonly auth?: 'basic' | 'md5' | 'hmac' | 'transport' | 'none';
  readonly serverId?: string;
  readonly serverSecret?: string;
  readonly encoding?: 'xml' | 'wbxml';
  /** Initial tree: URI → value. */
  readonly tree?: Readonly<Record<string, string>>;
  /** Exec targets that complete asynchronously (202 + Generic Alert in the next session). */
  readonly asyncExec?: readonly string[];
  /** Generic Alerts of async Execs wait for the next session (like a FUMO update that reboots first). */
  readonly deferAlerts?: boolean;
  /** URIs whose Replace fails with this status. */
  readonly failReplace?: Readonly<Record<string, number>>;
}

/** Rewrites the URL of each request (e.g. to alternate between two servers); may act first. */
export type Transport = (req: ClientRequest, index: number) => string | Promise<string>;

/** Sends one request (default: fetch); tests replace it to use TLS client certificates. */
export type Sender = (
  url: string,
  body: Uint8Array,
  headers: Record<string, string>,
) => Promise<{ status: number; body: Uint8Array; headers: { get(name: string): string | null } }>;

const fetchSender: Sender = async (url, body, headers) => {
  const res = await fetch(url, { method: 'POST', headers, body });
  return { status: res.status, body: new Uint8Array(await res.arrayBuffer()), headers: res.headers };
};

export class DeviceSim {
  readonly tree = new Map<string, { value: string; format: string }>();
  readonly executed: string[] = [];
  /** ./DevInfo/Mod sent in package 1 (change it to see the server's inventory follow). */
  model = 'sim-1';
  readonly #o: SimOptions;
  #clientNonce: string | undefined;
  #serverNonce: string | undefined;
  #alerts: PendingAlert[] = [];
  #held: PendingAlert[] = [];
  #alertSeq = 0;

  constructor(options: SimOptions) {
    this.#o = options;
    for (const [uri, value] of Object.entries(options.tree ?? {}))
      this.tree.set(uri, { value, format: 'chr' });
  }

  /** Queues an alert (e.g. a Generic Alert of any type) for the next session's messages. */
  queueAlert(alert: Alert): void {
    this.#alerts.push({ id: String(++this.#alertSeq), alert });
  }

  get pendingAlerts(): number {
    return this.#alerts.length + this.#held.length;
  }

  #handler(): CommandHandler {
    return {
      execute: async (cmd: TreeCommand): Promise<CommandResult> => {
        const uri = cmd.Item[0]?.Target?.LocURI ?? '';
        this.executed.push(`${cmd.type} ${uri}`);
        switch (cmd.type) {
          case 'Get': {
            const v = this.tree.get(uri);
            if (!v) return { status: 404 };
            const item: Item = {
              Source: { LocURI: uri },
              Meta: { Format: v.format },
              Data: { kind: 'text', text: v.value },
            };
            return { status: 200, results: [item] };
          }
          case 'Replace': {
            const fail = this.#o.failReplace?.[uri];
            if (fail) return { status: fail };
            if (!this.tree.has(uri)) return { status: 404 };
            const it = cmd.Item[0];
            this.tree.set(uri, {
              value: dataText(it?.Data),
              format: it?.Meta?.Format ?? cmd.Meta?.Format ?? 'chr',
            });
            return { status: 200 };
          }
          case 'Add': {
            if (this.tree.has(uri)) return { status: 418 };
            const it = cmd.Item[0];
            this.tree.set(uri, { value: dataText(it?.Data), format: it?.Meta?.Format ?? 'chr' });
            return { status: 200 };
          }
          case 'Delete': {
            let n = 0;
            for (const k of [...this.tree.keys()]) {
              if (k === uri || k.startsWith(`${uri}/`)) {
                this.tree.delete(k);
                n++;
              }
            }
            return { status: n ? 200 : 404 };
          }
          case 'Copy': {
            const src = this.tree.get(cmd.Item[0]?.Source?.LocURI ?? '');
            if (!src) return { status: 404 };
            this.tree.set(uri, { ...src });
            return { status: 200 };
          }
          case 'Exec': {
            if (this.#o.asyncExec?.includes(uri)) {
              const alert: Alert = {
                type: 'Alert',
                CmdID: '0',
                Data: 1226,
                ...(cmd.Correlator ? { Correlator: cmd.Correlator } : {}),
                Item: [
                  {
                    Source: { LocURI: uri },
                    Meta: {
                      Type: 'org.openmobilealliance.dm.firmwareupdate.update',
                      Format: 'int',
                      Mark: 'critical',
                    },
                    Data: { kind: 'text', text: '200' },
                  },
                ],
              };
              (this.#o.deferAlerts ? this.#held : this.#alerts).push({ id: String(++this.#alertSeq), alert });
              return { status: 202 };
            }
            return { status: 200 };
          }
        }
      },
    };
  }

  #outbox(): AlertOutbox {
    return {
      pending: () => this.#alerts,
      delivered: (id, status) => {
        if (status >= 200 && status < 300) this.#alerts = this.#alerts.filter((a) => a.id !== id);
      },
    };
  }

  /**
   * Runs one client-initiated session against `serverUrl` (…/dm). `route` may rewrite each request
   * URL (to send messages of one session to different server nodes). Returns the engine's result.
   */
  async session(
    serverUrl: string,
    route?: Transport,
    send: Sender = fetchSender,
    notification?: { readonly sessionId: number },
  ) {
    const o = this.#o;
    const auth = o.auth ?? 'md5';
    const s = new DmClientSession({
      codec: syncmlCodec,
      encoding: o.encoding ?? 'xml',
      deviceId: o.deviceId,
      devInfo: {
        './DevInfo/DevId': o.deviceId,
        './DevInfo/Man': 'omadm-test',
        './DevInfo/Mod': this.model,
        './DevInfo/DmV': '1.2',
        './DevInfo/Lang': 'en-US',
      },
      account: {
        serverId: o.serverId ?? 'omadm',
        serverUri: serverUrl,
        client: { mode: auth, name: o.deviceId, secret: o.secret },
        ...(o.serverSecret
          ? { server: { mode: auth, name: o.serverId ?? 'omadm', secret: o.serverSecret } }
          : {}),
        ...(this.#clientNonce ? { clientNonce: this.#clientNonce } : {}),
        ...(this.#serverNonce ? { serverNonce: this.#serverNonce } : {}),
      },
      accountState: {
        saveNonces: async (n) => {
          if (n.clientNonce !== undefined) this.#clientNonce = n.clientNonce;
          if (n.serverNonce !== undefined) this.#serverNonce = n.serverNonce;
        },
      },
      handler: this.#handler(),
      alerts: this.#outbox(),
      ...(notification ? { notification } : {}),
    });
    this.#alerts.push(...this.#held.splice(0));
    let req: ClientRequest | undefined = await s.start();
    let i = 0;
    while (req) {
      const url = route ? await route(req, i) : req.url;
      i++;
      const res = await send(url, req.body, {
        'content-type': req.contentType,
        ...(req.hmac ? { 'x-syncml-hmac': req.hmac } : {}),
      });
      if (res.status !== 200) {
        throw new Error(`server answered HTTP ${res.status}: ${Buffer.from(res.body).toString()}`);
      }
      const body = res.body;
      // A message that ends the session (Alert 1223) gets no further processing.
      if (s.result) break;
      req = await s.receive({
        body,
        contentType: res.headers.get('content-type') ?? undefined,
        hmac: res.headers.get('x-syncml-hmac') ?? undefined,
      });
    }
    return { result: s.result, requests: i };
  }
}
