/**
 * The hook install backend: an executable the operator provides (`--fumo-hook PATH`), run once
 * per install with a documented contract (docs/fumo.md "Hook contract"):
 *
 *   HOOK install FILE     install the package in FILE
 *   HOOK confirm          after the restart an earlier `install` asked for (exit 10)
 *
 * Environment: OMADM_FUMO_ACTION, OMADM_FUMO_PACKAGE, OMADM_FUMO_PKG_NAME, OMADM_FUMO_PKG_VERSION,
 * OMADM_FUMO_SHA256, OMADM_FUMO_SIZE, OMADM_FUMO_CORRELATOR (when the Exec had one),
 * OMADM_FUMO_URI, OMADM_FUMO_STATE_DIR (the hook's own directory, kept across restarts).
 *
 * Stdout lines `progress N` (0–100) update `<x>/Ext/Progress`; `result N` (a FUMO result code)
 * overrides the exit code's meaning; other lines are logged. The exit code maps through
 * HOOK_EXIT_CODES; a hook killed by a signal or by the timeout is a failed update (410).
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { type FumoInstallOutcome, FumoResult, isFumoResultCode } from '../../mo/index.ts';
import type { InstallBackend, InstallRequest } from './backend.ts';

/** Exit code → outcome. 10: installed, a restart applies it (then `confirm` runs after it). */
export const HOOK_EXIT_CODES: Readonly<Record<number, number | 'reboot'>> = {
  0: FumoResult.Successful,
  1: FumoResult.UpdateFailed,
  2: FumoResult.CorruptedPackage,
  3: FumoResult.PackageMismatch,
  4: FumoResult.ValidationFailed,
  5: FumoResult.PackageNotAcceptable,
  8: FumoResult.NotImplemented,
  10: 'reboot',
  12: FumoResult.UpdateOutOfMemory,
};

export interface HookLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface HookBackendOptions {
  readonly path: string;
  /** Longest run of one call, ms (default 30 min); then SIGTERM, SIGKILL 5 s later, result 410. */
  readonly timeoutMs?: number;
  readonly logger?: HookLogger;
}

export class HookBackend implements InstallBackend {
  readonly name = 'hook';
  readonly #o: HookBackendOptions;

  constructor(options: HookBackendOptions) {
    this.#o = options;
  }

  install(request: InstallRequest): Promise<FumoInstallOutcome> {
    return this.#run('install', request);
  }

  confirm(request: InstallRequest): Promise<FumoInstallOutcome> {
    return this.#run('confirm', request);
  }

  #run(action: 'install' | 'confirm', r: InstallRequest): Promise<FumoInstallOutcome> {
    const log = this.#o.logger;
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      OMADM_FUMO_ACTION: action,
      OMADM_FUMO_PACKAGE: r.file,
      OMADM_FUMO_PKG_NAME: r.name,
      OMADM_FUMO_PKG_VERSION: r.version,
      OMADM_FUMO_SHA256: r.sha256,
      OMADM_FUMO_SIZE: String(r.size),
      OMADM_FUMO_URI: r.uri,
      OMADM_FUMO_STATE_DIR: r.stateDir,
    };
    if (r.correlator !== undefined) env.OMADM_FUMO_CORRELATOR = r.correlator;
    const args = action === 'install' ? ['install', r.file] : ['confirm'];
    return new Promise<FumoInstallOutcome>((resolve) => {
      let explicit: number | undefined;
      let timedOut = false;
      const child = spawn(this.#o.path, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
      const timer = setTimeout(
        () => {
          timedOut = true;
          child.kill('SIGTERM');
          setTimeout(() => child.kill('SIGKILL'), 5000).unref();
        },
        this.#o.timeoutMs ?? 30 * 60_000,
      );
      createInterface({ input: child.stdout }).on('line', (line) => {
        const m = /^\s*(progress|result)\s+(\d{1,3})\s*$/.exec(line);
        if (m?.[1] === 'progress') r.progress(Number(m[2]));
        else if (m?.[1] === 'result' && isFumoResultCode(Number(m[2]))) explicit = Number(m[2]);
        else if (line.trim() !== '')
          log?.info({ event: 'fumo.hook.output', action, line: line.slice(0, 500) }, 'hook');
      });
      const err: string[] = [];
      createInterface({ input: child.stderr }).on('line', (line) => {
        if (err.length < 20) err.push(line.slice(0, 500));
      });
      child.on('error', (e) => {
        clearTimeout(timer);
        log?.warn(
          { event: 'fumo.hook.spawn-failed', path: this.#o.path, err: e.message },
          'cannot run the FUMO hook',
        );
        resolve({ result: FumoResult.UpdateFailed, reason: `cannot run ${this.#o.path}: ${e.message}` });
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        const reason = timedOut
          ? 'hook timed out'
          : signal
            ? `hook killed by ${signal}`
            : `hook exited ${code}${err.length ? `: ${err.join(' | ')}` : ''}`;
        if (timedOut || signal || code === null) {
          resolve({ result: FumoResult.UpdateFailed, reason });
          return;
        }
        const mapped = HOOK_EXIT_CODES[code] ?? FumoResult.UpdateFailed;
        if (mapped === 'reboot') {
          resolve({ reboot: true });
          return;
        }
        // An explicit `result` line wins, but never turns a failing exit into a success.
        const result = explicit !== undefined && (code === 0 || explicit >= 400) ? explicit : mapped;
        log?.info({ event: 'fumo.hook.done', action, exit: code, result }, reason);
        resolve({ result, reason });
      });
    });
  }
}
