/** TreeCache over Kysely: one row per (device, URI), upserted on every value read. */
import type { ExpressionBuilder } from 'kysely';
import { type PreparedQuery, prepared, type StoreContext } from './context.ts';
import type { Database } from './schema.ts';
import { StoreError, StoreErrorCode } from './errors.ts';
import type { TreeCache, TreeValue } from './types.ts';

/**
 * `uri = p OR substr(uri, 1, len(p/)) = 'p/'`. Not LIKE (SQLite's is case-insensitive and `_`/`%`
 * would need escaping) and not a range (ordering depends on the database collation).
 */
function underOrAt(eb: ExpressionBuilder<Database, 'omadm_tree_value'>, p: string) {
  const dir = p.endsWith('/') ? p : `${p}/`;
  return eb.or([
    eb('uri', '=', p),
    eb(eb.fn<string>('substr', ['uri', eb.val(1), eb.val([...dir].length)]), '=', dir),
  ]);
}

function toValue(r: {
  uri: string;
  value: string | null;
  format: string;
  type: string | null;
  read_at: number;
}): TreeValue {
  return Object.freeze({ uri: r.uri, value: r.value, format: r.format, type: r.type, readAt: r.read_at });
}

/** Strips trailing slashes so `./A/` and `./A` are one key. */
function normUri(uri: string): string {
  if (typeof uri !== 'string' || uri.length === 0 || uri.length > 2048) {
    throw new StoreError(StoreErrorCode.InvalidInput, 'URI must be 1..2048 characters');
  }
  return uri.length > 1 ? uri.replace(/\/+$/, '') : uri;
}

type Row = Parameters<typeof toValue>[0];

/** Puts of up to this many values run as prepared statements (DevInfo, a Get's results). */
const PREPARED_PUT_MAX = 8;

export class SqlTreeCache implements TreeCache {
  readonly #ctx: StoreContext;
  /** Per value count: the read of the previous values and the upsert, compiled once. */
  readonly #put = new Map<number, { previous: PreparedQuery<Row>; upsert: PreparedQuery<unknown> }>();

  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
  }

  #prepared(n: number): { previous: PreparedQuery<Row>; upsert: PreparedQuery<unknown> } {
    let q = this.#put.get(n);
    if (!q) {
      const idx = Array.from({ length: n }, (_, i) => i);
      q = {
        previous: prepared<Row>((db, p) =>
          db
            .selectFrom('omadm_tree_value')
            .selectAll()
            .where('device_id', '=', p('deviceId'))
            .where(
              'uri',
              'in',
              idx.map((i) => p(`u${i}`)),
            ),
        ),
        upsert: prepared((db, p) =>
          db
            .insertInto('omadm_tree_value')
            .values(
              idx.map((i) => ({
                device_id: p('deviceId'),
                uri: p(`u${i}`),
                value: p(`v${i}`),
                format: p(`f${i}`),
                type: p(`t${i}`),
                read_at: p(`r${i}`),
              })),
            )
            .onConflict((oc) =>
              oc.columns(['device_id', 'uri']).doUpdateSet((eb) => ({
                value: eb.ref('excluded.value'),
                format: eb.ref('excluded.format'),
                type: eb.ref('excluded.type'),
                read_at: eb.ref('excluded.read_at'),
              })),
            ),
        ),
      };
      this.#put.set(n, q);
    }
    return q;
  }

  async put(
    deviceId: string,
    values: readonly TreeValue[],
    options?: { readonly previous?: boolean },
  ): Promise<readonly TreeValue[]> {
    if (values.length === 0) return [];
    const wantPrevious = options?.previous !== false;
    const rows = values.map((v) => ({
      device_id: deviceId,
      uri: normUri(v.uri),
      value: v.value,
      format: v.format || 'chr',
      type: v.type ?? null,
      read_at: v.readAt,
    }));
    const distinct = new Set(rows.map((r) => r.uri));
    if (rows.length <= PREPARED_PUT_MAX && distinct.size === rows.length) {
      // The common small put (a session's DevInfo, a Get's results) as prepared statements.
      const q = this.#prepared(rows.length);
      const params: Record<string, unknown> = { deviceId };
      rows.forEach((r, i) => {
        params[`u${i}`] = r.uri;
        params[`v${i}`] = r.value;
        params[`f${i}`] = r.format;
        params[`t${i}`] = r.type;
        params[`r${i}`] = r.read_at;
      });
      if (!wantPrevious) {
        await q.upsert(this.#ctx.db, params);
        return [];
      }
      return this.#ctx.db.transaction().execute(async (tx) => {
        const previous = (await q.previous(tx, params)).rows;
        await q.upsert(tx, params);
        return previous.map(toValue);
      });
    }
    return this.#ctx.db.transaction().execute(async (tx) => {
      const uris = [...distinct];
      const previous = wantPrevious
        ? await tx
            .selectFrom('omadm_tree_value')
            .selectAll()
            .where('device_id', '=', deviceId)
            .where('uri', 'in', uris)
            .execute()
        : [];
      for (let i = 0; i < rows.length; i += 200) {
        await tx
          .insertInto('omadm_tree_value')
          .values(rows.slice(i, i + 200))
          .onConflict((oc) =>
            oc.columns(['device_id', 'uri']).doUpdateSet((eb) => ({
              value: eb.ref('excluded.value'),
              format: eb.ref('excluded.format'),
              type: eb.ref('excluded.type'),
              read_at: eb.ref('excluded.read_at'),
            })),
          )
          .execute();
      }
      return previous.map(toValue);
    });
  }

  async get(deviceId: string, uri: string): Promise<TreeValue | undefined> {
    const r = await this.#ctx.db
      .selectFrom('omadm_tree_value')
      .selectAll()
      .where('device_id', '=', deviceId)
      .where('uri', '=', normUri(uri))
      .executeTakeFirst();
    return r ? toValue(r) : undefined;
  }

  async list(deviceId: string, prefix?: string): Promise<readonly TreeValue[]> {
    let q = this.#ctx.db.selectFrom('omadm_tree_value').selectAll().where('device_id', '=', deviceId);
    if (prefix !== undefined) {
      const p = normUri(prefix);
      q = q.where((eb) => underOrAt(eb, p));
    }
    const rows = await q.orderBy('uri').execute();
    return rows.map(toValue);
  }

  async deleteSubtree(deviceId: string, uri: string): Promise<number> {
    const p = normUri(uri);
    const r = await this.#ctx.db
      .deleteFrom('omadm_tree_value')
      .where('device_id', '=', deviceId)
      .where((eb) => underOrAt(eb, p))
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}
