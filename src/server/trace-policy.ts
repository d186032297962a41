/**
 * Which DM messages keep their raw bytes (issue 21): every session that carried commands, failed
 * authentication or ended abnormally keeps its full trace; a heartbeat (authenticated, nothing
 * queued, nothing changed, over in its first message) leaves only its compact record — unless
 * tracing is switched on for the device or one of its groups (`full`). `errors` keeps only the
 * sessions that failed; `off` none. See docs/storage.md (Traces and retention).
 *
 * The session engine's hooks (dm-adapters.ts) note what a message did in its
 * {@link MessageActivity}, found through an AsyncLocalStorage for the duration of the message;
 * dm.ts decides with {@link traceDecision} once the answer is ready.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { SessionOutcome } from '../protocol/server-sources.ts';
import { SessionKind, type TraceMode } from './store/index.ts';

/** What the engine did while handling one message (filled by the store adapters' hooks). */
export interface MessageActivity {
  /** The switch in force for the device (read with its credentials); undefined: default. */
  traceMode?: TraceMode | undefined;
  /** Commands claimed, outcomes settled, alerts received, or DevInfo changed. */
  commands: boolean;
  /** Set when the session ended in this message. */
  outcome?: SessionOutcome | undefined;
  /** The session state was saved (false: a retransmission answered from the stored reply). */
  saved: boolean;
  /** Messages of the session so far (the state's count at save). */
  messages: number;
  /** Authentication failures in the session so far, and whether the client is authenticated. */
  authFailures: number;
  authenticated: boolean;
}

const storage = new AsyncLocalStorage<MessageActivity>();

/** Runs `fn` (the engine handling one message) with a fresh activity record; returns both. */
export async function withActivity<T>(fn: () => Promise<T>): Promise<[T, MessageActivity]> {
  const activity: MessageActivity = {
    commands: false,
    saved: false,
    messages: 0,
    authFailures: 0,
    authenticated: false,
  };
  const result = await storage.run(activity, fn);
  return [result, activity];
}

/** The activity of the message being handled, if any (hooks called outside a DM message: none). */
export function currentActivity(): MessageActivity | undefined {
  return storage.getStore();
}

/** What the session is, as far as this message knows. */
export function sessionKind(a: MessageActivity): SessionKind {
  if ((a.outcome !== undefined && a.outcome !== 'completed') || a.authFailures > 0 || !a.authenticated)
    return SessionKind.Error;
  if (a.commands || a.messages > 1) return SessionKind.Commands;
  return SessionKind.Heartbeat;
}

/** What to do with a message's bytes, and with the session's earlier messages when it ends. */
export interface TraceDecision {
  readonly kind: SessionKind;
  /** Write this message's request and answer to the trace. */
  readonly keep: boolean;
  /** The session ended and its earlier messages, written provisionally, are not to be kept. */
  readonly dropSession: boolean;
}

export function traceDecision(a: MessageActivity, done: boolean): TraceDecision {
  const kind = sessionKind(a);
  const mode = a.traceMode;
  if (!a.saved) {
    // A retransmission answered from the stored reply: its session was decided already.
    return {
      kind,
      keep: mode !== 'off' && (mode === 'full' || kind !== SessionKind.Heartbeat),
      dropSession: false,
    };
  }
  const ended = done || a.outcome !== undefined;
  switch (mode) {
    case 'off':
      return { kind, keep: false, dropSession: false };
    case 'full':
      return { kind, keep: true, dropSession: false };
    case 'errors':
      // A session's earlier messages are written while it may still fail; kept only if it did.
      if (kind === SessionKind.Error) return { kind, keep: true, dropSession: false };
      return { kind, keep: !ended, dropSession: ended && a.messages > 1 };
    default:
      // A heartbeat is known as one only when it ends in its first message.
      return { kind, keep: !(ended && kind === SessionKind.Heartbeat), dropSession: false };
  }
}
