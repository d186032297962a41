/**
 * The WBXML vocabulary of SyncML DM as data: one tag table per code page, with
 * the namespace each page stands for, and the public identifiers.
 *
 * No tag name appears in the decoder or the encoder; they only index these
 * tables (see docs of libwbxml's `wbxml_tables.c`, which keeps them apart too).
 * Source: ../shared/spec/protocol.md §2.1–2.5 ([V2] libwbxml 0.11.8
 * `sv_syncml_syncml12_tag_table`, `sv_syncml_metinf12_tag_table`,
 * `sv_syncml_dmddf12_tag_table`; Motorola/Intel RTK `xlttags.c`).
 */
import { Namespace } from '../model.ts';

/** A code page: its number, the XML namespace of its elements, and its tags by token. */
export interface CodePage {
  readonly page: number;
  /** Effective namespace URI of every element on this page. */
  readonly ns: string;
  /** Tag names indexed by token (0x05…0x3F); undefined where the token is not assigned. */
  readonly tags: readonly (string | undefined)[];
}

function table(entries: Record<string, number>): readonly (string | undefined)[] {
  const tags: (string | undefined)[] = new Array(0x40).fill(undefined);
  for (const [name, token] of Object.entries(entries)) tags[token] = name;
  return Object.freeze(tags);
}

/**
 * Code page 0 — SyncML (SyncML 1.2 table; 1.1 is the same up to 0x34 and lacks
 * 0x35–0x3C, so one table serves DM 1.1.2, 1.2 and 1.3). 0x30 is reserved.
 */
export const SYNCML_TAGS = table({
  Add: 0x05,
  Alert: 0x06,
  Archive: 0x07,
  Atomic: 0x08,
  Chal: 0x09,
  Cmd: 0x0a,
  CmdID: 0x0b,
  CmdRef: 0x0c,
  Copy: 0x0d,
  Cred: 0x0e,
  Data: 0x0f,
  Delete: 0x10,
  Exec: 0x11,
  Final: 0x12,
  Get: 0x13,
  Item: 0x14,
  Lang: 0x15,
  LocName: 0x16,
  LocURI: 0x17,
  Map: 0x18,
  MapItem: 0x19,
  Meta: 0x1a,
  MsgID: 0x1b,
  MsgRef: 0x1c,
  NoResp: 0x1d,
  NoResults: 0x1e,
  Put: 0x1f,
  Replace: 0x20,
  RespURI: 0x21,
  Results: 0x22,
  Search: 0x23,
  Sequence: 0x24,
  SessionID: 0x25,
  SftDel: 0x26,
  Source: 0x27,
  SourceRef: 0x28,
  Status: 0x29,
  Sync: 0x2a,
  SyncBody: 0x2b,
  SyncHdr: 0x2c,
  SyncML: 0x2d,
  Target: 0x2e,
  TargetRef: 0x2f,
  VerDTD: 0x31,
  VerProto: 0x32,
  NumberOfChanges: 0x33,
  MoreData: 0x34,
  Field: 0x35,
  Filter: 0x36,
  Record: 0x37,
  FilterType: 0x38,
  SourceParent: 0x39,
  TargetParent: 0x3a,
  Move: 0x3b,
  Correlator: 0x3c,
});

/** Code page 1 — MetInf (spec §2.4). */
export const METINF_TAGS = table({
  Anchor: 0x05,
  EMI: 0x06,
  Format: 0x07,
  FreeID: 0x08,
  FreeMem: 0x09,
  Last: 0x0a,
  Mark: 0x0b,
  MaxMsgSize: 0x0c,
  Mem: 0x0d,
  MetInf: 0x0e,
  Next: 0x0f,
  NextNonce: 0x10,
  SharedMem: 0x11,
  Size: 0x12,
  Type: 0x13,
  Version: 0x14,
  MaxObjSize: 0x15,
  FieldLevel: 0x16,
});

/** Code page 2 — DM DDF / TNDS 1.2 (spec §2.5). `Node` 0x24 (element) vs `node` 0x25 (format value). */
export const DMDDF_TAGS = table({
  AccessType: 0x05,
  ACL: 0x06,
  Add: 0x07,
  b64: 0x08,
  bin: 0x09,
  bool: 0x0a,
  chr: 0x0b,
  CaseSense: 0x0c,
  CIS: 0x0d,
  Copy: 0x0e,
  CS: 0x0f,
  date: 0x10,
  DDFName: 0x11,
  DefaultValue: 0x12,
  Delete: 0x13,
  Description: 0x14,
  DFFormat: 0x15,
  DFProperties: 0x16,
  DFTitle: 0x17,
  DFType: 0x18,
  Dynamic: 0x19,
  Exec: 0x1a,
  float: 0x1b,
  Format: 0x1c,
  Get: 0x1d,
  int: 0x1e,
  Man: 0x1f,
  MgmtTree: 0x20,
  MIME: 0x21,
  Mod: 0x22,
  Name: 0x23,
  Node: 0x24,
  node: 0x25,
  NodeName: 0x26,
  null: 0x27,
  Occurrence: 0x28,
  One: 0x29,
  OneOrMore: 0x2a,
  OneOrN: 0x2b,
  Path: 0x2c,
  Permanent: 0x2d,
  Replace: 0x2e,
  RTProperties: 0x2f,
  Scope: 0x30,
  Size: 0x31,
  time: 0x32,
  Title: 0x33,
  TStamp: 0x34,
  Type: 0x35,
  Value: 0x36,
  VerDTD: 0x37,
  VerNo: 0x38,
  xml: 0x39,
  ZeroOrMore: 0x3a,
  ZeroOrN: 0x3b,
  ZeroOrOne: 0x3c,
});

