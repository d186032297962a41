/**
 * The durable command queue over Kysely. State machine and guarantees: docs/storage.md.
 *
 * Exactly-once claim: on PostgreSQL `SELECT … FOR UPDATE SKIP LOCKED` inside the claiming
 * transaction, so concurrent claimers (any process) take disjoint rows without waiting; on SQLite
 * every transaction is BEGIN IMMEDIATE, so claims are serialized by the database write lock. In
 * both, the UPDATE re-checks `state = 'queued'`.
 *
 * Never-twice for destructive commands: `markSent` is durable before the bytes leave; a command
 * found `sent` with no Status after its session died becomes `unknown`, never `queued` (only a Get
 * is re-queued). `markSent` fails if the claim was lost (lease expired and recovered), so a slow
 * session can never send a command another session may also send.
 */
import type { ExpressionBuilder, Selectable, Transaction } from 'kysely';
import {
  correlatorsOf,
  type DmCommand,
  isDestructive,
  parseCommand,
  primaryUri,
  primaryValue,
  type SequenceMember,
} from './command.ts';
import { openCommand, redactCommand, sealCommand } from './command-secrets.ts';
import { clampLimit, decodeCursor, encodeCursor, parseJson, prepared, type StoreContext } from './context.ts';
import { StoreError, StoreErrorCode } from './errors.ts';
import type { CommandTable, Database } from './schema.ts';
import type { SecretBox } from './secret-box.ts';
import {
  type AlertOutcome,
  type AlertRecord,
  type AlertVerdict,
  type ClaimOptions,
  type CommandDetail,
  type CommandOutcome,
  type CommandQuery,
  type CommandQueue,
  type CommandRecord,
  CommandState,
  type EnqueueOptions,
  FINAL_STATES,
  type MemberOutcome,
  type Page,
  type RecoveryReport,
  type ResultItem,
  type SentRef,
} from './types.ts';

type Row = Selectable<CommandTable>;
type Tx = Transaction<Database>;

/**
 * Statuses that mean "done as asked". 202/213 are not final; 214/215/216 mean not executed. An
 * Exec of SCOMO, LAWMO or DCMO may answer synchronously with the object's result code instead
 * (objects.md §0.3: 1200–1299 success, 14xx/15xx failure).
 */
export function isSuccessStatus(status: number): boolean {
  if (status >= 1000) return status >= 1200 && status <= 1299;
  return (
    status >= 200 && status < 300 && status !== 202 && status !== 213 && !(status >= 214 && status <= 216)
  );
}

const SETTLED_STATES: readonly CommandState[] = [...FINAL_STATES, CommandState.Pending];

/**
 * A row as a record. Secret values stay out (`secret: true` marks them) unless `open` is given:
 * only a session's claim opens them, to send them.
 */
function toRecord(r: Row, open?: SecretBox): CommandRecord {
  let command = parseJson<DmCommand>(r.command, { kind: 'Get', target: r.uri });
  if (r.command.includes('"secret":true'))
    command = open ? openCommand(command, open) : redactCommand(command);
  return Object.freeze({
    id: Number(r.id),
    deviceId: r.device_id,
    command,
    kind: command.kind,
    uri: r.uri,
    value: r.value,
    destructive: r.destructive === 1,
    state: r.state as CommandState,
    createdAt: r.created_at,
    createdBy: r.created_by,
    updatedAt: r.updated_at,
    expiresAt: r.expires_at,
    sessionId: r.session_id,
    leaseUntil: r.lease_until,
    msgId: r.msg_id,
    cmdId: r.cmd_id,
    sentAt: r.sent_at,
    attempts: r.attempts,
    status: r.status,
    results: parseJson<ResultItem[] | null>(r.results, null),
    detail: parseJson<CommandDetail | null>(r.detail, null),
    completedAt: r.completed_at,
  });
}

interface Verdict {
  readonly state: CommandState;
  readonly reason?: string;
}

/**
 * Decides a sent command's state from the device's Status. A destructive command is `succeeded`
 * only when the Status (and every member's) is a success; 202 on an Exec is `pending`.
 */
function judge(command: DmCommand, outcome: CommandOutcome): Verdict {
  const s = outcome.status;
  switch (command.kind) {
    case 'Exec':
      if (s === 202) return { state: CommandState.Pending };
      return { state: isSuccessStatus(s) ? CommandState.Succeeded : CommandState.Failed };
    case 'Atomic': {
      if (!isSuccessStatus(s)) return { state: CommandState.Failed };
      if (outcome.members?.some((m) => !isSuccessStatus(m.status))) return { state: CommandState.Failed };
      return { state: CommandState.Succeeded };
    }
    case 'Sequence': {
      if (!isSuccessStatus(s)) return { state: CommandState.Failed };
      // A Sequence reports 200 once execution started (§3.8): members decide the outcome.
      const members = outcome.members;
      if (!members || members.length !== command.commands.length) {
        return { state: CommandState.Unknown, reason: 'Sequence status without a status for every member' };
      }
      let pending = false;
      for (let i = 0; i < members.length; i++) {
        const m = members[i]!;
        const c = command.commands[i] as SequenceMember;
        if (c.kind === 'Exec' && m.status === 202) pending = true;
        else if (!isSuccessStatus(m.status)) return { state: CommandState.Failed };
      }
      return { state: pending ? CommandState.Pending : CommandState.Succeeded };
    }
    default:
      if (s === 202) {
        return {
          state: CommandState.Unknown,
          reason: 'accepted (202) without a correlator to learn the outcome',
        };
      }
      return { state: isSuccessStatus(s) ? CommandState.Succeeded : CommandState.Failed };
  }
}

