/**
 * Value checks per node Format (DM 1.2 MetInf Format semantics, protocol.md §1.6).
 * Each check answers whether a value can be stored under the format; `normalize`
 * gives the canonical form to store (e.g. `TRUE` → `true`).
 */
import type { NodeFormat } from './model.ts';

const INT = /^[+-]?\d{1,10}$/;
const FLOAT = /^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]?INF|NaN)$/;
// ISO 8601 calendar date with century, extended or basic form.
const DATE = /^(\d{4})-?(\d{2})-?(\d{2})$/;
// ISO 8601 time of day, extended or basic, optional fraction and zone.
const TIME = /^(\d{2}):?(\d{2})(?::?(\d{2})(?:[.,]\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?$/;
const B64 = /^[A-Za-z0-9+/\r\n\t ]*={0,2}[\r\n\t ]*$/;

const utf8 = new TextDecoder('utf-8');

function asText(value: string | Uint8Array): string {
  return typeof value === 'string' ? value : utf8.decode(value);
}

function validDate(text: string): boolean {
  const m = DATE.exec(text);
  if (!m) return false;
  const month = Number(m[2]);
  const day = Number(m[3]);
  return month >= 1 && month <= 12 && day >= 1 && day <= 31;
}

function validTime(text: string): boolean {
  const m = TIME.exec(text);
  if (!m) return false;
  return Number(m[1]) <= 24 && Number(m[2]) <= 59 && (m[3] === undefined || Number(m[3]) <= 60);
}

/** True when `value` is a valid value for a node of `format`. Empty values are valid for every leaf format. */
export function isValidValue(format: NodeFormat, value: string | Uint8Array | undefined): boolean {
  if (value === undefined) return true;
  if (format === 'bin' || format === 'chr' || format === 'xml') return true;
  const text = asText(value);
  if (format === 'node' || format === 'null') return text === '';
  if (text === '') return true;
  switch (format) {
    case 'bool':
      return /^(?:true|false)$/i.test(text.trim());
    case 'int': {
      if (!INT.test(text.trim())) return false;
      const n = Number(text);
      return n >= -2147483648 && n <= 2147483647;
    }
    case 'float':
      return FLOAT.test(text.trim());
    case 'date':
      return validDate(text.trim());
    case 'time':
      return validTime(text.trim());
    case 'b64':
      return B64.test(text) && text.replace(/[\r\n\t =]/g, '').length % 4 !== 1;
  }
}

/** Canonical form of a valid value: trimmed numbers and booleans, lower-case booleans. */
export function normalizeValue(format: NodeFormat, value: string | Uint8Array): string | Uint8Array {
  if (typeof value !== 'string') return value;
  switch (format) {
    case 'bool':
      return value.trim().toLowerCase();
    case 'int':
    case 'float':
    case 'date':
    case 'time':
      return value.trim();
    default:
      return value;
  }
}
