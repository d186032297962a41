/**
 * Test helpers for the session engines: a small Map-backed tree behind the CommandHandler
 * interface (with transactions, so Atomic rollback is observable), and a loopback transport that
 * hands client requests straight to a server engine.
 */
import type { Command, Item } from '../../src/representation/index.ts';
import type {
  CommandHandler,
  CommandResult,
  ExecContext,
  HandlerTransaction,
  TreeCommand,
} from '../../src/protocol/client-types.ts';
import type { Transport } from '../../src/protocol/client-runner.ts';
import type { DmServerEngine } from '../../src/protocol/server-session.ts';

/** Leaf values by URI; interior nodes are implied. Exec records its calls. */
export class MapTree implements CommandHandler {
  values = new Map<string, string>();
  readonly execs: { uri: string; data: string; correlator?: string }[] = [];
  /** URIs whose Exec answers 202 (asynchronous). */
  readonly asyncExec = new Set<string>();
  /** URIs that fail with this status on Replace/Add. */
  readonly failOn = new Map<string, number>();

  constructor(init: Record<string, string> = {}) {
    for (const [k, v] of Object.entries(init)) this.values.set(k, v);
  }

  async execute(cmd: TreeCommand, _ctx: ExecContext): Promise<CommandResult> {
    switch (cmd.type) {
      case 'Get': {
        const results: Item[] = [];
        for (const it of cmd.Item) {
          const uri = it.Target?.LocURI ?? '';
          const v = this.values.get(uri);
          if (v === undefined) return { status: 404 };
          results.push({
            Source: { LocURI: uri },
            Meta: { Format: 'chr', Type: 'text/plain' },
            Data: { kind: 'text', text: v },
          });
        }
        return { status: 200, results };
      }
      case 'Replace':
      case 'Add': {
        for (const it of cmd.Item) {
          const uri = it.Target?.LocURI ?? '';
          const fail = this.failOn.get(uri);
          if (fail) return { status: fail };
          if (cmd.type === 'Add' && this.values.has(uri)) return { status: 418 };
          if (cmd.type === 'Replace' && !this.values.has(uri)) return { status: 404 };
          const d = it.Data;
          this.values.set(
            uri,
            d?.kind === 'text' ? d.text : d?.kind === 'bytes' ? Buffer.from(d.bytes).toString('utf8') : '',
          );
        }
        return { status: 200 };
      }
      case 'Delete': {
        for (const it of cmd.Item) if (!this.values.delete(it.Target?.LocURI ?? '')) return { status: 404 };
        return { status: 200 };
      }
      case 'Copy':
        return { status: 501 };
      case 'Exec': {
        const it = cmd.Item[0];
        const uri = it?.Target?.LocURI ?? '';
        const data = it?.Data?.kind === 'text' ? it.Data.text : '';
        this.execs.push(
          cmd.Correlator === undefined ? { uri, data } : { uri, data, correlator: cmd.Correlator },
        );
        return { status: this.asyncExec.has(uri) ? 202 : 200 };
      }
    }
  }

  async begin(_ctx: ExecContext): Promise<HandlerTransaction> {
    const snapshot = new Map(this.values);
    return {
      commit: async () => {},
      rollback: async () => {
        this.values = snapshot;
        return true;
      },
    };
  }
}

/** Client → server engine without HTTP. */
export function loopback(server: DmServerEngine): Transport {
  let token: string | undefined;
  return {
    async exchange(req) {
      const url = new URL(req.url, 'http://loopback');
      token = url.searchParams.get('s') ?? token;
      const res = await server.handle({
        body: req.body,
        contentType: req.contentType,
        hmac: req.hmac,
        sessionToken: url.searchParams.get('s') ?? undefined,
        respUri: (t) => `http://loopback/dm?s=${t}`,
      });
      return { body: res.body, contentType: res.mediaType, hmac: res.hmac };
    },
  };
}

export function getCmd(uri: string): Command {
  return { type: 'Get', CmdID: '0', Item: [{ Target: { LocURI: uri } }] };
}
export function replaceCmd(uri: string, value: string): Command {
  return {
    type: 'Replace',
    CmdID: '0',
    Item: [{ Target: { LocURI: uri }, Data: { kind: 'text', text: value } }],
  };
}
