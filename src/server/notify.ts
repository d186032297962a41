/**
 * Server-initiated sessions: Package 0 (General Notification Initiated Session Alert) built from
 * the device's server credential and pushed through a notification bearer (SMS/SMPP, WAP PAP, SIP,
 * UDP — binding/push). Devices carry their push address as `{ bearer, target }`; queuing a command
 * notifies the device when the server has that bearer, so it connects now instead of at its next
 * scheduled session.
 */
import { randomInt } from 'node:crypto';
import type { DeliveryResult, NotificationBearer } from '../binding/push/index.ts';
import { decodeNonce, fallbackNonce } from '../protocol/auth/index.ts';
import { buildPackage0, sessionIdHex, UiMode } from '../protocol/notification/index.ts';
import { ApiError, ApiErrorCode } from './errors.ts';
import type { Store } from './store/index.ts';

/** Where a device listens for Package 0, as kept with the device. */
export interface NotifyAddress {
  /** Name of a configured bearer (`udp`, `sms-smpp`, `pap`, `sip`, …). */
  readonly bearer: string;
  /** Address in the bearer's form: `host:port`, an MSISDN, a `sip:` URI. */
  readonly target: string;
}

export interface NotifyOptions {
  /** The bearers this server can push with, by their `name`. */
  readonly bearers: readonly NotificationBearer[];
  /** Notify a device when a command is queued for it (default true). */
  readonly onEnqueue?: boolean;
  /** UI mode requested from the device (default not-specified). */
  readonly uiMode?: UiMode;
}

/** What a notification attempt did. */
export interface NotifyResult extends DeliveryResult {
  /** The SessionID (hex) the device will use for the session it opens. */
  readonly sessionId: string;
}

const ATTR_BEARER = 'notifyBearer';
const ATTR_TARGET = 'notifyTarget';

/** The push address stored in a device's attributes, if any. */
export function notifyAddressOf(attributes: Readonly<Record<string, string>>): NotifyAddress | null {
  const bearer = attributes[ATTR_BEARER];
  const target = attributes[ATTR_TARGET];
  return bearer && target ? { bearer, target } : null;
}

/** Device attributes with the push address set (or removed with `null`). */
export function withNotifyAddress(
  attributes: Readonly<Record<string, string>>,
  address: NotifyAddress | null,
): Record<string, string> {
  const { [ATTR_BEARER]: _b, [ATTR_TARGET]: _t, ...rest } = attributes;
  return address ? { ...rest, [ATTR_BEARER]: address.bearer, [ATTR_TARGET]: address.target } : rest;
}

export class Notifier {
  readonly #store: Store;
  readonly #bearers: ReadonlyMap<string, NotificationBearer>;
  readonly #uiMode: UiMode;
  readonly onEnqueue: boolean;

  constructor(store: Store, options: NotifyOptions) {
    this.#store = store;
    this.#bearers = new Map(options.bearers.map((b) => [b.name, b]));
    this.#uiMode = options.uiMode ?? UiMode.NotSpecified;
    this.onEnqueue = options.onEnqueue ?? true;
  }

  get bearerNames(): readonly string[] {
    return [...this.#bearers.keys()];
  }

  /** Builds Package 0 for the device and pushes it. Throws ApiError when it cannot be sent. */
  async notify(deviceId: string, signal?: AbortSignal): Promise<NotifyResult> {
    const device = await this.#store.devices.get(deviceId);
    if (!device) throw new ApiError(ApiErrorCode.NotFound, `no device ${deviceId}`);
    const address = notifyAddressOf(device.attributes);
    if (!address)
      throw new ApiError(ApiErrorCode.Unprocessable, `device ${deviceId} has no notification address`);
    const bearer = this.#bearers.get(address.bearer);
    if (!bearer) {
      throw new ApiError(
        ApiErrorCode.Unprocessable,
        `the server has no ${address.bearer} bearer (configured: ${this.bearerNames.join(', ') || 'none'})`,
      );
    }
    const creds = await this.#store.devices.credentials(deviceId);
    if (!creds?.serverDigest || !creds.serverAuthName) {
      throw new ApiError(
        ApiErrorCode.Unprocessable,
        `device ${deviceId} has no server secret: Package 0 is signed with it (set serverSecret)`,
      );
    }
    // The nonce the device issued for our next credential; the fallback nonce when it never did.
    let nonce = fallbackNonce();
    if (creds.serverNonce) {
      try {
        nonce = decodeNonce(creds.serverNonce);
      } catch {
        // A stored nonce that does not decode: the device will also try the fallback.
      }
    }
    const sessionId = randomInt(1, 0x10000);
    const pkg0 = buildPackage0({
      serverId: creds.serverAuthName,
      sessionId,
      uiMode: this.#uiMode,
      credentialDigest: creds.serverDigest,
      nonce,
    });
    const result = await bearer.send(address.target, pkg0, signal ? { signal } : {});
    return { ...result, sessionId: sessionIdHex(sessionId) };
  }

  async close(): Promise<void> {
    await Promise.all([...this.#bearers.values()].map((b) => b.close()));
  }
}
