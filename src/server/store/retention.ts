/**
 * Retention: a list of table rules and one pruner that applies them in small batches, off the DM
 * path (the maintenance sweep runs it). Every rule deletes the oldest rows first:
 *
 * - `maxAgeMs`: rows whose time column is older (by the time index, a batch at a time);
 * - `perDevice`: at most `max` rows — or `max` sessions, when `session` names the column that
 *   groups rows into sessions — per device. Writers report the rows they add (`noteWrite`); a
 *   device is pruned once it has added `slack` rows since its last prune, so a busy fleet costs one
 *   prune per device per `slack` rows instead of one per write. A slow pass walks every device in
 *   key order now and then (a restart forgets the counts; a lowered bound applies to everyone);
 * - `maxBytes`: the rows' `size` column summed over the table; the slow pass walks the table in id
 *   order in chunks, then deletes the oldest rows until the total fits.
 *
 * No statement touches more than `batchSize` rows or one device's index range, and the pruner
 * yields to the event loop between statements, so a DM message waits for at most one batch (on
 * SQLite, where one connection serves everyone). Any module may add its table with `addRule`.
 */
import { type Kysely, sql } from 'kysely';
import type { Database } from './schema.ts';

/** How one table is bounded. The table needs an increasing integer `id` (insertion order). */
export interface RetentionRule {
  /** Name in reports and metrics (`omadm_store_rows_pruned_total{table}`). */
  readonly name: string;
  readonly table: string;
  /** Column with the row's time in ms since the epoch (indexed). */
  readonly timeColumn: string;
  /** Rows older than this go. */
  readonly maxAgeMs?: number;
  /**
   * Only rows matching this (constant SQL) are ever deleted, e.g. finished commands. Applies to
   * the age bound; rules with `eligible` take no per-device or size bound.
   */
  readonly eligible?: string;
  readonly perDevice?: {
    /** Column holding the device id (indexed together with `id`). */
    readonly column: string;
    /** Rows (or sessions) kept per device. */
    readonly max: number;
    /** Count distinct values of this column (sessions) instead of rows. */
    readonly session?: string;
    /** Rows a device may add before it is pruned again (default max(8, max / 10)). */
    readonly slack?: number;
  };
  /** Total of the `size` column the table may hold; the oldest rows beyond it go. */
  readonly maxBytes?: { readonly sizeColumn: string; readonly max: number };
}

export interface PrunerOptions {
  /** Rows per DELETE (default 500). */
  readonly batchSize?: number;
  /** How often the slow pass (every device, table totals) starts again (default 10 minutes). */
  readonly slowPassEveryMs?: number;
  /** Devices remembered per rule between prunes (default 20,000; more wait for the slow pass). */
  readonly maxTrackedDevices?: number;
}

/** Rows deleted, by rule name. */
export type PruneReport = Record<string, number>;

interface RuleState {
  readonly rule: RetentionRule;
  /** Rows added per device since its last prune. */
  readonly written: Map<string, number>;
  /** Devices past their slack, waiting for the next run. */
  readonly due: Set<string>;
  /** Slow pass: the last device visited (undefined: not running), and whether it finished. */
  deviceCursor?: string | undefined;
  devicePassDone: boolean;
  /** Slow pass over sizes: last id summed, running total, and chunk ends with their cumulative sums. */
  sizeCursor?: number | undefined;
  sizeTotal: number;
  sizeChunks: { last: number; cum: number }[];
  sizePassDone: boolean;
  /** Size pass result: delete rows with id ≤ this (then cleared). */
  sizeCut?: number | undefined;
}

const yieldNow = () => new Promise<void>((resolve) => setImmediate(resolve));

/** The generic pruner (see the module doc). */
export class Pruner {
  readonly #db: Kysely<Database>;
  readonly #rules = new Map<string, RuleState>();
  readonly #batch: number;
  readonly #slowEvery: number;
  readonly #maxTracked: number;
  #lastSlowPass = Number.NEGATIVE_INFINITY;
  #running: Promise<PruneReport> | undefined;

  constructor(db: Kysely<Database>, rules: readonly RetentionRule[], options: PrunerOptions = {}) {
    this.#db = db;
    this.#batch = Math.max(1, Math.floor(options.batchSize ?? 500));
    this.#slowEvery = options.slowPassEveryMs ?? 600_000;
    this.#maxTracked = options.maxTrackedDevices ?? 20_000;
    for (const r of rules) this.addRule(r);
  }

