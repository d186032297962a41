/**
 * The typed SyncML DM message model (DM 1.1.2, 1.2, 1.3).
 *
 * Field names are the spec's element names (`SyncHdr`, `CmdID`, `LocURI`, `MaxMsgSize`, …) so a
 * message reads like its XML. Repeated elements are arrays under the element's name (`Item`,
 * `TargetRef`). Lower-case fields (`type`, `commands`, `kind`) are ours, not elements.
 *
 * Identifiers (`SessionID`, `MsgID`, `CmdID`, `MsgRef`, `CmdRef`) stay strings: peers send hex or
 * decimal session ids and expect them echoed verbatim (protocol.md §1.3). Status and Alert codes,
 * and MetInf sizes, are numbers.
 *
 * Example:
 * ```ts
 * const msg: SyncML = {
 *   SyncHdr: { VerDTD: '1.2', VerProto: 'DM/1.2', SessionID: '1A2B', MsgID: '1',
 *              Target: { LocURI: 'https://dm.example.com/dm' }, Source: { LocURI: 'IMEI:490154203237518' } },
 *   SyncBody: { commands: [{ type: 'Alert', CmdID: '1', Data: 1201, Item: [] }], Final: true },
 * };
 * ```
 */
import type { Element } from './element.ts';

/** The DDF/MetInf value formats (protocol.md §1.6). Receivers lower-case `Chr` → `chr`. */
export const Format = {
  b64: 'b64',
  bin: 'bin',
  bool: 'bool',
  chr: 'chr',
  int: 'int',
  node: 'node',
  null: 'null',
  xml: 'xml',
  date: 'date',
  time: 'time',
  float: 'float',
} as const;
export type Format = (typeof Format)[keyof typeof Format];

const FORMATS: ReadonlySet<string> = new Set(Object.values(Format));
export function isFormat(value: string): value is Format {
  return FORMATS.has(value);
}

/** Generic Alert importance (`Meta/Mark`, protocol.md §1.6), most → least important. */
export const Mark = {
  fatal: 'fatal',
  critical: 'critical',
  minor: 'minor',
  warning: 'warning',
  informational: 'informational',
  harmless: 'harmless',
  indeterminate: 'indeterminate',
} as const;
export type Mark = (typeof Mark)[keyof typeof Mark];

/** The DM protocol versions this model covers, with their VerDTD/VerProto/namespace. */
export const DmVersion = {
  '1.1': { VerDTD: '1.1', VerProto: 'DM/1.1', namespace: 'SYNCML:SYNCML1.1' },
  '1.2': { VerDTD: '1.2', VerProto: 'DM/1.2', namespace: 'SYNCML:SYNCML1.2' },
  '1.3': { VerDTD: '1.2', VerProto: 'DM/1.3', namespace: 'SYNCML:SYNCML1.2' },
} as const;

/** XML namespaces of the SyncML DM vocabularies. */
export const Namespace = {
  SyncML10: 'SYNCML:SYNCML1.0',
  SyncML11: 'SYNCML:SYNCML1.1',
  SyncML12: 'SYNCML:SYNCML1.2',
  MetInf: 'syncml:metinf',
  DmDdf12: 'syncml:dmddf1.2',
} as const;

/** Media types of SyncML DM / DS payloads (protocol.md §1.1). */
export const ContentType = {
  DmXml: 'application/vnd.syncml.dm+xml',
  DmWbxml: 'application/vnd.syncml.dm+wbxml',
  /** The DS types; some DM clients (libdmclient) send them. */
  DsXml: 'application/vnd.syncml+xml',
  DsWbxml: 'application/vnd.syncml+wbxml',
  TndsXml: 'application/vnd.syncml.dmtnds+xml',
  TndsWbxml: 'application/vnd.syncml.dmtnds+wbxml',
  DdfXml: 'application/vnd.syncml.dmddf+xml',
  DdfWbxml: 'application/vnd.syncml.dmddf+wbxml',
  /** Package 0 (General Notification Initiated Session Alert). */
  Notification: 'application/vnd.syncml.notification',
} as const;
export type ContentType = (typeof ContentType)[keyof typeof ContentType];

