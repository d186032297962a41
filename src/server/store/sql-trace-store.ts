/**
 * TraceStore over Kysely: raw messages per device. Retention (sessions per device, age, total
 * bytes) is the pruner's `trace` rule (retention.ts), applied in batches by the sweep: an append
 * only tells the pruner how many messages the device added.
 */
import type { Selectable } from 'kysely';
import {
  clampLimit,
  decodeCursor,
  encodeCursor,
  type PreparedQuery,
  prepared,
  type StoreContext,
} from './context.ts';
import { StoreError, StoreErrorCode } from './errors.ts';
import type { TraceTable } from './schema.ts';
import type { Page, TraceDirection, TraceEntry, TraceStore } from './types.ts';

const MAX_BODY = 16 * 1024 * 1024;

function toEntry(r: Selectable<TraceTable>): TraceEntry {
  return Object.freeze({
    id: Number(r.id),
    deviceId: r.device_id,
    sessionId: r.session_id,
    direction: r.direction as TraceDirection,
    contentType: r.content_type,
    body: new Uint8Array(r.body.buffer, r.body.byteOffset, r.body.byteLength),
    size: r.size,
    at: r.at,
    ...(r.outcome ? { outcome: r.outcome } : {}),
  });
}

export class SqlTraceStore implements TraceStore {
  readonly #ctx: StoreContext;
  /** INSERTs of one and of two entries (a message, a request and its answer), compiled once. */
  readonly #insert: readonly PreparedQuery<{ id: number | bigint }>[] = [1, 2].map((n) =>
    prepared<{ id: number | bigint }>((db, p) =>
      db
        .insertInto('omadm_trace')
        .values(
          Array.from({ length: n }, (_, i) => ({
            device_id: p(`d${i}`),
            session_id: p(`s${i}`),
            direction: p(`dir${i}`),
            content_type: p(`ct${i}`),
            body: p(`b${i}`),
            size: p(`n${i}`),
            at: p(`at${i}`),
            outcome: p(`o${i}`),
          })),
        )
        .returning('id'),
    ),
  );

  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
  }

  async append(entry: Omit<TraceEntry, 'id' | 'size'>): Promise<number> {
    return (await this.appendMany([entry]))[0]!;
  }

  async appendMany(entries: readonly Omit<TraceEntry, 'id' | 'size'>[]): Promise<readonly number[]> {
    if (entries.length === 0) return [];
    const rows = entries.map((entry) => {
      if (entry.direction !== 'in' && entry.direction !== 'out') {
        throw new StoreError(StoreErrorCode.InvalidInput, "direction must be 'in' or 'out'");
      }
      if (!(entry.body instanceof Uint8Array))
        throw new StoreError(StoreErrorCode.InvalidInput, 'body must be bytes');
      if (entry.body.byteLength > MAX_BODY)
        throw new StoreError(StoreErrorCode.InvalidInput, 'trace body too large');
      return {
        device_id: entry.deviceId,
        session_id: entry.sessionId,
        direction: entry.direction,
        content_type: entry.contentType,
        body: this.#ctx.backend === 'postgres' ? Buffer.from(entry.body) : entry.body,
        size: entry.body.byteLength,
        at: entry.at,
        outcome: entry.outcome ?? null,
      };
    });
    const insert = this.#insert[rows.length - 1];
    let inserted: readonly { id: number | bigint }[];
    if (insert) {
      const params: Record<string, unknown> = {};
      rows.forEach((r, i) => {
        params[`d${i}`] = r.device_id;
        params[`s${i}`] = r.session_id;
        params[`dir${i}`] = r.direction;
        params[`ct${i}`] = r.content_type;
        params[`b${i}`] = r.body;
        params[`n${i}`] = r.size;
        params[`at${i}`] = r.at;
        params[`o${i}`] = r.outcome;
      });
      inserted = (await insert(this.#ctx.db, params)).rows;
    } else {
      inserted = await this.#ctx.db.insertInto('omadm_trace').values(rows).returning('id').execute();
    }
    // RETURNING order is not guaranteed; ids are increasing in insertion order.
    const ids = inserted.map((r) => Number(r.id)).sort((a, b) => a - b);
    for (const e of entries) this.#ctx.pruner.noteWrite('trace', e.deviceId);
    return ids;
  }

  async list(
    deviceId: string,
    query: {
      readonly sessionId?: string;
      readonly limit?: number;
      readonly cursor?: string;
      readonly oldestFirst?: boolean;
    } = {},
  ): Promise<Page<TraceEntry>> {
    const limit = clampLimit(query.limit);
    const after = decodeCursor<number>(query.cursor, 'number');
    let q = this.#ctx.db.selectFrom('omadm_trace').selectAll().where('device_id', '=', deviceId);
    if (query.sessionId !== undefined) q = q.where('session_id', '=', query.sessionId);
    if (after !== undefined) q = q.where('id', query.oldestFirst ? '>' : '<', after);
    const rows = await q
      .orderBy('id', query.oldestFirst ? 'asc' : 'desc')
      .limit(limit + 1)
      .execute();
    const more = rows.length > limit;
    const items = (more ? rows.slice(0, limit) : rows).map(toEntry);
    return more ? { items, nextCursor: encodeCursor(items[items.length - 1]!.id) } : { items };
  }

  async markEnd(deviceId: string, sessionId: string, outcome: string): Promise<void> {
    const last = await this.#ctx.db
      .selectFrom('omadm_trace')
      .select(({ fn }) => fn.max('id').as('id'))
      .where('device_id', '=', deviceId)
      .where('session_id', '=', sessionId)
      .executeTakeFirst();
    if (last?.id === null || last?.id === undefined) return;
    await this.#ctx.db
      .updateTable('omadm_trace')
      .set({ outcome })
      .where('id', '=', Number(last.id))
      .execute();
  }

  async prune(deviceId?: string, now = this.#ctx.now()): Promise<number> {
    return this.#ctx.pruner.pruneNow('trace', now, deviceId);
  }

  async deleteSession(deviceId: string, sessionId: string): Promise<number> {
    const r = await this.#ctx.db
      .deleteFrom('omadm_trace')
      .where('device_id', '=', deviceId)
      .where('session_id', '=', sessionId)
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}
