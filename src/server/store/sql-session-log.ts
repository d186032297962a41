/**
 * SessionLog over Kysely: one compact row per DM session (time, outcome, kind, messages, bytes,
 * and the trace key when its raw messages were kept). Bounded by the pruner's `session_log` rule.
 */
import { clampLimit, decodeCursor, encodeCursor, prepared, type StoreContext } from './context.ts';
import { StoreError, StoreErrorCode } from './errors.ts';
import { type Page, SessionKind, type SessionLog, type SessionLogEntry } from './types.ts';

const KINDS: readonly string[] = Object.values(SessionKind);

export class SqlSessionLog implements SessionLog {
  readonly #ctx: StoreContext;
  readonly #insert = prepared((db, p) =>
    db.insertInto('omadm_session_log').values({
      device_id: p('d'),
      at: p('at'),
      outcome: p('o'),
      kind: p('k'),
      messages: p('m'),
      bytes: p('b'),
      session_id: p('s'),
    }),
  );

  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
  }

  async append(r: Omit<SessionLogEntry, 'id'>): Promise<void> {
    if (!KINDS.includes(r.kind))
      throw new StoreError(StoreErrorCode.InvalidInput, `unknown session kind ${r.kind}`);
    await this.#insert(this.#ctx.db, {
      d: r.deviceId,
      at: r.at,
      o: r.outcome,
      k: r.kind,
      m: r.messages,
      b: r.bytes,
      s: r.sessionId,
    });
    this.#ctx.pruner.noteWrite('session_log', r.deviceId);
  }

  async list(
    deviceId: string,
    query: { readonly limit?: number; readonly cursor?: string } = {},
  ): Promise<Page<SessionLogEntry>> {
    const limit = clampLimit(query.limit);
    const before = decodeCursor<number>(query.cursor, 'number');
    let q = this.#ctx.db.selectFrom('omadm_session_log').selectAll().where('device_id', '=', deviceId);
    if (before !== undefined) q = q.where('id', '<', before);
    const rows = await q
      .orderBy('id', 'desc')
      .limit(limit + 1)
      .execute();
    const more = rows.length > limit;
    const items = (more ? rows.slice(0, limit) : rows).map(
      (r): SessionLogEntry =>
        Object.freeze({
          id: Number(r.id),
          deviceId: r.device_id,
          at: Number(r.at),
          outcome: r.outcome,
          kind: r.kind as SessionKind,
          messages: r.messages,
          bytes: r.bytes,
          sessionId: r.session_id,
        }),
    );
    return more ? { items, nextCursor: encodeCursor(items[items.length - 1]!.id) } : { items };
  }
}
