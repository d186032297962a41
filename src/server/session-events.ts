/**
 * The operator's log lines and metrics of DM sessions, observed at the server layer: the session
 * engine's sources (dm-adapters.ts) are wrapped, and what one received message did — a session
 * started, the message's session ended, an older session closed as expired or superseded — is
 * collected per message (AsyncLocalStorage) and logged when the message has been handled:
 *
 * - `dm.session.start` (debug): deviceId, sessionId, token, source;
 * - `dm.session.end` (info; warn when it failed): deviceId, sessionId, token, source, outcome
 *   (completed, authFailed, aborted, limit, expired, superseded), auth (ok / failed / none),
 *   messages, commands (commands answered in the session), durationMs.
 *
 * The count of commands answered travels in the stored session state (`omadmCommands`), so it is
 * right whichever server node handled each message.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { CommandSource, SessionOutcome, SessionStore } from '../protocol/server-sources.ts';
import type { ServerSessionState } from '../protocol/server-state.ts';

/** The pino methods used (a FastifyBaseLogger or a pino logger). */
export interface EventLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** What one received message did to sessions. */
interface Scope {
  readonly source: string | undefined;
  /** States read in this message, by token (an expired or superseded one is closed from these). */
  readonly loaded: Map<string, ServerSessionState>;
  /** Commands answered in this message, by DM SessionID (not yet added to a stored state). */
  readonly answered: Map<string, number>;
  started?: ServerSessionState;
  saved?: ServerSessionState;
  /** The token of the session being closed while this message is handled. */
  closing?: string;
  ended?: SessionOutcome;
  /** Older sessions closed in this message. */
  readonly closed: SessionEnd[];
}

/** Key of the tally of commands answered, in the stored state (JSON). */
const TALLY = 'omadmCommands';

function tallyOf(state: ServerSessionState): number {
  const n = (state as unknown as Record<string, unknown>)[TALLY];
  return typeof n === 'number' ? n : 0;
}

const FAILED: ReadonlySet<SessionOutcome> = new Set(['authFailed', 'aborted', 'limit']);

/** A session that ended while a message was handled: the message's own (`current`), or an older one. */
export interface SessionEnd {
  readonly deviceId: string;
  /** The store key (RespURI token) its trace is kept under. */
  readonly token: string;
  readonly outcome: SessionOutcome;
  readonly current: boolean;
}

export interface ObservedSources {
  readonly sessions: SessionStore;
  readonly commands: CommandSource;
  /**
   * Runs the handling of one received message, from `source` (remote address), in its scope;
   * `ends` are told of the sessions that ended in it (also when handling failed).
   */
  run<T>(
    source: string | undefined,
    handle: () => Promise<T>,
    ends?: (ended: readonly SessionEnd[]) => void,
  ): Promise<T>;
}

