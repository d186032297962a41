/**
 * OMA Download Descriptor 1.0 (objects.md §1.5): what a PkgURL may point at instead of the image.
 * Read liberally (any namespace or none, element names case-insensitive, unknown elements kept
 * out), checked strictly (objectURI required and http(s), size a non-negative integer, DDVersion
 * 1.x). The SHA-256 the image must have may come in an operator extension element `sha256`
 * (or `omadm:sha256`, any namespace), 64 hex digits — omadm's convention, see docs/fumo.md.
 */
import { type Element, isElement, parseXmlElement } from '../representation/index.ts';

/** Media type of a Download Descriptor. */
export const DD_MEDIA_TYPE = 'application/vnd.oma.dd+xml';
/** A descriptor is small: anything larger is refused unread. */
export const DD_MAX_BYTES = 64 * 1024;

export interface DownloadDescriptor {
  /** Absolute URL of the object (resolved against the descriptor's own URL). */
  readonly objectUri: string;
  readonly size?: number;
  readonly types: readonly string[];
  readonly installNotifyUri?: string;
  readonly nextUrl?: string;
  readonly name?: string;
  readonly vendor?: string;
  readonly description?: string;
  readonly ddVersion?: string;
  /** Lower-case hex SHA-256 of the object (extension element). */
  readonly sha256?: string;
}

export type DdErrorKind = 'invalid-descriptor' | 'invalid-version';

export class DdError extends Error {
  readonly code = 'OMADM_ERR_MO_FUMO_DD';
  readonly kind: DdErrorKind;
  constructor(kind: DdErrorKind, message: string) {
    super(message);
    this.name = 'DdError';
    this.kind = kind;
  }
}

/** Whether a response is a descriptor: its media type, or (liberal) a body whose root is `<media>`. */
export function looksLikeDd(contentType: string | undefined, body: Uint8Array): boolean {
  const media = contentType?.split(';')[0]?.trim().toLowerCase();
  if (media === DD_MEDIA_TYPE) return true;
  if (media && media !== 'text/xml' && media !== 'application/xml') return false;
  const head = Buffer.from(body.subarray(0, 512)).toString('utf8');
  return /^\s*(<\?xml[^>]*\?>\s*)?(<!--[\s\S]*?-->\s*)*<([A-Za-z_][\w.-]*:)?media[\s>]/.test(head);
}

function text(e: Element): string {
  return e.children
    .filter((c): c is string => typeof c === 'string')
    .join('')
    .trim();
}

function absolute(raw: string, base: string, what: string): string {
  let u: URL;
  try {
    u = new URL(raw, base);
  } catch {
    throw new DdError('invalid-descriptor', `${what} is not a URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new DdError('invalid-descriptor', `${what} must be http(s), not ${u.protocol}`);
  return u.href;
}

/** Parses a descriptor fetched from `baseUrl`. Throws DdError (→ status 906/951). */
export function parseDownloadDescriptor(body: Uint8Array | string, baseUrl: string): DownloadDescriptor {
  if ((typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength) > DD_MAX_BYTES)
    throw new DdError('invalid-descriptor', 'descriptor too large');
  let root: Element;
  try {
    root = parseXmlElement(body, {
      maxBytes: DD_MAX_BYTES,
      maxDepth: 8,
      maxElements: 512,
      maxTextLength: 8192,
    });
  } catch (err) {
    throw new DdError('invalid-descriptor', `descriptor is not XML: ${(err as Error).message}`);
  }
  if (root.name.toLowerCase() !== 'media')
    throw new DdError('invalid-descriptor', 'root element is not <media>');
  const fields = new Map<string, string[]>();
  for (const c of root.children) {
    if (!isElement(c)) continue;
    const k = c.name.toLowerCase();
    const list = fields.get(k) ?? [];
    list.push(text(c));
    fields.set(k, list);
  }
  const one = (k: string) => fields.get(k.toLowerCase())?.[0];
  const ddVersion = one('DDVersion');
  if (ddVersion !== undefined && ddVersion !== '' && !/^1(\.\d+)?$/.test(ddVersion))
    throw new DdError('invalid-version', `DDVersion ${ddVersion} is not supported`);
  const objectRaw = one('objectURI');
  if (!objectRaw) throw new DdError('invalid-descriptor', 'objectURI is missing');
  const sizeRaw = one('size');
  let size: number | undefined;
  if (sizeRaw !== undefined && sizeRaw !== '') {
    if (!/^\d{1,15}$/.test(sizeRaw))
      throw new DdError('invalid-descriptor', `size ${sizeRaw.slice(0, 40)} is not a number`);
    size = Number(sizeRaw);
  }
  const sha = one('sha256')?.toLowerCase();
  if (sha !== undefined && !/^[0-9a-f]{64}$/.test(sha))
    throw new DdError('invalid-descriptor', 'sha256 must be 64 hex digits');
  const notify = one('installNotifyURI');
  const next = one('nextURL');
  const opt = (k: string, v: string | undefined) => (v ? { [k]: v } : {});
  return {
    objectUri: absolute(objectRaw, baseUrl, 'objectURI'),
    ...(size !== undefined ? { size } : {}),
    types: fields.get('type') ?? [],
    ...(notify ? { installNotifyUri: absolute(notify, baseUrl, 'installNotifyURI') } : {}),
    ...opt('nextUrl', next),
    ...opt('name', one('name')),
    ...opt('vendor', one('vendor')),
    ...opt('description', one('description')),
    ...opt('ddVersion', ddVersion),
    ...(sha ? { sha256: sha } : {}),
  };
}

/** The install-notify body: the status line (`900 Success`). */
export function installNotifyBody(status: number, text: string): string {
  return `${status} ${text}\n`;
}
