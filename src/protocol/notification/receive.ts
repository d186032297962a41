/**
 * Device side of Package 0 in one call: parse (hostile input), find the
 * account by server id, verify the digest with nonce re-synchronisation,
 * suppress duplicates, and say what to do. The client turns `start` into a
 * Package 1 with Alert 1200 and `sessionId` as SessionID, and hands `uiMode`
 * to the application.
 */
import type { TriggerDeduplicator } from './dedup.ts';
import { NotificationError } from './errors.ts';
import { sessionIdHex, type Initiator, type UiMode } from './fields.ts';
import { parsePackage0, verifyPackage0WithFallback } from './package0.ts';

/** What the device knows about a server: SRVCRED credential digest and stored nonce. */
export interface Package0Account {
  /** B64(MD5(server-id ":" SRVCRED AAuthSecret)) — `credentialDigest(serverId, secret)`. */
  credentialDigest: string;
  /** SRVCRED AAuthData (stored server nonce), if any. */
  nonce?: Uint8Array;
  /**
   * Whether a trigger signed with the re-sync (fallback) nonce is accepted although a nonce is
   * stored. Default false: the fallback nonce never changes, so such a trigger, once captured,
   * would start sessions forever. Set it only while the stored nonce is known to be out of step
   * (a session just failed to authenticate the server with it; protocol.md §5.2). Without a
   * stored nonce the fallback is always accepted.
   */
  fallback?: boolean;
}

export type Package0Decision =
  | {
      action: 'start';
      serverId: string;
      /** SyncML SessionID for Package 1 (upper-case hex, no leading zeros). */
      sessionId: string;
      uiMode: UiMode;
      initiator: Initiator;
      vendor: Uint8Array;
      /** The nonce that verified. */
      nonce: Uint8Array;
      /** True when only a re-sync nonce verified: authenticate Package 1 with `nonce`, expect fresh nonces. */
      resync: boolean;
    }
  | { action: 'ignore'; reason: 'duplicate' | 'unknown-server' | 'bad-digest'; serverId: string }
  | { action: 'ignore'; reason: 'malformed'; code: string; message: string };

/**
 * Decides what a received Package 0 means. Never throws for bad input.
 * `dedup` is consulted only after the digest verified.
 */
export async function receivePackage0(
  bytes: Uint8Array,
  lookup: (serverId: string) => Package0Account | undefined | Promise<Package0Account | undefined>,
  dedup?: TriggerDeduplicator,
): Promise<Package0Decision> {
  let pkg: ReturnType<typeof parsePackage0>;
  try {
    pkg = parsePackage0(bytes);
  } catch (e) {
    if (e instanceof NotificationError)
      return { action: 'ignore', reason: 'malformed', code: e.code, message: e.message };
    throw e;
  }
  const account = await lookup(pkg.serverId);
  if (!account) return { action: 'ignore', reason: 'unknown-server', serverId: pkg.serverId };
  const v = verifyPackage0WithFallback(
    pkg,
    account.credentialDigest,
    account.nonce,
    account.fallback === true,
  );
  if (!v.ok) return { action: 'ignore', reason: 'bad-digest', serverId: pkg.serverId };
  if (dedup && !dedup.accept(pkg)) return { action: 'ignore', reason: 'duplicate', serverId: pkg.serverId };
  return {
    action: 'start',
    serverId: pkg.serverId,
    sessionId: sessionIdHex(pkg.sessionId),
    uiMode: pkg.uiMode,
    initiator: pkg.initiator,
    vendor: pkg.vendor,
    nonce: v.nonce,
    resync: v.fallback,
  };
}