/** Namespace URIs (spec §1.1): the message model's table, which the code pages name. */
export { Namespace } from '../model.ts';

/** WBXML numeric public identifiers (spec §2.1). */
export const PublicId = {
  /** publicid 0: the FPI is a string-table reference. */
  StringTable: 0,
  Unknown: 1,
  SyncML10: 0x0fd1,
  SyncML11: 0x0fd3,
  SyncML12: 0x1201,
  MetInf12: 0x1202,
  DevInf11: 0x0fd4,
  DevInf12: 0x1203,
} as const;

/** Formal public identifiers (FPI) as written in DOCTYPEs and WBXML string tables. */
export const Fpi = {
  SyncML10: '-//SYNCML//DTD SyncML 1.0//EN',
  SyncML11: '-//SYNCML//DTD SyncML 1.1//EN',
  SyncML12: '-//SYNCML//DTD SyncML 1.2//EN',
  DmDdf12: '-//OMA//DTD-DM-DDF 1.2//EN',
} as const;

/** The MIME types of TNDS data: libwbxml (and the spec's default) relabel XML TNDS carried as WBXML. */
export const TndsType = {
  Xml: 'application/vnd.syncml.dmtnds+xml',
  Wbxml: 'application/vnd.syncml.dmtnds+wbxml',
} as const;

/** SyncML page 0 in the flavour (namespace) a public id announces; MetInf and DDF never change. */
const pageSets = new Map<string, readonly CodePage[]>();
export function codePagesFor(syncmlNs: string): readonly CodePage[] {
  const known = pageSets.get(syncmlNs);
  if (known !== undefined) return known;
  const pages = Object.freeze([
    Object.freeze({ page: 0, ns: syncmlNs, tags: SYNCML_TAGS }),
    Object.freeze({ page: 1, ns: Namespace.MetInf, tags: METINF_TAGS }),
    Object.freeze({ page: 2, ns: Namespace.DmDdf12, tags: DMDDF_TAGS }),
  ]);
  pageSets.set(syncmlNs, pages);
  return pages;
}

/**
 * Which SyncML namespace page 0 stands for, from the public id (numeric or FPI).
 * Liberal: unknown ids get DM 1.2's namespace. Real dm12 messages declare SyncML 1.1's id while
 * saying VerDTD 1.2 — they decode as `SYNCML:SYNCML1.1`, as libwbxml's wbxml2xml does; the model
 * layer goes by VerDTD/VerProto.
 */
export function syncmlNamespaceFor(publicId: number | string): string {
  if (typeof publicId === 'string') {
    if (publicId.includes('SyncML 1.1')) return Namespace.SyncML11;
    if (publicId.includes('SyncML 1.0')) return Namespace.SyncML10;
    return Namespace.SyncML12;
  }
  if (publicId === PublicId.SyncML11) return Namespace.SyncML11;
  if (publicId === PublicId.SyncML10) return Namespace.SyncML10;
  return Namespace.SyncML12;
}

/** Names of the numeric public ids that are not ours, for the error that refuses them. */
const FOREIGN_IDS: Readonly<Record<number, string>> = {
  [PublicId.MetInf12]: 'MetInf 1.2',
  [PublicId.DevInf11]: 'DevInf 1.1',
  [PublicId.DevInf12]: 'DevInf 1.2',
  4050: 'DevInf 1.0',
};

/**
 * Whether a public id announces a document these code pages decode: SyncML 1.0–1.2 (numeric or
 * FPI), the DM DDF/TNDS FPI (nested TNDS), or 1 ("unknown": the root element decides, spec §2.1).
 * Returns the reason otherwise (a DevInf document, any other registered id or FPI).
 */
export function foreignPublicId(publicId: number | string): string | undefined {
  if (typeof publicId === 'string') {
    const fpi = publicId.replace(/\0+$/, '').trim();
    if (/^-\/\/SYNCML\/\/DTD SyncML 1\.[0-2]\/\/EN$/i.test(fpi)) return undefined;
    if (/^-\/\/OMA\/\/DTD[- ]DM[- ]DDF 1\.[0-9]\/\/EN$/i.test(fpi)) return undefined;
    return `public id "${fpi.slice(0, 80)}" is not a SyncML DM document type`;
  }
  if (
    publicId === PublicId.Unknown ||
    publicId === PublicId.SyncML10 ||
    publicId === PublicId.SyncML11 ||
    publicId === PublicId.SyncML12
  ) {
    return undefined;
  }
  const name = FOREIGN_IDS[publicId];
  return `public id 0x${publicId.toString(16).toUpperCase()}${name ? ` (${name})` : ''} is not a SyncML DM document type`;
}

/** The code page an element namespace maps to, or -1 (compared case-insensitively: peers vary the case). */
export function pageForNamespace(ns: string): number {
  switch (ns.toLowerCase()) {
    case 'syncml:syncml1.2':
    case 'syncml:syncml1.1':
    case 'syncml:syncml1.0':
      return 0;
    case 'syncml:metinf':
      return 1;
    case 'syncml:dmddf1.2':
      return 2;
    default:
      return -1;
  }
}

/** The public id the encoder writes by default for a document whose root is `name` in `ns`. */
export function defaultPublicId(name: string, ns: string): number | string {
  const lower = ns.toLowerCase();
  if (lower === 'syncml:syncml1.1') return PublicId.SyncML11;
  if (lower === 'syncml:syncml1.0') return PublicId.SyncML10;
  if (name === 'SyncML' || lower === 'syncml:syncml1.2') return PublicId.SyncML12;
  if (lower === 'syncml:dmddf1.2' || name === 'MgmtTree') return Fpi.DmDdf12;
  return PublicId.Unknown;
}
