/** The end-of-run summary of a fleet: what `omadm simulate` prints (and `--json` emits). */
import type { Fleet } from './fleet.ts';

export interface FleetSummary {
  readonly devices: number;
  readonly sessions: number;
  readonly ok: number;
  readonly failed: number;
  readonly errors: Readonly<Record<string, number>>;
  readonly commands: number;
  readonly notifications: number;
  readonly seconds: number;
  readonly sessionsPerSecond: number;
  readonly latencyMs: {
    readonly p50: number;
    readonly p95: number;
    readonly p99: number;
    readonly max: number;
    readonly mean: number;
  };
  readonly rssBytes: number;
  /** Process RSS divided by the number of devices (an upper bound: it includes Node itself). */
  readonly rssPerDeviceBytes: number;
}

const round = (n: number, d = 2) => Math.round(n * 10 ** d) / 10 ** d;

export function summarize(fleet: Fleet, seconds: number): FleetSummary {
  const s = fleet.stats;
  const rss = process.memoryUsage.rss();
  return {
    devices: fleet.size,
    sessions: s.sessions,
    ok: s.ok,
    failed: s.failed,
    errors: Object.fromEntries([...s.errors].sort((a, b) => b[1] - a[1])),
    commands: s.commands,
    notifications: s.notifications,
    seconds: round(seconds),
    sessionsPerSecond: round(seconds > 0 ? s.ok / seconds : 0, 1),
    latencyMs: {
      p50: round(s.latency.percentile(0.5)),
      p95: round(s.latency.percentile(0.95)),
      p99: round(s.latency.percentile(0.99)),
      max: round(s.latency.max),
      mean: round(s.latency.mean),
    },
    rssBytes: rss,
    rssPerDeviceBytes: Math.round(rss / Math.max(1, fleet.size)),
  };
}
