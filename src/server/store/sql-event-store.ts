/**
 * EventStore over Kysely: the alerts devices send on their own, newest first per device, bounded
 * by count per device and by age. A device's events are pruned inline every `pruneEvery` of its
 * appends (per process); the sweep drops old events of all devices.
 */
import type { Selectable } from 'kysely';
import { clampLimit, decodeCursor, encodeCursor, type StoreContext } from './context.ts';
import { StoreError, StoreErrorCode } from './errors.ts';
import type { DeviceEventTable } from './schema.ts';
import type { DeviceEvent, DeviceEventInput, EventRetention, EventStore, Page } from './types.ts';

/** Largest Data kept per event (a device's alert is small; anything bigger is hostile or a bug). */
export const MAX_EVENT_DATA = 64 * 1024;
const MAX_FIELD = 2048;

function toEvent(r: Selectable<DeviceEventTable>): DeviceEvent {
  return Object.freeze({
    id: Number(r.id),
    deviceId: r.device_id,
    at: Number(r.at),
    alertCode: Number(r.alert_code),
    alertType: r.alert_type,
    format: r.format,
    mark: r.mark,
    sourceUri: r.source_uri,
    targetUri: r.target_uri,
    correlator: r.correlator,
    data: r.data,
    sessionId: r.session_id,
  });
}

function field(v: string | null, what: string, max = MAX_FIELD): string | null {
  if (v === null) return null;
  if (typeof v !== 'string') throw new StoreError(StoreErrorCode.InvalidInput, `${what} must be a string`);
  if (v.length > max) throw new StoreError(StoreErrorCode.InvalidInput, `${what} is longer than ${max}`);
  return v;
}

export class SqlEventStore implements EventStore {
  readonly #ctx: StoreContext;
  readonly #retention: EventRetention;
  readonly #pruneEvery: number;
  readonly #appends = new Map<string, number>();

  constructor(ctx: StoreContext, retention: EventRetention, pruneEvery = 64) {
    this.#ctx = ctx;
    this.#retention = retention;
    this.#pruneEvery = pruneEvery;
  }

  async append(events: readonly DeviceEventInput[]): Promise<readonly DeviceEvent[]> {
    if (events.length === 0) return [];
    const rows = events.map((e) => {
      if (typeof e.deviceId !== 'string' || e.deviceId === '')
        throw new StoreError(StoreErrorCode.InvalidInput, 'deviceId must be a non-empty string');
      if (!Number.isInteger(e.alertCode))
        throw new StoreError(StoreErrorCode.InvalidInput, 'alertCode must be an integer');
      if (!Number.isFinite(e.at))
        throw new StoreError(StoreErrorCode.InvalidInput, 'at must be a time in ms');
      return {
        device_id: e.deviceId,
        at: e.at,
        alert_code: e.alertCode,
        alert_type: field(e.alertType, 'alertType'),
        format: field(e.format, 'format'),
        mark: field(e.mark, 'mark'),
        source_uri: field(e.sourceUri, 'sourceUri'),
        target_uri: field(e.targetUri, 'targetUri'),
        correlator: field(e.correlator, 'correlator'),
        data: field(e.data, 'data', MAX_EVENT_DATA),
        session_id: field(e.sessionId, 'sessionId'),
      };
    });
    const inserted = await this.#ctx.db
      .insertInto('omadm_device_event')
      .values(rows)
      .returningAll()
      .execute();
    // RETURNING order is not guaranteed; ids increase in insertion order.
    const out = inserted.map(toEvent).sort((a, b) => a.id - b.id);
    const counts = new Map<string, number>();
    for (const e of events) counts.set(e.deviceId, (counts.get(e.deviceId) ?? 0) + 1);
    for (const [deviceId, added] of counts) {
      const n = (this.#appends.get(deviceId) ?? 0) + added;
      if (n >= this.#pruneEvery) {
        this.#appends.delete(deviceId);
        await this.prune(deviceId, events[events.length - 1]!.at);
      } else {
        if (this.#appends.size >= 10_000) this.#appends.clear();
        this.#appends.set(deviceId, n);
      }
    }
    return out;
  }

  async list(
    deviceId: string,
    query: {
      readonly alertType?: string;
      readonly correlator?: string;
      readonly since?: number;
      readonly limit?: number;
      readonly cursor?: string;
    } = {},
  ): Promise<Page<DeviceEvent>> {
    const limit = clampLimit(query.limit);
    const before = decodeCursor<number>(query.cursor, 'number');
    let q = this.#ctx.db.selectFrom('omadm_device_event').selectAll().where('device_id', '=', deviceId);
    if (query.alertType !== undefined) q = q.where('alert_type', '=', query.alertType);
    if (query.correlator !== undefined) q = q.where('correlator', '=', query.correlator);
    if (query.since !== undefined) q = q.where('at', '>=', query.since);
    if (before !== undefined) q = q.where('id', '<', before);
    const rows = await q
      .orderBy('id', 'desc')
      .limit(limit + 1)
      .execute();
    const more = rows.length > limit;
    const items = (more ? rows.slice(0, limit) : rows).map(toEvent);
    return more ? { items, nextCursor: encodeCursor(items[items.length - 1]!.id) } : { items };
  }

  async prune(deviceId?: string, now = this.#ctx.now()): Promise<number> {
    const { maxPerDevice, maxAgeMs } = this.#retention;
    const db = this.#ctx.db;
    let age = db.deleteFrom('omadm_device_event').where('at', '<', now - maxAgeMs);
    if (deviceId !== undefined) age = age.where('device_id', '=', deviceId);
    let dropped = Number((await age.executeTakeFirst()).numDeletedRows);
    const devices =
      deviceId !== undefined
        ? [deviceId]
        : (
            await db
              .selectFrom('omadm_device_event')
              .select('device_id')
              .groupBy('device_id')
              .having((eb) => eb.fn.countAll(), '>', maxPerDevice)
              .execute()
          ).map((r) => r.device_id);
    for (const d of devices) {
      const cut = await db
        .selectFrom('omadm_device_event')
        .select('id')
        .where('device_id', '=', d)
        .orderBy('id', 'desc')
        .offset(maxPerDevice)
        .limit(1)
        .executeTakeFirst();
      if (!cut) continue;
      const r = await db
        .deleteFrom('omadm_device_event')
        .where('device_id', '=', d)
        .where('id', '<=', Number(cut.id))
        .executeTakeFirst();
      dropped += Number(r.numDeletedRows);
    }
    return dropped;
  }
}
