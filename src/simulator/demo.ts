/**
 * The demo devices of `omadm start`: a small fleet provisioned through the REST API, a first
 * session each, periodic sessions afterwards, and one UDP socket per device on which it takes
 * Package 0 — the server (with a UDP bearer) notifies a device when a command is queued for it,
 * so `omadm cmd … --wait` is answered in a server-initiated session within moments.
 */
import { listenUdpPush } from '../binding/push/index.ts';
import { Fleet } from './fleet.ts';
import { provisionFleet } from './provision.ts';

export interface DemoOptions {
  /** Server base URL (`http://127.0.0.1:8080`). */
  readonly url: string;
  readonly token: string;
  readonly devices: number;
  readonly intervalMs: number;
  readonly encoding: 'xml' | 'wbxml';
  readonly logger: { info(o: object, m?: string): void; warn(o: object, m?: string): void };
  /** Address the devices listen for Package 0 on (default 127.0.0.1; the server must reach it). */
  readonly udpHost?: string;
}

export interface DemoHandle {
  /** Resolves with a one-line description once every device did its first session. */
  readonly first: Promise<string>;
  stop(): Promise<void>;
}

export function attachDemo(o: DemoOptions): DemoHandle {
  const serverSecret = `srv-${o.token.slice(-12)}`;
  const fleet = new Fleet({
    serverUrl: `${o.url}/dm`,
    devices: o.devices,
    prefix: 'demo-',
    pad: 0,
    seed: `omadm-demo-${o.token}`,
    auth: 'md5',
    serverSecret,
    encoding: o.encoding,
    concurrency: 8,
    asyncExecMs: 3000,
    reportAlerts: 'immediately',
  });
  const timers: NodeJS.Timeout[] = [];
  const sockets: { close(): Promise<void> }[] = [];
  let stopped = false;
  const inFlight = new Set<Promise<unknown>>();

  const track = (
    i: number,
    why: string,
    p: Promise<{ ok: boolean; commands: number; error?: string } | { ignored: string }>,
  ) => {
    const q = p.then((r) => {
      const device = fleet.deviceId(i);
      if ('ignored' in r)
        o.logger.warn({ device, why, reason: r.ignored }, 'demo device ignored a notification');
      else if (!r.ok) o.logger.warn({ device, why, error: r.error }, 'demo device session failed');
      else if (r.commands > 0) o.logger.info({ device, why, commands: r.commands }, 'demo device answered');
    });
    inFlight.add(q);
    void q.finally(() => inFlight.delete(q));
  };

  const first = (async () => {
    const host = o.udpHost ?? '127.0.0.1';
    const ports: number[] = [];
    for (let i = 0; i < fleet.size; i++) {
      const s = await listenUdpPush({
        host,
        port: 0,
        onPackage0: (bytes) => {
          if (!stopped) track(i, 'notification', fleet.notify(i, bytes));
        },
      });
      sockets.push(s);
      ports.push(s.port);
    }
    await provisionFleet(fleet, {
      url: o.url,
      token: o.token,
      auth: 'md5',
      serverSecret,
      tags: ['demo'],
      notify: (i) => ({ bearer: 'udp', target: `${host}:${ports[i]}` }),
    });
    await fleet.round();
    const ok = fleet.stats.ok;
    // Periodic sessions, spread over the interval.
    for (let i = 0; i < fleet.size; i++) {
      const start = setTimeout(
        () => {
          if (!stopped) track(i, 'interval', fleet.session(i));
          timers.push(setInterval(() => !stopped && track(i, 'interval', fleet.session(i)), o.intervalMs));
        },
        Math.round(((i + 1) * o.intervalMs) / fleet.size),
      );
      timers.push(start);
    }
    const failed = [...fleet.stats.errors].map(([kind, n]) => `${kind} ×${n}`).join(', ');
    const names =
      fleet.size <= 5
        ? Array.from({ length: fleet.size }, (_, i) => fleet.deviceId(i)).join(', ')
        : `demo-1 … demo-${fleet.size}`;
    return `${names} (simulated; ${ok}/${fleet.size} first sessions completed${failed ? ` — failed: ${failed}` : ''}; a session every ${Math.round(o.intervalMs / 1000)} s, and on notification (UDP) when a command is queued)`;
  })();

  return {
    first: first.catch((err: Error) => `demo devices could not attach: ${err.message}`),
    async stop() {
      stopped = true;
      for (const t of timers) clearTimeout(t);
      await first.catch(() => undefined);
      await Promise.all(sockets.map((s) => s.close()));
      await Promise.all([...inFlight]);
      fleet.close();
    },
  };
}
