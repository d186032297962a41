/**
 * The HTTP notification channel's credentials: a device behind NAT keeps a long-poll
 * `GET /dm/channel` open to its server and proves who it is with this header
 *
 *   x-omadm-channel: device="IMEI:1", ts=1763785200, nonce=B64, mac=B64
 *
 * with the x-syncml-hmac construction (protocol.md §4.4) over a fixed body:
 *
 *   mac = B64(MD5( clientDigest ":" nonce ":" B64(MD5("channel:" device ":" ts)) ))
 *
 * `clientDigest` is B64(MD5(AAuthName ":" secret)), the value the server already stores for
 * the device's DM credentials; `nonce` is fresh random bytes chosen by the device (the server
 * refuses a nonce it has seen within the clock window), `ts` is Unix seconds.
 */
import { randomBytes } from 'node:crypto';
import { b64decode, b64encode, constantTimeEqual, hmacMac } from '../../protocol/auth/index.ts';

/** The request header, lower-case. */
export const CHANNEL_HEADER = 'x-omadm-channel';
/**
 * On a 401 from a server that started recently: the smallest `ts` (Unix seconds) it accepts.
 * Headers older than that may have been accepted by the previous server process (whose seen
 * nonces are gone), so they are refused; a device builds its next header with `ts` at least this.
 */
export const CHANNEL_NOT_BEFORE_HEADER = 'x-omadm-channel-not-before';
/** Media type of a Package 0 answer (as in WAP push). */
export const NOTIFICATION_MEDIA_TYPE = 'application/vnd.syncml.notification';
/** Longest header value parsed. */
export const MAX_CHANNEL_HEADER_CHARS = 2048;

export interface ChannelAuth {
  readonly device: string;
  /** Unix seconds. */
  readonly ts: number;
  /** Base64 text as sent. */
  readonly nonce: string;
  /** Base64 text as sent. */
  readonly mac: string;
}

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

/** The mac for `device` at `ts` with `nonce`, from the device's credential digest. */
export function channelMac(digest: string, device: string, ts: number, nonce: Uint8Array): string {
  return hmacMac(digest, nonce, utf8(`channel:${device}:${ts}`));
}

/** A fresh header value for the device (random 16-byte nonce, `now` in ms). */
export function buildChannelHeader(device: string, digest: string, now: number = Date.now()): string {
  const ts = Math.floor(now / 1000);
  const nonce = new Uint8Array(randomBytes(16));
  const mac = channelMac(digest, device, ts, nonce);
  const quoted = device.replace(/["\\]/g, (c) => `\\${c}`);
  return `device="${quoted}", ts=${ts}, nonce=${b64encode(nonce)}, mac=${mac}`;
}

/** Parses a header value; undefined when it does not follow the grammar (callers answer 401). */
export function parseChannelHeader(value: string | undefined): ChannelAuth | undefined {
  if (value === undefined || value.length > MAX_CHANNEL_HEADER_CHARS) return undefined;
  const params = new Map<string, string>();
  const re = /\s*([A-Za-z]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))\s*(?:,|$)/y;
  let at = 0;
  while (at < value.length) {
    re.lastIndex = at;
    const m = re.exec(value);
    if (!m || re.lastIndex === at) return undefined;
    const key = m[1]!.toLowerCase();
    if (params.has(key)) return undefined;
    params.set(key, m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3]!);
    at = re.lastIndex;
  }
  const device = params.get('device');
  const tsText = params.get('ts');
  const nonce = params.get('nonce');
  const mac = params.get('mac');
  if (!device || !tsText || !nonce || !mac || !/^\d{1,12}$/.test(tsText)) return undefined;
  return { device, ts: Number(tsText), nonce, mac };
}

/** Whether `auth.mac` matches the digest (constant time); false on undecodable base64. */
export function verifyChannelMac(auth: ChannelAuth, digest: string): boolean {
  let nonce: Uint8Array;
  try {
    nonce = b64decode(auth.nonce, 256);
  } catch {
    return false;
  }
  if (nonce.byteLength < 8) return false;
  const expected = utf8(channelMac(digest, auth.device, auth.ts, nonce));
  return constantTimeEqual(expected, utf8(auth.mac));
}
