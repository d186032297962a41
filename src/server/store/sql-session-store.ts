/**
 * SessionStore over Kysely: the protocol engine's session blob with optimistic locking.
 * `update` is a single `UPDATE … WHERE version = expected`, so two processes handling messages of
 * one session can never both apply a change made from the same version.
 */
import { type Selectable, sql } from 'kysely';
import { type Param, prepared, type StoreContext } from './context.ts';
import { StoreError, StoreErrorCode } from './errors.ts';
import type { SessionTable } from './schema.ts';
import type {
  ExpiredSession,
  SessionExtras,
  SessionHead,
  SessionHeadRecord,
  SessionRecord,
  SessionStore,
} from './types.ts';

const MAX_STATE = 4 * 1024 * 1024;

/** What a full read gives: the state, not the head (it repeats the state) nor the answer's bytes. */
const RECORD_COLUMNS = [
  'device_id',
  'session_id',
  'state',
  'version',
  'created_at',
  'updated_at',
  'expires_at',
] as const;

type HeadColumns = Pick<SessionTable, 'dm_session_id' | 'phase' | 'client_msg_id' | 'request_hash'>;

function headOf(r: HeadColumns): SessionHead | undefined {
  if (r.dm_session_id === null || r.phase === null || r.client_msg_id === null) return undefined;
  return {
    dmSessionId: r.dm_session_id,
    phase: r.phase,
    clientMsgId: Number(r.client_msg_id),
    ...(r.request_hash === null ? {} : { requestHash: r.request_hash }),
  };
}

function toRecord<S>(r: Row): SessionRecord<S> {
  return Object.freeze({
    deviceId: r.device_id,
    sessionId: r.session_id,
    state: JSON.parse(r.state) as S,
    version: r.version,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    expiresAt: r.expires_at,
  });
}

/** The record of a row just written, with the state the caller gave (no JSON round trip). */
function withState<S>(
  deviceId: string,
  sessionId: string,
  state: S,
  r: { created_at: number; updated_at: number; expires_at: number; version: number },
): SessionRecord<S> {
  return Object.freeze({
    deviceId,
    sessionId,
    state,
    version: r.version,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    expiresAt: r.expires_at,
  });
}

function serialize(state: unknown): string {
  const text = JSON.stringify(state);
  if (text === undefined) throw new StoreError(StoreErrorCode.InvalidInput, 'session state must be JSON');
  if (text.length > MAX_STATE)
    throw new StoreError(StoreErrorCode.InvalidInput, 'session state is too large');
  return text;
}

type Row = Pick<Selectable<SessionTable>, (typeof RECORD_COLUMNS)[number]>;
type Written = Pick<Row, 'created_at' | 'updated_at' | 'expires_at' | 'version'>;
type HeadRow = Pick<Row, 'device_id' | 'session_id' | 'version' | 'updated_at' | 'expires_at'> &
  HeadColumns & { state: string | null };

/** The head and answer columns of a write, as parameters (see `#extraParams`). */
function extraValues(p: Param) {
  return {
    dm_session_id: p('dmSessionId'),
    phase: p('phase'),
    client_msg_id: p('clientMsgId'),
    request_hash: p('requestHash'),
    reply: p('reply'),
  };
}

