/**
 * Fleet statistics in constant memory: counters, errors by kind and a log-bucketed latency
 * histogram (2 % resolution) whatever the number of sessions.
 */
const GROWTH = 1.02;
const LOG_GROWTH = Math.log(GROWTH);
/** Bucket 0 holds latencies ≤ 0.01 ms; the last one everything above ~15 minutes. */
const MIN_MS = 0.01;
const BUCKETS = Math.ceil(Math.log(1e6 / MIN_MS) / LOG_GROWTH) + 1;

export class LatencyHistogram {
  readonly #counts = new Uint32Array(BUCKETS);
  #n = 0;
  #sum = 0;
  #max = 0;

  record(ms: number): void {
    const b = ms <= MIN_MS ? 0 : Math.min(BUCKETS - 1, Math.ceil(Math.log(ms / MIN_MS) / LOG_GROWTH));
    this.#counts[b]!++;
    this.#n++;
    this.#sum += ms;
    if (ms > this.#max) this.#max = ms;
  }

  get count(): number {
    return this.#n;
  }
  get mean(): number {
    return this.#n ? this.#sum / this.#n : 0;
  }
  get max(): number {
    return this.#max;
  }

  /** The latency (upper bucket bound, ms) under which fraction `q` of the samples fall. */
  percentile(q: number): number {
    if (this.#n === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.#n));
    let seen = 0;
    for (let b = 0; b < BUCKETS; b++) {
      seen += this.#counts[b]!;
      if (seen >= rank) return Math.min(this.#max, MIN_MS * GROWTH ** b);
    }
    return this.#max;
  }
}

export class FleetStats {
  sessions = 0;
  ok = 0;
  commands = 0;
  notifications = 0;
  readonly errors = new Map<string, number>();
  readonly latency = new LatencyHistogram();

  error(kind: string): void {
    this.errors.set(kind, (this.errors.get(kind) ?? 0) + 1);
  }

  /** Sessions that ended in an error (sessions still running are neither ok nor failed). */
  get failed(): number {
    let n = 0;
    for (const v of this.errors.values()) n += v;
    return n;
  }

  /** Sessions started and not ended yet. */
  get running(): number {
    return this.sessions - this.ok - this.failed;
  }
}