function checkOutcome(o: CommandOutcome): void {
  // 3 digits, or an MO result code a device answers an Exec with synchronously (1200, 1405, …).
  if (!o || !Number.isInteger(o.status) || o.status < 100 || o.status > 9999) {
    throw new StoreError(StoreErrorCode.InvalidInput, 'outcome.status must be a status or result code');
  }
  for (const m of o.members ?? []) {
    if (!Number.isInteger(m.status))
      throw new StoreError(StoreErrorCode.InvalidInput, 'member status must be an integer');
  }
  for (const i of o.items ?? []) {
    if (!Number.isInteger(i.status) || !Array.isArray(i.uris))
      throw new StoreError(
        StoreErrorCode.InvalidInput,
        'an item status needs an integer status and its URIs',
      );
  }
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

export class SqlCommandQueue implements CommandQueue {
  readonly #ctx: StoreContext;
  // The statements of every DM session, compiled once (see `prepared`).
  readonly #q = {
    expireDevice: prepared<{ id: number }>((db, p) =>
      db
        .updateTable('omadm_command')
        .set({
          state: CommandState.Expired,
          updated_at: p('now'),
          completed_at: p('now'),
          detail: JSON.stringify({ reason: 'expired before delivery' } satisfies CommandDetail),
        })
        .where('state', '=', CommandState.Queued)
        .where('expires_at', '<=', p('now'))
        .where('device_id', '=', p('deviceId'))
        .returning('id'),
    ),
    pick: prepared<{ id: number; expires_at: number | null }>((db, p) =>
      db
        .selectFrom('omadm_command')
        .select(['id', 'expires_at'])
        .where('device_id', '=', p('deviceId'))
        .where('state', '=', CommandState.Queued)
        .orderBy('id')
        .limit(p('limit')),
    ),
    // releaseSession's three rules for one session (see #reclaim).
    requeueClaimed: prepared<{ id: number }>((db, p) =>
      db
        .updateTable('omadm_command')
        .where('state', '=', CommandState.Claimed)
        .where('device_id', '=', p('deviceId'))
        .where('session_id', '=', p('sessionId'))
        .set({ state: CommandState.Queued, session_id: null, lease_until: null, updated_at: p('now') })
        .returning('id'),
    ),
    resendSent: prepared<{ id: number }>((db, p) =>
      db
        .updateTable('omadm_command')
        .where('state', '=', CommandState.Sent)
        .where('device_id', '=', p('deviceId'))
        .where('session_id', '=', p('sessionId'))
        .where('destructive', '=', 0)
        .set({
          state: CommandState.Queued,
          session_id: null,
          lease_until: null,
          msg_id: null,
          cmd_id: null,
          sent_at: null,
          updated_at: p('now'),
        })
        .returning('id'),
    ),
    unknownSent: prepared<{ id: number }>((db, p) =>
      db
        .updateTable('omadm_command')
        .where('state', '=', CommandState.Sent)
        .where('device_id', '=', p('deviceId'))
        .where('session_id', '=', p('sessionId'))
        .where('destructive', '=', 1)
        .set({
          state: CommandState.Unknown,
          lease_until: null,
          updated_at: p('now'),
          completed_at: p('now'),
          detail: p('detail'),
        })
        .returning('id'),
    ),
    markSent: prepared<Row>((db, p) =>
      db
        .updateTable('omadm_command')
        .set({
          state: CommandState.Sent,
          msg_id: p('msgId'),
          cmd_id: p('cmdId'),
          sent_at: p('now'),
          updated_at: p('now'),
        })
        .where('id', '=', p('id'))
        .where('state', '=', CommandState.Claimed)
        .where('session_id', '=', p('sessionId'))
        .returningAll(),
    ),
    current: prepared<Row>((db, p) => {
      const q = db.selectFrom('omadm_command').selectAll().where('id', '=', p('id'));
      return this.#ctx.backend === 'postgres' ? q.forUpdate() : q;
    }),
    correlators: prepared<Selectable<Database['omadm_correlator']>>((db, p) =>
      db.selectFrom('omadm_correlator').selectAll().where('command_id', '=', p('id')).orderBy('correlator'),
    ),
    settle: prepared<Row>((db, p) =>
      db
        .updateTable('omadm_command')
        .set({
          state: p('state'),
          status: p('status'),
          results: p('results'),
          detail: p('detail'),
          updated_at: p('now'),
          completed_at: p('completedAt'),
          lease_until: null,
        })
        .where('id', '=', p('id'))
        .returningAll(),
    ),
    takeOne: prepared<Row>((db, p) =>
      db
        .updateTable('omadm_command')
        .set((eb) => ({
          state: CommandState.Claimed,
          session_id: p('sessionId'),
          lease_until: p('leaseUntil'),
          attempts: eb('attempts', '+', 1),
          updated_at: p('now'),
        }))
        .where('id', '=', p('id'))
        .where('state', '=', CommandState.Queued)
        .returningAll(),
    ),
    holds: prepared<{ id: number }>((db, p) =>
      db
        .selectFrom('omadm_command')
        .select('id')
        .where('device_id', '=', p('deviceId'))
        .where('state', 'in', [CommandState.Claimed, CommandState.Sent])
        .where('session_id', '=', p('sessionId'))
        .limit(1),
    ),
    renew: prepared((db, p) =>
      db
        .updateTable('omadm_command')
        .set({ lease_until: p('leaseUntil') })
        .where('device_id', '=', p('deviceId'))
        .where('session_id', '=', p('sessionId'))
        .where('state', 'in', [CommandState.Claimed, CommandState.Sent]),
    ),
  };

  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
  }

  /** Wakes waiters: in this process at once, on other nodes via NOTIFY when `remote`. */
  #emit(ids: Iterable<number>, remote = true): void {
    const list = [...ids];
    for (const id of list) this.#ctx.events.emit(`command:${id}`);
    if (remote && list.length) this.#ctx.remote?.publish(list);
  }

  async #row(db: Tx | StoreContext['db'], id: number): Promise<Row | undefined> {
    return db.selectFrom('omadm_command').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async #mustRow(db: Tx | StoreContext['db'], id: number): Promise<Row> {
    const r = await this.#row(db, id);
    if (!r) throw new StoreError(StoreErrorCode.NotFound, `command ${id} not found`);
    return r;
  }

  async enqueue(deviceId: string, input: unknown, options: EnqueueOptions = {}): Promise<CommandRecord> {
    const command = parseCommand(input);
    const now = this.#ctx.now();
    if (options.expiresAt !== undefined && !Number.isFinite(options.expiresAt)) {
      throw new StoreError(StoreErrorCode.InvalidInput, 'expiresAt must be a time in ms');
    }
    const correlators = correlatorsOf(command);
    if (new Set(correlators).size !== correlators.length) {
      throw new StoreError(StoreErrorCode.InvalidInput, 'two Execs of one command share a correlator');
    }
    const stored = sealCommand(command, this.#ctx.box, this.#ctx.secrets);
    const values = {
      device_id: deviceId,
      kind: command.kind,
      command: JSON.stringify(stored),
      uri: primaryUri(command),
      value: primaryValue(redactCommand(stored)),
      destructive: isDestructive(command) ? 1 : 0,
      state: CommandState.Queued,
      created_at: now,
      created_by: options.createdBy ?? null,
      updated_at: now,
      expires_at: options.expiresAt ?? null,
      session_id: null,
      lease_until: null,
      msg_id: null,
      cmd_id: null,
      sent_at: null,
      attempts: 0,
      status: null,
      results: null,
      detail: null,
      completed_at: null,
    };
    if (!correlators.length) {
      // Fast path, one statement: the foreign key says whether the device exists.
      try {
        return toRecord(
          await this.#ctx.db
            .insertInto('omadm_command')
            .values(values)
            .returningAll()
            .executeTakeFirstOrThrow(),
        );
      } catch (e) {
        if (isForeignKeyViolation(e))
          throw new StoreError(StoreErrorCode.NotFound, `device ${deviceId} not found`);
        throw e;
      }
    }
    const row = await this.#ctx.db.transaction().execute(async (tx) => {
      const device = await tx
        .selectFrom('omadm_device')
        .select('id')
        .where('id', '=', deviceId)
        .executeTakeFirst();
      if (!device) throw new StoreError(StoreErrorCode.NotFound, `device ${deviceId} not found`);
      if (correlators.length) {
        // A correlator may be reused only once its previous command is finished.
        const taken = await tx
          .selectFrom('omadm_correlator as c')
          .innerJoin('omadm_command as m', 'm.id', 'c.command_id')
          .select(['c.correlator', 'm.state'])
          .where('c.device_id', '=', deviceId)
          .where('c.correlator', 'in', correlators)
          .execute();
        const live = taken.filter((t) => !FINAL_STATES.includes(t.state as CommandState));
        if (live.length) {
          throw new StoreError(StoreErrorCode.InvalidInput, `correlator ${live[0]!.correlator} is in use`);
        }
        if (taken.length) {
          await tx
            .deleteFrom('omadm_correlator')
            .where('device_id', '=', deviceId)
            .where(
              'correlator',
              'in',
              taken.map((t) => t.correlator),
            )
            .execute();
        }
      }
      const inserted = await tx
        .insertInto('omadm_command')
        .values(values)
        .returningAll()
        .executeTakeFirstOrThrow();
      if (correlators.length) {
        await tx
          .insertInto('omadm_correlator')
          .values(
            correlators.map((correlator) => ({
              device_id: deviceId,
              correlator,
              command_id: Number(inserted.id),
              status: null,
              data: null,
              resolved_at: null,
            })),
          )
          .execute();
      }
      return inserted;
    });
    return toRecord(row);
  }

  async get(id: number): Promise<CommandRecord | undefined> {
    const r = await this.#row(this.#ctx.db, id);
    return r ? toRecord(r) : undefined;
  }

  async list(query: CommandQuery = {}): Promise<Page<CommandRecord>> {
    const limit = clampLimit(query.limit);
    const after = decodeCursor<number>(query.cursor, 'number');
    let q = this.#ctx.db.selectFrom('omadm_command').selectAll();
    if (query.deviceId !== undefined) q = q.where('device_id', '=', query.deviceId);
    if (query.sessionId !== undefined) q = q.where('session_id', '=', query.sessionId);
    if (query.states?.length) q = q.where('state', 'in', [...query.states]);
    if (after !== undefined) q = q.where('id', query.newestFirst ? '<' : '>', after);
    const rows = await q
      .orderBy('id', query.newestFirst ? 'desc' : 'asc')
      .limit(limit + 1)
      .execute();
    const more = rows.length > limit;
    const page = (more ? rows.slice(0, limit) : rows).map((r) => toRecord(r));
    return more ? { items: page, nextCursor: encodeCursor(page[page.length - 1]!.id) } : { items: page };
  }

  /** Marks queued commands past their expiry as expired; returns their ids. */
  async #expire(tx: Tx | StoreContext['db'], now: number, deviceId?: string): Promise<number[]> {
    if (deviceId !== undefined) {
      return (await this.#q.expireDevice(tx, { now, deviceId })).rows.map((r) => Number(r.id));
    }
    let q = tx
      .updateTable('omadm_command')
      .set({
        state: CommandState.Expired,
        updated_at: now,
        completed_at: now,
        detail: JSON.stringify({ reason: 'expired before delivery' } satisfies CommandDetail),
      })
      .where('state', '=', CommandState.Queued)
      .where('expires_at', '<=', now);
    if (deviceId !== undefined) q = q.where('device_id', '=', deviceId);
    const rows = await q.returning('id').execute();
    return rows.map((r) => Number(r.id));
  }

  async claim(deviceId: string, sessionId: string, options: ClaimOptions): Promise<readonly CommandRecord[]> {
    const limit = Math.floor(options.limit);
    if (!(limit > 0)) return [];
    const now = this.#ctx.now();
    if (this.#ctx.backend === 'sqlite') {
      // SQLite: pick by index, then take exactly those still queued (the `state` re-check makes it
      // exact against another process claiming in between). Most sessions find nothing queued and
      // stop after the cheap pick (nothing queued: nothing to expire either); the one-statement
      // CTE below costs several times more here.
      let picked = (await this.#q.pick(this.#ctx.db, { deviceId, limit })).rows;
      if (picked.length === 0) return [];
      // Expire stale ones first when the pick holds any (usually none: no statement for it).
      if (picked.some((r) => r.expires_at !== null && Number(r.expires_at) <= now)) {
        const expired = await this.#expire(this.#ctx.db, now, deviceId);
        this.#emit(expired);
        if (expired.length > 0) picked = (await this.#q.pick(this.#ctx.db, { deviceId, limit })).rows;
        if (picked.length === 0) return [];
      }
      if (picked.length === 1) {
        const one = (
          await this.#q.takeOne(this.#ctx.db, {
            sessionId,
            leaseUntil: options.leaseUntil,
            now,
            id: picked[0]!.id,
          })
        ).rows;
        return one.map((r) => toRecord(r, this.#ctx.box));
      }
      const taken = await this.#ctx.db
        .updateTable('omadm_command')
        .set((eb) => ({
          state: CommandState.Claimed,
          session_id: sessionId,
          lease_until: options.leaseUntil,
          attempts: eb('attempts', '+', 1),
          updated_at: now,
        }))
        .where(
          'id',
          'in',
          picked.map((r) => r.id),
        )
        .where('state', '=', CommandState.Queued)
        .returningAll()
        .execute();
      return taken.sort((a, b) => Number(a.id) - Number(b.id)).map((r) => toRecord(r, this.#ctx.box));
    }
    const expired = await this.#expire(this.#ctx.db, now, deviceId);
    // One statement: pick and take in the same atomic UPDATE. On PostgreSQL the picking CTE locks
    // its rows and skips rows locked by a concurrent claimer (SKIP LOCKED); on SQLite statements
    // are serialized by the write lock. The outer `state = 'queued'` re-check makes it exact.
    // MATERIALIZED matters: as a plain `id IN (SELECT … LIMIT n FOR UPDATE)` PostgreSQL may plan a
    // semi-join that re-runs the sub-select per row and ignores the LIMIT (it took all 20 of 20).
    const rows = await this.#ctx.db
      .with(
        (cte) => cte('picked').materialized(),
        (db) => {
          let pick = db
            .selectFrom('omadm_command')
            .select('id')
            .where('device_id', '=', deviceId)
            .where('state', '=', CommandState.Queued)
            .orderBy('id')
            .limit(limit);
          if (this.#ctx.backend === 'postgres') pick = pick.forUpdate().skipLocked();
          return pick;
        },
      )
      .updateTable('omadm_command')
      .set((eb) => ({
        state: CommandState.Claimed,
        session_id: sessionId,
        lease_until: options.leaseUntil,
        attempts: eb('attempts', '+', 1),
        updated_at: now,
      }))
      // device_id too: without it SQLite's planner walks every queued command of the fleet
      // (index on state) instead of this device's few (index on device_id, state, id).
      .where('device_id', '=', deviceId)
      .where('id', 'in', (eb) => eb.selectFrom('picked').select('picked.id'))
      .where('state', '=', CommandState.Queued)
      .returningAll()
      .execute();
    this.#emit(expired);
    return rows.sort((a, b) => Number(a.id) - Number(b.id)).map((r) => toRecord(r, this.#ctx.box));
  }

  async renewLease(deviceId: string, sessionId: string, leaseUntil: number): Promise<number> {
    const r = await this.#q.renew(this.#ctx.db, { leaseUntil, deviceId, sessionId });
    return Number(r.numAffectedRows ?? 0n);
  }

  async markSent(id: number, sessionId: string, ref: SentRef): Promise<CommandRecord> {
    if (!Number.isInteger(ref.msgId) || typeof ref.cmdId !== 'string' || ref.cmdId === '') {
      throw new StoreError(StoreErrorCode.InvalidInput, 'markSent needs an integer msgId and a cmdId');
    }
    const now = this.#ctx.now();
    const row = (
      await this.#q.markSent(this.#ctx.db, { msgId: ref.msgId, cmdId: ref.cmdId, now, id, sessionId })
    ).rows[0];
    if (!row) {
      const current = await this.#mustRow(this.#ctx.db, id);
      throw new StoreError(
        StoreErrorCode.InvalidState,
        `command ${id} is ${current.state}${current.session_id ? ` (session ${current.session_id})` : ''}, not claimed by session ${sessionId}: do not send it`,
      );
    }
    this.#emit([id], false);
    return toRecord(row);
  }

  async release(id: number, sessionId: string): Promise<CommandRecord> {
    const now = this.#ctx.now();
    const row = await this.#ctx.db
      .updateTable('omadm_command')
      .set({ state: CommandState.Queued, session_id: null, lease_until: null, updated_at: now })
      .where('id', '=', id)
      .where('state', '=', CommandState.Claimed)
      .where('session_id', '=', sessionId)
      .returningAll()
      .executeTakeFirst();
    if (!row) {
      const current = await this.#mustRow(this.#ctx.db, id);
      throw new StoreError(
        StoreErrorCode.InvalidState,
        `command ${id} is ${current.state}, not claimed by ${sessionId}`,
      );
    }
    return toRecord(row);
  }

  async reject(
    id: number,
    sessionId: string,
    outcome: CommandOutcome & { readonly reason?: string },
  ): Promise<CommandRecord> {
    checkOutcome(outcome);
    const now = this.#ctx.now();
    const detail: CommandDetail = {
      reason: outcome.reason ?? 'not sent: refused by the server before sending',
    };
    const row = await this.#ctx.db
      .updateTable('omadm_command')
      .set({
        state: CommandState.Failed,
        status: outcome.status,
        detail: JSON.stringify(detail),
        lease_until: null,
        updated_at: now,
        completed_at: now,
      })
      .where('id', '=', id)
      .where('state', '=', CommandState.Claimed)
      .where('session_id', '=', sessionId)
      .returningAll()
      .executeTakeFirst();
    if (!row) {
      const current = await this.#mustRow(this.#ctx.db, id);
      throw new StoreError(
        StoreErrorCode.InvalidState,
        `command ${id} is ${current.state}, not claimed by ${sessionId}`,
      );
    }
    this.#emit([id]);
    return toRecord(row);
  }

  async settle(id: number, outcome: CommandOutcome): Promise<CommandRecord> {
    checkOutcome(outcome);
    const now = this.#ctx.now();
    const row = await this.#ctx.db.transaction().execute(async (tx) => {
      const current = (await this.#q.current(tx, { id })).rows[0];
      if (!current) throw new StoreError(StoreErrorCode.NotFound, `command ${id} not found`);
      // `unknown` accepts a late Status: real information beats our conservative guess.
      if (current.state !== CommandState.Sent && current.state !== CommandState.Unknown) {
        throw new StoreError(StoreErrorCode.InvalidState, `command ${id} is ${current.state}, not sent`);
      }
      const command = toRecord(current).command;
      let verdict = judge(command, outcome);
      // Correlator rows exist only for commands that carry correlators (Exec, or inside Atomic/Sequence).
      const alerts = correlatorsOf(command).length ? await this.#alerts(tx, id) : [];
      if (verdict.state === CommandState.Pending) {
        // The Generic Alert may have been processed before this Status (same package, other order).
        verdict = afterAlerts(acceptedCorrelators(command, outcome.status, outcome.members), alerts);
      }
      const detail: CommandDetail = {
        ...(outcome.members ? { members: outcome.members } : {}),
        ...(alerts.length ? { alerts } : {}),
        ...(outcome.items?.length ? { items: outcome.items } : {}),
        ...(verdict.reason || outcome.reason ? { reason: verdict.reason ?? outcome.reason } : {}),
      };
      const results = outcome.results ?? collectResults(outcome.members);
      const final = verdict.state !== CommandState.Pending;
      const updated = (
        await this.#q.settle(tx, {
          state: verdict.state,
          status: outcome.status,
          results: results.length ? JSON.stringify(results) : null,
          detail: Object.keys(detail).length ? JSON.stringify(detail) : null,
          now,
          completedAt: final ? now : null,
          id,
        })
      ).rows[0];
      if (!updated) throw new StoreError(StoreErrorCode.NotFound, `command ${id} not found`);
      return updated;
    });
    this.#emit([id]);
    return toRecord(row);
  }

  async #alerts(tx: Tx, commandId: number): Promise<AlertRecord[]> {
    const rows = (await this.#q.correlators(tx, { id: commandId })).rows;
    return rows
      .filter((r) => r.resolved_at !== null)
      .map((r) => ({
        correlator: r.correlator,
        ...(r.status !== null ? { status: r.status } : {}),
        ...(r.data !== null ? { data: r.data } : {}),
        ...(r.alert_type != null ? { type: r.alert_type } : {}),
        ...(r.verdict != null ? { verdict: r.verdict as AlertVerdict } : {}),
      }));
  }

  async findSent(deviceId: string, sessionId: string, ref: SentRef): Promise<CommandRecord | undefined> {
    const r = await this.#ctx.db
      .selectFrom('omadm_command')
      .selectAll()
      .where('device_id', '=', deviceId)
      .where('session_id', '=', sessionId)
      .where('msg_id', '=', ref.msgId)
      .where('cmd_id', '=', ref.cmdId)
      .orderBy('id', 'desc')
      .executeTakeFirst();
    return r ? toRecord(r) : undefined;
  }

  async completeByCorrelator(
    deviceId: string,
    correlator: string,
    outcome: AlertOutcome,
  ): Promise<CommandRecord | undefined> {
    if (!outcome || (outcome.status !== undefined && !Number.isInteger(outcome.status))) {
      throw new StoreError(StoreErrorCode.InvalidInput, 'an alert outcome status must be an integer');
    }
    if (outcome.verdict !== undefined && !['success', 'failure', 'none'].includes(outcome.verdict)) {
      throw new StoreError(StoreErrorCode.InvalidInput, 'alert verdict must be success, failure or none');
    }
    const now = this.#ctx.now();
    const row = await this.#ctx.db.transaction().execute(async (tx) => {
      let sel = tx
        .selectFrom('omadm_correlator')
        .selectAll()
        .where('device_id', '=', deviceId)
        .where('correlator', '=', correlator);
      if (this.#ctx.backend === 'postgres') sel = sel.forUpdate();
      const c = await sel.executeTakeFirst();
      if (!c) return undefined;
      const commandId = Number(c.command_id);
      if (c.resolved_at !== null) return this.#row(tx, commandId);
      await tx
        .updateTable('omadm_correlator')
        .set({
          status: outcome.status ?? null,
          data: outcome.data ?? null,
          resolved_at: now,
          alert_type: outcome.type ?? null,
          verdict: outcome.verdict ?? null,
        })
        .where('device_id', '=', deviceId)
        .where('correlator', '=', correlator)
        .execute();
      let cs = tx.selectFrom('omadm_command').selectAll().where('id', '=', commandId);
      if (this.#ctx.backend === 'postgres') cs = cs.forUpdate();
      const current = await cs.executeTakeFirst();
      if (!current) return undefined;
      const alerts = await this.#alerts(tx, commandId);
      const detail = parseJson<CommandDetail>(current.detail, {});
      const nextDetail = JSON.stringify({ ...detail, alerts } satisfies CommandDetail);
      if (current.state !== CommandState.Pending) {
        // Alert before the 202 was settled (or after a cancel): keep it; `settle` takes it into account.
        return tx
          .updateTable('omadm_command')
          .set({ detail: nextDetail, updated_at: now })
          .where('id', '=', commandId)
          .returningAll()
          .executeTakeFirstOrThrow();
      }
      const accepted = acceptedCorrelators(toRecord(current).command, current.status, detail.members);
      const verdict = afterAlerts(accepted, alerts);
      const final = verdict.state !== CommandState.Pending;
      const judged = verdict.reason
        ? JSON.stringify({ ...detail, alerts, reason: verdict.reason } satisfies CommandDetail)
        : nextDetail;
      return tx
        .updateTable('omadm_command')
        .set({ state: verdict.state, detail: judged, updated_at: now, completed_at: final ? now : null })
        .where('id', '=', commandId)
        .returningAll()
        .executeTakeFirstOrThrow();
    });
    if (!row) return undefined;
    this.#emit([Number(row.id)]);
    return toRecord(row);
  }

  async cancel(id: number, reason = 'cancelled by operator'): Promise<CommandRecord> {
    const now = this.#ctx.now();
    const row = await this.#ctx.db
      .updateTable('omadm_command')
      .set({
        state: CommandState.Cancelled,
        updated_at: now,
        completed_at: now,
        detail: JSON.stringify({ reason } satisfies CommandDetail),
      })
      .where('id', '=', id)
      .where('state', 'in', [CommandState.Queued, CommandState.Pending])
      .returningAll()
      .executeTakeFirst();
    if (!row) {
      const current = await this.#mustRow(this.#ctx.db, id);
      throw new StoreError(
        StoreErrorCode.InvalidState,
        `command ${id} is ${current.state}: only queued or pending commands can be cancelled`,
      );
    }
    this.#emit([id]);
    return toRecord(row);
  }

  async requeue(id: number, options: EnqueueOptions = {}): Promise<CommandRecord> {
    const current = await this.#mustRow(this.#ctx.db, id);
    if (!FINAL_STATES.includes(current.state as CommandState)) {
      throw new StoreError(StoreErrorCode.InvalidState, `command ${id} is ${current.state}, not finished`);
    }
    // Fresh correlators: the old ones belong to the old command's alerts.
    // Secret values are opened here and sealed again (fresh IV) by enqueue.
    const command = openCommand(
      JSON.parse(current.command, (k, v) => (k === 'correlator' ? undefined : v)) as DmCommand,
      this.#ctx.box,
    );
    return this.enqueue(current.device_id, command, {
      ...(options.expiresAt !== undefined ? { expiresAt: options.expiresAt } : {}),
      createdBy: options.createdBy ?? current.created_by ?? undefined,
    } as EnqueueOptions);
  }

  /** Applies the dead-session rules to the selected claimed/sent rows. */
  async #reclaim(
    tx: Tx,
    now: number,
    where: { deviceId: string; sessionId: string } | { leaseBefore: number },
    reason: string,
  ): Promise<{ report: Omit<RecoveryReport, 'expired'>; ids: number[] }> {
    const report = (requeued: { id: unknown }[], resent: { id: unknown }[], unknown: { id: unknown }[]) => ({
      requeued: requeued.length,
      resent: resent.length,
      unknown: unknown.length,
      ids: {
        requeued: requeued.map((r) => Number(r.id)),
        resent: resent.map((r) => Number(r.id)),
        unknown: unknown.map((r) => Number(r.id)),
        expired: [],
      },
    });
    if (!('leaseBefore' in where)) {
      // One session's end (every DM session): the same rules as prepared statements.
      const params = {
        ...where,
        now,
        detail: JSON.stringify({ reason } satisfies CommandDetail),
      };
      const requeued = (await this.#q.requeueClaimed(tx, params)).rows;
      const resent = (await this.#q.resendSent(tx, params)).rows;
      const unknown = (await this.#q.unknownSent(tx, params)).rows;
      return {
        report: report(requeued, resent, unknown),
        ids: [...requeued, ...resent, ...unknown].map((r) => Number(r.id)),
      };
    }
    const leaseBefore = where.leaseBefore;
    const base = (state: CommandState) =>
      tx.updateTable('omadm_command').where('state', '=', state).where('lease_until', '<', leaseBefore);
    const requeued = await base(CommandState.Claimed)
      .set({ state: CommandState.Queued, session_id: null, lease_until: null, updated_at: now })
      .returning('id')
      .execute();
    const resent = await base(CommandState.Sent)
      .where('destructive', '=', 0)
      .set({
        state: CommandState.Queued,
        session_id: null,
        lease_until: null,
        msg_id: null,
        cmd_id: null,
        sent_at: null,
        updated_at: now,
      })
      .returning('id')
      .execute();
    const unknown = await base(CommandState.Sent)
      .where('destructive', '=', 1)
      .set({
        state: CommandState.Unknown,
        lease_until: null,
        updated_at: now,
        completed_at: now,
        detail: JSON.stringify({ reason } satisfies CommandDetail),
      })
      .returning('id')
      .execute();
    return {
      report: report(requeued, resent, unknown),
      ids: [...requeued, ...resent, ...unknown].map((r) => Number(r.id)),
    };
  }

  async releaseSession(deviceId: string, sessionId: string, reason?: string): Promise<RecoveryReport> {
    const now = this.#ctx.now();
    // Most sessions end holding nothing (heartbeats, or every command answered): one read.
    const holds = (await this.#q.holds(this.#ctx.db, { deviceId, sessionId })).rows;
    if (holds.length === 0) return { requeued: 0, resent: 0, unknown: 0, expired: 0 };
    const { report, ids } = await this.#ctx.db
      .transaction()
      .execute((tx) =>
        this.#reclaim(
          tx,
          now,
          { deviceId, sessionId },
          reason ?? `session ${sessionId} ended before the device returned a Status`,
        ),
      );
    this.#emit(ids);
    return { ...report, expired: 0 };
  }

  async recover(now = this.#ctx.now()): Promise<RecoveryReport> {
    const { report, ids, expired } = await this.#ctx.db.transaction().execute(async (tx) => {
      const r = await this.#reclaim(
        tx,
        now,
        { leaseBefore: now },
        'the session holding it died after it was sent (no Status received)',
      );
      const expired = await this.#expire(tx, now);
      return { ...r, expired };
    });
    this.#emit([...ids, ...expired]);
    return {
      ...report,
      expired: expired.length,
      ids: { ...(report.ids ?? { requeued: [], resent: [], unknown: [] }), expired },
    };
  }

  async waitFor(
    id: number,
    options: {
      readonly timeoutMs?: number;
      readonly until?: 'settled' | 'final';
      readonly signal?: AbortSignal;
    } = {},
  ): Promise<CommandRecord | undefined> {
    const done = options.until === 'final' ? FINAL_STATES : SETTLED_STATES;
    const deadline = Date.now() + Math.max(0, options.timeoutMs ?? 30_000);
    const event = `command:${id}`;
    void this.#ctx.remote?.subscribe();
    let delay = 25;
    for (;;) {
      const r = await this.get(id);
      if (!r || done.includes(r.state)) return r;
      const left = deadline - Date.now();
      if (left <= 0 || options.signal?.aborted) return r;
      // Wake on an in-process event or after the backoff (changes made by other processes).
      const ac = new AbortController();
      const onAbort = () => ac.abort();
      options.signal?.addEventListener('abort', onAbort, { once: true });
      this.#ctx.events.once(event, onAbort);
      await sleep(Math.min(delay, left), ac.signal);
      this.#ctx.events.off(event, onAbort);
      options.signal?.removeEventListener('abort', onAbort);
      delay = Math.min(delay * 2, 500);
    }
  }

  async purgeFinished(completedBefore: number): Promise<number> {
    return this.#ctx.db.transaction().execute(async (tx) => {
      const old = (eb: ExpressionBuilder<Database, 'omadm_command'>) =>
        eb.and([eb('state', 'in', [...FINAL_STATES]), eb('completed_at', '<', completedBefore)]);
      // Correlators first: SQLite enforces the foreign key, PostgreSQL would cascade anyway.
      await tx
        .deleteFrom('omadm_correlator')
        .where('command_id', 'in', (eb) => eb.selectFrom('omadm_command').select('id').where(old))
        .execute();
      const r = await tx.deleteFrom('omadm_command').where(old).executeTakeFirst();
      return Number(r.numDeletedRows);
    });
  }

  async oldestQueuedAt(): Promise<number | undefined> {
    const row = await this.#ctx.db
      .selectFrom('omadm_command')
      .select(({ fn }) => fn.min('created_at').as('at'))
      .where('state', '=', CommandState.Queued)
      .executeTakeFirst();
    return row?.at === null || row?.at === undefined ? undefined : Number(row.at);
  }

  async counts(deviceId?: string): Promise<Readonly<Partial<Record<CommandState, number>>>> {
    let q = this.#ctx.db
      .selectFrom('omadm_command')
      .select(({ fn }) => ['state', fn.countAll<number | string>().as('n')])
      .groupBy('state');
    if (deviceId !== undefined) q = q.where('device_id', '=', deviceId);
    const rows = await q.execute();
    const out: Partial<Record<CommandState, number>> = {};
    for (const r of rows) out[r.state as CommandState] = Number(r.n);
    return out;
  }
}