export class SqlSessionStore implements SessionStore {
  readonly #ctx: StoreContext;
  // The statements of every DM message, compiled once (see `prepared`).
  readonly #q = {
    // Insert, or replace an expired session under the same key; a live one makes it return nothing.
    insert: prepared<Written>((db, p) =>
      db
        .insertInto('omadm_session')
        .values({
          device_id: p('deviceId'),
          session_id: p('sessionId'),
          state: p('state'),
          version: 1,
          created_at: p('now'),
          updated_at: p('now'),
          expires_at: p('expiresAt'),
          ...extraValues(p),
        })
        .onConflict((oc) =>
          oc
            .columns(['device_id', 'session_id'])
            .doUpdateSet((eb) => ({
              state: eb.ref('excluded.state'),
              version: 1,
              created_at: eb.ref('excluded.created_at'),
              updated_at: eb.ref('excluded.updated_at'),
              expires_at: eb.ref('excluded.expires_at'),
              dm_session_id: eb.ref('excluded.dm_session_id'),
              phase: eb.ref('excluded.phase'),
              client_msg_id: eb.ref('excluded.client_msg_id'),
              request_hash: eb.ref('excluded.request_hash'),
              reply: eb.ref('excluded.reply'),
            }))
            .where('omadm_session.expires_at', '<=', p('now')),
        )
        .returning(['created_at', 'updated_at', 'expires_at', 'version']),
    ),
    get: prepared<Row>((db, p) =>
      db
        .selectFrom('omadm_session')
        .select(RECORD_COLUMNS)
        .where('device_id', '=', p('deviceId'))
        .where('session_id', '=', p('sessionId'))
        .where('expires_at', '>', p('now')),
    ),
    update: prepared<Written>((db, p) =>
      db
        .updateTable('omadm_session')
        .set({
          state: p('state'),
          version: p('version'),
          updated_at: p('now'),
          expires_at: p('expiresAt'),
          ...extraValues(p),
        })
        .where('device_id', '=', p('deviceId'))
        .where('session_id', '=', p('sessionId'))
        .where('version', '=', p('expected'))
        .where('expires_at', '>', p('now'))
        .returning(['created_at', 'updated_at', 'expires_at', 'version']),
    ),
    latest: prepared<Row>((db, p) =>
      db
        .selectFrom('omadm_session')
        .select(RECORD_COLUMNS)
        .where('device_id', '=', p('deviceId'))
        .where('expires_at', '>', p('now'))
        .orderBy('updated_at', 'desc')
        .limit(1),
    ),
    // No state (unless the row has no head to read instead) and no answer bytes.
    latestHead: prepared<HeadRow>((db, p) =>
      db
        .selectFrom('omadm_session')
        .select([
          'device_id',
          'session_id',
          'version',
          'updated_at',
          'expires_at',
          'dm_session_id',
          'phase',
          'client_msg_id',
          'request_hash',
          sql<string | null>`case when dm_session_id is null then state end`.as('state'),
        ])
        .where('device_id', '=', p('deviceId'))
        .where('expires_at', '>', p('now'))
        .orderBy('updated_at', 'desc')
        .limit(1),
    ),
    reply: prepared<{ reply: Uint8Array | null }>((db, p) =>
      db
        .selectFrom('omadm_session')
        .select('reply')
        .where('device_id', '=', p('deviceId'))
        .where('session_id', '=', p('sessionId'))
        .where('expires_at', '>', p('now')),
    ),
    byKey: prepared<Row>((db, p) =>
      db
        .selectFrom('omadm_session')
        .select(RECORD_COLUMNS)
        .where('session_id', '=', p('sessionId'))
        .where('expires_at', '>', p('now'))
        .limit(1),
    ),
  };

  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
  }

  async create<S>(
    input: {
      readonly deviceId: string;
      readonly sessionId: string;
      readonly state: S;
      readonly expiresAt: number;
    } & SessionExtras,
  ): Promise<SessionRecord<S>> {
    const now = this.#ctx.now();
    const state = serialize(input.state);
    // One statement: a live session under the key wins (nothing returned), an expired one is replaced.
    const row = (
      await this.#q.insert(this.#ctx.db, {
        deviceId: input.deviceId,
        sessionId: input.sessionId,
        state,
        now,
        expiresAt: input.expiresAt,
        ...this.#extraParams(input),
      })
    ).rows[0];
    if (!row) {
      throw new StoreError(
        StoreErrorCode.AlreadyExists,
        `a live session of ${input.deviceId} already has this key`,
      );
    }
    return withState(input.deviceId, input.sessionId, input.state, row);
  }

  async get<S = unknown>(deviceId: string, sessionId: string): Promise<SessionRecord<S> | undefined> {
    const row = (await this.#q.get(this.#ctx.db, { deviceId, sessionId, now: this.#ctx.now() })).rows[0];
    return row ? toRecord<S>(row) : undefined;
  }

  async update<S>(
    deviceId: string,
    sessionId: string,
    expectedVersion: number,
    state: S,
    expiresAt: number,
    extras: SessionExtras = {},
  ): Promise<SessionRecord<S>> {
    const now = this.#ctx.now();
    const row = (
      await this.#q.update(this.#ctx.db, {
        state: serialize(state),
        version: expectedVersion + 1,
        now,
        expiresAt,
        deviceId,
        sessionId,
        expected: expectedVersion,
        ...this.#extraParams(extras),
      })
    ).rows[0];
    if (row) return withState(deviceId, sessionId, state, row);
    const current = await this.get(deviceId, sessionId);
    if (!current)
      throw new StoreError(StoreErrorCode.NotFound, `session of ${deviceId} not found or expired`);
    throw new StoreError(
      StoreErrorCode.VersionConflict,
      `session of ${deviceId} is at version ${current.version}, not ${expectedVersion}`,
    );
  }

  async delete<S = unknown>(deviceId: string, sessionId: string): Promise<SessionRecord<S> | undefined> {
    const row = await this.#ctx.db
      .deleteFrom('omadm_session')
      .where('device_id', '=', deviceId)
      .where('session_id', '=', sessionId)
      .returning(RECORD_COLUMNS)
      .executeTakeFirst();
    return row ? toRecord<S>(row) : undefined;
  }

  async listByDevice(deviceId: string): Promise<readonly SessionRecord[]> {
    const rows = await this.#ctx.db
      .selectFrom('omadm_session')
      .select(RECORD_COLUMNS)
      .where('device_id', '=', deviceId)
      .orderBy('created_at')
      .execute();
    return rows.map((r) => toRecord(r));
  }

  async latest<S = unknown>(deviceId: string): Promise<SessionRecord<S> | undefined> {
    const row = (await this.#q.latest(this.#ctx.db, { deviceId, now: this.#ctx.now() })).rows[0];
    return row ? toRecord<S>(row) : undefined;
  }

  async latestHead<S = unknown>(deviceId: string): Promise<SessionHeadRecord<S> | undefined> {
    const r = (await this.#q.latestHead(this.#ctx.db, { deviceId, now: this.#ctx.now() })).rows[0];
    if (!r) return undefined;
    const head = headOf(r);
    return Object.freeze({
      deviceId: r.device_id,
      sessionId: r.session_id,
      version: r.version,
      updatedAt: r.updated_at,
      expiresAt: r.expires_at,
      ...(head ? { head } : {}),
      // A row without head columns (written before them, or without a head): its state instead.
      ...(head === undefined && r.state !== null ? { state: JSON.parse(r.state) as S } : {}),
    });
  }

  async reply(deviceId: string, sessionId: string): Promise<Uint8Array | undefined> {
    const r = (await this.#q.reply(this.#ctx.db, { deviceId, sessionId, now: this.#ctx.now() })).rows[0];
    const bytes = r?.reply;
    return bytes ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) : undefined;
  }

  /** Parameters of the head and answer columns; null where the write gives none. */
  #extraParams(x: SessionExtras): Record<string, unknown> {
    const { head, reply } = x;
    return {
      dmSessionId: head?.dmSessionId ?? null,
      phase: head?.phase ?? null,
      clientMsgId: head?.clientMsgId ?? null,
      requestHash: head?.requestHash ?? null,
      reply:
        reply === undefined
          ? null
          : this.#ctx.backend === 'postgres'
            ? Buffer.from(reply.buffer, reply.byteOffset, reply.byteLength)
            : reply,
    };
  }

  async getByKey<S = unknown>(sessionId: string): Promise<SessionRecord<S> | undefined> {
    const row = (await this.#q.byKey(this.#ctx.db, { sessionId, now: this.#ctx.now() })).rows[0];
    return row ? toRecord<S>(row) : undefined;
  }

  async expireIdle(now = this.#ctx.now(), limit?: number): Promise<readonly ExpiredSession[]> {
    if (limit === undefined) {
      const rows = await this.#ctx.db
        .deleteFrom('omadm_session')
        .where('expires_at', '<=', now)
        .returning(['device_id', 'session_id', 'dm_session_id', 'phase'])
        .execute();
      return rows.map(expired);
    }
    // The oldest `limit` first (by the expiry index), so one call is one bounded statement.
    const r = await sql<ExpiredRow>`delete from omadm_session
      where (device_id, session_id) in (
        select device_id, session_id from omadm_session where expires_at <= ${now}
        order by expires_at limit ${Math.max(1, Math.floor(limit))})
      returning device_id, session_id, dm_session_id, phase`.execute(this.#ctx.db);
    return r.rows.map(expired);
  }
}

interface ExpiredRow {
  device_id: string;
  session_id: string;
  dm_session_id: string | null;
  phase: string | null;
}

function expired(r: ExpiredRow): ExpiredSession {
  return { deviceId: r.device_id, sessionId: r.session_id, dmSessionId: r.dm_session_id, phase: r.phase };
}