/**
 * Content of a `Data` element, kept in the form it was transmitted:
 * - `text`: character data (entities and CDATA resolved). Format b64 stays base64 text here.
 * - `bytes`: opaque bytes (WBXML OPAQUE, e.g. Format `bin`, or a nested WBXML document).
 * - `element`: an embedded XML element (e.g. a TNDS `MgmtTree` in the `syncml:dmddf1.2` namespace).
 * Use `dataText`, `dataBytes` and `embeddedElement` (message.ts) to read a value whatever its form.
 */
export type Data = TextData | BytesData | ElementData;
export interface TextData {
  readonly kind: 'text';
  readonly text: string;
}
export interface BytesData {
  readonly kind: 'bytes';
  readonly bytes: Uint8Array;
}
export interface ElementData {
  readonly kind: 'element';
  readonly element: Element;
}

/** `Anchor` (DS only; kept so DS-flavoured peers round-trip). */
export interface Anchor {
  readonly Last?: string;
  readonly Next: string;
}

/** `Mem` (DS only). */
export interface Mem {
  readonly SharedMem?: boolean;
  readonly FreeMem?: number;
  readonly FreeID?: number;
}

/**
 * `Meta`: the MetInf fields (namespace `syncml:metinf`). Command-level Meta applies to all items;
 * item-level Meta overrides it. Absent Format/Type default to `chr` / `text/plain` (protocol.md §1.5).
 */
export interface Meta {
  readonly Format?: Format | (string & {});
  readonly Type?: string;
  readonly Mark?: Mark | (string & {});
  /** Bytes of the object as transmitted (first chunk of a large object only). */
  readonly Size?: number;
  readonly Anchor?: Anchor;
  readonly Version?: string;
  /** Base64 nonce for the next authentication (inside `Chal/Meta`). */
  readonly NextNonce?: string;
  readonly MaxMsgSize?: number;
  readonly MaxObjSize?: number;
  /** Vendor extension information; repeatable. */
  readonly EMI?: readonly string[];
  readonly Mem?: Mem;
  /** DS 1.2 only (empty element). */
  readonly FieldLevel?: boolean;
}

/** `Target` / `Source` (header or item). */
export interface Target {
  readonly LocURI: string;
  readonly LocName?: string;
}
export type Source = Target;

/** `Cred`: authentication credentials (DM: in SyncHdr only). */
export interface Cred {
  readonly Meta?: Meta;
  readonly Data: Data;
}

/** `Chal`: an authentication challenge (inside Status only). */
export interface Chal {
  readonly Meta: Meta;
}

export interface Item {
  readonly Target?: Target;
  readonly Source?: Source;
  readonly Meta?: Meta;
  readonly Data?: Data;
  /** Set on every chunk of a large object but the last. */
  readonly MoreData?: boolean;
}

export interface SyncHdr {
  readonly VerDTD: string;
  readonly VerProto: string;
  /** Opaque; echo verbatim. Hex (`1A2B`) or decimal (`24673`) depending on the peer. */
  readonly SessionID: string;
  readonly MsgID: string;
  readonly Target: Target;
  readonly Source: Source;
  readonly RespURI?: string;
  /** Not used in DM; kept when received. */
  readonly NoResp?: boolean;
  readonly Cred?: Cred;
  readonly Meta?: Meta;
}

interface CommandBase {
  readonly CmdID: string;
  /** Not used in DM; kept when received. */
  readonly NoResp?: boolean;
}

