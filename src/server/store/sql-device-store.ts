/** DeviceStore over Kysely (SQLite and PostgreSQL). */
import { createHash } from 'node:crypto';
import { type ExpressionBuilder, type Selectable, sql, type Transaction } from 'kysely';
import {
  clampLimit,
  decodeCursor,
  encodeCursor,
  type Param,
  parseJson,
  prepared,
  type StoreContext,
} from './context.ts';
import { StoreError, StoreErrorCode } from './errors.ts';
import type { Database, DeviceTable } from './schema.ts';
import {
  AUTH_TYPES,
  AuthType,
  CommandState,
  type Device,
  type DeviceCredentials,
  type DeviceInput,
  type DevicePatch,
  type DeviceQuery,
  type DeviceStore,
  type Group,
  type Page,
  type SessionStart,
  TRACE_MODES,
  type TraceMode,
} from './types.ts';

/** B64(MD5(name ":" secret)) — the stored form of a DM credential (protocol.md §4.2). */
export function credentialDigest(name: string, secret: string): string {
  return createHash('md5').update(`${name}:${secret}`, 'utf8').digest('base64');
}

type Row = Selectable<DeviceTable>;
type Tx = Transaction<Database>;

const MAX_ID = 256;
const MAX_TAG = 128;

function bad(msg: string): never {
  throw new StoreError(StoreErrorCode.InvalidInput, msg);
}

function checkId(id: unknown): string {
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_ID || /[\u0000-\u001f]/.test(id)) {
    bad(`device id must be 1..${MAX_ID} printable characters`);
  }
  return id;
}

function checkNames(list: readonly string[] | undefined, what: string): string[] {
  if (list === undefined) return [];
  if (!Array.isArray(list)) bad(`${what} must be a list of strings`);
  const out = new Set<string>();
  for (const t of list) {
    if (typeof t !== 'string' || t.length === 0 || t.length > MAX_TAG)
      bad(`each of ${what} must be 1..${MAX_TAG} chars`);
    out.add(t);
  }
  return [...out].sort();
}

function checkAuthType(t: unknown): AuthType {
  if (!AUTH_TYPES.includes(t as AuthType)) bad(`authType must be one of ${AUTH_TYPES.join(', ')}`);
  return t as AuthType;
}

function checkRecord(r: unknown, what: string): Record<string, string> {
  if (r === undefined) return {};
  if (typeof r !== 'object' || r === null || Array.isArray(r)) bad(`${what} must be an object of strings`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(r)) {
    if (typeof v !== 'string') bad(`${what}.${k} must be a string`);
    out[k] = v;
  }
  return out;
}

function mergeRecord(
  base: Record<string, string>,
  patch: Readonly<Record<string, string | null>> | undefined,
): Record<string, string> {
  if (!patch) return base;
  const out = { ...base };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else if (typeof v === 'string') out[k] = v;
    else bad(`value of ${k} must be a string or null`);
  }
  return out;
}

/** What every session start sets on the device row (the `start` statements' shared part). */
function sessionStartSet(eb: ExpressionBuilder<Database, 'omadm_device'>, p: Param) {
  return {
    session_count: eb('session_count', '+', 1),
    last_seen_at: p('at'),
    online_until: p('onlineUntil'),
    current_session: p('sessionId'),
    client_nonce: sql<string | null>`coalesce(${p('clientNonce')}, client_nonce)`,
    latest_token: p('latestToken'),
    latest_dm_session_id: p('latestDmSessionId'),
    latest_request_hash: p('latestRequestHash'),
    latest_expires_at: p('latestExpiresAt'),
  };
}

