/**
 * FUMO (objects.md §1): one firmware-update instance as a tree plugin, with the Exec semantics of
 * §1.3 and the State values of §1.2 at every step. The MO owns the state machine and its
 * persistence; fetching and installing are the device's (`FumoDevice`: the agent downloads over
 * HTTP and installs through a hook or RAUC, a test uses a fake).
 *
 * ```
 * <x>                      ./FUMO by default, Type urn:oma:mo:oma-fumo:1.0
 * ├── PkgName, PkgVersion  chr   Get, Replace ([PROJECT]: servers may write them)
 * ├── Download/PkgURL      chr   Get, Replace     Exec Download
 * ├── Update/PkgData       bin   Replace          Exec Update (in-band package)
 * ├── DownloadAndUpdate/PkgURL                    Exec DownloadAndUpdate
 * ├── State                int   Get
 * └── Ext/SHA256           chr   Get, Replace     expected SHA-256 of the next package (omadm)
 *     Ext/Progress         int   Get              percent of the running download or install
 *     Ext/LastResult       int   Get              result code of the last finished operation
 * ```
 *
 * An accepted Exec answers 202; the work runs in the background and ends with one report (the
 * Generic Alert 1226: alert type of the operation, the Exec's Correlator, a result code) handed
 * to `report`. The record (State, URLs, the running job) is saved before every step, so after a
 * crash or a restart `start()` resumes the job where it stood — a download resumes, an install
 * the device restarted for is confirmed — and a result not yet handed over is reported again.
 */
import { StatusCode } from '../representation/index.ts';
import type {
  ExecContext,
  ExecInput,
  ManagementObject,
  NodeInput,
  PluginContext,
  PluginNode,
} from '../tree/index.ts';
import type { NodePath } from '../tree/uri.ts';
import {
  FUMO_RESTING_STATES,
  FUMO_UPDATABLE_STATES,
  FumoAlertType,
  fumoMark,
  type FumoOperation,
  FumoResult,
  FumoState,
  isFumoResultCode,
  isFumoSuccess,
} from './fumo-codes.ts';

/** MO identifier of FUMO 1.0. */
export const FUMO_MO_ID = 'urn:oma:mo:oma-fumo:1.0';
/** Where the agent mounts its FUMO instance. */
export const FUMO_DEFAULT_URI = './FUMO';
/** Longest PkgURL / PkgName / PkgVersion accepted. */
const MAX_TEXT = 2048;

/** The running (or unreported) operation. */
export interface FumoJob {
  readonly op: FumoOperation;
  readonly correlator?: string;
  /** The server that sent the Exec (the report goes to it); undefined: any server. */
  readonly serverId?: string;
  /** download → install → (reboot →) report. */
  phase: 'download' | 'install' | 'reboot' | 'report';
  /** The URL being fetched (fixed when the Exec was accepted). */
  readonly url?: string;
  /** Expected SHA-256 (Ext/SHA256 or the URL's `#sha256=` fragment), fixed at the Exec. */
  readonly sha256?: string;
  /** Set once the result is known. */
  result?: number;
  readonly startedAt: number;
}

/** A package stored on the device (downloaded or pushed in-band). */
export interface StoredPackage {
  readonly sha256: string;
  readonly size: number;
}

/** What is persisted: everything a restart needs. */
export interface FumoRecord {
  v: 1;
  state: FumoState;
  pkgName: string;
  pkgVersion: string;
  downloadUrl: string;
  dauUrl: string;
  sha256: string;
  lastResult?: number;
  pkg?: StoredPackage;
  job?: FumoJob;
}

/** Where the record lives (a file for the agent; written atomically, synchronously). */
export interface FumoStore {
  load(): FumoRecord | undefined;
  save(record: FumoRecord): void;
}

export class MemoryFumoStore implements FumoStore {
  #r: FumoRecord | undefined;
  load(): FumoRecord | undefined {
    return this.#r ? structuredClone(this.#r) : undefined;
  }
  save(record: FumoRecord): void {
    this.#r = structuredClone(record);
  }
}

export type FumoFetchOutcome =
  | { readonly ok: true; readonly pkg: StoredPackage }
  | { readonly ok: false; readonly result: number; readonly reason?: string };

/** The outcome of an install: a result code, or "applied at the next restart". */
export type FumoInstallOutcome =
  | { readonly result: number; readonly reason?: string }
  | { readonly reboot: true };

export interface FumoPackageInfo {
  readonly name: string;
  readonly version: string;
  readonly sha256: string;
  readonly size: number;
  readonly correlator?: string;
}

