/**
 * Package 0, the General Notification Initiated Session Alert
 * (protocol.md §5): a binary trigger the server pushes to make a device
 * open a session.
 *
 *   digest(16) | version(10 bits) ui-mode(2) initiator(1) future-use(27)
 *   | sessionid(16) | length(8) | server-identifier(N) | vendor-specific(*)
 *
 *   digest = MD5( B64(MD5(server-id ":" password)) ":" nonce ":" B64(MD5(trigger)) )
 *
 * where trigger = everything after the digest, and password/nonce are the
 * SRVCRED AAuthSecret/AAuthData the device holds for the server.
 */
import { b64encode } from '../auth/base64.ts';
import { constantTimeEqual } from '../auth/compare.ts';
import { credentialDigest } from '../auth/credentials.ts';
import { COLON, md5, utf8 } from '../auth/md5.ts';
import { notificationNonceCandidates } from '../auth/nonce.ts';
import { NotificationError, NotificationErrorCode } from './errors.ts';
import {
  Initiator,
  MAX_PKG0_BYTES,
  NOTIFICATION_VERSION,
  PKG0_DIGEST_BYTES,
  PKG0_HEADER_BYTES,
  UI_MODE_BITS,
  UiMode,
} from './fields.ts';

/** The fields of a trigger (everything but the digest). */
export interface TriggerFields {
  /** DMAcc ServerID of the notifying server (1..255 UTF-8 bytes). */
  serverId: string;
  /** 0..0xFFFF; becomes the SyncML SessionID (see `sessionIdHex`). */
  sessionId: number;
  /** Default `not-specified`. */
  uiMode?: UiMode;
  /** Default `server`. */
  initiator?: Initiator;
  /** 10-bit notification version; default 11. */
  version?: number;
  /** Opaque vendor-specific bytes after the server identifier. */
  vendor?: Uint8Array;
}

/** Server-side credentials for the digest: the SRVCRED secret or its credential digest. */
export type NotificationCredentials =
  | { nonce: Uint8Array; secret: string }
  | { nonce: Uint8Array; credentialDigest: string };

export type Package0Input = TriggerFields & NotificationCredentials;

/** A decoded Package 0. */
export interface Package0 {
  digest: Uint8Array;
  version: number;
  uiMode: UiMode;
  initiator: Initiator;
  /** The 27 future-use bits as received (0 from conforming senders; not enforced on receive). */
  futureUse: number;
  sessionId: number;
  serverId: string;
  vendor: Uint8Array;
  /** The bytes the digest covers (everything after the digest). */
  trigger: Uint8Array;
}

function fail(code: NotificationErrorCode, message: string): never {
  throw new NotificationError(code, message);
}

/** Encodes the trigger: the Package 0 bytes after the digest. Strict: every field range-checked. */
export function encodeTrigger(fields: TriggerFields): Uint8Array {
  const version = fields.version ?? NOTIFICATION_VERSION;
  if (!Number.isInteger(version) || version < 0 || version > 0x3ff) {
    fail(NotificationErrorCode.BadField, `version ${version} does not fit 10 bits`);
  }
  const ui = UI_MODE_BITS.indexOf(fields.uiMode ?? UiMode.NotSpecified);
  if (ui < 0) fail(NotificationErrorCode.BadField, `unknown ui-mode ${String(fields.uiMode)}`);
  const initiator = fields.initiator ?? Initiator.Server;
  if (initiator !== Initiator.Server && initiator !== Initiator.Client) {
    fail(NotificationErrorCode.BadField, `unknown initiator ${String(initiator)}`);
  }
  const sid = fields.sessionId;
  if (!Number.isInteger(sid) || sid < 0 || sid > 0xffff) {
    fail(NotificationErrorCode.BadField, `session id ${sid} does not fit 16 bits`);
  }
  const id = utf8(fields.serverId);
  if (id.byteLength === 0 || id.byteLength > 255) {
    fail(NotificationErrorCode.BadServerId, 'server identifier must be 1..255 bytes');
  }
  const vendor = fields.vendor ?? new Uint8Array(0);
  const total = PKG0_HEADER_BYTES - PKG0_DIGEST_BYTES + id.byteLength + vendor.byteLength;
  if (total + PKG0_DIGEST_BYTES > MAX_PKG0_BYTES) fail(NotificationErrorCode.TooLarge, 'Package 0 too large');
  const out = new Uint8Array(total);
  const first16 = (version << 6) | (ui << 4) | ((initiator === Initiator.Server ? 1 : 0) << 3);
  out[0] = first16 >> 8;
  out[1] = first16 & 0xff;
  // out[2..4] and the low 3 bits of out[1]: future-use, zero.
  out[5] = sid >> 8;
  out[6] = sid & 0xff;
  out[7] = id.byteLength;
  out.set(id, 8);
  out.set(vendor, 8 + id.byteLength);
  return out;
}

