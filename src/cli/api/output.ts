/**
 * Output of API-talking commands: aligned text tables for people, JSON (`--json`) for scripts.
 * Commands write to the streams given here so tests can capture them.
 */

export interface Output {
  out(text: string): void;
  err(text: string): void;
}

const processOutput: Output = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};
let sink: Output = processOutput;

/** Where commands write; `redirectOutput` swaps the destination (tests capture with it). */
export const stdio: Output = {
  out: (text) => sink.out(text),
  err: (text) => sink.err(text),
};

/** Sends command output to `to` until the returned function is called. */
export function redirectOutput(to: Output): () => void {
  const previous = sink;
  sink = to;
  return () => {
    sink = previous;
  };
}

/** Renders rows as a table with a header; columns are left-aligned and separated by two spaces. */
/**
 * A cell or field value for a terminal: C0/C1 control characters (escape sequences a device can
 * put in its DevInfo or alerts) shown as `\u001b`-style escapes, never sent to the terminal;
 * `keepLines` lets line feeds through (multi-line field values).
 */
export function printable(text: string, keepLines = false): string {
  return text.replace(CONTROL, (c) =>
    keepLines && c === '\n' ? c : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

export function table(headers: readonly string[], input: ReadonlyArray<readonly string[]>): string {
  const rows = input.map((r) => r.map((c) => printable(c)));
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return `${[line(headers), ...rows.map(line)].join('\n')}\n`;
}

/** `key: value` lines with aligned keys. */
export function fields(pairs: ReadonlyArray<readonly [string, string]>): string {
  const w = Math.max(0, ...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${`${printable(k)}:`.padEnd(w + 2)}${printable(v, true)}`).join('\n') + '\n';
}

export function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** A short relative age (`12s ago`, `3m ago`) or `never`. */
export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return 'never';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}
