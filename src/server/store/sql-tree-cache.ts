/** TreeCache over Kysely: one row per (device, URI), upserted on every value read. */
import type { ExpressionBuilder } from 'kysely';
import type { StoreContext } from './context.ts';
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

export class SqlTreeCache implements TreeCache {
  readonly #ctx: StoreContext;
  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
  }

  async put(deviceId: string, values: readonly TreeValue[]): Promise<readonly TreeValue[]> {
    if (values.length === 0) return [];
    const rows = values.map((v) => ({
      device_id: deviceId,
      uri: normUri(v.uri),
      value: v.value,
      format: v.format || 'chr',
      type: v.type ?? null,
      read_at: v.readAt,
    }));
    return this.#ctx.db.transaction().execute(async (tx) => {
      const uris = [...new Set(rows.map((r) => r.uri))];
      const previous = await tx
        .selectFrom('omadm_tree_value')
        .selectAll()
        .where('device_id', '=', deviceId)
        .where('uri', 'in', uris)
        .execute();
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
