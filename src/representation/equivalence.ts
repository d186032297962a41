/**
 * Message equivalence across encodings. The model keeps Data in its transmitted form, so the same
 * message decoded from XML and from WBXML can differ in form only: text vs OPAQUE bytes holding
 * that text (libwbxml writes Add/Replace item Data as OPAQUE), an embedded element vs a nested
 * WBXML document in OPAQUE (TNDS), and the TNDS Meta/Type relabelled `…dmtnds+wbxml`.
 * `canonicalMessage` removes exactly those differences; `equivalentMessages` compares with it.
 */
import { isDeepStrictEqual } from 'node:util';
import { parseElement } from './codec.ts';
import type { Command, Data, Item, Meta, SyncML } from './model.ts';
import { ContentType } from './model.ts';

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const FORBIDDEN_RE = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/;

function canonicalData(d: Data): Data {
  if (d.kind !== 'bytes') return d;
  const b = d.bytes;
  if (b.length > 0 && b[0]! <= 0x03) {
    try {
      return { kind: 'element', element: parseElement(b) };
    } catch {
      return d;
    }
  }
  try {
    const text = utf8.decode(b);
    if (!FORBIDDEN_RE.test(text)) return { kind: 'text', text };
  } catch {
    // binary: stays bytes
  }
  return d;
}

function canonicalMeta(m: Meta | undefined, data: Data | undefined): Meta | undefined {
  if (!m || m.Type !== ContentType.TndsWbxml || data?.kind !== 'element') return m;
  return { ...m, Type: ContentType.TndsXml };
}

function canonicalItem(it: Item): Item {
  if (!it.Data) return it;
  const Data = canonicalData(it.Data);
  const out: Record<string, unknown> = { ...it, Data };
  if (it.Meta) out.Meta = canonicalMeta(it.Meta, Data);
  return out as Item;
}

function canonicalCommand(c: Command): Command {
  switch (c.type) {
    case 'Atomic':
    case 'Sequence':
      return { ...c, commands: c.commands.map(canonicalCommand) };
    case 'Unknown':
      return c;
    default: {
      const out: Record<string, unknown> = { ...c, Item: c.Item.map(canonicalItem) };
      if ('Cred' in c && c.Cred) out.Cred = { ...c.Cred, Data: canonicalData(c.Cred.Data) };
      return out as unknown as Command;
    }
  }
}

/** The message with Data values in a canonical form (see the module comment). */
export function canonicalMessage(msg: SyncML): SyncML {
  const h = msg.SyncHdr;
  return {
    SyncHdr: h.Cred ? { ...h, Cred: { ...h.Cred, Data: canonicalData(h.Cred.Data) } } : h,
    SyncBody: { ...msg.SyncBody, commands: msg.SyncBody.commands.map(canonicalCommand) },
  };
}

/** True when two messages are the same up to the form (text/OPAQUE/nested document) of their Data. */
export function equivalentMessages(a: SyncML, b: SyncML): boolean {
  return isDeepStrictEqual(canonicalMessage(a), canonicalMessage(b));
}