export class SqlDeviceStore implements DeviceStore {
  readonly #ctx: StoreContext;
  // The statements of every DM session, compiled once (see `prepared`).
  readonly #q = {
    row: prepared<Row>((db, p) => db.selectFrom('omadm_device').selectAll().where('id', '=', p('id'))),
    // A DM message's credentials, with whether anything is queued for the device (by the
    // (device_id, state, id) index): most sessions then need no claim at all.
    credentials: prepared<Row & { has_queued: number | boolean; group_trace: number | null }>((db, p) =>
      db
        .selectFrom('omadm_device as d')
        .selectAll('d')
        .select((eb) =>
          eb
            .exists(
              eb
                .selectFrom('omadm_command as c')
                .select('c.id')
                .whereRef('c.device_id', '=', 'd.id')
                .where('c.state', '=', CommandState.Queued),
            )
            .as('has_queued'),
        )
        // The most verbose trace switch of the device's groups (3 full, 2 errors, 1 off; null: none).
        .select((eb) =>
          eb
            .selectFrom('omadm_group_member as m')
            .innerJoin('omadm_group as g', 'g.name', 'm.group_name')
            .select(
              sql<
                number | null
              >`max(case g.trace when 'full' then 3 when 'errors' then 2 when 'off' then 1 end)`.as('rank'),
            )
            .whereRef('m.device_id', '=', 'd.id')
            .as('group_trace'),
        )
        .where('d.id', '=', p('id')),
    ),
    clientNonce: prepared((db, p) =>
      db
        .updateTable('omadm_device')
        .set({ client_nonce: p('client') })
        .where('id', '=', p('id')),
    ),
    serverNonce: prepared((db, p) =>
      db
        .updateTable('omadm_device')
        .set({ server_nonce: p('server') })
        .where('id', '=', p('id')),
    ),
    bothNonces: prepared((db, p) =>
      db
        .updateTable('omadm_device')
        .set({ client_nonce: p('client'), server_nonce: p('server') })
        .where('id', '=', p('id')),
    ),
    start: prepared((db, p) =>
      db
        .updateTable('omadm_device')
        .set((eb) => sessionStartSet(eb, p))
        .where('id', '=', p('id')),
    ),
    startWithDevInfo: prepared((db, p) =>
      db
        .updateTable('omadm_device')
        .set((eb) => ({
          ...sessionStartSet(eb, p),
          // DevInfo merged in SQL (a JSON merge of string values), so a session start is one statement.
          dev_info:
            this.#ctx.backend === 'postgres'
              ? sql<string>`(coalesce(dev_info, '{}')::jsonb || ${p('patch')}::jsonb)::text`
              : sql<string>`json_patch(coalesce(dev_info, '{}'), ${p('patch')})`,
        }))
        .where('id', '=', p('id')),
    ),
    end: prepared((db, p) =>
      db
        .updateTable('omadm_device')
        .set({ last_seen_at: p('at'), online_until: null, current_session: null })
        .where('id', '=', p('id'))
        .where('current_session', '=', p('sessionId')),
    ),
  };

  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
  }

  #toDevice(row: Row, tags: readonly string[], groups: readonly string[]): Device {
    const now = this.#ctx.now();
    return Object.freeze({
      id: row.id,
      authType: row.auth_type as AuthType,
      clientAuthName: row.client_auth_name,
      hasClientCredential: row.client_digest !== null,
      serverAuthName: row.server_auth_name,
      hasServerCredential: row.server_digest !== null,
      tags: Object.freeze([...tags]),
      groups: Object.freeze([...groups]),
      devInfo: Object.freeze(parseJson<Record<string, string>>(row.dev_info, {})),
      devDetail: Object.freeze(parseJson<Record<string, string>>(row.dev_detail, {})),
      attributes: Object.freeze(parseJson<Record<string, string>>(row.attributes, {})),
      createdAt: row.created_at,
      updatedAt: row.updated_at,
      lastSeenAt: row.last_seen_at,
      sessionCount: row.session_count,
      online: row.online_until !== null && row.online_until > now,
      currentSession: row.online_until !== null && row.online_until > now ? row.current_session : null,
      trace: isTraceMode(row.trace) ? row.trace : null,
    });
  }

  async #load(db: Tx | StoreContext['db'], rows: readonly Row[]): Promise<Device[]> {
    if (rows.length === 0) return [];
    const ids = rows.map((r) => r.id);
    const [tags, groups] = await Promise.all([
      db.selectFrom('omadm_device_tag').select(['device_id', 'tag']).where('device_id', 'in', ids).execute(),
      db
        .selectFrom('omadm_group_member')
        .select(['device_id', 'group_name'])
        .where('device_id', 'in', ids)
        .execute(),
    ]);
    const tagMap = new Map<string, string[]>();
    for (const t of tags) tagMap.set(t.device_id, [...(tagMap.get(t.device_id) ?? []), t.tag]);
    const groupMap = new Map<string, string[]>();
    for (const g of groups) groupMap.set(g.device_id, [...(groupMap.get(g.device_id) ?? []), g.group_name]);
    return rows.map((r) =>
      this.#toDevice(r, (tagMap.get(r.id) ?? []).sort(), (groupMap.get(r.id) ?? []).sort()),
    );
  }

  async #getIn(db: Tx | StoreContext['db'], id: string): Promise<Device | undefined> {
    const row = await db.selectFrom('omadm_device').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) return undefined;
    return (await this.#load(db, [row]))[0];
  }

  get(id: string): Promise<Device | undefined> {
    return this.#getIn(this.#ctx.db, id);
  }

  #credentialColumns(
    input: DeviceInput | DevicePatch,
    clientAuthName: string,
    current?: Row,
  ): Partial<
    Pick<Row, 'client_digest' | 'server_auth_name' | 'server_digest' | 'server_secret' | 'auth_type'>
  > {
    const out: Partial<
      Pick<Row, 'client_digest' | 'server_auth_name' | 'server_digest' | 'server_secret' | 'auth_type'>
    > = {};
    const authType = input.authType !== undefined ? checkAuthType(input.authType) : undefined;
    if (authType) out.auth_type = authType;
    const effectiveAuth = authType ?? (current?.auth_type as AuthType | undefined) ?? AuthType.Md5;

    if (input.clientSecret !== undefined && input.clientDigest !== undefined && input.clientDigest !== null) {
      bad('give clientSecret or clientDigest, not both');
    }
    if (input.clientSecret === null || input.clientDigest === null) out.client_digest = null;
    if (typeof input.clientSecret === 'string')
      out.client_digest = credentialDigest(clientAuthName, input.clientSecret);
    if (typeof input.clientDigest === 'string') {
      if (!/^[A-Za-z0-9+/]{22}==$/.test(input.clientDigest))
        bad('clientDigest must be B64(MD5(name:secret))');
      out.client_digest = input.clientDigest;
    } else if (
      input.clientAuthName !== undefined &&
      input.clientSecret === undefined &&
      current?.client_digest
    ) {
      // The digest binds the name: renaming without a new secret would silently break auth.
      if (input.clientAuthName !== current.client_auth_name)
        bad('changing clientAuthName needs the clientSecret again');
    }

    const serverName =
      input.serverAuthName === null ? null : (input.serverAuthName ?? current?.server_auth_name ?? null);
    if (input.serverAuthName === null || input.serverSecret === null) {
      out.server_auth_name = input.serverAuthName === null ? null : serverName;
      out.server_digest = null;
      out.server_secret = null;
    }
    if (typeof input.serverSecret === 'string') {
      if (!serverName) bad('serverSecret needs serverAuthName');
      out.server_auth_name = serverName;
      out.server_digest = this.#ctx.box.seal(credentialDigest(serverName, input.serverSecret));
      // Only Basic needs the plaintext (B64(name:secret) is sent as is): keep it sealed, only then.
      out.server_secret =
        effectiveAuth === AuthType.Basic ? this.#ctx.box.seal(input.serverSecret, true) : null;
    } else if (input.serverAuthName !== undefined && input.serverAuthName !== null) {
      if (current?.server_digest && input.serverAuthName !== current.server_auth_name) {
        bad('changing serverAuthName needs the serverSecret again');
      }
      out.server_auth_name = input.serverAuthName;
    } else if (authType === AuthType.Basic && current?.server_digest && !current.server_secret) {
      bad('switching to basic auth needs the serverSecret again (Basic sends it in plaintext)');
    }
    return out;
  }

  async #setTagsGroups(
    tx: Tx,
    id: string,
    tags?: readonly string[],
    groups?: readonly string[],
  ): Promise<void> {
    if (tags !== undefined) {
      const list = checkNames(tags, 'tags');
      await tx.deleteFrom('omadm_device_tag').where('device_id', '=', id).execute();
      if (list.length) {
        await tx
          .insertInto('omadm_device_tag')
          .values(list.map((tag) => ({ device_id: id, tag })))
          .execute();
      }
    }
    if (groups !== undefined) {
      const list = checkNames(groups, 'groups');
      await tx.deleteFrom('omadm_group_member').where('device_id', '=', id).execute();
      if (list.length) {
        const known = await tx.selectFrom('omadm_group').select('name').where('name', 'in', list).execute();
        const missing = list.filter((g) => !known.some((k) => k.name === g));
        if (missing.length) {
          throw new StoreError(StoreErrorCode.NotFound, `unknown group(s): ${missing.join(', ')}`);
        }
        await tx
          .insertInto('omadm_group_member')
          .values(list.map((group_name) => ({ group_name, device_id: id })))
          .execute();
      }
    }
  }

  async #insert(tx: Tx, input: DeviceInput): Promise<void> {
    const id = checkId(input.id);
    const now = this.#ctx.now();
    const clientAuthName = input.clientAuthName ?? id;
    if (typeof clientAuthName !== 'string' || clientAuthName.length === 0)
      bad('clientAuthName must be a string');
    const creds = this.#credentialColumns({ authType: AuthType.Md5, ...input }, clientAuthName);
    await tx
      .insertInto('omadm_device')
      .values({
        id,
        auth_type: creds.auth_type ?? AuthType.Md5,
        client_auth_name: clientAuthName,
        client_digest: creds.client_digest ?? null,
        server_auth_name: creds.server_auth_name ?? input.serverAuthName ?? null,
        server_digest: creds.server_digest ?? null,
        server_secret: creds.server_secret ?? null,
        client_nonce: null,
        server_nonce: null,
        dev_info: '{}',
        dev_detail: '{}',
        attributes: JSON.stringify(checkRecord(input.attributes, 'attributes')),
        created_at: now,
        updated_at: now,
        last_seen_at: null,
        session_count: 0,
        online_until: null,
        current_session: null,
      })
      .execute();
    await this.#setTagsGroups(tx, id, input.tags ?? [], input.groups ?? []);
  }

  async create(input: DeviceInput): Promise<Device> {
    checkId(input?.id);
    return this.#ctx.db.transaction().execute(async (tx) => {
      const exists = await tx
        .selectFrom('omadm_device')
        .select('id')
        .where('id', '=', input.id)
        .executeTakeFirst();
      if (exists) throw new StoreError(StoreErrorCode.AlreadyExists, `device ${input.id} already exists`);
      await this.#insert(tx, input);
      return (await this.#getIn(tx, input.id))!;
    });
  }

  async put(input: DeviceInput): Promise<Device | undefined> {
    checkId(input?.id);
    return this.#ctx.db.transaction().execute(async (tx) => {
      const previous = await this.#getIn(tx, input.id);
      if (previous) {
        // Replace provisioning data but keep history (sessions, DevInfo, last seen, queue).
        await tx.deleteFrom('omadm_device_tag').where('device_id', '=', input.id).execute();
        await tx.deleteFrom('omadm_group_member').where('device_id', '=', input.id).execute();
        const row = await tx
          .selectFrom('omadm_device')
          .selectAll()
          .where('id', '=', input.id)
          .executeTakeFirstOrThrow();
        const clientAuthName = input.clientAuthName ?? input.id;
        const creds = this.#credentialColumns(
          {
            authType: AuthType.Md5,
            ...input,
            clientSecret: input.clientSecret ?? (input.clientDigest ? undefined : null),
            serverAuthName: input.serverAuthName ?? null,
            serverSecret: input.serverSecret ?? null,
          },
          clientAuthName,
        );
        await tx
          .updateTable('omadm_device')
          .set({
            ...creds,
            server_auth_name: input.serverAuthName ?? null,
            client_auth_name: clientAuthName,
            attributes: JSON.stringify(checkRecord(input.attributes, 'attributes')),
            updated_at: Math.max(this.#ctx.now(), row.updated_at),
          })
          .where('id', '=', input.id)
          .execute();
        await this.#setTagsGroups(tx, input.id, input.tags ?? [], input.groups ?? []);
      } else {
        await this.#insert(tx, input);
      }
      return previous;
    });
  }

  async update(id: string, patch: DevicePatch): Promise<readonly [Device, Device]> {
    return this.#ctx.db.transaction().execute(async (tx) => {
      const row = await tx.selectFrom('omadm_device').selectAll().where('id', '=', id).executeTakeFirst();
      if (!row) throw new StoreError(StoreErrorCode.NotFound, `device ${id} not found`);
      const previous = (await this.#load(tx, [row]))[0]!;
      const clientAuthName = patch.clientAuthName ?? row.client_auth_name;
      const creds = this.#credentialColumns(patch, clientAuthName, row);
      await tx
        .updateTable('omadm_device')
        .set({
          ...creds,
          client_auth_name: clientAuthName,
          ...(patch.attributes !== undefined
            ? { attributes: JSON.stringify(checkRecord(patch.attributes, 'attributes')) }
            : {}),
          ...(patch.devInfo !== undefined
            ? { dev_info: JSON.stringify(mergeRecord({ ...previous.devInfo }, patch.devInfo)) }
            : {}),
          ...(patch.devDetail !== undefined
            ? { dev_detail: JSON.stringify(mergeRecord({ ...previous.devDetail }, patch.devDetail)) }
            : {}),
          ...(patch.trace !== undefined ? { trace: checkTraceMode(patch.trace) } : {}),
          updated_at: this.#ctx.now(),
        })
        .where('id', '=', id)
        .execute();
      await this.#setTagsGroups(tx, id, patch.tags, patch.groups);
      return [previous, (await this.#getIn(tx, id))!] as const;
    });
  }

  async delete(id: string): Promise<Device | undefined> {
    return this.#ctx.db.transaction().execute(async (tx) => {
      const previous = await this.#getIn(tx, id);
      if (!previous) return undefined;
      // Tables without a foreign key (sessions and traces may precede enrollment) go by hand.
      await tx.deleteFrom('omadm_session').where('device_id', '=', id).execute();
      await tx.deleteFrom('omadm_trace').where('device_id', '=', id).execute();
      await tx.deleteFrom('omadm_session_log').where('device_id', '=', id).execute();
      await tx.deleteFrom('omadm_device_event').where('device_id', '=', id).execute();
      await tx.deleteFrom('omadm_correlator').where('device_id', '=', id).execute();
      await tx.deleteFrom('omadm_command').where('device_id', '=', id).execute();
      await tx.deleteFrom('omadm_tree_value').where('device_id', '=', id).execute();
      await tx.deleteFrom('omadm_device_tag').where('device_id', '=', id).execute();
      await tx.deleteFrom('omadm_group_member').where('device_id', '=', id).execute();
      await tx.deleteFrom('omadm_device').where('id', '=', id).execute();
      return previous;
    });
  }

  async list(query: DeviceQuery = {}): Promise<Page<Device>> {
    const limit = clampLimit(query.limit);
    const after = decodeCursor<string>(query.cursor, 'string');
    const now = this.#ctx.now();
    let q = this.#ctx.db.selectFrom('omadm_device as d').selectAll('d');
    if (after !== undefined) q = q.where('d.id', '>', after);
    for (const tag of checkNames(query.tags, 'tags')) {
      q = q.where(({ exists, selectFrom }) =>
        exists(
          selectFrom('omadm_device_tag as t')
            .select('t.tag')
            .whereRef('t.device_id', '=', 'd.id')
            .where('t.tag', '=', tag),
        ),
      );
    }
    if (query.group !== undefined) {
      const group = query.group;
      q = q.where(({ exists, selectFrom }) =>
        exists(
          selectFrom('omadm_group_member as g')
            .select('g.group_name')
            .whereRef('g.device_id', '=', 'd.id')
            .where('g.group_name', '=', group),
        ),
      );
    }
    if (query.authType !== undefined) q = q.where('d.auth_type', '=', checkAuthType(query.authType));
    if (query.online === true) q = q.where('d.online_until', '>', now);
    if (query.online === false)
      q = q.where((eb) => eb.or([eb('d.online_until', 'is', null), eb('d.online_until', '<=', now)]));
    if (query.idPrefix) {
      // substr, not LIKE: SQLite's LIKE ignores case and `%`/`_` would need escaping.
      const prefix = query.idPrefix;
      q = q.where((eb) =>
        eb(eb.fn<string>('substr', ['d.id', eb.val(1), eb.val([...prefix].length)]), '=', prefix),
      );
    }
    if (query.seenSince !== undefined) q = q.where('d.last_seen_at', '>=', query.seenSince);
    if (query.seenBefore !== undefined) q = q.where('d.last_seen_at', '<', query.seenBefore);
    const rows = await q
      .orderBy('d.id')
      .limit(limit + 1)
      .execute();
    const more = rows.length > limit;
    const page = more ? rows.slice(0, limit) : rows;
    const items = await this.#load(this.#ctx.db, page);
    return more ? { items, nextCursor: encodeCursor(page[page.length - 1]!.id) } : { items };
  }

  async credentials(id: string): Promise<DeviceCredentials | undefined> {
    const row = (await this.#q.credentials(this.#ctx.db, { id })).rows[0];
    if (!row) return undefined;
    return Object.freeze({
      deviceId: row.id,
      authType: row.auth_type as AuthType,
      clientAuthName: row.client_auth_name,
      clientDigest: row.client_digest,
      serverAuthName: row.server_auth_name,
      serverDigest: row.server_digest === null ? null : this.#ctx.box.open(row.server_digest),
      serverSecret: row.server_secret === null ? null : this.#ctx.box.open(row.server_secret),
      clientNonce: row.client_nonce,
      serverNonce: row.server_nonce,
      devInfo: parseJson<Record<string, string>>(row.dev_info, {}),
      hasQueued: Boolean(row.has_queued),
      ...traceModeOf(row.trace, row.group_trace),
      ...(row.latest_token !== null &&
      row.latest_dm_session_id !== null &&
      row.latest_request_hash !== null &&
      row.latest_expires_at !== null
        ? {
            closedSession: {
              token: row.latest_token,
              dmSessionId: row.latest_dm_session_id,
              requestHash: row.latest_request_hash,
              expiresAt: Number(row.latest_expires_at),
            },
          }
        : {}),
    });
  }

  async setNonces(
    id: string,
    nonces: { readonly clientNonce?: string | null; readonly serverNonce?: string | null },
  ): Promise<{ readonly clientNonce: string | null; readonly serverNonce: string | null }> {
    return this.#ctx.db.transaction().execute(async (tx) => {
      const row = await tx
        .selectFrom('omadm_device')
        .select(['client_nonce', 'server_nonce'])
        .where('id', '=', id)
        .executeTakeFirst();
      if (!row) throw new StoreError(StoreErrorCode.NotFound, `device ${id} not found`);
      await tx
        .updateTable('omadm_device')
        .set({
          ...(nonces.clientNonce !== undefined ? { client_nonce: nonces.clientNonce } : {}),
          ...(nonces.serverNonce !== undefined ? { server_nonce: nonces.serverNonce } : {}),
        })
        .where('id', '=', id)
        .execute();
      return { clientNonce: row.client_nonce, serverNonce: row.server_nonce };
    });
  }

  async noteSessionStart(
    id: string,
    session: {
      readonly sessionId: string;
      readonly at: number;
      readonly onlineUntil: number;
      readonly devInfo?: Readonly<Record<string, string>>;
    },
  ): Promise<Device> {
    return this.#ctx.db.transaction().execute(async (tx) => {
      if (!(await this.#recordSessionStart(tx, id, session)))
        throw new StoreError(StoreErrorCode.NotFound, `device ${id} not found`);
      return (await this.#getIn(tx, id))!;
    });
  }

  recordSessionStart(id: string, session: SessionStart): Promise<boolean> {
    return this.#recordSessionStart(this.#ctx.db, id, session);
  }

  async #recordSessionStart(
    db: Tx | StoreContext['db'],
    id: string,
    session: SessionStart,
  ): Promise<boolean> {
    const params = {
      id,
      at: session.at,
      onlineUntil: session.onlineUntil,
      sessionId: session.sessionId,
      clientNonce: session.clientNonce ?? null,
      // Every session start replaces the device's latest-session head: set for a session that
      // closed in this first message, cleared (look in the session table) for any other.
      latestToken: session.closedHead?.token ?? null,
      latestDmSessionId: session.closedHead?.dmSessionId ?? null,
      latestRequestHash: session.closedHead?.requestHash ?? null,
      latestExpiresAt: session.closedHead?.expiresAt ?? null,
    };
    const r = session.devInfo
      ? await this.#q.startWithDevInfo(db, {
          ...params,
          patch: JSON.stringify(checkRecord(session.devInfo, 'devInfo')),
        })
      : await this.#q.start(db, params);
    return Number(r.numAffectedRows ?? 0n) > 0;
  }

  async putNonces(
    id: string,
    nonces: { readonly clientNonce?: string | null; readonly serverNonce?: string | null },
  ): Promise<boolean> {
    if (nonces.clientNonce === undefined && nonces.serverNonce === undefined) {
      return (
        (await this.#ctx.db
          .selectFrom('omadm_device')
          .select('id')
          .where('id', '=', id)
          .executeTakeFirst()) !== undefined
      );
    }
    const { clientNonce: client, serverNonce: server } = nonces;
    const r =
      client !== undefined && server !== undefined
        ? await this.#q.bothNonces(this.#ctx.db, { id, client, server })
        : client !== undefined
          ? await this.#q.clientNonce(this.#ctx.db, { id, client })
          : await this.#q.serverNonce(this.#ctx.db, { id, server });
    return Number(r.numAffectedRows ?? 0n) > 0;
  }

  async noteSeen(id: string, at: number, onlineUntil: number): Promise<void> {
    await this.#ctx.db
      .updateTable('omadm_device')
      .set({ last_seen_at: at, online_until: onlineUntil })
      .where('id', '=', id)
      .execute();
  }

  async noteSessionEnd(id: string, sessionId: string, at: number): Promise<void> {
    // Only the session that is current goes offline; a newer session keeps the device online.
    await this.#q.end(this.#ctx.db, { id, at, sessionId });
  }

  async createGroup(name: string, description = ''): Promise<Group> {
    checkNames([name], 'group name');
    return this.#ctx.db.transaction().execute(async (tx) => {
      const exists = await tx
        .selectFrom('omadm_group')
        .select('name')
        .where('name', '=', name)
        .executeTakeFirst();
      if (exists) throw new StoreError(StoreErrorCode.AlreadyExists, `group ${name} already exists`);
      const createdAt = this.#ctx.now();
      await tx.insertInto('omadm_group').values({ name, description, created_at: createdAt }).execute();
      return { name, description, createdAt, size: 0, trace: null };
    });
  }

  async #groups(db: Tx | StoreContext['db'], name?: string): Promise<Group[]> {
    let q = db
      .selectFrom('omadm_group as g')
      .leftJoin('omadm_group_member as m', 'm.group_name', 'g.name')
      .select(({ fn }) => [
        'g.name',
        'g.description',
        'g.created_at',
        'g.trace',
        fn.count<number | string>('m.device_id').as('size'),
      ])
      .groupBy(['g.name', 'g.description', 'g.created_at', 'g.trace'])
      .orderBy('g.name');
    if (name !== undefined) q = q.where('g.name', '=', name);
    const rows = await q.execute();
    return rows.map((r) => ({
      name: r.name,
      description: r.description,
      createdAt: r.created_at,
      size: Number(r.size),
      trace: isTraceMode(r.trace) ? r.trace : null,
    }));
  }

  async setGroupTrace(name: string, trace: TraceMode | null): Promise<Group> {
    const mode = checkTraceMode(trace);
    return this.#ctx.db.transaction().execute(async (tx) => {
      const r = await tx
        .updateTable('omadm_group')
        .set({ trace: mode })
        .where('name', '=', name)
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) === 0)
        throw new StoreError(StoreErrorCode.NotFound, `group ${name} not found`);
      return (await this.#groups(tx, name))[0]!;
    });
  }

  async deleteGroup(name: string): Promise<Group | undefined> {
    return this.#ctx.db.transaction().execute(async (tx) => {
      const [group] = await this.#groups(tx, name);
      if (!group) return undefined;
      await tx.deleteFrom('omadm_group_member').where('group_name', '=', name).execute();
      await tx.deleteFrom('omadm_group').where('name', '=', name).execute();
      return group;
    });
  }

  listGroups(): Promise<readonly Group[]> {
    return this.#groups(this.#ctx.db);
  }

  async addToGroup(name: string, deviceIds: readonly string[]): Promise<number> {
    return this.#ctx.db.transaction().execute(async (tx) => {
      const group = await tx
        .selectFrom('omadm_group')
        .select('name')
        .where('name', '=', name)
        .executeTakeFirst();
      if (!group) throw new StoreError(StoreErrorCode.NotFound, `group ${name} not found`);
      const ids = checkNames(deviceIds, 'device ids');
      if (!ids.length) return 0;
      const known = await tx.selectFrom('omadm_device').select('id').where('id', 'in', ids).execute();
      if (known.length !== ids.length) {
        const missing = ids.filter((i) => !known.some((k) => k.id === i));
        throw new StoreError(StoreErrorCode.NotFound, `unknown device(s): ${missing.join(', ')}`);
      }
      const already = await tx
        .selectFrom('omadm_group_member')
        .select('device_id')
        .where('group_name', '=', name)
        .where('device_id', 'in', ids)
        .execute();
      const fresh = ids.filter((i) => !already.some((a) => a.device_id === i));
      if (fresh.length) {
        await tx
          .insertInto('omadm_group_member')
          .values(fresh.map((device_id) => ({ group_name: name, device_id })))
          .execute();
      }
      return fresh.length;
    });
  }

  async removeFromGroup(name: string, deviceIds: readonly string[]): Promise<number> {
    const ids = checkNames(deviceIds, 'device ids');
    if (!ids.length) return 0;
    const r = await this.#ctx.db
      .deleteFrom('omadm_group_member')
      .where('group_name', '=', name)
      .where('device_id', 'in', ids)
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}

const GROUP_TRACE_RANK: readonly (TraceMode | undefined)[] = [undefined, 'off', 'errors', 'full'];

function isTraceMode(v: unknown): v is TraceMode {
  return typeof v === 'string' && (TRACE_MODES as readonly string[]).includes(v);
}

function checkTraceMode(v: TraceMode | null): TraceMode | null {
  if (v === null || isTraceMode(v)) return v;
  throw new StoreError(StoreErrorCode.InvalidInput, `trace must be one of ${TRACE_MODES.join(', ')} or null`);
}

/** The device's own switch wins; else the most verbose of its groups'; else none (the default). */
function traceModeOf(own: string | null, groupRank: number | string | null): { traceMode?: TraceMode } {
  if (isTraceMode(own)) return { traceMode: own };
  const mode = groupRank === null ? undefined : GROUP_TRACE_RANK[Number(groupRank)];
  return mode ? { traceMode: mode } : {};
}
