/**
 * In-memory reference implementations of the server engine's seams: readable, complete, and what
 * tests and single-process demos use. A server product swaps in its database-backed ones.
 */
import type { Command, Item } from '../representation/index.ts';
import { AlertCode, StatusCode } from '../representation/index.ts';
import { credentialDigest } from './auth/index.ts';
import type {
  AuthMode,
  ClientAlert,
  CommandOutcome,
  CommandSource,
  CredentialSource,
  DeviceCredentials,
  QueuedCommand,
  SessionOutcome,
  SessionRef,
  SessionStore,
} from './server-sources.ts';
import type { ServerSessionState } from './server-state.ts';

export interface DeviceAccountInput {
  readonly deviceId: string;
  readonly clientAuth?: AuthMode;
  readonly clientName?: string;
  readonly clientSecret: string;
  readonly serverAuth?: AuthMode;
  readonly serverName?: string;
  readonly serverSecret?: string;
  readonly clientNonce?: string;
  readonly serverNonce?: string;
}

/** Credentials kept in a Map; the client secret is stored only as its digest. */
export class MemoryCredentialSource implements CredentialSource {
  readonly #devices = new Map<string, DeviceCredentials>();

  /** Adds or replaces a device; returns what it replaced. */
  put(input: DeviceAccountInput): DeviceCredentials | undefined {
    const prev = this.#devices.get(input.deviceId);
    const clientName = input.clientName ?? input.deviceId;
    const serverName = input.serverName ?? 'omadm';
    const d: DeviceCredentials = {
      deviceId: input.deviceId,
      clientAuth: input.clientAuth ?? 'md5',
      clientName,
      clientDigest: credentialDigest(clientName, input.clientSecret),
      ...(input.clientNonce === undefined ? {} : { clientNonce: input.clientNonce }),
      serverAuth: input.serverAuth ?? (input.serverSecret === undefined ? 'none' : 'md5'),
      serverName,
      ...(input.serverSecret === undefined
        ? {}
        : {
            serverSecret: input.serverSecret,
            serverDigest: credentialDigest(serverName, input.serverSecret),
          }),
      ...(input.serverNonce === undefined ? {} : { serverNonce: input.serverNonce }),
    };
    this.#devices.set(input.deviceId, d);
    return prev;
  }

  async lookup(deviceId: string): Promise<DeviceCredentials | undefined> {
    return this.#devices.get(deviceId);
  }

  async updateNonces(
    deviceId: string,
    nonces: { clientNonce?: string; serverNonce?: string },
  ): Promise<void> {
    const d = this.#devices.get(deviceId);
    if (!d) return;
    this.#devices.set(deviceId, {
      ...d,
      ...(nonces.clientNonce === undefined ? {} : { clientNonce: nonces.clientNonce }),
      ...(nonces.serverNonce === undefined ? {} : { serverNonce: nonces.serverNonce }),
    });
  }
}

/** A queued command's life in the memory source. */
export interface MemoryCommandRecord {
  readonly id: string;
  readonly deviceId: string;
  readonly command: Command;
  state: 'queued' | 'sent' | 'done' | 'pending';
  outcome?: CommandOutcome;
  /** Result of an asynchronous Exec, from the Generic Alert carrying its Correlator. */
  asyncResult?: { readonly data: string; readonly items: readonly Item[] };
}

/** A FIFO per device; outcomes and device alerts are recorded for inspection. */
export class MemoryCommandSource implements CommandSource {
  readonly records = new Map<string, MemoryCommandRecord>();
  readonly alerts: { deviceId: string; alert: ClientAlert }[] = [];
  readonly devInfos = new Map<string, Readonly<Record<string, string>>>();
  readonly sessions: { ref: SessionRef; outcome: SessionOutcome }[] = [];
  readonly #queues = new Map<string, string[]>();
  readonly #waiters = new Map<string, ((r: MemoryCommandRecord) => void)[]>();
  #seq = 0;

  /** Queues a command for a device; returns its id. */
  enqueue(deviceId: string, command: Command): string {
    const id = `c${++this.#seq}`;
    this.records.set(id, { id, deviceId, command, state: 'queued' });
    const q = this.#queues.get(deviceId) ?? [];
    q.push(id);
    this.#queues.set(deviceId, q);
    return id;
  }

  /** Resolves when the command has an outcome (and, for a 202 Exec, its asynchronous result). */
  settled(id: string): Promise<MemoryCommandRecord> {
    const r = this.records.get(id);
    if (r && r.state === 'done') return Promise.resolve(r);
    return new Promise((resolve) => {
      const list = this.#waiters.get(id) ?? [];
      list.push(resolve);
      this.#waiters.set(id, list);
    });
  }

  async next(session: SessionRef, max: number): Promise<readonly QueuedCommand[]> {
    const q = this.#queues.get(session.deviceId) ?? [];
    const ids = q.splice(0, max);
    return ids.map((id) => {
      const r = this.records.get(id)!;
      r.state = 'sent';
      return { id, command: r.command };
    });
  }

