/**
 * NotificationStore over Kysely: one `omadm_notify_state` row per device (the outstanding Package 0
 * and when its next attempt is due) and the `omadm_notify_attempt` log. Each transition is a single
 * conditional INSERT/UPDATE … RETURNING, so of several server processes exactly one wins a begin
 * or a due retry.
 */
import type { Selectable } from 'kysely';
import type { StoreContext } from './context.ts';
import { StoreError, StoreErrorCode } from './errors.ts';
import type { NotifyAttemptTable, NotifyStateTable } from './schema.ts';
import type {
  NotificationAttempt,
  NotificationAttemptInput,
  NotificationState,
  NotificationStore,
} from './types.ts';

function toState(r: Selectable<NotifyStateTable>): NotificationState {
  return Object.freeze({
    deviceId: r.device_id,
    sessionId: r.session_id,
    uiMode: r.ui_mode,
    actor: r.actor,
    outstanding: Number(r.outstanding) === 1,
    attempts: Number(r.attempts),
    firstAt: Number(r.first_at),
    lastAt: r.last_at === null ? null : Number(r.last_at),
    nextAt: r.next_at === null ? null : Number(r.next_at),
  });
}

function toAttempt(r: Selectable<NotifyAttemptTable>): NotificationAttempt {
  return Object.freeze({
    id: String(r.id),
    deviceId: r.device_id,
    at: Number(r.at),
    bearer: r.bearer,
    target: r.target,
    sessionId: r.session_id,
    uiMode: r.ui_mode,
    attempt: Number(r.attempt),
    trigger: r.trigger,
    actor: r.actor,
    result: r.result as NotificationAttempt['result'],
    status: r.status,
    detail: r.detail,
    parts: Number(r.parts),
    ids: Object.freeze(JSON.parse(r.ids) as string[]),
  });
}

