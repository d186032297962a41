/**
 * WSP (WAP-230) connectionless Push PDU: the envelope Package 0 and
 * bootstrap messages travel in over SMS and UDP (protocol.md §5.4). Codec
 * tables are data; the decoder treats input as hostile.
 *
 *   TID | PDU type 0x06 | headers length (uintvar) | content type | headers | body
 */
import { PushError, PushErrorCode } from './errors.ts';

/** WSP PDU types we deal with. */
export const WspPduType = { Push: 0x06, ConfirmedPush: 0x07 } as const;

/** Well-known content types (WSP assigned numbers) relevant to DM and CP. */
export const WSP_CONTENT_TYPES: Readonly<Record<number, string>> = {
  53: 'text/vnd.wap.connectivity-xml',
  54: 'application/vnd.wap.connectivity-wbxml',
  66: 'application/vnd.syncml.dm+wbxml',
  67: 'application/vnd.syncml.dm+xml',
  68: 'application/vnd.syncml.notification',
};

/** Well-known push application ids (X-Wap-Application-Id). */
export const WSP_APPLICATION_IDS: Readonly<Record<number, string>> = {
  2: 'x-wap-application:wml.ua',
  4: 'x-wap-application:push.sia',
  5: 'x-wap-application:push.syncml',
  7: 'x-wap-application:syncml.dm',
};

/** Content type and application id of a DM notification push. */
export const ContentTypeCode = {
  Notification: 0x44,
  DmWbxml: 0x42,
  DmXml: 0x43,
  ConnectivityWbxml: 0x36,
} as const;
export const ApplicationIdCode = { SyncmlDm: 0x07, PushSyncml: 0x05, WmlUa: 0x02 } as const;

/** Well-known parameter codes (WSP 1.4): SEC and MAC for provisioning/bootstrap security. */
export const WspParam = { Sec: 0x11, Mac: 0x12 } as const;

/** The X-Wap-Application-Id header field code. */
const FIELD_X_WAP_APPLICATION_ID = 0x2f;

export type WspParamValue = number | string;

export interface WspContentType {
  /** Well-known code, when the type was (or is to be) sent as one. */
  code?: number;
  /** The media type text (from the table for well-known codes). */
  media: string;
  /** Parameters: well-known ones keyed by code, untyped ones by lower-case name. */
  params: Map<number | string, WspParamValue>;
}

export interface WspPushInput {
  /** Transaction id, 0..255 (default 1). */
  transactionId?: number;
  /** Well-known content type code (e.g. 0x44) or a media type string. */
  contentType: number | string;
  /** Content-type parameters (well-known code or name → integer or text). */
  contentTypeParams?: ReadonlyArray<readonly [number | string, WspParamValue]>;
  /** X-Wap-Application-Id: well-known code (e.g. 0x07) or URI text; omitted when undefined. */
  applicationId?: number | string;
  body: Uint8Array;
}

export interface WspPush {
  transactionId: number;
  pduType: number;
  contentType: WspContentType;
  /** Application id as code or URI text. */
  applicationId?: number | string;
  body: Uint8Array;
}

// ---------------------------------------------------------------- encoding

const te = new TextEncoder();

