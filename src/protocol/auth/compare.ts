import { timingSafeEqual } from 'node:crypto';

/**
 * Compares two byte strings in time independent of where they differ.
 * Length is not secret here (digests have fixed length); a length mismatch
 * still runs one comparison so the early-out is not the only fast path.
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) {
    timingSafeEqual(a, a);
    return false;
  }
  return timingSafeEqual(a, b);
}
