/**
 * Prometheus metrics in the text exposition format (version 0.0.4), written by hand: a few
 * counters, gauges and one histogram do not justify a dependency. Values that live in the database
 * (commands by state, devices) are read at scrape time through `collect` callbacks, so every
 * server node reports the same fleet-wide numbers while its own counters stay per node.
 */

type Labels = Readonly<Record<string, string>>;

const NEEDS_ESCAPE = /[\\\n"]/;

function escapeLabel(value: string): string {
  // Label values are almost always plain words: skip the three replaces for them.
  if (!NEEDS_ESCAPE.test(value)) return value;
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function labelText(labels: Labels): string {
  const keys = Object.keys(labels);
  if (keys.length === 0) return '';
  return `{${keys.map((k) => `${k}="${escapeLabel(labels[k] ?? '')}"`).join(',')}}`;
}

/** Identity of a label set (not its text: rendering escapes, this runs on every count). */
function key(labels: Labels): string {
  let k = '';
  for (const name in labels) k += `${name}\u0001${labels[name]}\u0000`;
  return k;
}

function num(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Number.POSITIVE_INFINITY) return '+Inf';
  if (v === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(v);
}

/**
 * Label sets a metric keeps (memory bound): past this, new label sets are counted under one
 * `{overflow="true"}` series instead of growing the map (label values are routes, statuses and
 * outcomes, so a real server stays far below it).
 */
export const MAX_SERIES = 1000;
const OVERFLOW: Labels = Object.freeze({ overflow: 'true' });

interface Metric {
  readonly name: string;
  render(): Promise<string> | string;
}

/** A monotonically increasing counter with optional labels. */
export class Counter implements Metric {
  readonly name: string;
  readonly help: string;
  readonly #values = new Map<string, { labels: Labels; value: number }>();
  constructor(name: string, help: string) {
    this.name = name;
    this.help = help;
  }
  inc(labels: Labels = {}, by = 1): void {
    const k = key(labels);
    const cur = this.#values.get(k);
    if (cur) cur.value += by;
    else if (this.#values.size < MAX_SERIES) this.#values.set(k, { labels, value: by });
    else if (k !== key(OVERFLOW)) this.inc(OVERFLOW, by);
    else this.#values.set(k, { labels, value: by });
  }
  /** Label sets held. */
  get series(): number {
    return this.#values.size;
  }
  get(labels: Labels = {}): number {
    return this.#values.get(key(labels))?.value ?? 0;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const { labels, value } of this.#values.values())
      lines.push(`${this.name}${labelText(labels)} ${num(value)}`);
    return lines.join('\n');
  }
}

/** A gauge: set directly, or computed at scrape time by `collect`. */
export class Gauge implements Metric {
  readonly name: string;
  readonly help: string;
  readonly #values = new Map<string, { labels: Labels; value: number }>();
  readonly #collect: (() => Promise<ReadonlyArray<readonly [Labels, number]>>) | undefined;
  constructor(name: string, help: string, collect?: () => Promise<ReadonlyArray<readonly [Labels, number]>>) {
    this.name = name;
    this.help = help;
    this.#collect = collect;
  }
  set(value: number, labels: Labels = {}): void {
    this.#values.set(key(labels), { labels, value });
  }
  add(by: number, labels: Labels = {}): void {
    const k = key(labels);
    const cur = this.#values.get(k);
    if (cur) cur.value += by;
    else this.#values.set(k, { labels, value: by });
  }
  async render(): Promise<string> {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`];
    if (this.#collect) {
      for (const [labels, value] of await this.#collect())
        lines.push(`${this.name}${labelText(labels)} ${num(value)}`);
    } else {
      for (const { labels, value } of this.#values.values())
        lines.push(`${this.name}${labelText(labels)} ${num(value)}`);
    }
    return lines.join('\n');
  }
}

/** A cumulative histogram with fixed buckets (seconds). */
export class Histogram implements Metric {
  readonly name: string;
  readonly help: string;
  readonly buckets: readonly number[];
  readonly #series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  constructor(name: string, help: string, buckets: readonly number[]) {
    this.name = name;
    this.help = help;
    this.buckets = [...buckets].sort((a, b) => a - b);
  }
  observe(value: number, labels: Labels = {}): void {
    const k = key(labels);
    let s = this.#series.get(k);
    if (!s && this.#series.size >= MAX_SERIES && k !== key(OVERFLOW)) {
      this.observe(value, OVERFLOW);
      return;
    }
    if (!s) {
      s = { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.#series.set(k, s);
    }
    for (let i = 0; i < this.buckets.length; i++) if (value <= (this.buckets[i] as number)) s.counts[i]!++;
    s.sum += value;
    s.count++;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const s of this.#series.values()) {
      this.buckets.forEach((b, i) => {
        lines.push(`${this.name}_bucket${labelText({ ...s.labels, le: num(b) })} ${s.counts[i]}`);
      });
      lines.push(`${this.name}_bucket${labelText({ ...s.labels, le: '+Inf' })} ${s.count}`);
      lines.push(`${this.name}_sum${labelText(s.labels)} ${num(s.sum)}`);
      lines.push(`${this.name}_count${labelText(s.labels)} ${s.count}`);
    }
    return lines.join('\n');
  }
}

/** A set of metrics rendered together. */
export class Registry {
  readonly #metrics: Metric[] = [];
  register<M extends Metric>(metric: M): M {
    if (this.#metrics.some((m) => m.name === metric.name))
      throw new Error(`metric ${metric.name} registered twice`);
    this.#metrics.push(metric);
    return metric;
  }
  /** The exposition text; a failing collector yields no samples for its metric, not an error. */
  async render(): Promise<string> {
    const parts: string[] = [];
    for (const m of this.#metrics) {
      try {
        parts.push(await m.render());
      } catch {
        parts.push(`# ${m.name}: collection failed`);
      }
    }
    return `${parts.join('\n')}\n`;
  }
}

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** The metrics a server node exports. */
export interface ServerMetrics {
  readonly registry: Registry;
  readonly httpRequests: Counter;
  readonly httpDuration: Histogram;
  readonly dmMessages: Counter;
  readonly dmSessions: Counter;
  readonly dmSessionsStarted: Counter;
  readonly commandsDelivered: Counter;
  /** Rows deleted by retention, by table rule. */
  readonly rowsPruned: Counter;
  /** Failed DM client authentications, by reason (`AuthFailureReason`). */
  readonly authFailures: Counter;
  readonly notifications: Counter;
}

export interface MetricsCollectors {
  /** Commands in the queue by state (fleet-wide, read from the database). */
  commandsByState?: () => Promise<Readonly<Record<string, number>>>;
  /** Number of devices (fleet-wide). */
  devices?: () => Promise<number>;
  /** The database's size and its oldest trace (fleet-wide). */
  store?: () => Promise<{ bytes: number; freeBytes?: number; oldestTraceAt: number | null }>;
  /** When the oldest still-queued command was queued (ms), none: undefined (fleet-wide). */
  oldestQueuedAt?: () => Promise<number | undefined>;
}

export function createServerMetrics(collectors: MetricsCollectors = {}): ServerMetrics {
  const registry = new Registry();
  const httpRequests = registry.register(
    new Counter('omadm_http_requests_total', 'HTTP requests served by this node, by route and status.'),
  );
  const httpDuration = registry.register(
    new Histogram(
      'omadm_http_request_duration_seconds',
      'Time to answer HTTP requests on this node, by area (dm, api, other).',
      [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    ),
  );
  const dmMessages = registry.register(
    new Counter('omadm_dm_messages_total', 'DM messages received and sent by this node, by direction.'),
  );
  const dmSessions = registry.register(
    new Counter('omadm_dm_sessions_total', 'DM sessions ended on this node, by outcome.'),
  );
  // Started and ended are counters, not an "active" gauge: a session's messages may be served by
  // different nodes, so only the fleet-wide difference (sum over nodes) is meaningful.
  const dmSessionsStarted = registry.register(
    new Counter('omadm_dm_sessions_started_total', 'DM sessions started (package 1 accepted) on this node.'),
  );
  dmSessionsStarted.inc({}, 0);
  const commandsDelivered = registry.register(
    new Counter(
      'omadm_commands_completed_total',
      'Queued commands that reached a final state in sessions on this node (once each), by state.',
    ),
  );
  const rowsPruned = registry.register(
    new Counter('omadm_store_rows_pruned_total', 'Rows deleted by retention on this node, by table rule.'),
  );
  const authFailures = registry.register(
    new Counter(
      'omadm_auth_failures_total',
      'DM client authentications refused on this node, by reason (unknown_device, missing_credentials, bad_credentials, wrong_scheme, no_certificate, transport_mismatch, rate_limited, no_auth_without_tls).',
    ),
  );
  const notifications = registry.register(
    new Counter(
      'omadm_notifications_total',
      'Package 0 notification attempts sent by this node, by bearer and result (accepted, refused, error).',
    ),
  );
  const { commandsByState, devices, store, oldestQueuedAt } = collectors;
  if (store) {
    // One read per scrape serves the three gauges.
    let cached: { at: number; value: Promise<Awaited<ReturnType<typeof store>>> } | undefined;
    const stats = () => {
      const now = Date.now();
      if (!cached || now - cached.at > 1000) cached = { at: now, value: store() };
      return cached.value;
    };
    registry.register(
      new Gauge(
        'omadm_store_size_bytes',
        'Bytes the database takes (SQLite files; PostgreSQL relations).',
        async () => [[{}, (await stats()).bytes] as const],
      ),
    );
    registry.register(
      new Gauge(
        'omadm_store_free_bytes',
        'SQLite: bytes of free pages in the file, reused before it grows.',
        async () => {
          const s = await stats();
          return s.freeBytes === undefined ? [] : [[{}, s.freeBytes] as const];
        },
      ),
    );
    registry.register(
      new Gauge(
        'omadm_trace_oldest_timestamp_seconds',
        'Time of the oldest raw message retained in the trace (absent when there is none).',
        async () => {
          const at = (await stats()).oldestTraceAt;
          return at === null ? [] : [[{}, at / 1000] as const];
        },
      ),
    );
  }
  if (commandsByState) {
    registry.register(
      new Gauge('omadm_commands', 'Commands in the durable queue, by state (fleet-wide).', async () =>
        Object.entries(await commandsByState()).map(([state, n]) => [{ state }, n] as const),
      ),
    );
    registry.register(
      new Gauge(
        'omadm_queue_depth',
        'Commands waiting for a session to take them (state queued, fleet-wide).',
        async () => [[{}, (await commandsByState()).queued ?? 0] as const],
      ),
    );
  }
  if (oldestQueuedAt) {
    registry.register(
      new Gauge(
        'omadm_queue_oldest_age_seconds',
        'Age of the oldest command still queued, in seconds (0 when none; fleet-wide).',
        async () => {
          const at = await oldestQueuedAt();
          return [[{}, at === undefined ? 0 : Math.max(0, (Date.now() - at) / 1000)] as const];
        },
      ),
    );
  }
  if (devices) {
    registry.register(
      new Gauge('omadm_devices', 'Provisioned devices (fleet-wide).', async () => [
        [{}, await devices()] as const,
      ]),
    );
  }
  registry.register(
    new Gauge('process_resident_memory_bytes', 'Resident memory size in bytes.', async () => [
      [{}, process.memoryUsage().rss] as const,
    ]),
  );
  registry.register(
    new Gauge('nodejs_heap_used_bytes', 'V8 heap in use, in bytes.', async () => [
      [{}, process.memoryUsage().heapUsed] as const,
    ]),
  );
  return {
    registry,
    httpRequests,
    httpDuration,
    dmMessages,
    dmSessions,
    dmSessionsStarted,
    commandsDelivered,
    rowsPruned,
    authFailures,
    notifications,
  };
}
