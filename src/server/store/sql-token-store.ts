/**
 * TokenStore over Kysely. Tokens are 32 random bytes (`omadm_` + base64url); only their sha256 is
 * stored, so a database dump yields no usable token. Lookup is by hash (indexed, unique), so no
 * secret-dependent comparison happens in JavaScript.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Selectable } from 'kysely';
import type { StoreContext } from './context.ts';
import { StoreError, StoreErrorCode } from './errors.ts';
import type { TokenTable } from './schema.ts';
import { type ApiToken, ROLES, type Role, type TokenStore } from './types.ts';

/** sha256 hex of a token secret: what is stored. */
export function hashToken(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

function toToken(r: Selectable<TokenTable>): ApiToken {
  return Object.freeze({
    id: r.id,
    name: r.name,
    role: r.role as Role,
    createdAt: r.created_at,
    createdBy: r.created_by,
    revokedAt: r.revoked_at,
    lastUsedAt: r.last_used_at,
  });
}

export class SqlTokenStore implements TokenStore {
  readonly #ctx: StoreContext;
  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
  }

  async create(input: {
    readonly name: string;
    readonly role: Role;
    readonly createdBy?: string;
    readonly secret?: string;
  }): Promise<{ readonly token: ApiToken; readonly secret: string }> {
    if (!ROLES.includes(input.role)) {
      throw new StoreError(StoreErrorCode.InvalidInput, `role must be one of ${ROLES.join(', ')}`);
    }
    if (typeof input.name !== 'string' || input.name.length === 0 || input.name.length > 128) {
      throw new StoreError(StoreErrorCode.InvalidInput, 'token name must be 1..128 characters');
    }
    if (input.secret !== undefined && (typeof input.secret !== 'string' || input.secret.length < 16)) {
      throw new StoreError(StoreErrorCode.InvalidInput, 'an imported token must be at least 16 characters');
    }
    const secret = input.secret ?? `omadm_${randomBytes(32).toString('base64url')}`;
    const hash = hashToken(secret);
    const row = await this.#ctx.db.transaction().execute(async (tx) => {
      const clash = await tx
        .selectFrom('omadm_token')
        .select('id')
        .where('hash', '=', hash)
        .executeTakeFirst();
      if (clash) throw new StoreError(StoreErrorCode.AlreadyExists, 'this token is already registered');
      return tx
        .insertInto('omadm_token')
        .values({
          id: randomUUID(),
          name: input.name,
          role: input.role,
          hash,
          created_at: this.#ctx.now(),
          created_by: input.createdBy ?? null,
          revoked_at: null,
          last_used_at: null,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
    });
    return { token: toToken(row), secret };
  }

  async verify(secret: string): Promise<ApiToken | undefined> {
    if (typeof secret !== 'string' || secret.length === 0 || secret.length > 1024) return undefined;
    const now = this.#ctx.now();
    const row = await this.#ctx.db
      .selectFrom('omadm_token')
      .selectAll()
      .where('hash', '=', hashToken(secret))
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    if (!row) return undefined;
    // Last-used is informational: write it at most once a minute, not on every API request.
    if (row.last_used_at === null || now - row.last_used_at >= 60_000) {
      await this.#ctx.db
        .updateTable('omadm_token')
        .set({ last_used_at: now })
        .where('id', '=', row.id)
        .execute();
      return toToken({ ...row, last_used_at: now });
    }
    return toToken(row);
  }

  async revoke(id: string): Promise<ApiToken | undefined> {
    return this.#ctx.db.transaction().execute(async (tx) => {
      const row = await tx.selectFrom('omadm_token').selectAll().where('id', '=', id).executeTakeFirst();
      if (!row) return undefined;
      if (row.revoked_at === null) {
        await tx
          .updateTable('omadm_token')
          .set({ revoked_at: this.#ctx.now() })
          .where('id', '=', id)
          .execute();
      }
      return toToken(row);
    });
  }

  async list(options: { readonly includeRevoked?: boolean } = {}): Promise<readonly ApiToken[]> {
    let q = this.#ctx.db.selectFrom('omadm_token').selectAll();
    if (!options.includeRevoked) q = q.where('revoked_at', 'is', null);
    const rows = await q.orderBy('created_at').orderBy('id').execute();
    return rows.map(toToken);
  }
}
