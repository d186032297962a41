/** Leaf values: sizes as the Size property reports them, and TStamp formatting. */
import type { Format } from '../representation/index.ts';
import type { NodeData } from './types.ts';

/** Bytes of the decoded value (protocol.md §6.3 Size): base64 decoded for `b64`, UTF-8 for text. */
export function valueSize(data: NodeData, format: Format): number {
  if (typeof data !== 'string') return data.byteLength;
  if (format === 'b64') return Buffer.from(data, 'base64').byteLength;
  return Buffer.byteLength(data, 'utf8');
}

/** UTC ISO 8601 basic format, e.g. `20010711T163817Z` (the TStamp property). */
export function formatTStamp(ms: number): string {
  const iso = new Date(ms).toISOString(); // 2001-07-11T16:38:17.000Z
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
}

/** Reads a TStamp (`20010711T163817Z`) back to ms, or undefined when it is not one. */
export function parseTStamp(text: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (!m) return undefined;
  const ms = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
  return Number.isNaN(ms) ? undefined : ms;
}
