/**
 * What a message must look like to be sent as XML. WBXML can carry raw bytes (OPAQUE); XML cannot.
 * Per protocol.md §1.5, binary values sent in XML use Format `b64` (the receiver stores `bin`):
 * - OPAQUE holding a nested WBXML document (TNDS) → the embedded element, its Meta/Type
 *   `…dmtnds+wbxml` relabelled `…dmtnds+xml`;
 * - OPAQUE whose Format is `bin`, or that is not UTF-8 text → base64 text, item Meta/Format `b64`;
 * - other OPAQUE (text a peer sent as OPAQUE) → that text.
 * encodeXml applies this, so a WBXML message re-sent as XML keeps its meaning.
 */
import type { Command, Cred, Item, Meta, SyncML } from './model.ts';
import { ContentType } from './model.ts';
import { decodeWbxml } from './wbxml/index.ts';

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const FORBIDDEN_RE = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/;

function asText(b: Uint8Array): string | undefined {
  try {
    const t = utf8.decode(b);
    return FORBIDDEN_RE.test(t) ? undefined : t;
  } catch {
    return undefined;
  }
}

const base64 = (b: Uint8Array): string =>
  Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');

function hasBytes(commands: readonly Command[]): boolean {
  for (const c of commands) {
    if (c.type === 'Atomic' || c.type === 'Sequence') {
      if (hasBytes(c.commands)) return true;
    } else if (c.type !== 'Unknown') {
      if ('Cred' in c && c.Cred?.Data.kind === 'bytes') return true;
      for (const it of c.Item) if (it.Data?.kind === 'bytes') return true;
    }
  }
  return false;
}

function item(it: Item, cmdMeta: Meta | undefined): Item {
  const d = it.Data;
  if (d?.kind !== 'bytes') return it;
  const b = d.bytes;
  if (b.length > 0 && b[0]! <= 0x03) {
    try {
      const element = decodeWbxml(b).root;
      const out: { -readonly [K in keyof Item]: Item[K] } = { ...it, Data: { kind: 'element', element } };
      if (it.Meta?.Type === ContentType.TndsWbxml) out.Meta = { ...it.Meta, Type: ContentType.TndsXml };
      return out;
    } catch {
      // not a nested document: binary below
    }
  }
  const format = it.Meta?.Format ?? cmdMeta?.Format;
  const text = format === 'bin' ? undefined : asText(b);
  if (text !== undefined) return { ...it, Data: { kind: 'text', text } };
  return { ...it, Meta: { ...it.Meta, Format: 'b64' }, Data: { kind: 'text', text: base64(b) } };
}

function cred(c: Cred): Cred {
  if (c.Data.kind !== 'bytes') return c;
  const text = asText(c.Data.bytes);
  if (text !== undefined) return { ...c, Data: { kind: 'text', text } };
  return { ...c, Meta: { ...c.Meta, Format: 'b64' }, Data: { kind: 'text', text: base64(c.Data.bytes) } };
}

function command(c: Command): Command {
  switch (c.type) {
    case 'Atomic':
    case 'Sequence':
      return { ...c, commands: c.commands.map(command) };
    case 'Unknown':
      return c;
    default: {
      const meta = 'Meta' in c ? c.Meta : undefined;
      const out: Record<string, unknown> = { ...c, Item: c.Item.map((it) => item(it, meta)) };
      if ('Cred' in c && c.Cred) out.Cred = cred(c.Cred);
      return out as unknown as Command;
    }
  }
}

/** The message with every OPAQUE Data value in a form XML can carry (see the module comment). */
export function toXmlForm(msg: SyncML): SyncML {
  const hdrCred = msg.SyncHdr.Cred;
  const hdrBytes = hdrCred?.Data.kind === 'bytes';
  if (!hdrBytes && !hasBytes(msg.SyncBody.commands)) return msg;
  return {
    SyncHdr: hdrBytes && hdrCred ? { ...msg.SyncHdr, Cred: cred(hdrCred) } : msg.SyncHdr,
    SyncBody: { ...msg.SyncBody, commands: msg.SyncBody.commands.map(command) },
  };
}
