/**
 * The RAUC install backend (Debian's `rauc`): `rauc install BUNDLE` through the RAUC service
 * (D-Bus: the system bus, or the session bus named by DBUS_SESSION_BUS_ADDRESS when
 * DBUS_STARTER_BUS_TYPE=session — what the tests use, with a private dbus-daemon). RAUC checks the
 * bundle's signature against its keyring and its `compatible` against the system's, writes the
 * inactive slot and makes it primary; the new firmware runs after a restart, so an install ends
 * with `{ reboot: true }`. After the restart `confirm` reads `rauc status`: booted from the slot
 * the install made primary → marked good, 200; still on the old slot → 410 (RAUC's fallback).
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type FumoInstallOutcome, FumoResult } from '../../mo/index.ts';
import type { InstallBackend, InstallRequest } from './backend.ts';

export interface RaucBackendOptions {
  /** The rauc executable (default `rauc` on PATH). */
  readonly bin?: string;
  /** Longest install, ms (default 30 min). */
  readonly timeoutMs?: number;
  readonly logger?: { info(obj: object, msg?: string): void; warn(obj: object, msg?: string): void };
}

interface RaucStatus {
  readonly compatible?: string;
  readonly booted?: string;
  readonly boot_primary?: string;
  readonly slots?: readonly Record<string, { bootname?: string; state?: string }>[];
}

/** RAUC's error text → FUMO result (the first match wins). */
export const RAUC_ERRORS: readonly (readonly [RegExp, number])[] = [
  [/compatible/i, FumoResult.PackageMismatch],
  [/signature|verif|certificate|keyring|CMS/i, FumoResult.ValidationFailed],
  [
    /not a valid bundle|invalid bundle|squashfs|manifest|bundle format|Failed to open bundle|Failed mounting bundle/i,
    FumoResult.CorruptedPackage,
  ],
  [/No space|too small|ENOSPC/i, FumoResult.UpdateOutOfMemory],
];

export function raucResultOf(output: string): number {
  for (const [re, code] of RAUC_ERRORS) if (re.test(output)) return code;
  return FumoResult.UpdateFailed;
}

export class RaucBackend implements InstallBackend {
  readonly name = 'rauc';
  readonly #o: RaucBackendOptions;

  constructor(options: RaucBackendOptions = {}) {
    this.#o = options;
  }

  #rauc(args: string[], timeoutMs = 60_000): Promise<{ code: number; out: string }> {
    return new Promise((resolve) => {
      execFile(
        this.#o.bin ?? 'rauc',
        args,
        { timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024 },
        (err, stdout, stderr) => {
          const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
          resolve({ code, out: `${stdout}\n${stderr}` });
        },
      );
    });
  }

  async #status(): Promise<RaucStatus | undefined> {
    const r = await this.#rauc(['status', '--output-format=json']);
    if (r.code !== 0) return undefined;
    const json = r.out.split('\n').find((l) => l.trim().startsWith('{'));
    try {
      return json ? (JSON.parse(json) as RaucStatus) : undefined;
    } catch {
      return undefined;
    }
  }

  /** Bootname of a slot (`rootfs.1` → `B`). */
  static bootnameOf(status: RaucStatus, slot: string | undefined): string | undefined {
    if (slot === undefined) return undefined;
    for (const entry of status.slots ?? []) if (entry[slot]) return entry[slot].bootname;
    return undefined;
  }

  async install(r: InstallRequest): Promise<FumoInstallOutcome> {
    const before = await this.#status();
    if (!before)
      return { result: FumoResult.UpdateFailed, reason: 'rauc status failed: is the RAUC service running?' };
    r.progress(5);
    const run = await this.#rauc(['install', r.file], this.#o.timeoutMs ?? 30 * 60_000);
    if (run.code !== 0) {
      const result = raucResultOf(run.out);
      this.#o.logger?.warn(
        { event: 'fumo.rauc.failed', result, output: run.out.slice(-800) },
        'rauc install failed',
      );
      return { result, reason: run.out.trim().split('\n').slice(-3).join(' | ') };
    }
    const after = await this.#status();
    const target = after ? RaucBackend.bootnameOf(after, after.boot_primary) : undefined;
    writeFileSync(
      join(r.stateDir, 'rauc.json'),
      JSON.stringify({ bootedBefore: before.booted, target, sha256: r.sha256 }),
    );
    r.progress(100);
    this.#o.logger?.info(
      { event: 'fumo.rauc.installed', bootedBefore: before.booted, target },
      'rauc install done; restart to apply',
    );
    return { reboot: true };
  }

  async confirm(r: InstallRequest): Promise<FumoInstallOutcome> {
    let marker: { bootedBefore?: string; target?: string };
    try {
      marker = JSON.parse(readFileSync(join(r.stateDir, 'rauc.json'), 'utf8')) as typeof marker;
    } catch {
      return { result: FumoResult.UpdateFailed, reason: 'no record of the RAUC install' };
    }
    const now = await this.#status();
    if (!now) return { result: FumoResult.UpdateFailed, reason: 'rauc status failed after the restart' };
    if (marker.target !== undefined && now.booted === marker.target) {
      await this.#rauc(['status', 'mark-good', 'booted']);
      return { result: FumoResult.Successful };
    }
    if (now.booted === marker.bootedBefore) {
      // Same slot as before: either the restart has not happened yet (the primary is still the
      // new slot) or the bootloader fell back (the primary is the old slot again).
      const primary = RaucBackend.bootnameOf(now, now.boot_primary);
      if (primary === marker.target) return { reboot: true };
      return {
        result: FumoResult.UpdateFailed,
        reason: `booted ${now.booted} again: the new slot did not come up`,
      };
    }
    return { result: FumoResult.UpdateFailed, reason: `booted ${now.booted}, expected ${marker.target}` };
  }
}
