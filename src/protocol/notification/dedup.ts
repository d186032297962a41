/**
 * Duplicate suppression for Package 0: a trigger re-sent for the same
 * session (same server, same session id) must start only one session
 * (protocol.md §5.1). Feed it only *verified* packages, so a forged trigger
 * cannot suppress a genuine one.
 */
import type { Package0 } from './package0.ts';

export interface TriggerDeduplicatorOptions {
  /** How long a (server, session id) pair is remembered; default 10 minutes. */
  windowMs?: number;
  /** Most pairs remembered; the oldest are forgotten first. Default 1024. */
  maxEntries?: number;
  /** Clock, injectable for tests. */
  now?: () => number;
  /**
   * Pairs remembered before (`entries()` of an earlier instance, e.g. from a file), so a
   * trigger seen before a restart is still a duplicate after it. Expired ones are dropped.
   */
  entries?: Iterable<readonly [key: string, seenAt: number]>;
}

export class TriggerDeduplicator {
  readonly #windowMs: number;
  readonly #maxEntries: number;
  readonly #now: () => number;
  /** key → time first seen; Map keeps insertion order, so the first entry is the oldest. */
  readonly #seen = new Map<string, number>();

  constructor(options: TriggerDeduplicatorOptions = {}) {
    this.#windowMs = options.windowMs ?? 10 * 60_000;
    this.#maxEntries = Math.max(1, options.maxEntries ?? 1024);
    this.#now = options.now ?? Date.now;
    const restored = [...(options.entries ?? [])]
      .filter(([k, at]) => typeof k === 'string' && Number.isFinite(at))
      .sort((a, b) => a[1] - b[1]);
    for (const [key, at] of restored.slice(-this.#maxEntries)) this.#seen.set(key, at);
    this.#expire(this.#now());
  }

  /** What is remembered now, oldest first: persist it and hand it back as `entries`. */
  entries(): [key: string, seenAt: number][] {
    this.#expire(this.#now());
    return [...this.#seen];
  }

  /**
   * Records the trigger and tells whether it should start a session: true
   * the first time a (serverId, sessionId) pair is seen within the window,
   * false for a repeat.
   */
  accept(pkg: Pick<Package0, 'serverId' | 'sessionId'>): boolean {
    const now = this.#now();
    this.#expire(now);
    const key = `${pkg.sessionId}\u0000${pkg.serverId}`;
    if (this.#seen.has(key)) return false;
    this.#seen.set(key, now);
    while (this.#seen.size > this.#maxEntries) {
      const oldest = this.#seen.keys().next().value as string;
      this.#seen.delete(oldest);
    }
    return true;
  }

  /** Forgets a pair, e.g. when its session failed to start and a retry should be honoured. */
  forget(pkg: Pick<Package0, 'serverId' | 'sessionId'>): void {
    this.#seen.delete(`${pkg.sessionId}\u0000${pkg.serverId}`);
  }

  get size(): number {
    return this.#seen.size;
  }

  #expire(now: number): void {
    for (const [key, at] of this.#seen) {
      if (now - at < this.#windowMs) break;
      this.#seen.delete(key);
    }
  }
}
