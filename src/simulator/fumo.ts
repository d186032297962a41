/**
 * FUMO on a simulated device, for real where it matters to a server: the package is downloaded
 * from PkgURL (the real bytes, hashed as they stream, nothing kept; a Download Descriptor is
 * followed) and checked against the expected SHA-256 (Ext/SHA256, the URL's `#sha256=`, the
 * descriptor's `sha256`); the update takes `updateMs`; a share `failRate` of updates fails with a
 * real FUMO result code; State goes through the values of objects.md §1.2; one Generic Alert with
 * the operation's alert type and the Exec's Correlator ends each operation. The device's state
 * lives in its overlay (`./FUMO/State`, …), so an idle device costs nothing more.
 */
import type http from 'node:http';
import { DownloadError, hashUrl } from '../binding/http/index.ts';
import {
  DD_MAX_BYTES,
  DdError,
  DOWNLOAD_FAILURES,
  FUMO_RESTING_STATES,
  FUMO_UPDATABLE_STATES,
  FumoAlertType,
  fumoMark,
  type FumoOperation,
  FumoResult,
  type FumoState,
  looksLikeDd,
  parseDownloadDescriptor,
  sha256FromUrl,
} from '../mo/index.ts';
import type { Alert } from '../representation/index.ts';
import { StatusCode } from '../representation/index.ts';

/** The FUMO instance of a simulated device. */
export const SIM_FUMO_URI = './FUMO';

/** Failure codes a simulated update draws from (objects.md §1.4): mostly "update failed". */
export const SIM_UPDATE_FAILURES: readonly number[] = [
  FumoResult.UpdateFailed,
  FumoResult.UpdateFailed,
  FumoResult.UpdateFailed,
  FumoResult.UpdateOutOfMemory,
  FumoResult.PackageMismatch,
];

export interface SimFumoOptions {
  /** How long an update (install + reboot) takes, ms (default 2 000). */
  readonly updateMs?: number;
  /** Share of updates that fail (0..1, default 0). */
  readonly failRate?: number;
  /** Largest package a device accepts, bytes (default 64 MiB). */
  readonly maxBytes?: number;
  readonly random?: () => number;
  /** Keep-alive agent for the downloads (the fleet's). */
  readonly agent?: http.Agent;
  readonly idleTimeoutMs?: number;
}

/** What one device's FUMO job needs from the handler. */
export interface SimFumoDevice {
  value(uri: string): string | undefined;
  set(uri: string, value: string): void;
  queueAlert(alert: Alert): void;
}

/** Counters over the fleet (for the summary and the campaign benchmark). */
export interface SimFumoStats {
  downloads: number;
  downloadBytes: number;
  downloadFailures: number;
  updates: number;
  updateFailures: number;
}

export class SimFumo {
  readonly #o: SimFumoOptions;
  readonly stats: SimFumoStats = {
    downloads: 0,
    downloadBytes: 0,
    downloadFailures: 0,
    updates: 0,
    updateFailures: 0,
  };
  /** Devices with a running job (by DevId). */
  readonly #busy = new Set<string>();

  constructor(options: SimFumoOptions = {}) {
    const rate = options.failRate ?? 0;
    if (!(rate >= 0 && rate <= 1)) throw new RangeError('failRate must be within 0..1');
    this.#o = options;
  }

  /** Jobs running now. */
  get running(): number {
    return this.#busy.size;
  }

