/**
 * What `omadm server` and `omadm start` do alike around a running server: check --port, listen
 * (closing server and store when that fails), and wait for SIGINT/SIGTERM. Structural types only,
 * so `start` keeps loading the server modules lazily.
 */
import { networkInterfaces } from 'node:os';
import { CliError, ExitCode } from './errors.ts';

/** --port as a number: 0 (any free port) to 65535, else exit 2. */
export function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new CliError(`--port must be 0..65535, not ${value}`, ExitCode.BadInput);
  }
  return port;
}

interface Listening {
  listen(options: { host: string; port: number }): Promise<{ url: string }>;
  close(): Promise<void>;
}

/**
 * Listens and returns the URL; when the address cannot be had, closes server and store and exits
 * with Unavailable (`hint` is added to the message).
 */
export async function listenOrFail(
  server: Listening,
  store: { close(): Promise<void> },
  host: string,
  port: number,
  hint = '',
): Promise<string> {
  try {
    return (await server.listen({ host, port })).url;
  } catch (err) {
    await server.close();
    await store.close();
    throw new CliError(
      `cannot listen on ${host}:${port}: ${(err as Error).message}${hint}`,
      ExitCode.Unavailable,
    );
  }
}

/**
 * Resolves at the first SIGINT or SIGTERM (then removes its handlers). Call it before printing
 * the banner: whoever reads the banner may signal at once.
 */
export function untilSignal(onSignal?: (signal: NodeJS.Signals) => void): Promise<void> {
  return new Promise<void>((done) => {
    const stop = (signal: NodeJS.Signals) => {
      onSignal?.(signal);
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      done();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

/** True for an address only this machine can reach (127.0.0.0/8, ::1, localhost). */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h) || h === '::ffff:127.0.0.1';
}

/**
 * The base URLs a server listening on `host:port` is really reachable at: for a wildcard address
 * (0.0.0.0, ::) every address of this machine's interfaces of that family (`::` also takes IPv4),
 * else the one given.
 */
export function listeningUrls(
  host: string,
  port: number,
  proto: 'http' | 'https',
  interfaces: ReturnType<typeof networkInterfaces> = networkInterfaces(),
): string[] {
  const url = (addr: string) => `${proto}://${addr.includes(':') ? `[${addr}]` : addr}:${port}`;
  if (host !== '0.0.0.0' && host !== '::') return [url(host)];
  const out: string[] = [];
  for (const list of Object.values(interfaces)) {
    for (const a of list ?? []) {
      if (a.family === 'IPv6' && host === '0.0.0.0') continue;
      // Link-local IPv6 needs a zone to be usable in a URL: not worth printing.
      if (a.family === 'IPv6' && a.address.toLowerCase().startsWith('fe80:')) continue;
      out.push(url(a.address));
    }
  }
  // Loopback first: the address to try from this machine.
  return out.sort((a, b) => Number(isLoopback(hostOf(b))) - Number(isLoopback(hostOf(a))));
}

function hostOf(url: string): string {
  return new URL(url).hostname;
}
