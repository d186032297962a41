/**
 * Rejections an attacker can cause at will (forged triggers, bootstrap pushes) are logged
 * aggregated, so a flood cannot fill the disk through the log: the first few of a kind (`burst`)
 * in an interval are written at once; later ones are counted and written as one line at the end
 * of the interval, with the count and the latest as a sample. A sustained flood writes at most
 * `burst + 1` lines per kind and interval, whatever its rate.
 */
import type { ClientLogger } from './client.ts';

export interface RejectLogOptions {
  /** Milliseconds between summary lines per kind (default 60 000). */
  readonly intervalMs?: number;
  /** Lines of a kind written one by one per interval before counting starts (default 5). */
  readonly burst?: number;
}

interface Bucket {
  readonly event: string;
  readonly message: string;
  /** Lines written one by one in this interval. */
  written: number;
  /** Rejections counted (not written) in this interval. */
  count: number;
  sample: Record<string, unknown>;
  timer: NodeJS.Timeout;
}

export class RejectLog {
  readonly #log: ClientLogger;
  readonly intervalMs: number;
  readonly burst: number;
  readonly #buckets = new Map<string, Bucket>();

  constructor(log: ClientLogger, options: RejectLogOptions = {}) {
    this.#log = log;
    this.intervalMs = options.intervalMs ?? 60_000;
    this.burst = Math.max(1, options.burst ?? 5);
  }

  /**
   * Records one rejection of `event` (a stable dotted name). `fields` are the sample: what this
   * rejection was (source, reason, …), never a secret. Each `event` and `fields.reason` is a kind
   * of its own, so a flood of one kind does not hide the first of another.
   */
  reject(event: string, message: string, fields: Record<string, unknown>): void {
    const kind = `${event}\u0000${String(fields.reason ?? '')}`;
    const b = this.#buckets.get(kind);
    if (b && b.written >= this.burst) {
      b.count++;
      b.sample = fields;
      return;
    }
    // The first few of a kind in an interval: at once, so a lone rejection is visible as it is.
    this.#log.warn({ event, ...fields }, message);
    if (b) b.written++;
    else
      this.#buckets.set(kind, {
        event,
        message,
        written: 1,
        count: 0,
        sample: fields,
        timer: this.#arm(kind),
      });
  }

  #arm(kind: string): NodeJS.Timeout {
    const timer = setTimeout(() => this.#tick(kind), this.intervalMs);
    timer.unref();
    return timer;
  }

  /** End of an interval: one line with the count; a quiet interval closes the bucket. */
  #tick(kind: string): void {
    const b = this.#buckets.get(kind);
    if (!b) return;
    if (b.count === 0) {
      this.#buckets.delete(kind);
      return;
    }
    // A flood goes on: its next interval is counted from the start (no new burst).
    this.#write(b);
    b.count = 0;
    b.timer = this.#arm(kind);
  }

  #write(b: Bucket): void {
    this.#log.warn(
      { event: b.event, count: b.count, intervalS: this.intervalMs / 1000, sample: b.sample },
      `${b.message} (${b.count} more in the interval)`,
    );
  }

  /** Writes what is counted and not yet written, and stops the timers (at shutdown). */
  close(): void {
    for (const b of this.#buckets.values()) {
      clearTimeout(b.timer);
      if (b.count > 0) this.#write(b);
    }
    this.#buckets.clear();
  }
}
