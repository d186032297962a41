/**
 * The agent's FUMO device: packages fetched over HTTP(S) into `DIR/package.part` (resumed with
 * Range after a crash), through an OMA Download Descriptor when PkgURL points at one (its install
 * notification posted), checked against the expected SHA-256 (Ext/SHA256, the URL's `#sha256=`
 * fragment, the descriptor's `sha256` extension — every one given must match) and the size limit,
 * then kept as `DIR/package.bin` for the install backend.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  DownloadError,
  type DownloadErrorKind,
  discardDownload,
  downloadFile,
  type HttpFetchOptions,
  postText,
} from '../../binding/http/index.ts';
import {
  DD_MAX_BYTES,
  DD_STATUS_TEXT,
  DdError,
  DdStatus,
  DOWNLOAD_FAILURES,
  type DownloadDescriptor,
  type DownloadFailure,
  type FumoDevice,
  type FumoFetchOutcome,
  type FumoInstallOutcome,
  type FumoPackageInfo,
  FumoResult,
  installNotifyBody,
  looksLikeDd,
  parseDownloadDescriptor,
} from '../../mo/index.ts';
import type { InstallBackend } from './backend.ts';

export interface AgentFumoDeviceOptions {
  /** Where packages and backend state live. */
  readonly dir: string;
  readonly backend: InstallBackend;
  /** Largest package accepted, bytes (default 256 MiB). */
  readonly maxBytes?: number;
  /** HTTPS trust, timeouts, headers for downloads. */
  readonly http?: HttpFetchOptions & { readonly retries?: number; readonly backoffMs?: number };
  /** FUMO instance URI (for the hook's environment). */
  readonly uri: string;
  /** Run to restart the device after an install that needs it (argv; none: the backend or the operator restarts). */
  readonly rebootCommand?: readonly string[];
  readonly logger?: { info(obj: object, msg?: string): void; warn(obj: object, msg?: string): void };
}

export const DEFAULT_MAX_PACKAGE_BYTES = 256 * 1024 * 1024;

interface DdRecord {
  readonly pkgUrl: string;
  readonly dd: DownloadDescriptor;
}

class Failure extends Error {
  readonly kind: DownloadFailure;
  constructor(kind: DownloadFailure, message: string) {
    super(message);
    this.kind = kind;
  }
}

export class AgentFumoDevice implements FumoDevice {
  readonly #o: AgentFumoDeviceOptions;
  readonly #part: string;
  readonly #pkg: string;
  readonly #ddFile: string;
  readonly #stateDir: string;

