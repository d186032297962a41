/**
 * What stands between a bootstrap push and the device's DM account (issue 22): a persistent
 * count of pushes whose MAC did not verify, with an exponential back-off, so a PIN cannot be
 * found by trying; the minimum security mode the device accepts; and the rule that a device
 * with an account takes no unsolicited push unless its operator allowed it.
 */
import { type BootstrapSecurity, parseSec } from '../protocol/bootstrap/index.ts';
import { ClientError, ClientErrorCode } from './errors.ts';
import { readJsonFile, writePrivateFile } from './private-file.ts';

/**
 * Shortest user PIN accepted for pushes: 8 characters. With the back-off below an attacker gets
 * about 40 guesses a day once the free attempts are spent; against 10^8 PINs that is hopeless,
 * against the 10^4 of a 4-digit PIN it is not (an unthrottled search took 7,400 pushes).
 */
export const MIN_PUSH_PIN_LENGTH = 8;

/** Strength order of the security modes (objects.md §7.5): what the key is made of. */
const RANK: Readonly<Record<BootstrapSecurity, number>> = {
  netwpin: 0, // the IMSI alone: known to the network, readable from the SIM
  userpin: 1,
  userpinmac: 1,
  usernetwpin: 2, // both
};

/** Whether `sec` is at least as strong as `min`. */
export function secAtLeast(sec: BootstrapSecurity, min: BootstrapSecurity): boolean {
  return RANK[sec] >= RANK[min];
}

/** The default minimum: the strongest mode the configured key material can verify. */
export function defaultMinSecurity(keys: { pin?: string; imsi?: string }): BootstrapSecurity {
  if (keys.pin && keys.imsi) return 'usernetwpin';
  if (keys.pin) return 'userpin';
  return 'netwpin';
}

/** Reads a configured minimum (name of either profile, or the CP number); throws ClientError. */
export function parseMinSecurity(value: string): BootstrapSecurity {
  try {
    return parseSec(value);
  } catch {
    throw new ClientError(
      ClientErrorCode.Config,
      `bootstrap security mode must be netwpin, userpin, usernetwpin or userpinmac, not ${value}`,
    );
  }
}

/** Throws ClientError (Config) for a PIN too short to resist guessing. */
export function checkPushPin(pin: string | undefined): void {
  if (pin !== undefined && pin.length < MIN_PUSH_PIN_LENGTH)
    throw new ClientError(
      ClientErrorCode.Config,
      `a bootstrap PIN for pushes needs at least ${MIN_PUSH_PIN_LENGTH} characters`,
    );
}

export interface BootstrapGuardOptions {
  /** Where the count lives (JSON, 0600); without it, in memory only. */
  readonly file?: string;
  /** Failures without any wait (a mistyped PIN; default 3). */
  readonly freeFailures?: number;
  /** Wait after the first failure beyond the free ones (ms, default 5 000), doubled each time. */
  readonly backoffMs?: number;
  /** Longest wait (ms, default 24 h). */
  readonly maxBackoffMs?: number;
  readonly now?: () => number;
}

interface GuardState {
  failures: number;
  lastFailureAt: number;
}

export class BootstrapGuard {
  readonly #o: BootstrapGuardOptions;
  readonly #now: () => number;
  #state: GuardState = { failures: 0, lastFailureAt: 0 };

  constructor(options: BootstrapGuardOptions = {}) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    const saved = options.file ? readJsonFile(options.file) : undefined;
    if (saved && typeof saved === 'object') {
      const { failures, lastFailureAt } = saved as Partial<GuardState>;
      if (Number.isInteger(failures) && (failures as number) > 0 && Number.isFinite(lastFailureAt))
        this.#state = { failures: failures as number, lastFailureAt: lastFailureAt as number };
    }
  }

  /** Failed MACs in a row (persisted). */
  get failures(): number {
    return this.#state.failures;
  }

  /** The back-off after `failures` failures (ms). */
  backoffAfter(failures: number): number {
    const free = this.#o.freeFailures ?? 3;
    if (failures <= free) return 0;
    const base = this.#o.backoffMs ?? 5000;
    const max = this.#o.maxBackoffMs ?? 24 * 3600_000;
    return Math.min(max, base * 2 ** Math.min(40, failures - free - 1));
  }

  /** How long until a push may be verified again (0: now). */
  waitMs(): number {
    const { failures, lastFailureAt } = this.#state;
    // A clock set back does not extend the wait beyond one back-off.
    const since = Math.max(0, this.#now() - lastFailureAt);
    return Math.max(0, this.backoffAfter(failures) - since);
  }

  /** A push whose MAC did not verify: counted and stored before anything else happens. */
  failed(): void {
    this.#state = { failures: this.#state.failures + 1, lastFailureAt: this.#now() };
    this.#save();
  }

  /** A verified push: the count starts again. */
  succeeded(): void {
    if (this.#state.failures === 0) return;
    this.#state = { failures: 0, lastFailureAt: 0 };
    this.#save();
  }

  #save(): void {
    if (this.#o.file) writePrivateFile(this.#o.file, JSON.stringify(this.#state));
  }
}