export interface Add extends CommandBase {
  readonly type: 'Add';
  readonly Cred?: Cred;
  readonly Meta?: Meta;
  readonly Item: readonly Item[];
}
export interface Copy extends CommandBase {
  readonly type: 'Copy';
  readonly Cred?: Cred;
  readonly Meta?: Meta;
  readonly Item: readonly Item[];
}
export interface Replace extends CommandBase {
  readonly type: 'Replace';
  readonly Cred?: Cred;
  readonly Meta?: Meta;
  readonly Item: readonly Item[];
}
export interface Delete extends CommandBase {
  readonly type: 'Delete';
  /** DS only. */
  readonly Archive?: boolean;
  /** DS only. */
  readonly SftDel?: boolean;
  readonly Cred?: Cred;
  readonly Meta?: Meta;
  readonly Item: readonly Item[];
}
/** `Get`; a successful Get is answered by a Status and then `Results`. */
export interface Get extends CommandBase {
  readonly type: 'Get';
  /** Not used in DM. */
  readonly Lang?: string;
  readonly Cred?: Cred;
  readonly Meta?: Meta;
  readonly Item: readonly Item[];
}
export interface Exec extends CommandBase {
  readonly type: 'Exec';
  readonly Cred?: Cred;
  readonly Meta?: Meta;
  /** Echoed in a later Generic Alert (1226) for an asynchronous result. */
  readonly Correlator?: string;
  /** DM sends exactly one; the DTD text allows more. */
  readonly Item: readonly Item[];
}
export interface Alert extends CommandBase {
  readonly type: 'Alert';
  readonly Cred?: Cred;
  /** The alert code (AlertCode), absent only in malformed DS-style alerts. */
  readonly Data?: number;
  readonly Correlator?: string;
  readonly Item: readonly Item[];
}
export interface Atomic extends CommandBase {
  readonly type: 'Atomic';
  readonly Meta?: Meta;
  readonly commands: readonly Command[];
}
export interface Sequence extends CommandBase {
  readonly type: 'Sequence';
  readonly Meta?: Meta;
  readonly commands: readonly Command[];
}
export interface Status {
  readonly type: 'Status';
  readonly CmdID: string;
  readonly MsgRef?: string;
  /** `0` refers to the SyncHdr. */
  readonly CmdRef: string;
  /** Name of the referenced command (`SyncHdr`, `Alert`, `Get`, …). */
  readonly Cmd: string;
  readonly TargetRef: readonly string[];
  readonly SourceRef: readonly string[];
  readonly Cred?: Cred;
  readonly Chal?: Chal;
  /** The status code (StatusCode). */
  readonly Data: number;
  readonly Item: readonly Item[];
}
export interface Results {
  readonly type: 'Results';
  readonly CmdID: string;
  readonly MsgRef?: string;
  readonly CmdRef: string;
  readonly Meta?: Meta;
  readonly TargetRef?: string;
  readonly SourceRef?: string;
  readonly Item: readonly Item[];
}

/**
 * A command element the model does not know (DS `Sync`, `Put`, `Map`, …) or a known command that is
 * structurally invalid (no CmdID, no Item, …). Kept so the protocol layer can answer it with a
 * Status (400/412) instead of failing the whole message; `reason` says what is wrong.
 */
export interface UnknownCommand {
  readonly type: 'Unknown';
  /** Element name as received. */
  readonly name: string;
  readonly CmdID?: string;
  readonly reason: string;
  readonly element: Element;
}

export type Command =
  | Add
  | Alert
  | Atomic
  | Copy
  | Delete
  | Exec
  | Get
  | Replace
  | Sequence
  | Status
  | Results
  | UnknownCommand;
export type CommandType = Command['type'];

/** Commands that carry Items addressing tree nodes. */
export type ItemCommand = Add | Copy | Replace | Delete | Get | Exec;

export interface SyncBody {
  /** Commands in message order (order matters: Status before Results, Sequence semantics). */
  readonly commands: readonly Command[];
  /** `<Final/>`: this message is the last of its package. */
  readonly Final: boolean;
}

/** A SyncML DM message. */
export interface SyncML {
  readonly SyncHdr: SyncHdr;
  readonly SyncBody: SyncBody;
}

/** Command names allowed as `Cmd` in a Status, in addition to the command types. */
export const CommandNames = [
  'Add',
  'Alert',
  'Atomic',
  'Copy',
  'Delete',
  'Exec',
  'Get',
  'Replace',
  'Sequence',
  'Status',
  'Results',
] as const;
export type CommandName = (typeof CommandNames)[number];
const COMMAND_NAMES: ReadonlySet<string> = new Set(CommandNames);
export function isCommandName(name: string): name is CommandName {
  return COMMAND_NAMES.has(name);
}

/** Convenience constructors for Data values. */
export const Data = {
  text(text: string): TextData {
    return { kind: 'text', text };
  },
  bytes(bytes: Uint8Array): BytesData {
    return { kind: 'bytes', bytes };
  },
  element(element: Element): ElementData {
    return { kind: 'element', element };
  },
} as const;