  constructor(options: AgentFumoDeviceOptions) {
    this.#o = options;
    mkdirSync(options.dir, { recursive: true });
    this.#part = join(options.dir, 'package.part');
    this.#pkg = join(options.dir, 'package.bin');
    this.#ddFile = join(options.dir, 'dd.json');
    this.#stateDir = join(options.dir, 'backend');
    mkdirSync(this.#stateDir, { recursive: true });
  }

  get maxBytes(): number {
    return this.#o.maxBytes ?? DEFAULT_MAX_PACKAGE_BYTES;
  }

  /** Where the verified package is kept. */
  get packageFile(): string {
    return this.#pkg;
  }

  hasPackage(): boolean {
    return existsSync(this.#pkg);
  }

  discardPackage(): void {
    for (const f of [this.#pkg, this.#ddFile]) {
      try {
        unlinkSync(f);
      } catch {
        // absent
      }
    }
    discardDownload(this.#part);
  }

  #fetchOptions(signal?: AbortSignal): HttpFetchOptions {
    const h = this.#o.http ?? {};
    return { ...h, headers: { 'user-agent': 'omadm-client', ...h.headers }, ...(signal ? { signal } : {}) };
  }

  async download(request: {
    readonly url: string;
    readonly sha256?: string;
    readonly signal: AbortSignal;
    readonly progress: (percent: number) => void;
  }): Promise<FumoFetchOutcome> {
    const pkgUrl = request.url.replace(/#.*$/, '');
    let dd: DownloadDescriptor | undefined = this.#savedDd(pkgUrl);
    try {
      let objectUrl = dd?.objectUri ?? pkgUrl;
      let got = await this.#fetch(objectUrl, dd, request);
      if (!dd) {
        // PkgURL may name a descriptor: small, typed application/vnd.oma.dd+xml (or a <media> root).
        const head = got.bytes <= DD_MAX_BYTES ? readFileSync(this.#part) : undefined;
        if (head && looksLikeDd(got.contentType, head)) {
          try {
            dd = parseDownloadDescriptor(head, pkgUrl);
          } catch (err) {
            if (err instanceof DdError) throw new Failure('bad-descriptor', err.message);
            throw err;
          }
          writeFileSync(this.#ddFile, JSON.stringify({ pkgUrl, dd } satisfies DdRecord));
          discardDownload(this.#part);
          if (dd.size !== undefined && dd.size > this.maxBytes) {
            throw new Failure(
              'too-large',
              `the descriptor announces ${dd.size} bytes, over the ${this.maxBytes}-byte limit`,
            );
          }
          objectUrl = dd.objectUri;
          got = await this.#fetch(objectUrl, dd, request);
        }
      }
      const expected = [request.sha256, dd?.sha256].filter((h): h is string => h !== undefined);
      const bad = expected.find((h) => h.toLowerCase() !== got.sha256);
      if (bad !== undefined) {
        discardDownload(this.#part);
        throw new Failure('hash-mismatch', `SHA-256 ${got.sha256} is not the expected ${bad}`);
      }
      if (got.bytes === 0) {
        discardDownload(this.#part);
        throw new Failure('bad-content', 'the package is empty');
      }
      if (expected.length === 0)
        this.#o.logger?.warn(
          { event: 'fumo.download.unverified', url: objectUrl },
          'no expected SHA-256: package accepted on size alone',
        );
      renameSync(this.#part, this.#pkg);
      discardDownload(this.#part);
      await this.#notify(dd, DdStatus.Success);
      this.#o.logger?.info(
        {
          event: 'fumo.download.done',
          url: objectUrl,
          bytes: got.bytes,
          resumedFrom: got.resumedFrom,
          attempts: got.attempts,
        },
        'package downloaded',
      );
      return { ok: true, pkg: { sha256: got.sha256, size: got.bytes } };
    } catch (err) {
      const kind = kindOf(err);
      if (kind === 'aborted') {
        // Shutdown: keep the partial file, the next start resumes it. Not a result.
        return { ok: false, result: FumoResult.UndefinedError, reason: 'aborted' };
      }
      const map = DOWNLOAD_FAILURES[kind];
      if (kind !== 'network' && kind !== 'timeout' && kind !== 'unavailable') {
        // Nothing worth resuming: the next Exec starts over.
        discardDownload(this.#part);
      }
      try {
        unlinkSync(this.#ddFile);
      } catch {
        // none
      }
      await this.#notify(
        dd,
        err instanceof DdError && err.kind === 'invalid-version' ? DdStatus.InvalidDdVersion : map.dd,
      );
      return { ok: false, result: map.result, reason: (err as Error).message };
    }
  }

  async #fetch(
    url: string,
    dd: DownloadDescriptor | undefined,
    request: { signal: AbortSignal; progress: (p: number) => void },
  ) {
    const h = this.#o.http ?? {};
    return downloadFile({
      ...this.#fetchOptions(request.signal),
      url,
      file: this.#part,
      maxBytes: this.maxBytes,
      ...(dd?.size !== undefined ? { expectedSize: dd.size } : {}),
      ...(h.retries !== undefined ? { retries: h.retries } : {}),
      ...(h.backoffMs !== undefined ? { backoffMs: h.backoffMs } : {}),
      onProgress: (bytes, total) => {
        const t = total ?? dd?.size;
        if (t) request.progress((bytes / t) * 100);
      },
    });
  }

  #savedDd(pkgUrl: string): DownloadDescriptor | undefined {
    try {
      const r = JSON.parse(readFileSync(this.#ddFile, 'utf8')) as DdRecord;
      return r.pkgUrl === pkgUrl ? r.dd : undefined;
    } catch {
      return undefined;
    }
  }

  /** Posts the OMA Download status report; a failure to post is logged, never fatal. */
  async #notify(dd: DownloadDescriptor | undefined, status: number): Promise<void> {
    if (!dd?.installNotifyUri) return;
    try {
      const code = await postText(
        dd.installNotifyUri,
        installNotifyBody(status, DD_STATUS_TEXT[status] ?? ''),
        {
          ...this.#fetchOptions(),
          idleTimeoutMs: 10_000,
        },
      );
      this.#o.logger?.info(
        { event: 'fumo.install-notify', status, http: code },
        'install notification posted',
      );
    } catch (err) {
      this.#o.logger?.warn(
        { event: 'fumo.install-notify.failed', status, err: (err as Error).message },
        'install notification failed',
      );
    }
  }

  async storeInBand(data: Uint8Array, sha256: string | undefined): Promise<FumoFetchOutcome> {
    if (data.byteLength > this.maxBytes)
      return { ok: false, result: FumoResult.DownloadOutOfMemory, reason: 'over the package size limit' };
    const got = createHash('sha256').update(data).digest('hex');
    if (sha256 !== undefined && sha256 !== got)
      return {
        ok: false,
        result: FumoResult.CorruptedPackage,
        reason: `SHA-256 ${got} is not the expected ${sha256}`,
      };
    try {
      writeFileSync(`${this.#pkg}.tmp`, data);
      renameSync(`${this.#pkg}.tmp`, this.#pkg);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      return {
        ok: false,
        result: e.code === 'ENOSPC' ? FumoResult.DownloadOutOfMemory : FumoResult.UndefinedError,
        reason: e.message,
      };
    }
    return { ok: true, pkg: { sha256: got, size: data.byteLength } };
  }

  #request(pkg: FumoPackageInfo, progress: (p: number) => void) {
    return { ...pkg, file: this.#pkg, stateDir: this.#stateDir, uri: this.#o.uri, progress };
  }

  async install(pkg: FumoPackageInfo, progress: (percent: number) => void): Promise<FumoInstallOutcome> {
    // The bytes the backend installs are the ones that were verified: check again (a disk can rot).
    const now = await sha256File(this.#pkg).catch(() => undefined);
    if (now !== pkg.sha256)
      return {
        result: FumoResult.CorruptedPackage,
        reason: 'the stored package changed since it was verified',
      };
    return this.#o.backend.install(this.#request(pkg, progress));
  }

  confirm(pkg: FumoPackageInfo): Promise<FumoInstallOutcome> {
    return this.#o.backend.confirm(this.#request(pkg, () => {}));
  }

  async reboot(): Promise<void> {
    const cmd = this.#o.rebootCommand;
    if (!cmd || cmd.length === 0) return;
    const { spawn } = await import('node:child_process');
    this.#o.logger?.info({ event: 'fumo.reboot.command', cmd: cmd.join(' ') }, 'running the reboot command');
    const child = spawn(cmd[0]!, cmd.slice(1), { stdio: 'ignore', detached: true });
    child.on('error', (err) =>
      this.#o.logger?.warn({ event: 'fumo.reboot.failed', err: err.message }, 'reboot command failed'),
    );
    child.unref();
  }
}

function kindOf(err: unknown): DownloadFailure {
  if (err instanceof Failure) return err.kind;
  if (err instanceof DdError) return 'bad-descriptor';
  if (err instanceof DownloadError) return err.kind satisfies DownloadErrorKind;
  const e = err as NodeJS.ErrnoException;
  if (e?.code === 'ENOSPC' || e?.code === 'EDQUOT') return 'no-space';
  return 'network';
}

async function sha256File(file: string): Promise<string> {
  const { createReadStream } = await import('node:fs');
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}
