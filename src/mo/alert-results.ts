/**
 * What the result code of a Generic Alert (1226) means, judged by its alert type (objects.md §0.3,
 * §1.4, §2.5, §3.2, §4.2). One table per management object, as data: FUMO counts 200 and 250–299
 * as success, SCOMO, LAWMO and DCMO 1200–1299; anything else of a known type is a failure. A type
 * no table knows gets no verdict: its code is kept as it came.
 *
 * The code is read from `Data` itself (FUMO, LAWMO, DCMO: Format `int`) or from the
 * `<ResultCode>` of SCOMO's XML result fragment — one reading, one table, for both.
 */

export interface AlertResultTable {
  /** The management object (for display). */
  readonly object: string;
  /** Alert types this table judges, normalized (see `normalizeAlertType`). */
  readonly types: readonly string[];
  /** Inclusive code ranges meaning success; every other code is a failure. */
  readonly success: readonly (readonly [number, number])[];
}

const FUMO_OPS = ['download', 'update', 'downloadandupdate'];

/** The tables (objects.md §1.4 FUMO, §2.5 SCOMO, §3.2 LAWMO, §4.2 DCMO). */
export const ALERT_RESULT_TABLES: readonly AlertResultTable[] = Object.freeze([
  {
    object: 'FUMO',
    // `devicerequest`/`userrequest` are requests, not results: no verdict.
    types: [
      ...FUMO_OPS.map((op) => `org.openmobilealliance.dm.firmwareupdate.${op}`),
      // The legacy prefix without `.dm` (§1.4, [V1]).
      ...FUMO_OPS.map((op) => `org.openmobilealliance.firmwareupdate.${op}`),
    ],
    success: [
      [200, 200],
      [250, 299],
    ],
  },
  { object: 'SCOMO', types: ['urn:oma:at:scomo:1.0:operationcomplete'], success: [[1200, 1299]] },
  { object: 'LAWMO', types: ['urn:oma:at:lawmo:1.0:operationcomplete'], success: [[1200, 1299]] },
  { object: 'DCMO', types: ['urn:oma:at:dcmo:1.0:operationcomplete'], success: [[1200, 1299]] },
  // omadm's own type (not the standard's): the result of an asynchronous Exec on a node of the
  // omadm agent or simulator with no MO of its own; its codes read as a Status's (2xx success).
  { object: 'omadm', types: ['org.omadm.exec.result'], success: [[200, 299]] },
]);

/** An alert type as compared: no `Reversed-Domain-Name:` prefix, no surrounding space, lower case. */
export function normalizeAlertType(type: string): string {
  return type
    .trim()
    .replace(/^reversed-domain-name:\s*/i, '')
    .trim()
    .toLowerCase();
}

/** The result code an alert's Data carries: an integer, or SCOMO's `<ResultCode>` fragment. */
export function alertResultCode(data: string): number | undefined {
  const t = data.trim();
  if (/^\d{1,9}$/.test(t)) return Number(t);
  const m = /<ResultCode>\s*(\d{1,9})\s*<\/ResultCode>/i.exec(t);
  return m ? Number(m[1]) : undefined;
}

export interface AlertJudgement {
  /** The result code, when Data carries one. */
  readonly code?: number;
  /** The object whose table judged it, when one does. */
  readonly object?: string;
  /** `success`/`failure` by that table; `none` when no table knows the type or Data has no code. */
  readonly verdict: 'success' | 'failure' | 'none';
}

/** Judges a Generic Alert's result by its type. */
export function judgeAlert(
  type: string | undefined,
  data: string,
  tables: readonly AlertResultTable[] = ALERT_RESULT_TABLES,
): AlertJudgement {
  const code = alertResultCode(data);
  const t = type === undefined ? undefined : normalizeAlertType(type);
  const table = t === undefined ? undefined : tables.find((x) => x.types.includes(t));
  if (!table || code === undefined) {
    return {
      ...(code === undefined ? {} : { code }),
      ...(table ? { object: table.object } : {}),
      verdict: 'none',
    };
  }
  const ok = table.success.some(([lo, hi]) => code >= lo && code <= hi);
  return { code, object: table.object, verdict: ok ? 'success' : 'failure' };
}
