/**
 * Install backends: what turns a downloaded package into running firmware. One small interface,
 * two implementations (an executable hook, RAUC); the FUMO MO never sees which one runs.
 */
import type { FumoInstallOutcome, FumoPackageInfo } from '../../mo/index.ts';

export interface InstallRequest extends FumoPackageInfo {
  /** The verified package file. */
  readonly file: string;
  /** A directory the backend may keep its own state in (survives restarts). */
  readonly stateDir: string;
  /** The FUMO instance URI (`./FUMO`). */
  readonly uri: string;
  readonly progress: (percent: number) => void;
}

export interface InstallBackend {
  readonly name: string;
  /** Install the package: a FUMO result code, or `{ reboot: true }` when a restart applies it. */
  install(request: InstallRequest): Promise<FumoInstallOutcome>;
  /** After the restart `install` asked for: is the new firmware running? */
  confirm(request: InstallRequest): Promise<FumoInstallOutcome>;
}
