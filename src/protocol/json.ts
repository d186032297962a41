/**
 * Plain-JSON forms of model values, so session state (which holds commands still to be sent and
 * objects being reassembled) survives `JSON.stringify` into a store and back in another process.
 * The only non-JSON values in the model are `Uint8Array`s (opaque Data, WBXML opaque in
 * embedded elements); they become `{ $b64: '…' }`.
 */

/** A JSON value. */
export type Json = null | boolean | number | string | readonly Json[] | { readonly [key: string]: Json };

/** Deep copy of `value` with every Uint8Array replaced by `{ $b64 }` and undefined fields dropped. */
export function toJson(value: unknown): Json {
  if (value === null || value === undefined) return null;
  if (value instanceof Uint8Array) return { $b64: Buffer.from(value).toString('base64') };
  if (Array.isArray(value)) return value.map((v) => toJson(v));
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'boolean':
      return value;
    case 'object': {
      const out: Record<string, Json> = {};
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (v !== undefined) out[k] = toJson(v);
      }
      return out;
    }
    default:
      throw new TypeError(`value of type ${typeof value} cannot be stored as JSON`);
  }
}

/** Inverse of `toJson`: `{ $b64 }` objects become Uint8Arrays again. */
export function fromJson<T>(value: Json): T {
  return revive(value) as T;
}

function revive(value: Json): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => revive(v));
  const obj = value as { readonly [key: string]: Json };
  const keys = Object.keys(obj);
  if (keys.length === 1 && keys[0] === '$b64' && typeof obj.$b64 === 'string') {
    return new Uint8Array(Buffer.from(obj.$b64, 'base64'));
  }
  const out: Record<string, unknown> = {};
  for (const k of keys) out[k] = revive(obj[k]!);
  return out;
}