  async settle(_session: SessionRef, outcomes: readonly CommandOutcome[]): Promise<void> {
    for (const o of outcomes) {
      const r = this.records.get(o.id);
      if (!r) continue;
      r.outcome = o;
      const asyncExec =
        o.status === StatusCode.AcceptedForProcessing &&
        r.command.type === 'Exec' &&
        r.command.Correlator !== undefined;
      r.state = asyncExec && r.asyncResult === undefined ? 'pending' : 'done';
      if (r.state === 'done') this.#wake(r);
    }
  }

  async release(session: SessionRef, ids: readonly string[]): Promise<void> {
    const q = this.#queues.get(session.deviceId) ?? [];
    for (const id of ids) {
      const r = this.records.get(id);
      if (r) r.state = 'queued';
    }
    this.#queues.set(session.deviceId, [...ids, ...q]);
  }

  async alert(session: SessionRef, alert: ClientAlert): Promise<number> {
    this.alerts.push({ deviceId: session.deviceId, alert });
    if (alert.code === AlertCode.GenericAlert && alert.correlator !== undefined) {
      for (const r of this.records.values()) {
        if (
          r.deviceId === session.deviceId &&
          (r.state === 'pending' || r.state === 'sent') &&
          r.command.type === 'Exec' &&
          r.command.Correlator === alert.correlator
        ) {
          const first = alert.items[0]?.Data;
          r.asyncResult = { data: first?.kind === 'text' ? first.text : '', items: alert.items };
          // The alert may come in the same message as the Exec's 202, before its settle.
          if (r.state === 'pending') {
            r.state = 'done';
            this.#wake(r);
          }
        }
      }
    }
    if (alert.code === AlertCode.GenericAlert || alert.code === AlertCode.ClientEvent) return StatusCode.Ok;
    return StatusCode.OptionalFeatureNotSupported;
  }

  async devInfo(session: SessionRef, values: Readonly<Record<string, string>>): Promise<void> {
    this.devInfos.set(session.deviceId, { ...(this.devInfos.get(session.deviceId) ?? {}), ...values });
  }

  async sessionEnded(ref: SessionRef, outcome: SessionOutcome): Promise<void> {
    this.sessions.push({ ref, outcome });
  }

  #wake(r: MemoryCommandRecord): void {
    const list = this.#waiters.get(r.id);
    if (!list) return;
    this.#waiters.delete(r.id);
    for (const f of list) f(r);
  }
}

/**
 * Session states in a Map, stored as JSON text so that what works here works with any store
 * that persists JSON (and so no one mutates a stored state by reference).
 */
export class MemorySessionStore implements SessionStore {
  readonly #byToken = new Map<string, string>();
  readonly #byDevice = new Map<string, string>();
  readonly #revisions = new Map<string, number>();
  readonly #ttlMs: number;
  #lastPrune = 0;

  /** `ttlMs`: states untouched this long are dropped (default 1 h; well above any idle timeout). */
  constructor(options: { ttlMs?: number } = {}) {
    this.#ttlMs = options.ttlMs ?? 3_600_000;
  }

  #prune(now: number): void {
    if (now - this.#lastPrune < this.#ttlMs / 10) return;
    this.#lastPrune = now;
    for (const [token, text] of this.#byToken) {
      const s = JSON.parse(text) as ServerSessionState;
      if (now - s.lastActivityAt > this.#ttlMs) void this.delete(token);
    }
  }

  async load(token: string): Promise<ServerSessionState | undefined> {
    const text = this.#byToken.get(token);
    return text === undefined ? undefined : (JSON.parse(text) as ServerSessionState);
  }

  async loadByDevice(deviceId: string): Promise<ServerSessionState | undefined> {
    const token = this.#byDevice.get(deviceId);
    return token === undefined ? undefined : this.load(token);
  }

  async save(state: ServerSessionState, expectedRevision: number): Promise<boolean> {
    if ((this.#revisions.get(state.token) ?? 0) !== expectedRevision) return false;
    this.#byToken.set(state.token, JSON.stringify(state));
    this.#revisions.set(state.token, state.revision);
    // An unauthenticated newcomer must not displace the device's current session.
    if (state.phase !== 'authenticating' || !this.#byDevice.has(state.deviceId)) {
      this.#byDevice.set(state.deviceId, state.token);
    }
    this.#prune(state.lastActivityAt);
    return true;
  }

  async delete(token: string): Promise<void> {
    const text = this.#byToken.get(token);
    if (text === undefined) return;
    this.#byToken.delete(token);
    this.#revisions.delete(token);
    const s = JSON.parse(text) as ServerSessionState;
    if (this.#byDevice.get(s.deviceId) === token) this.#byDevice.delete(s.deviceId);
  }

  /** Number of stored sessions (tests, metrics). */
  get size(): number {
    return this.#byToken.size;
  }
}