export class SqlNotificationStore implements NotificationStore {
  readonly #ctx: StoreContext;
  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
  }

  async get(deviceId: string): Promise<NotificationState | null> {
    const r = await this.#ctx.db
      .selectFrom('omadm_notify_state')
      .selectAll()
      .where('device_id', '=', deviceId)
      .executeTakeFirst();
    return r ? toState(r) : null;
  }

  async begin(input: {
    readonly deviceId: string;
    readonly sessionId: string;
    readonly uiMode: string;
    readonly actor?: string | null;
    readonly now: number;
    readonly minIntervalMs: number;
    readonly nextAt?: number | null;
    readonly force?: boolean;
  }): Promise<NotificationState | null> {
    const row = {
      device_id: input.deviceId,
      session_id: input.sessionId,
      ui_mode: input.uiMode,
      actor: input.actor ?? null,
      outstanding: 1,
      attempts: 0,
      first_at: input.now,
      last_at: null,
      next_at: input.nextAt ?? null,
    };
    const db = this.#ctx.db;
    try {
      const inserted = await db
        .insertInto('omadm_notify_state')
        .values(row)
        .onConflict((oc) => oc.column('device_id').doNothing())
        .returningAll()
        .executeTakeFirst();
      if (inserted) return toState(inserted);
    } catch (e) {
      // The device row is gone (foreign key): nothing to notify.
      throw new StoreError(StoreErrorCode.NotFound, `no device ${input.deviceId}`, { cause: e });
    }
    const cutoff = input.now - input.minIntervalMs;
    if (input.force) {
      // An explicit request: a new attempt now; an outstanding notification keeps its SessionID so
      // the device still opens a single session.
      const r = await db
        .updateTable('omadm_notify_state')
        .set((eb) => ({
          session_id: eb
            .case()
            .when('outstanding', '=', 1)
            .then(eb.ref('session_id'))
            .else(input.sessionId)
            .end(),
          ui_mode: input.uiMode,
          actor: input.actor ?? null,
          attempts: eb.case().when('outstanding', '=', 1).then(eb.ref('attempts')).else(0).end(),
          first_at: eb.case().when('outstanding', '=', 1).then(eb.ref('first_at')).else(input.now).end(),
          outstanding: 1,
          next_at: input.nextAt ?? null,
        }))
        .where('device_id', '=', input.deviceId)
        .returningAll()
        .executeTakeFirst();
      return r ? toState(r) : null;
    }
    const r = await db
      .updateTable('omadm_notify_state')
      .set({ ...row })
      .where('device_id', '=', input.deviceId)
      .where('outstanding', '=', 0)
      .where((eb) => eb.or([eb('last_at', 'is', null), eb('last_at', '<=', cutoff)]))
      .returningAll()
      .executeTakeFirst();
    return r ? toState(r) : null;
  }

  async claimDue(now: number, leaseUntil: number, limit: number): Promise<readonly NotificationState[]> {
    const due = await this.#ctx.db
      .selectFrom('omadm_notify_state')
      .selectAll()
      .where('next_at', '<=', now)
      .orderBy('next_at')
      .limit(limit)
      .execute();
    const out: NotificationState[] = [];
    for (const d of due) {
      // Only the process whose update still sees the same due time takes it.
      const r = await this.#ctx.db
        .updateTable('omadm_notify_state')
        .set({ next_at: leaseUntil })
        .where('device_id', '=', d.device_id)
        .where('session_id', '=', d.session_id)
        .where('next_at', '=', d.next_at)
        .returningAll()
        .executeTakeFirst();
      if (r) out.push({ ...toState(r), nextAt: d.next_at === null ? null : Number(d.next_at) });
    }
    return out;
  }

  async sent(deviceId: string, sessionId: string, now: number, nextAt: number | null): Promise<void> {
    await this.#ctx.db
      .updateTable('omadm_notify_state')
      .set((eb) => ({ attempts: eb('attempts', '+', 1), last_at: now, next_at: nextAt }))
      .where('device_id', '=', deviceId)
      .where('session_id', '=', sessionId)
      .where('outstanding', '=', 1)
      .execute();
  }

  async defer(deviceId: string, sessionId: string, nextAt: number): Promise<void> {
    await this.#ctx.db
      .updateTable('omadm_notify_state')
      .set({ next_at: nextAt })
      .where('device_id', '=', deviceId)
      .where('session_id', '=', sessionId)
      .where('outstanding', '=', 1)
      .execute();
  }

  async finish(
    deviceId: string,
    sessionId: string,
    options: { readonly answered?: boolean } = {},
  ): Promise<void> {
    await this.#ctx.db
      .updateTable('omadm_notify_state')
      .set({ outstanding: 0, next_at: null, ...(options.answered ? { last_at: null } : {}) })
      .where('device_id', '=', deviceId)
      .where('session_id', '=', sessionId)
      .execute();
  }

  async record(a: NotificationAttemptInput): Promise<NotificationAttempt> {
    const r = await this.#ctx.db
      .insertInto('omadm_notify_attempt')
      .values({
        device_id: a.deviceId,
        at: a.at,
        bearer: a.bearer,
        target: a.target,
        session_id: a.sessionId,
        ui_mode: a.uiMode,
        attempt: a.attempt,
        trigger: a.trigger,
        actor: a.actor,
        result: a.result,
        status: a.status,
        detail: a.detail === null ? null : a.detail.slice(0, 1000),
        parts: a.parts,
        ids: JSON.stringify(a.ids),
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toAttempt(r);
  }

  async attempts(
    deviceId: string,
    options: { readonly limit?: number; readonly before?: string } = {},
  ): Promise<readonly NotificationAttempt[]> {
    const limit = Math.min(Math.max(1, Math.floor(options.limit ?? 50)), 500);
    let q = this.#ctx.db
      .selectFrom('omadm_notify_attempt')
      .selectAll()
      .where('device_id', '=', deviceId)
      .orderBy('id', 'desc')
      .limit(limit);
    if (options.before !== undefined) {
      const before = Number(options.before);
      if (!Number.isSafeInteger(before)) throw new StoreError(StoreErrorCode.InvalidInput, 'bad cursor');
      q = q.where('id', '<', before);
    }
    return (await q.execute()).map(toAttempt);
  }

  async prune(before: number): Promise<number> {
    const r = await this.#ctx.db
      .deleteFrom('omadm_notify_attempt')
      .where('at', '<', before)
      .executeTakeFirst();
    return Number(r.numDeletedRows ?? 0n);
  }
}