  /** Adds (or replaces) a table's rule. */
  addRule(rule: RetentionRule): void {
    this.#rules.set(rule.name, {
      rule,
      written: new Map(),
      due: new Set(),
      devicePassDone: true,
      sizeTotal: 0,
      sizeChunks: [],
      sizePassDone: true,
    });
  }

  rules(): readonly RetentionRule[] {
    return [...this.#rules.values()].map((s) => s.rule);
  }

  rule(name: string): RetentionRule | undefined {
    return this.#rules.get(name)?.rule;
  }

  /** A writer added `rows` rows for `deviceId` under rule `name` (cheap; no I/O). */
  noteWrite(name: string, deviceId: string, rows = 1): void {
    const s = this.#rules.get(name);
    const per = s?.rule.perDevice;
    if (!s || !per) return;
    const slack = per.slack ?? Math.max(8, Math.ceil(per.max / 10));
    const n = (s.written.get(deviceId) ?? 0) + rows;
    if (n >= slack) {
      s.written.delete(deviceId);
      if (s.due.size < this.#maxTracked) s.due.add(deviceId);
    } else if (s.written.has(deviceId) || s.written.size < this.#maxTracked) {
      s.written.set(deviceId, n);
    }
  }

  /** Entries held in memory (written counts and due devices, all rules): the pruner's only cache. */
  trackedDevices(): number {
    let n = 0;
    for (const s of this.#rules.values()) n += s.written.size + s.due.size;
    return n;
  }

  /**
   * One pass: every rule's age bound, the devices past their slack, and a share of the slow pass,
   * until done or `budgetMs` is spent (the rest waits for the next run). Concurrent calls share
   * the running pass.
   */
  run(
    now: number,
    options: { readonly budgetMs?: number; readonly full?: boolean } = {},
  ): Promise<PruneReport> {
    if (this.#running) return this.#running;
    this.#running = this.#run(now, options).finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  /** Applies one rule at once to one device, or to every device and the whole table (tests, CLI). */
  async pruneNow(name: string, now: number, deviceId?: string): Promise<number> {
    const s = this.#rules.get(name);
    if (!s) return 0;
    let n = await this.#age(s, now, Number.POSITIVE_INFINITY, deviceId);
    if (deviceId !== undefined) return n + (await this.#device(s, deviceId));
    s.deviceCursor = undefined;
    s.devicePassDone = false;
    s.sizeCursor = undefined;
    s.sizePassDone = false;
    s.sizeChunks = [];
    s.sizeTotal = 0;
    while (!(s.devicePassDone && s.sizePassDone) || s.sizeCut !== undefined)
      n += await this.#slowStep(s, Number.POSITIVE_INFINITY);
    return n;
  }

  async #run(
    now: number,
    options: { readonly budgetMs?: number; readonly full?: boolean },
  ): Promise<PruneReport> {
    const deadline = options.full ? Number.POSITIVE_INFINITY : Date.now() + (options.budgetMs ?? 2000);
    const report: PruneReport = {};
    const add = (name: string, n: number) => {
      if (n) report[name] = (report[name] ?? 0) + n;
    };
    if (now - this.#lastSlowPass >= this.#slowEvery || options.full) {
      this.#lastSlowPass = now;
      for (const s of this.#rules.values()) {
        if (s.rule.perDevice && s.rule.eligible === undefined && s.devicePassDone) {
          s.devicePassDone = false;
          s.deviceCursor = undefined;
        }
        if (s.rule.maxBytes && s.rule.eligible === undefined && s.sizePassDone) {
          s.sizePassDone = false;
          s.sizeCursor = undefined;
          s.sizeChunks = [];
          s.sizeTotal = 0;
        }
      }
    }
    for (const s of this.#rules.values()) add(s.rule.name, await this.#age(s, now, deadline));
    for (const s of this.#rules.values()) {
      for (const deviceId of s.due) {
        if (Date.now() >= deadline) break;
        s.due.delete(deviceId);
        add(s.rule.name, await this.#device(s, deviceId));
      }
    }
    for (const s of this.#rules.values()) {
      while (Date.now() < deadline && (!(s.devicePassDone && s.sizePassDone) || s.sizeCut !== undefined)) {
        add(s.rule.name, await this.#slowStep(s, deadline));
      }
    }
    return report;
  }

  /** Deletes rows older than the rule's age, a batch per statement. */
  async #age(s: RuleState, now: number, deadline: number, deviceId?: string): Promise<number> {
    const { rule } = s;
    if (rule.maxAgeMs === undefined) return 0;
    const t = sql.table(rule.table);
    const time = sql.ref(rule.timeColumn);
    const extra = rule.eligible ? sql` and (${sql.raw(rule.eligible)})` : sql``;
    const dev =
      deviceId !== undefined && rule.perDevice
        ? sql` and ${sql.ref(rule.perDevice.column)} = ${deviceId}`
        : sql``;
    const cut = now - rule.maxAgeMs;
    let total = 0;
    for (;;) {
      const r =
        await sql`delete from ${t} where id in (select id from ${t} where ${time} < ${cut}${extra}${dev} order by ${time} limit ${this.#batch})`.execute(
          this.#db,
        );
      const n = Number(r.numAffectedRows ?? 0n);
      total += n;
      if (n < this.#batch || Date.now() >= deadline) return total;
      await yieldNow();
    }
  }

  /** Applies the per-device bound to one device. */
  async #device(s: RuleState, deviceId: string): Promise<number> {
    const per = s.rule.perDevice;
    if (!per) return 0;
    const t = sql.table(s.rule.table);
    const dcol = sql.ref(per.column);
    // The first id that stays: rows before it go.
    let keepFrom: number | undefined;
    if (per.session) {
      const scol = sql.ref(per.session);
      const r = await sql<{
        first: number | string;
      }>`select min(id) as first from ${t} where ${dcol} = ${deviceId} group by ${scol} order by first desc limit 1 offset ${per.max - 1}`.execute(
        this.#db,
      );
      if (r.rows[0]) keepFrom = Number(r.rows[0].first);
    } else {
      const r = await sql<{
        id: number | string;
      }>`select id from ${t} where ${dcol} = ${deviceId} order by id desc limit 1 offset ${per.max}`.execute(
        this.#db,
      );
      if (r.rows[0]) keepFrom = Number(r.rows[0].id) + 1;
    }
    if (keepFrom === undefined) return 0;
    let total = 0;
    for (;;) {
      await yieldNow();
      const r =
        await sql`delete from ${t} where id in (select id from ${t} where ${dcol} = ${deviceId} and id < ${keepFrom} order by id limit ${this.#batch})`.execute(
          this.#db,
        );
      const n = Number(r.numAffectedRows ?? 0n);
      total += n;
      if (n < this.#batch) return total;
    }
  }

  /** One bounded step of the slow pass: a page of devices, a chunk of sizes, or a batch of the size cut. */
  async #slowStep(s: RuleState, deadline: number): Promise<number> {
    const { rule } = s;
    const t = sql.table(rule.table);
    await yieldNow();
    if (s.sizeCut !== undefined) {
      const r =
        await sql`delete from ${t} where id in (select id from ${t} where id <= ${s.sizeCut} order by id limit ${this.#batch})`.execute(
          this.#db,
        );
      const n = Number(r.numAffectedRows ?? 0n);
      if (n < this.#batch) s.sizeCut = undefined;
      return n;
    }
    const per = rule.perDevice;
    if (!s.devicePassDone && per) {
      const dcol = sql.ref(per.column);
      const counted = per.session ? sql`count(distinct ${sql.ref(per.session)})` : sql`count(*)`;
      const after = s.deviceCursor === undefined ? sql`` : sql`where ${dcol} > ${s.deviceCursor}`;
      const page = 200;
      const rows = (
        await sql<{
          d: string;
          n: number | string;
        }>`select ${dcol} as d, ${counted} as n from ${t} ${after} group by ${dcol} order by ${dcol} limit ${page}`.execute(
          this.#db,
        )
      ).rows;
      let deleted = 0;
      for (const row of rows) {
        if (Number(row.n) > per.max) deleted += await this.#device(s, row.d);
        if (Date.now() >= deadline) break;
      }
      if (rows.length < page) s.devicePassDone = true;
      else s.deviceCursor = rows[rows.length - 1]!.d;
      return deleted;
    }
    const size = rule.maxBytes;
    if (!s.sizePassDone && size) {
      const chunk = 5000;
      const from = s.sizeCursor ?? Number.MIN_SAFE_INTEGER;
      const r = (
        await sql<{
          last: number | string | null;
          bytes: number | string | null;
          n: number | string;
        }>`select max(id) as last, sum(${sql.ref(size.sizeColumn)}) as bytes, count(*) as n from (select id, ${sql.ref(size.sizeColumn)} from ${t} where id > ${from} order by id limit ${chunk}) as c`.execute(
          this.#db,
        )
      ).rows[0];
      const n = Number(r?.n ?? 0);
      if (n > 0 && r?.last != null) {
        s.sizeTotal += Number(r.bytes ?? 0);
        s.sizeCursor = Number(r.last);
        s.sizeChunks.push({ last: Number(r.last), cum: s.sizeTotal });
      }
      if (n < chunk) {
        s.sizePassDone = true;
        const excess = s.sizeTotal - size.max;
        const i = excess > 0 ? s.sizeChunks.findIndex((c) => c.cum >= excess) : -1;
        if (i >= 0) {
          // The chunk where the excess is covered: find the exact row in it.
          const before = i > 0 ? s.sizeChunks[i - 1]! : { last: Number.MIN_SAFE_INTEGER, cum: 0 };
          const rows = (
            await sql<{
              id: number | string;
              size: number | string;
            }>`select id, ${sql.ref(size.sizeColumn)} as size from ${t} where id > ${before.last} order by id limit ${chunk}`.execute(
              this.#db,
            )
          ).rows;
          let cum = before.cum;
          for (const row of rows) {
            cum += Number(row.size);
            s.sizeCut = Number(row.id);
            if (cum >= excess) break;
          }
        }
        s.sizeChunks = [];
      }
      return 0;
    }
    s.devicePassDone = true;
    s.sizePassDone = true;
    return 0;
  }
}
