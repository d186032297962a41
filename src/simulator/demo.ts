/**
 * The demo devices of `omadm start`: a small fleet provisioned through the REST API, a first
 * session each, periodic sessions afterwards, and a waker that starts a session as soon as a
 * command is queued for one of them — standing in for a notification, so `cmd … --wait` answers
 * within a second or two.
 */
import type { Store } from '../server/store/index.ts';
import { Fleet } from './fleet.ts';
import { provisionFleet } from './provision.ts';

export interface DemoOptions {
  /** Server base URL (`http://127.0.0.1:8080`). */
  readonly url: string;
  readonly token: string;
  /** The server's store, read to see queued commands (no API polling, no trace noise). */
  readonly store: Store;
  readonly devices: number;
  readonly intervalMs: number;
  readonly encoding: 'xml' | 'wbxml';
  readonly logger: { info(o: object, m?: string): void; warn(o: object, m?: string): void };
  /** How often the queue is looked at (default 1 s). */
  readonly wakeMs?: number;
}

export interface DemoHandle {
  /** Resolves with a one-line description once every device did its first session. */
  readonly first: Promise<string>;
  stop(): Promise<void>;
}

export function attachDemo(o: DemoOptions): DemoHandle {
  const fleet = new Fleet({
    serverUrl: `${o.url}/dm`,
    devices: o.devices,
    prefix: 'demo-',
    pad: 0,
    seed: `omadm-demo-${o.token}`,
    auth: 'md5',
    serverSecret: `srv-${o.token.slice(-12)}`,
    encoding: o.encoding,
    concurrency: 8,
    asyncExecMs: 3000,
    reportAlerts: 'immediately',
  });
  const timers: NodeJS.Timeout[] = [];
  let stopped = false;
  const inFlight = new Set<Promise<unknown>>();
  const index = new Map<string, number>();
  for (let i = 0; i < fleet.size; i++) index.set(fleet.deviceId(i), i);

  const run = (i: number, why: string): Promise<unknown> => {
    if (stopped) return Promise.resolve();
    const p = fleet.session(i).then((r) => {
      if (!r.ok)
        o.logger.warn({ device: fleet.deviceId(i), why, error: r.error }, 'demo device session failed');
      else if (r.commands > 0)
        o.logger.info({ device: fleet.deviceId(i), why, commands: r.commands }, 'demo device answered');
    });
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
    return p;
  };

  const first = (async () => {
    await provisionFleet(fleet, {
      url: o.url,
      token: o.token,
      auth: 'md5',
      serverSecret: `srv-${o.token.slice(-12)}`,
      tags: ['demo'],
    });
    await fleet.round();
    const ok = fleet.stats.ok;
    // Periodic sessions, spread over the interval.
    for (let i = 0; i < fleet.size; i++) {
      const start = setTimeout(
        () => {
          void run(i, 'interval');
          timers.push(setInterval(() => void run(i, 'interval'), o.intervalMs));
        },
        Math.round(((i + 1) * o.intervalMs) / fleet.size),
      );
      timers.push(start);
    }
    // The waker: a queued command for a demo device starts its session now.
    const waking = new Set<number>();
    const wake = setInterval(async () => {
      if (stopped) return;
      try {
        const page = await o.store.queue.list({ states: ['queued'], limit: 100 });
        for (const c of page.items) {
          const i = index.get(c.deviceId);
          if (i === undefined || waking.has(i)) continue;
          waking.add(i);
          void run(i, 'command queued').finally(() => waking.delete(i));
        }
      } catch {
        // the store is closing
      }
    }, o.wakeMs ?? 1000);
    timers.push(wake);
    const failed = [...fleet.stats.errors].map(([kind, n]) => `${kind} ×${n}`).join(', ');
    const names =
      fleet.size <= 5
        ? Array.from({ length: fleet.size }, (_, i) => fleet.deviceId(i)).join(', ')
        : `demo-1 … demo-${fleet.size}`;
    return `${names} (simulated; ${ok}/${fleet.size} first sessions completed${failed ? ` — failed: ${failed}` : ''}; a session every ${Math.round(o.intervalMs / 1000)} s, and at once when a command is queued)`;
  })();

  return {
    first: first.catch((err: Error) => `demo devices could not attach: ${err.message}`),
    async stop() {
      stopped = true;
      for (const t of timers) clearTimeout(t);
      await first.catch(() => undefined);
      await Promise.all([...inFlight]);
      fleet.close();
    },
  };
}