export function encodeUintvar(n: number): number[] {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`uintvar out of range: ${n}`);
  const out = [n & 0x7f];
  let v = Math.floor(n / 128);
  while (v > 0) {
    out.unshift((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  return out;
}

function textString(s: string): number[] {
  const b = [...te.encode(s)];
  if (b.includes(0)) throw new RangeError('WSP text may not contain NUL');
  // Text starting with a byte ≥ 0x80 needs the quote octet 0x7F.
  return b.length > 0 && b[0]! >= 0x80 ? [0x7f, ...b, 0] : [...b, 0];
}

function integerValue(n: number): number[] {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`WSP integer out of range: ${n}`);
  if (n < 0x80) return [0x80 | n];
  const bytes: number[] = [];
  let v = n;
  while (v > 0) {
    bytes.unshift(v & 0xff);
    v = Math.floor(v / 256);
  }
  return [bytes.length, ...bytes];
}

function valueLength(n: number): number[] {
  return n <= 30 ? [n] : [31, ...encodeUintvar(n)];
}

function encodeParam(key: number | string, value: WspParamValue): number[] {
  const head = typeof key === 'number' ? integerValue(key) : textString(key);
  const val = typeof value === 'number' ? integerValue(value) : textString(value);
  return [...head, ...val];
}

/** Encodes a Content-Type value (constrained form when there are no parameters). */
export function encodeContentType(
  type: number | string,
  params: ReadonlyArray<readonly [number | string, WspParamValue]> = [],
): number[] {
  const media = typeof type === 'number' ? integerValue(type) : textString(type);
  if (params.length === 0 && (typeof type === 'string' || type < 0x80)) return media;
  const rest = [...media, ...params.flatMap(([k, v]) => encodeParam(k, v))];
  return [...valueLength(rest.length), ...rest];
}

/** Builds a WSP Push PDU. */
export function encodeWspPush(input: WspPushInput): Uint8Array {
  const tid = input.transactionId ?? 1;
  if (!Number.isInteger(tid) || tid < 0 || tid > 255) throw new RangeError('transaction id must be 0..255');
  const headers = [...encodeContentType(input.contentType, input.contentTypeParams)];
  if (input.applicationId !== undefined) {
    const app = input.applicationId;
    headers.push(
      0x80 | FIELD_X_WAP_APPLICATION_ID,
      ...(typeof app === 'number' ? integerValue(app) : textString(app)),
    );
  }
  const head = [tid, WspPduType.Push, ...encodeUintvar(headers.length), ...headers];
  const out = new Uint8Array(head.length + input.body.byteLength);
  out.set(head, 0);
  out.set(input.body, head.length);
  return out;
}

/** The WSP push carrying Package 0: content type 0x44, application id 0x07 (x-wap-application:syncml.dm). */
export function encodeNotificationPush(package0: Uint8Array, transactionId = 1): Uint8Array {
  return encodeWspPush({
    transactionId,
    contentType: ContentTypeCode.Notification,
    applicationId: ApplicationIdCode.SyncmlDm,
    body: package0,
  });
}

// ---------------------------------------------------------------- decoding

const td = new TextDecoder('utf-8', { fatal: false });

/** Largest WSP push we decode. */
export const MAX_WSP_PUSH_BYTES = 64 * 1024;

class Reader {
  readonly b: Uint8Array;
  pos: number;
  end: number;
  constructor(b: Uint8Array, pos = 0, end = b.byteLength) {
    this.b = b;
    this.pos = pos;
    this.end = end;
  }
  fail(what: string): never {
    throw new PushError(PushErrorCode.BadEncoding, `WSP: ${what} at offset ${this.pos}`);
  }
  byte(): number {
    if (this.pos >= this.end) this.fail('unexpected end');
    return this.b[this.pos++]!;
  }
  peek(): number {
    if (this.pos >= this.end) this.fail('unexpected end');
    return this.b[this.pos]!;
  }
  uintvar(): number {
    let v = 0;
    for (let i = 0; i < 5; i++) {
      const c = this.byte();
      v = v * 128 + (c & 0x7f);
      if ((c & 0x80) === 0) return v;
    }
    return this.fail('uintvar longer than 5 bytes');
  }
  text(): string {
    let start = this.pos;
    if (this.peek() === 0x7f) start = ++this.pos;
    while (this.byte() !== 0) {
      /* scan to NUL */
    }
    return td.decode(this.b.subarray(start, this.pos - 1));
  }
  /** Value-length: short-length or 31 + uintvar. */
  valueLength(): number {
    const c = this.byte();
    if (c <= 30) return c;
    if (c === 31) return this.uintvar();
    return this.fail('expected value length');
  }
  /** Integer-value: short-integer or long-integer (≤ 6 bytes, so exact in a JS number). */
  integer(): number {
    const c = this.byte();
    if (c & 0x80) return c & 0x7f;
    if (c === 0 || c > 6) this.fail('long integer length');
    let v = 0;
    for (let i = 0; i < c; i++) v = v * 256 + this.byte();
    return v;
  }
  /** Integer or text, by first octet. */
  integerOrText(): number | string {
    const c = this.peek();
    return c >= 0x80 || (c >= 1 && c <= 30) ? this.integer() : this.text();
  }
  /** Skips one header value per the general WSP value rules. */
  skipValue(): void {
    const c = this.peek();
    if (c >= 0x80) this.pos++;
    else if (c <= 31) {
      const n = this.valueLength();
      if (this.pos + n > this.end) this.fail('value longer than headers');
      this.pos += n;
    } else this.text();
  }
}

function mediaName(code: number): string {
  return WSP_CONTENT_TYPES[code] ?? `application/x-wsp-0x${code.toString(16).padStart(2, '0')}`;
}

function readContentType(r: Reader): WspContentType {
  const c = r.peek();
  const params = new Map<number | string, WspParamValue>();
  if (c >= 0x80) {
    r.pos++;
    return { code: c & 0x7f, media: mediaName(c & 0x7f), params };
  }
  if (c >= 32) return { media: r.text(), params };
  const len = r.valueLength();
  const end = r.pos + len;
  if (end > r.end) r.fail('content type longer than headers');
  const inner = new Reader(r.b, r.pos, end);
  let ct: WspContentType;
  const m = inner.peek();
  if (m >= 0x80 || (m >= 1 && m <= 30)) {
    const code = inner.integer();
    ct = { code, media: mediaName(code), params };
  } else ct = { media: inner.text(), params };
  while (inner.pos < end) {
    const k = inner.peek();
    const key: number | string =
      k >= 0x80 || (k >= 1 && k <= 30) ? inner.integer() : inner.text().toLowerCase();
    params.set(key, inner.integerOrText());
  }
  r.pos = end;
  return ct;
}

/** Decodes a WSP Push or ConfirmedPush PDU. Typed `PushError` (`PUSH_BAD_ENCODING`) on malformed input. */
export function decodeWspPush(bytes: Uint8Array): WspPush {
  if (bytes.byteLength > MAX_WSP_PUSH_BYTES)
    throw new PushError(PushErrorCode.BadEncoding, 'WSP push too large');
  const r = new Reader(bytes);
  const transactionId = r.byte();
  const pduType = r.byte();
  if (pduType !== WspPduType.Push && pduType !== WspPduType.ConfirmedPush)
    r.fail(`PDU type 0x${pduType.toString(16)} is not a push`);
  const hlen = r.uintvar();
  const hend = r.pos + hlen;
  if (hend > bytes.byteLength) r.fail('headers length beyond end');
  const hr = new Reader(bytes, r.pos, hend);
  const contentType = readContentType(hr);
  let applicationId: number | string | undefined;
  while (hr.pos < hend) {
    const f = hr.peek();
    if (f >= 0x80) {
      hr.pos++;
      if ((f & 0x7f) === FIELD_X_WAP_APPLICATION_ID) applicationId = hr.integerOrText();
      else hr.skipValue();
    } else if (f >= 0x20) {
      // Application-header: token text name, text value.
      const name = hr.text().toLowerCase();
      const value = hr.text();
      if (name === 'x-wap-application-id') applicationId = /^\d+$/.test(value) ? Number(value) : value;
    } else hr.fail('header field expected');
  }
  return { transactionId, pduType, contentType, applicationId, body: bytes.slice(hend) };
}

/** Resolves an application id (code or URI) to its URI text. */
export function applicationIdUri(id: number | string): string {
  return typeof id === 'number' ? (WSP_APPLICATION_IDS[id] ?? `x-wap-application:0x${id.toString(16)}`) : id;
}