/** PostgreSQL 23503, SQLite SQLITE_CONSTRAINT_FOREIGNKEY (787). */
function isForeignKeyViolation(e: unknown): boolean {
  const err = e as { code?: unknown; errcode?: unknown };
  return err.code === '23503' || err.errcode === 787;
}

function collectResults(members: readonly MemberOutcome[] | undefined): ResultItem[] {
  return (members ?? []).flatMap((m) => m.results ?? []);
}

/** Correlators of the Execs the device answered with 202 (each then waits for its Generic Alert). */
function acceptedCorrelators(
  command: DmCommand,
  status: number | null,
  members: readonly MemberOutcome[] | undefined,
): string[] {
  if (command.kind === 'Exec') return status === 202 && command.correlator ? [command.correlator] : [];
  if (command.kind === 'Sequence' && members) {
    const out: string[] = [];
    command.commands.forEach((c, i) => {
      if (c.kind === 'Exec' && members[i]?.status === 202 && c.correlator) out.push(c.correlator);
    });
    return out;
  }
  return [];
}

/**
 * A pending command stays pending until every accepted Exec's alert arrived; any alert reporting
 * a failure makes it failed (a failed update never shows as success).
 */
function afterAlerts(accepted: readonly string[], alerts: readonly AlertRecord[]): Verdict {
  const got = alerts.filter((a) => accepted.includes(a.correlator));
  // Judged by the alert type's table (dm-adapters); rows from before it by the status as a DM status.
  const verdictOf = (a: AlertRecord) =>
    a.verdict ?? (a.status !== undefined && isSuccessStatus(a.status) ? 'success' : 'failure');
  if (got.some((a) => verdictOf(a) === 'failure')) return { state: CommandState.Failed };
  if (got.length < accepted.length) return { state: CommandState.Pending };
  const unjudged = got.find((a) => verdictOf(a) === 'none');
  if (unjudged) {
    return {
      state: CommandState.Unknown,
      reason: `Generic Alert ${unjudged.type ?? 'without a type'} has no result table: ${
        unjudged.status === undefined ? 'no result code' : `result code ${unjudged.status}`
      } kept as sent`,
    };
  }
  return { state: CommandState.Succeeded };
}
