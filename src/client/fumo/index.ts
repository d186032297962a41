/**
 * FUMO in the agent: the MO (mo/fumo.ts) over the agent's device (HTTP downloads, a package
 * directory, an install backend), its record in `DATA/fumo/state.json`. See docs/fumo.md.
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HttpFetchOptions } from '../../binding/http/index.ts';
import {
  FUMO_DEFAULT_URI,
  FumoObject,
  type FumoReport,
  type FumoState,
  MemoryFumoStore,
} from '../../mo/index.ts';
import type { InstallBackend } from './backend.ts';
import { AgentFumoDevice } from './device.ts';
import { FileFumoStore } from './store.ts';

export type { InstallBackend, InstallRequest } from './backend.ts';
export { AgentFumoDevice, type AgentFumoDeviceOptions, DEFAULT_MAX_PACKAGE_BYTES } from './device.ts';
export { HOOK_EXIT_CODES, HookBackend, type HookBackendOptions } from './hook.ts';
export { RAUC_ERRORS, RaucBackend, type RaucBackendOptions, raucResultOf } from './rauc.ts';
export { FileFumoStore } from './store.ts';

export interface ClientFumoOptions {
  /** What installs packages: `new HookBackend({ path })`, `new RaucBackend()`, or your own. */
  readonly backend: InstallBackend;
  /** Where the instance is mounted (default `./FUMO`). */
  readonly uri?: string;
  /** Largest package, bytes (default 256 MiB). */
  readonly maxBytes?: number;
  /** Keep the package after a successful update (State 90 instead of 100). */
  readonly keepPackage?: boolean;
  /** Run after an install that needs a restart (argv), e.g. `['systemctl', 'reboot']`. */
  readonly rebootCommand?: readonly string[];
  /** Download trust and timeouts (default: the client's CA and certificate). */
  readonly http?: HttpFetchOptions & { readonly retries?: number; readonly backoffMs?: number };
  /** ACL of the instance node (default `Get=*&Replace=*&Exec=*`: any server with an account). */
  readonly acl?: string;
  /** Called on every State change. */
  readonly onState?: (state: FumoState) => void;
}

type Log = {
  info(o: object, m?: string): void;
  warn(o: object, m?: string): void;
  error(o: object, m?: string): void;
};

/** Builds the FUMO instance for a client; `sink` receives reports once the client exists. */
export function buildFumo(
  options: ClientFumoOptions,
  dataDir: string | undefined,
  sink: (report: FumoReport) => void | Promise<void>,
  logger: Log,
): { fumo: FumoObject; device: AgentFumoDevice; acl: string } {
  const uri = options.uri ?? FUMO_DEFAULT_URI;
  const dir = dataDir ? join(dataDir, 'fumo') : mkdtempSync(join(tmpdir(), 'omadm-fumo-'));
  mkdirSync(dir, { recursive: true });
  const device = new AgentFumoDevice({
    dir,
    backend: options.backend,
    uri,
    ...(options.maxBytes !== undefined ? { maxBytes: options.maxBytes } : {}),
    ...(options.http ? { http: options.http } : {}),
    ...(options.rebootCommand ? { rebootCommand: options.rebootCommand } : {}),
    logger,
  });
  const fumo = new FumoObject({
    uri,
    store: dataDir ? new FileFumoStore(join(dir, 'state.json')) : new MemoryFumoStore(),
    device,
    report: sink,
    ...(options.keepPackage !== undefined ? { keepPackage: options.keepPackage } : {}),
    ...(options.onState ? { onState: (s: FumoState) => options.onState?.(s) } : {}),
    logger,
  });
  return { fumo, device, acl: options.acl ?? 'Get=*&Replace=*&Exec=*' };
}
