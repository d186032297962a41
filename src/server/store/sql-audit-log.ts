/** AuditLog over Kysely: append-only, listed newest first. */
import type { Selectable } from 'kysely';
import { clampLimit, decodeCursor, encodeCursor, parseJson, type StoreContext } from './context.ts';
import { StoreError, StoreErrorCode } from './errors.ts';
import type { AuditTable } from './schema.ts';
import type { AuditEntry, AuditLog, Page } from './types.ts';

function toEntry(r: Selectable<AuditTable>): AuditEntry {
  return Object.freeze({
    id: Number(r.id),
    at: r.at,
    actor: r.actor,
    action: r.action,
    target: r.target,
    details: parseJson<Record<string, unknown> | null>(r.details, null),
  });
}

export class SqlAuditLog implements AuditLog {
  readonly #ctx: StoreContext;
  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
  }

  async append(entry: {
    readonly actor: string;
    readonly action: string;
    readonly target?: string | null;
    readonly details?: Readonly<Record<string, unknown>>;
    readonly at?: number;
  }): Promise<AuditEntry> {
    if (
      typeof entry.actor !== 'string' ||
      !entry.actor ||
      typeof entry.action !== 'string' ||
      !entry.action
    ) {
      throw new StoreError(StoreErrorCode.InvalidInput, 'audit entries need an actor and an action');
    }
    const row = await this.#ctx.db
      .insertInto('omadm_audit')
      .values({
        at: entry.at ?? this.#ctx.now(),
        actor: entry.actor,
        action: entry.action,
        target: entry.target ?? null,
        details: entry.details ? JSON.stringify(entry.details) : null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toEntry(row);
  }

  async list(
    query: {
      readonly actor?: string;
      readonly target?: string;
      readonly action?: string;
      readonly since?: number;
      readonly limit?: number;
      readonly cursor?: string;
    } = {},
  ): Promise<Page<AuditEntry>> {
    const limit = clampLimit(query.limit);
    const before = decodeCursor<number>(query.cursor, 'number');
    let q = this.#ctx.db.selectFrom('omadm_audit').selectAll();
    if (query.actor !== undefined) q = q.where('actor', '=', query.actor);
    if (query.target !== undefined) q = q.where('target', '=', query.target);
    if (query.action !== undefined) q = q.where('action', '=', query.action);
    if (query.since !== undefined) q = q.where('at', '>=', query.since);
    if (before !== undefined) q = q.where('id', '<', before);
    const rows = await q
      .orderBy('id', 'desc')
      .limit(limit + 1)
      .execute();
    const more = rows.length > limit;
    const items = (more ? rows.slice(0, limit) : rows).map(toEntry);
    return more ? { items, nextCursor: encodeCursor(items[items.length - 1]!.id) } : { items };
  }
}
