/**
 * Generic Alerts waiting for delivery (asynchronous Exec results, application events), per DM
 * server. Kept in memory and, when given a file, rewritten atomically on every change so a result
 * reported just before a restart is still delivered in the next session.
 */
import { readFileSync } from 'node:fs';
import type { Alert } from '../representation/index.ts';
import type { AlertOutbox, PendingAlert } from '../protocol/index.ts';
import { writePrivateFile } from './private-file.ts';

interface Entry {
  readonly id: string;
  /** Undefined: for whichever server the next session is with. */
  readonly serverId: string | undefined;
  readonly alert: Alert;
  attempts: number;
}

/** Deliveries refused this many times are dropped (a server that never accepts an alert). */
const MAX_ATTEMPTS = 5;

export class PersistentOutbox {
  readonly #file: string | undefined;
  #entries: Entry[] = [];
  #seq = 0;

  constructor(file?: string) {
    this.#file = file;
    if (!file) return;
    try {
      const saved = JSON.parse(readFileSync(file, 'utf8')) as { seq: number; entries: Entry[] };
      this.#entries = Array.isArray(saved.entries) ? saved.entries : [];
      this.#seq = Number(saved.seq) || 0;
    } catch {
      // no file yet (or unreadable: start empty rather than not at all)
    }
  }

  get size(): number {
    return this.#entries.length;
  }

  /** Queues an alert; returns its id. */
  add(alert: Alert, serverId?: string): string {
    const id = String(++this.#seq);
    this.#entries.push({ id, serverId, alert, attempts: 0 });
    this.#save();
    return id;
  }

  /** The AlertOutbox of one session with `serverId`. */
  forServer(serverId: string): AlertOutbox {
    return {
      pending: (): readonly PendingAlert[] =>
        this.#entries
          .filter((e) => e.serverId === undefined || e.serverId === serverId)
          .map((e) => ({ id: e.id, alert: e.alert })),
      delivered: (id: string, status: number) => {
        const e = this.#entries.find((x) => x.id === id);
        if (!e) return;
        e.attempts++;
        if ((status >= 200 && status < 300) || e.attempts >= MAX_ATTEMPTS) {
          this.#entries = this.#entries.filter((x) => x !== e);
        }
        this.#save();
      },
    };
  }

  #save(): void {
    if (!this.#file) return;
    writePrivateFile(this.#file, JSON.stringify({ seq: this.#seq, entries: this.#entries }));
  }
}
