/**
 * What the outside must never see of a DM session: its RespURI token (the session's only key
 * between messages) and secret values (a Replace of AAuthSecret, a device's Basic credentials).
 * Traces are written through {@link redactMessage}; API session ids come from
 * {@link publicSessionKey}; URLs reach logs through {@link redactUrl}.
 */
import { createHash } from 'node:crypto';
import {
  decodeWbxml,
  detectEncoding,
  type Element,
  encodeWbxml,
  isElement,
  parseXmlElement,
  writeXmlElement,
} from '../representation/index.ts';
import type { SecretLeaves } from './store/index.ts';

/** What a redacted value reads as, in traces and API answers. */
export const REDACTED = '[redacted]';

const PUBLIC_PREFIX = '~';

/**
 * The key a session's trace is stored and shown under: a one-way hash of its RespURI token, so
 * the trace (and the session id the API derives from it) never gives the token away. Keys that
 * are already public (this prefix) are returned as they are.
 */
export function publicSessionKey(key: string): string {
  if (key.startsWith(PUBLIC_PREFIX)) return key;
  return PUBLIC_PREFIX + createHash('sha256').update(key).digest('base64url').slice(0, 22);
}

/** A URL for a log line: the `s` (session token) parameter's value replaced. */
export function redactUrl(url: string): string {
  return url.replace(/([?&]s=)[^&#]*/g, '$1*');
}

/**
 * The bytes with every occurrence of each token overwritten by `*` of the same length. Tokens are
 * base64url text, written as is in XML and in WBXML strings; keeping the length keeps WBXML
 * string-table offsets right.
 */
export function redactTokens(body: Uint8Array, tokens: readonly (string | undefined)[]): Uint8Array {
  const buf = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  return overwrite(buf, buf.toString('latin1'), tokens) ?? body;
}

/**
 * `redactTokens` on bytes whose latin1 text is `text` (one byte per character: offsets agree);
 * undefined when no token occurs.
 */
function overwrite(buf: Buffer, text: string, tokens: readonly (string | undefined)[]): Buffer | undefined {
  let out: Buffer | undefined;
  for (const token of tokens) {
    if (!token || token.length < 8) continue;
    let at = text.indexOf(token);
    if (at < 0) continue;
    out ??= Buffer.from(buf); // copy once: the request's own bytes are not ours to change
    while (at >= 0) {
      out.fill(0x2a, at, at + token.length);
      at = text.indexOf(token, at + token.length);
    }
  }
  return out;
}

/** What {@link redactMessage} hides. */
export interface RedactOptions {
  /** Session tokens (the RespURI `s` values) to overwrite. */
  readonly tokens?: readonly (string | undefined)[];
  /** Secret leaves: the Data of an Item whose Target or Source is one of them is replaced. */
  readonly secrets?: SecretLeaves;
}

const BASIC = 'auth-basic';
const markerCache = new WeakMap<SecretLeaves, RegExp>();
const BASIC_ONLY = /auth-basic/i;

/** What a message that may need redacting contains: a secret leaf's name, or a Basic Cred. */
function markersOf(secrets: SecretLeaves | undefined): RegExp {
  if (!secrets) return BASIC_ONLY;
  let m = markerCache.get(secrets);
  if (!m) {
    const names = secrets.markers.map((x) => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    m = new RegExp([...names, BASIC].join('|'), 'i');
    markerCache.set(secrets, m);
  }
  return m;
}

/**
 * A DM message (XML or WBXML) as a trace may keep it: tokens overwritten; Data of items on secret
 * leaves, TNDS Values of secret nodes and Basic credentials replaced by {@link REDACTED}. Bytes
 * that mention no secret leaf and no Basic credential are kept as they are (no decode); a
 * message that needs redacting is decoded and written back in its encoding. One that does not
 * decode keeps its bytes (the server acted on nothing in it).
 */
export function redactMessage(body: Uint8Array, options: RedactOptions): Uint8Array {
  const buf = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  // One latin1 view of the bytes for every search (tokens and markers are ASCII).
  const text = buf.toString('latin1');
  const bytes = overwrite(buf, text, options.tokens ?? []) ?? body;
  if (!markersOf(options.secrets).test(text)) return bytes;
  try {
    const enc = detectEncoding(bytes);
    if (enc === 'wbxml') {
      const doc = decodeWbxml(bytes);
      if (!redactElement(doc.root, options.secrets)) return bytes;
      return encodeWbxml(doc.root, {
        version: doc.version as 0x01 | 0x02 | 0x03,
        publicId: doc.publicId,
      });
    }
    if (enc === 'xml') {
      const root = parseXmlElement(bytes);
      if (!redactElement(root, options.secrets)) return bytes;
      return Buffer.from(writeXmlElement(root), 'utf8');
    }
  } catch {
    // Not a message we could read: nothing in it was acted on.
  }
  return bytes;
}

function child(e: Element, name: string): Element | undefined {
  for (const c of e.children) if (isElement(c) && c.name === name) return c;
  return undefined;
}

function text(e: Element | undefined): string {
  if (!e) return '';
  let out = '';
  for (const c of e.children) if (typeof c === 'string') out += c;
  return out.trim();
}

/** Redacts in place; true when anything changed. */
function redactElement(root: Element, secrets: SecretLeaves | undefined): boolean {
  let changed = false;
  const hide = (e: Element | undefined) => {
    if (!e) return;
    e.children = [REDACTED];
    changed = true;
  };
  const walk = (e: Element) => {
    if (e.name === 'Cred') {
      const type = text(child(child(e, 'Meta') ?? e, 'Type'));
      if (type.toLowerCase().includes(BASIC)) hide(child(e, 'Data'));
    } else if (e.name === 'Item' && secrets) {
      const uri =
        text(child(child(e, 'Target') ?? e, 'LocURI')) || text(child(child(e, 'Source') ?? e, 'LocURI'));
      if (uri && secrets.isSecret(uri) && child(e, 'Data')) hide(child(e, 'Data'));
    } else if (e.name === 'Node' && secrets) {
      // TNDS inside Data (XML form): a secret node's Value.
      const name = text(child(e, 'NodeName'));
      if (name && secrets.isSecret(name) && child(e, 'Value')) hide(child(e, 'Value'));
    }
    for (const c of e.children) if (isElement(c)) walk(c);
  };
  walk(root);
  return changed;
}