/** The device side of FUMO: where packages come from and how they are installed. */
export interface FumoDevice {
  /** Fetch (or resume fetching) `url` into the package store; verify `sha256` when given. */
  download(request: {
    readonly url: string;
    readonly sha256?: string;
    readonly signal: AbortSignal;
    readonly progress: (percent: number) => void;
  }): Promise<FumoFetchOutcome>;
  /** Store a package pushed in-band (Replace Update/PkgData). */
  storeInBand(data: Uint8Array, sha256: string | undefined): Promise<FumoFetchOutcome>;
  /** Install the stored package. */
  install(pkg: FumoPackageInfo, progress: (percent: number) => void): Promise<FumoInstallOutcome>;
  /** After a restart an install asked for: did the new firmware come up? */
  confirm(pkg: FumoPackageInfo): Promise<FumoInstallOutcome>;
  /** Restart the device to apply an installed update (after the record says so). */
  reboot?(): Promise<void>;
  /** Whether the stored package is really there (a record can outlive a wiped disk). */
  hasPackage(): boolean;
  discardPackage(): void;
}

/** One finished operation, as the Generic Alert 1226 reports it (objects.md §0.3). */
export interface FumoReport {
  /** The FUMO instance (`Item/Source/LocURI`). */
  readonly uri: string;
  readonly serverId: string | undefined;
  readonly correlator: string | undefined;
  /** `Item/Meta/Type`. */
  readonly alertType: string;
  readonly resultCode: number;
  readonly mark: string;
  /** The State the operation ended in. */
  readonly state: FumoState;
}

export interface FumoLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface FumoObjectOptions {
  readonly uri?: string;
  readonly store?: FumoStore;
  readonly device: FumoDevice;
  /** Takes a finished operation's report (queue the Generic Alert). A throw keeps it for the next start. */
  readonly report: (report: FumoReport) => void | Promise<void>;
  /** Keep the package after a successful update (State 90 instead of 100). Default false. */
  readonly keepPackage?: boolean;
  /** Called on every State change (logs, events). */
  readonly onState?: (state: FumoState, job: FumoJob | undefined) => void;
  readonly logger?: FumoLogger;
  readonly clock?: () => number;
}

const S = StatusCode;
const utf8 = new TextDecoder();
const silent: FumoLogger = { info() {}, warn() {}, error() {} };

/** Results that condemn the package itself: it is deleted (State 80, not 70). */
const BAD_PACKAGE: ReadonlySet<number> = new Set([402, 403, 404, 405]);

function fresh(): FumoRecord {
  return {
    v: 1,
    state: FumoState.Idle,
    pkgName: '',
    pkgVersion: '',
    downloadUrl: '',
    dauUrl: '',
    sha256: '',
  };
}

function textOf(input: NodeInput): string {
  const d = input.data;
  return d === undefined ? '' : typeof d === 'string' ? d : utf8.decode(d);
}

/** `#sha256=<hex>` on a PkgURL: omadm's convention for carrying the hash with the URL (never sent). */
export function sha256FromUrl(url: string): string | undefined {
  const m = /#(?:.*&)?sha256=([0-9a-fA-F]{64})(?:&|$)/.exec(url);
  return m?.[1]?.toLowerCase();
}

export class FumoObject implements ManagementObject {
  readonly uri: string;
  readonly #store: FumoStore;
  readonly #device: FumoDevice;
  readonly #report: FumoObjectOptions['report'];
  readonly #keep: boolean;
  readonly #onState: FumoObjectOptions['onState'];
  readonly #log: FumoLogger;
  readonly #now: () => number;
  #r: FumoRecord;
  #progress = 0;
  #running: Promise<void> | undefined;
  #abort: AbortController | undefined;
  #started = false;
  #stopped = false;

