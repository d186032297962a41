/**
 * What a DM message leaves on disk once answered (issue 21): its raw request and answer when the
 * trace policy keeps them (trace-policy.ts), and, when the session ends, one compact record in
 * the session log — a heartbeat's only trace by default.
 */
import type { ServerRequest, ServerResponse } from '../protocol/server-session.ts';
import { type RedactOptions, redactMessage } from './redact.ts';
import type { Store } from './store/index.ts';
import { type MessageActivity, traceDecision } from './trace-policy.ts';

export interface RecorderLog {
  warn(obj: object, msg: string): void;
}

/** Records one handled message under the trace key `key` (the public hash of the RespURI token). */
export async function recordMessage(
  store: Store,
  log: RecorderLog,
  request: ServerRequest,
  res: ServerResponse,
  key: string,
  activity: MessageActivity,
  /** How the session ended, when this answer ended it: kept with the answer for `omadm trace`. */
  endOutcome?: string,
  /** Tokens and secret values that never reach the trace (redact.ts). */
  hide?: RedactOptions,
): Promise<void> {
  const decision = traceDecision(activity, res.done);
  const at = Date.now();
  const bytes = request.body.byteLength + res.body.byteLength;
  try {
    if (decision.keep) {
      await store.traces.appendMany([
        {
          deviceId: res.deviceId,
          sessionId: key,
          direction: 'in',
          contentType: request.contentType ?? '',
          body: hide ? redactMessage(request.body, hide) : request.body,
          at,
        },
        {
          deviceId: res.deviceId,
          sessionId: key,
          direction: 'out',
          contentType: res.mediaType,
          body: hide ? redactMessage(res.body, hide) : res.body,
          at,
          ...(endOutcome ? { outcome: endOutcome } : {}),
        },
      ]);
    }
    if (!res.done || !activity.saved) return; // the session goes on, or was recorded already
    let traced = decision.keep;
    let total = bytes;
    if (decision.dropSession) {
      await store.traces.deleteSession(res.deviceId, key);
      traced = false;
    } else if (traced && activity.messages > 1) {
      total = await sessionBytes(store, res.deviceId, key, bytes);
    }
    await store.sessionLog.append({
      deviceId: res.deviceId,
      at,
      outcome: activity.outcome ?? 'completed',
      kind: decision.kind,
      messages: activity.messages,
      bytes: total,
      sessionId: traced ? key : null,
    });
  } catch (err) {
    log.warn({ err, deviceId: res.deviceId, event: 'dm.trace.failure' }, 'could not record trace');
  }
}

/** A traced session's bytes, from its messages (at most a session's worth of rows). */
async function sessionBytes(store: Store, deviceId: string, key: string, fallback: number): Promise<number> {
  let total = 0;
  let cursor: string | undefined;
  do {
    const page = await store.traces.list(deviceId, {
      sessionId: key,
      limit: 1000,
      ...(cursor ? { cursor } : {}),
    });
    for (const e of page.items) total += e.size;
    cursor = page.nextCursor;
  } while (cursor);
  return total || fallback;
}