  /**
   * An Exec on `./FUMO/<op>`: 202 and a background job, or 405 when its precondition does not
   * hold (objects.md §1.2–§1.3).
   */
  exec(devId: string, op: FumoOperation, correlator: string | undefined, dev: SimFumoDevice): StatusCode {
    const state = Number(dev.value(`${SIM_FUMO_URI}/State`) ?? '10') as FumoState;
    if (this.#busy.has(devId)) return StatusCode.CommandNotAllowed;
    if (op === 'Update') {
      if (!FUMO_UPDATABLE_STATES.includes(state)) return StatusCode.CommandNotAllowed;
    } else {
      if (!FUMO_RESTING_STATES.includes(state)) return StatusCode.CommandNotAllowed;
      if ((dev.value(`${SIM_FUMO_URI}/${op}/PkgURL`) ?? '') === '') return StatusCode.CommandNotAllowed;
    }
    this.#busy.add(devId);
    void this.#run(op, correlator, dev).finally(() => this.#busy.delete(devId));
    return StatusCode.AcceptedForProcessing;
  }

  async #run(op: FumoOperation, correlator: string | undefined, dev: SimFumoDevice): Promise<void> {
    const setState = (s: FumoState) => dev.set(`${SIM_FUMO_URI}/State`, String(s));
    const report = (result: number) => {
      const mark = fumoMark(result);
      dev.queueAlert({
        type: 'Alert',
        CmdID: '0',
        Data: 1226,
        ...(correlator !== undefined ? { Correlator: correlator } : {}),
        Item: [
          {
            Source: { LocURI: SIM_FUMO_URI },
            Meta: {
              Type: FumoAlertType[op],
              Format: 'int',
              ...(mark === 'informational' ? {} : { Mark: mark }),
            },
            Data: { kind: 'text', text: String(result) },
          },
        ],
      });
    };
    if (op !== 'Update') {
      setState(30);
      const url = dev.value(`${SIM_FUMO_URI}/${op}/PkgURL`) ?? '';
      const failure = await this.#download(
        url,
        (dev.value(`${SIM_FUMO_URI}/Ext/SHA256`) ?? '') || sha256FromUrl(url),
      );
      if (failure !== undefined) {
        this.stats.downloadFailures++;
        setState(20);
        report(failure);
        return;
      }
      setState(40);
      if (op === 'Download') {
        setState(50);
        report(FumoResult.Successful);
        return;
      }
    }
    setState(60);
    await new Promise((r) => setTimeout(r, this.#o.updateMs ?? 2000).unref());
    this.stats.updates++;
    const random = this.#o.random ?? Math.random;
    if (random() < (this.#o.failRate ?? 0)) {
      this.stats.updateFailures++;
      const code =
        SIM_UPDATE_FAILURES[Math.floor(random() * SIM_UPDATE_FAILURES.length)] ?? FumoResult.UpdateFailed;
      setState(code === FumoResult.PackageMismatch ? 80 : 70);
      report(code);
      return;
    }
    // The new firmware runs: DevDetail says so.
    const version = dev.value(`${SIM_FUMO_URI}/PkgVersion`);
    if (version) dev.set('./DevDetail/FwV', version);
    setState(100);
    report(FumoResult.Successful);
  }

  /** Fetches and checks the package; a FUMO result code on failure. */
  async #download(pkgUrl: string, expected: string | undefined): Promise<number | undefined> {
    const o = {
      maxBytes: this.#o.maxBytes ?? 64 * 1024 * 1024,
      ...(this.#o.agent ? { agent: this.#o.agent } : {}),
      ...(this.#o.idleTimeoutMs ? { idleTimeoutMs: this.#o.idleTimeoutMs } : {}),
      headers: { 'user-agent': 'omadm-sim' },
    };
    try {
      let got = await hashUrl(pkgUrl, { ...o, keepBytes: DD_MAX_BYTES });
      const hashes = [expected];
      if (got.body && looksLikeDd(got.contentType, got.body)) {
        const dd = parseDownloadDescriptor(got.body, pkgUrl.replace(/#.*$/, ''));
        if (dd.size !== undefined && dd.size > o.maxBytes) return DOWNLOAD_FAILURES['too-large'].result;
        got = await hashUrl(dd.objectUri, o);
        if (dd.size !== undefined && got.bytes !== dd.size) return DOWNLOAD_FAILURES['size-mismatch'].result;
        hashes.push(dd.sha256);
      }
      this.stats.downloads++;
      this.stats.downloadBytes += got.bytes;
      if (hashes.some((h) => h !== undefined && h !== got.sha256))
        return DOWNLOAD_FAILURES['hash-mismatch'].result;
      return undefined;
    } catch (err) {
      if (err instanceof DownloadError) return DOWNLOAD_FAILURES[err.kind].result;
      if (err instanceof DdError) return DOWNLOAD_FAILURES['bad-descriptor'].result;
      return FumoResult.UndefinedError;
    }
  }
}
