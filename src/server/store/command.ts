/**
 * Commands as the queue stores them: plain JSON an operator (REST API, CLI) can write and the
 * session engine turns into SyncML. Kept independent of the protocol layer's message model so the
 * queue's on-disk format never changes when that model does.
 *
 * Structure rules enforced at enqueue (protocol.md §3.8): `Atomic` may hold only Add, Replace,
 * Delete, Copy; `Sequence` may hold Get, Add, Replace, Delete, Copy, Exec and Atomic; no nesting of
 * Atomic in Atomic; `Exec` always gets a Correlator so a 202 can be matched to its Generic Alert.
 */
import { randomBytes } from 'node:crypto';
import { StoreError, StoreErrorCode } from './errors.ts';

/** An Item payload: value plus optional Meta Format/Type (defaults `chr`, `text/plain`). */
export interface CommandData {
  /** The value; for Format `b64` this is the base64 text, for `bin` base64 of the bytes too. */
  readonly data?: string;
  readonly format?: string;
  readonly type?: string;
  /**
   * Set by the queue, never by the caller: the value is a secret (a secret leaf, see
   * secret-leaves.ts). Stored sealed; records other than a session's claim leave `data` out.
   */
  readonly secret?: true;
}

/** `Get` one node (leaf value or interior child list). Never changes the device. */
export interface GetCommand {
  readonly kind: 'Get';
  readonly target: string;
}
/** `Add` a node (interior when `format` is `node`). */
export interface AddCommand extends CommandData {
  readonly kind: 'Add';
  readonly target: string;
}
/** `Replace` a leaf value. */
export interface ReplaceCommand extends CommandData {
  readonly kind: 'Replace';
  readonly target: string;
}
/** `Delete` a node and its subtree. */
export interface DeleteCommand {
  readonly kind: 'Delete';
  readonly target: string;
}
/** `Copy` the value of leaf `source` onto leaf `target`. */
export interface CopyCommand {
  readonly kind: 'Copy';
  readonly source: string;
  readonly target: string;
}
/** `Exec` an executable node; `correlator` is filled in at enqueue when absent. */
export interface ExecCommand extends CommandData {
  readonly kind: 'Exec';
  readonly target: string;
  readonly correlator?: string;
}
/** Members allowed in an Atomic (protocol.md §3.8). */
export type AtomicMember = AddCommand | ReplaceCommand | DeleteCommand | CopyCommand;
/** All-or-nothing group. */
export interface AtomicCommand {
  readonly kind: 'Atomic';
  readonly commands: readonly AtomicMember[];
}
/** Members allowed in a Sequence. */
export type SequenceMember = GetCommand | AtomicMember | ExecCommand | AtomicCommand;
/** Strictly ordered group. */
export interface SequenceCommand {
  readonly kind: 'Sequence';
  readonly commands: readonly SequenceMember[];
}

/** Any command the queue accepts. */
export type DmCommand = SequenceMember | SequenceCommand;

/** The command kinds, as data. */
export const COMMAND_KINDS = [
  'Get',
  'Add',
  'Replace',
  'Delete',
  'Copy',
  'Exec',
  'Atomic',
  'Sequence',
] as const;
export type CommandKind = (typeof COMMAND_KINDS)[number];

const MAX_URI = 2048;
const MAX_DATA = 1024 * 1024;
const MAX_MEMBERS = 256;
/** XML 1.0 `Char` (§2.2): what a text node of an XML or WBXML message can carry. */
const NOT_XML_CHAR = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;
const BASE64 = /^[A-Za-z0-9+/\s]*={0,2}\s*$/;

function bad(msg: string): never {
  throw new StoreError(StoreErrorCode.InvalidInput, msg);
}

function uri(v: unknown, what: string): string {
  if (typeof v !== 'string' || v.length === 0) bad(`${what} must be a non-empty URI`);
  if (v.length > MAX_URI) bad(`${what} is longer than ${MAX_URI} characters`);
  if (/[\u0000-\u001f]/.test(v)) bad(`${what} contains control characters`);
  if (NOT_XML_CHAR.test(v)) bad(`${what} contains characters XML 1.0 text cannot carry`);
  return v;
}

function optString(v: unknown, what: string, max: number): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string') bad(`${what} must be a string`);
  if (v.length > max) bad(`${what} is longer than ${max} characters`);
  return v;
}

/** A string that goes into the message as XML text as it is (Meta Format/Type, Correlator). */
function optText(v: unknown, what: string, max: number): string | undefined {
  const s = optString(v, what, max);
  if (s !== undefined && NOT_XML_CHAR.test(s)) bad(`${what} contains characters XML 1.0 text cannot carry`);
  return s;
}

/**
 * Why a value cannot be sent with this Meta Format, or undefined when it can. `b64` and `bin`
 * values are given as base64 text (the bytes go out as base64 text in XML, as OPAQUE in WBXML);
 * every other format (`chr` by default) goes out as text, so it must be XML 1.0 text: no control
 * characters but TAB, LF and CR, no lone surrogates, no U+FFFE/U+FFFF.
 */