  constructor(options: FumoObjectOptions) {
    this.uri = options.uri ?? FUMO_DEFAULT_URI;
    this.#store = options.store ?? new MemoryFumoStore();
    this.#device = options.device;
    this.#report = options.report;
    this.#keep = options.keepPackage ?? false;
    this.#onState = options.onState;
    this.#log = options.logger ?? silent;
    this.#now = options.clock ?? Date.now;
    this.#r = this.#store.load() ?? fresh();
    // A record saying a package is stored while the device has none (disk wiped) is corrected.
    if (this.#r.pkg && !this.#device.hasPackage() && !this.#r.job) {
      delete this.#r.pkg;
      if (this.#r.state === 40 || this.#r.state === 50) this.#r.state = FumoState.Idle;
      else if (this.#r.state === 70) this.#r.state = FumoState.UpdateFailedNoData;
      else if (this.#r.state === 90) this.#r.state = FumoState.UpdateSuccessfulNoData;
    }
  }

  /** The State now. */
  get state(): FumoState {
    return this.#r.state;
  }

  /** A copy of the persisted record (for status displays and tests). */
  get record(): FumoRecord {
    return structuredClone(this.#r);
  }

  /** Whether an operation is running in the background. */
  get busy(): boolean {
    return this.#running !== undefined;
  }

  /** Resolves when the running operation (if any) has settled. */
  async idle(): Promise<void> {
    while (this.#running) await this.#running;
  }

  /**
   * Resumes what a crash or restart interrupted: a download continues, an install runs again, an
   * install the device restarted for is confirmed, an unreported result is reported. Call once
   * the report sink can take reports.
   */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    const job = this.#r.job;
    if (!job) return;
    this.#log.info(
      { event: 'fumo.resume', op: job.op, phase: job.phase, state: this.#r.state },
      'resuming FUMO operation',
    );
    this.#launch();
  }

  /** Stops the background work: a download is aborted (and resumes at the next start). */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#abort?.abort();
    await this.#running?.catch(() => undefined);
  }

  #save(): void {
    this.#store.save(this.#r);
  }

  #setState(state: FumoState): void {
    this.#r.state = state;
    this.#save();
    this.#log.info({ event: 'fumo.state', state, op: this.#r.job?.op }, `FUMO state ${state}`);
    try {
      this.#onState?.(state, this.#r.job);
    } catch {
      // the listener's problem
    }
  }

  // -------------------------------------------------------------------------------------------
  // The tree

  async get(path: NodePath): Promise<PluginNode | StatusCode> {
    const r = this.#r;
    const chr = (data: string): PluginNode => ({ format: 'chr', type: 'text/plain', data, permanent: true });
    const int = (n: number): PluginNode => ({
      format: 'int',
      type: 'text/plain',
      data: String(n),
      permanent: true,
    });
    const node = (children: string[], type?: string): PluginNode => ({
      format: 'node',
      ...(type ? { type } : {}),
      children,
      permanent: true,
    });
    const key = path.join('/');
    switch (key) {
      case '':
        return node(
          ['PkgName', 'PkgVersion', 'Download', 'Update', 'DownloadAndUpdate', 'State', 'Ext'],
          FUMO_MO_ID,
        );
      case 'PkgName':
        return chr(r.pkgName);
      case 'PkgVersion':
        return chr(r.pkgVersion);
      case 'Download':
      case 'DownloadAndUpdate':
        return node(['PkgURL']);
      case 'Download/PkgURL':
        return chr(r.downloadUrl);
      case 'DownloadAndUpdate/PkgURL':
        return chr(r.dauUrl);
      case 'Update':
        return node(['PkgData']);
      case 'Update/PkgData':
        // Write-only in the DDF; the package itself is never served back. Not permanent, so a
        // server may send it as b64 (XML) as well as bin (WBXML opaque).
        return { format: 'bin', type: 'application/octet-stream', data: new Uint8Array(0) };
      case 'State':
        return int(r.state);
      case 'Ext':
        return node(['SHA256', 'Progress', 'LastResult']);
      case 'Ext/SHA256':
        return chr(r.sha256);
      case 'Ext/Progress':
        return int(this.#progress);
      case 'Ext/LastResult':
        return {
          format: 'int',
          type: 'text/plain',
          data: r.lastResult === undefined ? '' : String(r.lastResult),
          permanent: true,
        };
      default:
        return S.NotFound;
    }
  }

  async replace(path: NodePath, input: NodeInput, _ctx: PluginContext): Promise<StatusCode> {
    const key = path.join('/');
    if (key === 'Update/PkgData') return this.#inBand(input);
    const value = textOf(input);
    if (Buffer.byteLength(value) > MAX_TEXT) return S.RequestEntityTooLarge;
    switch (key) {
      case 'PkgName':
        this.#r.pkgName = value;
        break;
      case 'PkgVersion':
        this.#r.pkgVersion = value;
        break;
      case 'Download/PkgURL':
        this.#r.downloadUrl = value.trim();
        break;
      case 'DownloadAndUpdate/PkgURL':
        this.#r.dauUrl = value.trim();
        break;
      case 'Ext/SHA256': {
        const v = value.trim().toLowerCase();
        if (v !== '' && !/^[0-9a-f]{64}$/.test(v)) return S.BadRequest;
        this.#r.sha256 = v;
        break;
      }
      default:
        return S.CommandNotAllowed;
    }
    this.#save();
    return S.Ok;
  }

  /** Replace Update/PkgData: a package pushed in the DM session (Large Object). */
  async #inBand(input: NodeInput): Promise<StatusCode> {
    if (this.#running || !FUMO_RESTING_STATES.includes(this.#r.state)) return S.CommandNotAllowed;
    const d = input.data;
    const bytes =
      d === undefined
        ? new Uint8Array(0)
        : typeof d !== 'string'
          ? d
          : input.format === 'b64'
            ? Buffer.from(d, 'base64')
            : Buffer.from(d, 'utf8');
    if (bytes.byteLength === 0) return S.IncompleteCommand;
    const out = await this.#device.storeInBand(bytes, this.#r.sha256 || undefined);
    if (!out.ok) {
      this.#log.warn(
        { event: 'fumo.pkgdata.refused', result: out.result, reason: out.reason },
        'in-band package refused',
      );
      delete this.#r.pkg;
      this.#r.lastResult = out.result;
      this.#setState(FumoState.DownloadFailed);
      return out.result === FumoResult.DownloadOutOfMemory ? S.DeviceFull : S.CommandFailed;
    }
    this.#r.pkg = out.pkg;
    this.#setState(FumoState.ReadyToUpdate);
    return S.Ok;
  }

  async exec(path: NodePath, _input: ExecInput, ctx: ExecContext): Promise<StatusCode> {
    if (path.length !== 1) return S.CommandNotAllowed;
    const op = path[0] as FumoOperation;
    if (op !== 'Download' && op !== 'Update' && op !== 'DownloadAndUpdate') return S.CommandNotAllowed;
    if (this.#running || this.#r.job) return S.CommandNotAllowed; // one operation at a time
    const r = this.#r;
    const serverId = ctx.principal.kind === 'server' ? ctx.principal.serverId : undefined;
    const base = {
      op,
      ...(ctx.correlator !== undefined ? { correlator: ctx.correlator } : {}),
      ...(serverId !== undefined ? { serverId } : {}),
      startedAt: this.#now(),
    };
    if (op === 'Update') {
      // objects.md §1.2: no package, no asynchronous operation → 405 in the same session.
      if (!FUMO_UPDATABLE_STATES.includes(r.state) || !r.pkg || !this.#device.hasPackage())
        return S.CommandNotAllowed;
      r.job = { ...base, phase: 'install' };
    } else {
      if (!FUMO_RESTING_STATES.includes(r.state)) return S.CommandNotAllowed;
      const url = op === 'Download' ? r.downloadUrl : r.dauUrl;
      if (url === '') return S.CommandNotAllowed; // precondition: PkgURL set
      const sha256 = r.sha256 || sha256FromUrl(url);
      // A new download replaces whatever package was stored.
      if (r.pkg) {
        this.#device.discardPackage();
        delete r.pkg;
      }
      r.job = { ...base, phase: 'download', url, ...(sha256 ? { sha256 } : {}) };
    }
    this.#save();
    this.#log.info(
      { event: 'fumo.exec', op, correlator: ctx.correlator, serverId },
      `FUMO Exec ${op} accepted`,
    );
    this.#launch();
    return S.AcceptedForProcessing;
  }

  // -------------------------------------------------------------------------------------------
  // The operation

  #launch(): void {
    if (this.#stopped) return;
    const run: Promise<void> = this.#step()
      .catch((err: unknown) => {
        this.#log.error(
          { event: 'fumo.error', err: (err as Error).message },
          'FUMO operation failed unexpectedly',
        );
      })
      .finally(() => {
        if (this.#running === run) this.#running = undefined;
      });
    this.#running = run;
  }

  #pkgInfo(job: FumoJob): FumoPackageInfo {
    const pkg = this.#r.pkg!;
    return {
      name: this.#r.pkgName,
      version: this.#r.pkgVersion,
      sha256: pkg.sha256,
      size: pkg.size,
      ...(job.correlator !== undefined ? { correlator: job.correlator } : {}),
    };
  }

  /** Runs the job from its phase to its report. */
  async #step(): Promise<void> {
    const r = this.#r;
    const job = r.job;
    if (!job) return;
    this.#progress = 0;
    const progress = (p: number) => {
      this.#progress = Math.max(0, Math.min(100, Math.round(p)));
    };
    if (job.phase === 'download') {
      if (r.state !== FumoState.DownloadProgressing) this.#setState(FumoState.DownloadProgressing);
      this.#abort = new AbortController();
      let out: FumoFetchOutcome;
      try {
        out = await this.#device.download({
          url: job.url ?? '',
          ...(job.sha256 ? { sha256: job.sha256 } : {}),
          signal: this.#abort.signal,
          progress,
        });
      } catch (err) {
        out = { ok: false, result: FumoResult.UndefinedError, reason: (err as Error).message };
      } finally {
        this.#abort = undefined;
      }
      // Stopped (shutdown): leave State 30 and the partial file; the next start resumes.
      if (this.#stopped) return;
      if (!out.ok) {
        this.#log.warn(
          { event: 'fumo.download.failed', result: out.result, reason: out.reason },
          'FUMO download failed',
        );
        return this.#finish(job, out.result, FumoState.DownloadFailed);
      }
      r.pkg = out.pkg;
      this.#setState(FumoState.DownloadComplete);
      if (job.op === 'Download') {
        return this.#finish(job, FumoResult.Successful, FumoState.ReadyToUpdate);
      }
      job.phase = 'install';
      this.#save();
    }
    if (job.phase === 'install') {
      if (!r.pkg || !this.#device.hasPackage()) {
        return this.#finish(job, FumoResult.UpdateFailed, FumoState.UpdateFailedNoData);
      }
      this.#setState(FumoState.UpdateProgressing);
      let out: FumoInstallOutcome;
      try {
        out = await this.#device.install(this.#pkgInfo(job), progress);
      } catch (err) {
        out = { result: FumoResult.UpdateFailed, reason: (err as Error).message };
      }
      if ('reboot' in out) {
        job.phase = 'reboot';
        this.#save();
        this.#log.info({ event: 'fumo.reboot', op: job.op }, 'update installed; restarting to apply it');
        await this.#device.reboot?.();
        return; // confirmed by start() after the restart
      }
      return this.#installed(job, out);
    }
    if (job.phase === 'reboot') {
      if (!r.pkg) return this.#finish(job, FumoResult.UpdateFailed, FumoState.UpdateFailedNoData);
      let out: FumoInstallOutcome;
      try {
        out = await this.#device.confirm(this.#pkgInfo(job));
      } catch (err) {
        out = { result: FumoResult.UpdateFailed, reason: (err as Error).message };
      }
      if ('reboot' in out) {
        // Still not running the new firmware (e.g. a restart of the agent alone): wait for the next one.
        this.#log.info({ event: 'fumo.reboot.pending' }, 'update waits for a device restart');
        return;
      }
      return this.#installed(job, out);
    }
    if (job.phase === 'report') return this.#deliver(job);
  }

  #installed(job: FumoJob, out: { result: number; reason?: string }): Promise<void> {
    const result = isFumoResultCode(out.result) ? out.result : FumoResult.UpdateFailed;
    if (isFumoSuccess(result)) {
      if (this.#keep) return this.#finish(job, result, FumoState.UpdateSuccessfulHaveData);
      this.#dropPackage();
      return this.#finish(job, result, FumoState.UpdateSuccessfulNoData);
    }
    this.#log.warn({ event: 'fumo.update.failed', result, reason: out.reason }, 'FUMO update failed');
    if (BAD_PACKAGE.has(result) || !this.#device.hasPackage()) {
      this.#dropPackage();
      return this.#finish(job, result, FumoState.UpdateFailedNoData);
    }
    return this.#finish(job, result, FumoState.UpdateFailedHaveData);
  }

  #dropPackage(): void {
    this.#device.discardPackage();
    delete this.#r.pkg;
  }

  /** Records the final State and result (durably), then reports. */
  async #finish(job: FumoJob, result: number, state: FumoState): Promise<void> {
    job.result = result;
    job.phase = 'report';
    this.#r.lastResult = result;
    this.#progress = isFumoSuccess(result) ? 100 : this.#progress;
    if (this.#r.state !== state) this.#setState(state);
    else this.#save();
    return this.#deliver(job);
  }

  async #deliver(job: FumoJob): Promise<void> {
    const result = job.result ?? FumoResult.UndefinedError;
    const report: FumoReport = {
      uri: this.uri,
      serverId: job.serverId,
      correlator: job.correlator,
      alertType: FumoAlertType[job.op],
      resultCode: result,
      mark: fumoMark(result),
      state: this.#r.state,
    };
    try {
      await this.#report(report);
    } catch (err) {
      this.#log.error(
        { event: 'fumo.report.failed', err: (err as Error).message },
        'FUMO report not queued; kept for the next start',
      );
      return;
    }
    this.#log.info(
      { event: 'fumo.report', op: job.op, result, state: this.#r.state, correlator: job.correlator },
      `FUMO ${job.op} finished with ${result}`,
    );
    delete this.#r.job;
    this.#save();
  }
}