/** The 16-byte Package 0 digest of a trigger from the server credential digest and nonce. */
export function notificationDigest(credDigest: string, nonce: Uint8Array, trigger: Uint8Array): Uint8Array {
  return md5(utf8(credDigest), COLON, nonce, COLON, utf8(b64encode(md5(trigger))));
}

function credDigestOf(serverId: string, c: NotificationCredentials): string {
  return 'credentialDigest' in c ? c.credentialDigest : credentialDigest(serverId, c.secret);
}

/** Builds Package 0 bytes: digest || trigger. */
export function buildPackage0(input: Package0Input): Uint8Array {
  const trigger = encodeTrigger(input);
  const digest = notificationDigest(credDigestOf(input.serverId, input), input.nonce, trigger);
  const out = new Uint8Array(PKG0_DIGEST_BYTES + trigger.byteLength);
  out.set(digest, 0);
  out.set(trigger, PKG0_DIGEST_BYTES);
  return out;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Decodes Package 0 bytes (no verification). Treats input as hostile:
 * typed errors for truncated input (`PKG0_TRUNCATED`), oversize input
 * (`PKG0_TOO_LARGE`) and an empty or non-UTF-8 server identifier
 * (`PKG0_BAD_SERVER_ID`). Lenient on version and future-use bits.
 */
export function parsePackage0(bytes: Uint8Array): Package0 {
  if (bytes.byteLength > MAX_PKG0_BYTES) {
    fail(NotificationErrorCode.TooLarge, `Package 0 of ${bytes.byteLength} bytes exceeds ${MAX_PKG0_BYTES}`);
  }
  if (bytes.byteLength < PKG0_HEADER_BYTES) {
    fail(
      NotificationErrorCode.Truncated,
      `Package 0 needs at least ${PKG0_HEADER_BYTES} bytes, got ${bytes.byteLength}`,
    );
  }
  const b = bytes;
  const n = b[23]!;
  if (b.byteLength < PKG0_HEADER_BYTES + n) {
    fail(
      NotificationErrorCode.Truncated,
      `server identifier of ${n} bytes announced, ${b.byteLength - PKG0_HEADER_BYTES} present`,
    );
  }
  if (n === 0) fail(NotificationErrorCode.BadServerId, 'empty server identifier');
  let serverId: string;
  try {
    serverId = strictUtf8.decode(b.subarray(PKG0_HEADER_BYTES, PKG0_HEADER_BYTES + n));
  } catch {
    fail(NotificationErrorCode.BadServerId, 'server identifier is not valid UTF-8');
  }
  const h0 = b[16]!;
  const h1 = b[17]!;
  return {
    digest: b.slice(0, PKG0_DIGEST_BYTES),
    version: ((h0 << 8) | h1) >> 6,
    uiMode: UI_MODE_BITS[(h1 >> 4) & 3]!,
    initiator: (h1 >> 3) & 1 ? Initiator.Server : Initiator.Client,
    futureUse: ((h1 & 7) << 24) | (b[18]! << 16) | (b[19]! << 8) | b[20]!,
    sessionId: (b[21]! << 8) | b[22]!,
    serverId,
    vendor: b.slice(PKG0_HEADER_BYTES + n),
    trigger: b.slice(PKG0_DIGEST_BYTES),
  };
}

/** True when the package's digest matches the server credential digest and nonce (constant time). */
export function verifyPackage0(pkg: Package0, credDigest: string, nonce: Uint8Array): boolean {
  return constantTimeEqual(notificationDigest(credDigest, nonce, pkg.trigger), pkg.digest);
}

export type Package0Verification =
  | {
      ok: true;
      /** The nonce that matched. */
      nonce: Uint8Array;
      /**
       * True when the stored nonce failed and a re-sync nonce matched: the
       * client then authenticates its Package 1 with that nonce and expects
       * fresh nonces from the server (protocol.md §5.2).
       */
      fallback: boolean;
    }
  | { ok: false };

/**
 * Client-side verification with nonce re-synchronisation: tries the stored
 * SRVCRED nonce, then (unless `allowFallback` is false) the fallback nonce
 * forms (`notificationNonceCandidates`). The fallback nonce never changes, so
 * a trigger signed with it stays valid: a device tries it only when it holds
 * no nonce, or when it knows its nonce is out of step (see `receivePackage0`).
 */
export function verifyPackage0WithFallback(
  pkg: Package0,
  credDigest: string,
  storedNonce: Uint8Array | undefined,
  allowFallback = true,
): Package0Verification {
  const candidates =
    allowFallback || storedNonce === undefined ? notificationNonceCandidates(storedNonce) : [storedNonce];
  for (let i = 0; i < candidates.length; i++) {
    const nonce = candidates[i]!;
    if (verifyPackage0(pkg, credDigest, nonce)) {
      return { ok: true, nonce, fallback: storedNonce === undefined || i > 0 };
    }
  }
  return { ok: false };
}