export function valueProblem(data: string, format: string | undefined): string | undefined {
  const f = (format ?? 'chr').toLowerCase();
  if (f === 'b64' || f === 'bin') {
    if (!BASE64.test(data) || data.replace(/\s+/g, '').length % 4 !== 0)
      return `is not base64 (format ${f} carries bytes, given as base64)`;
    return undefined;
  }
  const m = NOT_XML_CHAR.exec(data);
  if (!m) return undefined;
  const cp = m[0].codePointAt(0) ?? 0;
  return `contains U+${cp.toString(16).toUpperCase().padStart(4, '0')} at offset ${m.index}, which XML 1.0 text cannot carry (format ${f})`;
}

function dataFields(o: Record<string, unknown>): CommandData {
  const data = optString(o.data, 'data', MAX_DATA);
  const format = optText(o.format, 'format', 32);
  const type = optText(o.type, 'type', 256);
  if (data !== undefined) {
    const problem = valueProblem(data, format);
    if (problem) bad(`data ${problem}`);
  }
  return {
    ...(data !== undefined ? { data } : {}),
    ...(format !== undefined ? { format } : {}),
    ...(type !== undefined ? { type } : {}),
  };
}

/** A fresh correlator: 16 random bytes, hex. */
export function newCorrelator(): string {
  return randomBytes(16).toString('hex');
}

type Context = 'top' | 'atomic' | 'sequence';

function normalize(input: unknown, ctx: Context): DmCommand {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) bad('a command must be an object');
  const o = input as Record<string, unknown>;
  switch (o.kind) {
    case 'Get':
      if (ctx === 'atomic') bad('Get is not allowed inside Atomic');
      return { kind: 'Get', target: uri(o.target, 'target') };
    case 'Add':
      return { kind: 'Add', target: uri(o.target, 'target'), ...dataFields(o) };
    case 'Replace': {
      const d = dataFields(o);
      if (d.data === undefined) bad('Replace needs data');
      return { kind: 'Replace', target: uri(o.target, 'target'), ...d };
    }
    case 'Delete':
      return { kind: 'Delete', target: uri(o.target, 'target') };
    case 'Copy':
      return { kind: 'Copy', source: uri(o.source, 'source'), target: uri(o.target, 'target') };
    case 'Exec': {
      if (ctx === 'atomic') bad('Exec is not allowed inside Atomic');
      const correlator = optText(o.correlator, 'correlator', 128) ?? newCorrelator();
      return { kind: 'Exec', target: uri(o.target, 'target'), ...dataFields(o), correlator };
    }
    case 'Atomic':
    case 'Sequence': {
      if (ctx === 'atomic') bad(`${o.kind} is not allowed inside Atomic`);
      if (ctx === 'sequence' && o.kind === 'Sequence') bad('Sequence is not allowed inside Sequence');
      if (!Array.isArray(o.commands) || o.commands.length === 0) bad(`${o.kind} needs at least one command`);
      if (o.commands.length > MAX_MEMBERS) bad(`${o.kind} has more than ${MAX_MEMBERS} commands`);
      const inner: Context = o.kind === 'Atomic' ? 'atomic' : 'sequence';
      const commands = o.commands.map((c) => normalize(c, inner));
      return o.kind === 'Atomic'
        ? { kind: 'Atomic', commands: commands as AtomicMember[] }
        : { kind: 'Sequence', commands: commands as SequenceMember[] };
    }
    default:
      return bad(
        `unknown command kind ${JSON.stringify(o.kind)} (expected one of ${COMMAND_KINDS.join(', ')})`,
      );
  }
}

/**
 * Validates untrusted command JSON and returns a normalized copy (unknown fields dropped, Exec
 * correlators filled in). Throws StoreError `OMADM_ERR_STORE_INVALID_INPUT` with a readable message.
 */
export function parseCommand(input: unknown): DmCommand {
  return normalize(input, 'top');
}

/**
 * True when executing the command twice could differ from executing it once, i.e. anything but a
 * Get (or a Sequence of Gets). Such commands are never re-sent after a crash once they were sent.
 */
export function isDestructive(c: DmCommand): boolean {
  if (c.kind === 'Get') return false;
  if (c.kind === 'Sequence') return c.commands.some(isDestructive);
  return true;
}

/** The URI shown in listings: the target of the command or of its first member. */
export function primaryUri(c: DmCommand): string {
  if (c.kind === 'Atomic' || c.kind === 'Sequence') return c.commands[0] ? primaryUri(c.commands[0]) : '';
  return c.target;
}

/** The value shown in listings, when the command carries one. */
export function primaryValue(c: DmCommand): string | null {
  if (c.kind === 'Atomic' || c.kind === 'Sequence') return c.commands[0] ? primaryValue(c.commands[0]) : null;
  if (c.kind === 'Add' || c.kind === 'Replace' || c.kind === 'Exec') return c.data ?? null;
  if (c.kind === 'Copy') return c.source;
  return null;
}

/** Every Exec correlator in the command (group members included), in order. */
export function correlatorsOf(c: DmCommand): string[] {
  if (c.kind === 'Exec') return c.correlator ? [c.correlator] : [];
  if (c.kind === 'Atomic' || c.kind === 'Sequence') return c.commands.flatMap(correlatorsOf);
  return [];
}