export function observeSessions(
  inner: { readonly sessions: SessionStore; readonly commands: CommandSource },
  log: EventLogger,
  now: () => number = Date.now,
): ObservedSources {
  const als = new AsyncLocalStorage<Scope>();
  const { sessions, commands } = inner;

  const remember = (state: ServerSessionState | undefined): ServerSessionState | undefined => {
    if (state) als.getStore()?.loaded.set(state.token, state);
    return state;
  };

  function end(
    state: ServerSessionState | undefined,
    ref: { deviceId: string; sessionId: string },
    outcome: SessionOutcome,
    source: string | undefined,
    extraCommands: number,
  ): void {
    const fields = {
      event: 'dm.session.end',
      deviceId: ref.deviceId,
      sessionId: ref.sessionId,
      ...(state ? { token: state.token } : {}),
      ...(source ? { source } : {}),
      outcome,
      auth: state ? authOf(state) : 'none',
      ...(state ? { messages: state.messages } : {}),
      commands: (state ? tallyOf(state) : 0) + extraCommands,
      ...(state ? { durationMs: Math.max(0, now() - state.startedAt) } : {}),
    };
    if (FAILED.has(outcome)) log.warn(fields, `DM session ended: ${outcome}`);
    else log.info(fields, `DM session ended: ${outcome}`);
  }

  const observedSessions: SessionStore = {
    ...bindAll(sessions),
    async load(token) {
      return remember(await sessions.load(token));
    },
    async loadByDevice(deviceId) {
      return remember(await sessions.loadByDevice(deviceId));
    },
    async save(state, expectedRevision, reply) {
      const scope = als.getStore();
      const answered = scope?.answered.get(state.sessionId) ?? 0;
      if (answered > 0) (state as unknown as Record<string, unknown>)[TALLY] = tallyOf(state) + answered;
      const ok = await sessions.save(state, expectedRevision, reply);
      if (ok && scope) {
        scope.answered.delete(state.sessionId);
        scope.saved = state;
        if (expectedRevision === 0) scope.started = state;
      }
      return ok;
    },
    async delete(token) {
      const scope = als.getStore();
      if (scope) scope.closing = token;
      await sessions.delete(token);
    },
  };

  const observedCommands: CommandSource = {
    ...bindAll(commands),
    async settle(session, outcomes) {
      await commands.settle(session, outcomes);
      const scope = als.getStore();
      const n = outcomes.filter((o) => o.status !== undefined).length;
      if (scope && n > 0)
        scope.answered.set(session.sessionId, (scope.answered.get(session.sessionId) ?? 0) + n);
    },
    async sessionEnded(session, outcome) {
      await commands.sessionEnded?.(session, outcome);
      const scope = als.getStore();
      if (!scope) return;
      const closing = scope.closing !== undefined ? scope.loaded.get(scope.closing) : undefined;
      if (closing && closing.deviceId === session.deviceId && closing.sessionId === session.sessionId) {
        // An older session closed while this message was handled (expired, or superseded by it).
        scope.closing = undefined;
        const extra = scope.answered.get(session.sessionId) ?? 0;
        scope.answered.delete(session.sessionId);
        end(closing, session, outcome, scope.source, extra);
        scope.closed.push({ deviceId: closing.deviceId, token: closing.token, outcome, current: false });
        return;
      }
      scope.ended = outcome;
    },
  };

  return {
    sessions: observedSessions,
    commands: observedCommands,
    async run(source, handle, ends) {
      const scope: Scope = { source, loaded: new Map(), answered: new Map(), closed: [] };
      try {
        return await als.run(scope, handle);
      } finally {
        const s = scope.saved ?? scope.started;
        if (scope.started) {
          log.debug(
            {
              event: 'dm.session.start',
              deviceId: scope.started.deviceId,
              sessionId: scope.started.sessionId,
              token: scope.started.token,
              ...(source ? { source } : {}),
            },
            'DM session started',
          );
        }
        if (scope.ended !== undefined && s) end(s, s, scope.ended, source, 0);
        if (ends) {
          const all = [...scope.closed];
          if (scope.ended !== undefined && s)
            all.push({ deviceId: s.deviceId, token: s.token, outcome: scope.ended, current: true });
          if (all.length) ends(all);
        }
      }
    },
  };
}

function authOf(state: ServerSessionState): 'ok' | 'failed' | 'none' {
  if (state.auth.authenticated) return 'ok';
  return state.auth.failures > 0 ? 'failed' : 'none';
}

/** The object's methods bound to it (spread copies only own properties, and loses `this`). */
function bindAll<T extends object>(o: T): T {
  const out: Record<string, unknown> = {};
  let proto: object | null = o;
  while (proto && proto !== Object.prototype) {
    for (const k of Object.getOwnPropertyNames(proto)) {
      if (k === 'constructor' || k in out) continue;
      const v = (o as Record<string, unknown>)[k];
      out[k] = typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(o) : v;
    }
    proto = Object.getPrototypeOf(proto);
  }
  return out as T;
}
