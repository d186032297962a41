/**
 * Packing outgoing commands into messages that respect the peer's MaxMsgSize (protocol.md §3.3,
 * §3.9): whole commands while they fit; a single-item Add/Replace/Results/Alert that does not fit
 * is split into large-object chunks (MoreData on all but the last, Meta/Size on the first). Sizes
 * are measured with the real codec, so the limit holds exactly for XML and WBXML alike. Nothing
 * ever overflows: a Status that does not fit waits for the next message, a command that does not
 * fit after the Statuses waits too, and one that cannot fit in any message (not even split) is
 * handed back as `oversize` for the engine to fail (413).
 */
import type { Command, Data, Item, SyncHdr, SyncML } from '../representation/index.ts';
import type { Encoding, MessageCodec } from './codec.ts';
import { message, numberCommands } from './message.ts';

/** A command waiting to be sent. `tag` is opaque to the packer (engines map it back). */
export interface OutEntry {
  readonly cmd: Command;
  readonly tag?: string;
  /** Bytes of the single item's Data already sent in earlier chunks. */
  readonly offset?: number;
}

/** What went into a packed message, per entry. */
export interface PackedEntry {
  /** The command as sent (with its CmdID, and the chunk's Data when chunked). */
  readonly cmd: Command;
  readonly tag?: string;
  /** `whole`, or the chunk position of a large object. */
  readonly part: 'whole' | 'first' | 'middle' | 'last';
}

export interface PackInput {
  readonly codec: MessageCodec;
  readonly encoding: Encoding;
  readonly header: SyncHdr;
  /**
   * Statuses (and alerts) sent before the queue. The first `pinnedLead` (default 1: the SyncHdr
   * Status) always go; the others go while they fit and otherwise wait (`restLead`).
   */
  readonly lead: readonly Command[];
  readonly pinnedLead?: number;
  /** Commands to send in order, as many as fit. */
  readonly queue: readonly OutEntry[];
  /** Appended after the queue entries that fit (e.g. Alert 1222); never dropped. */
  readonly trailer?: readonly Command[];
  /** The peer's MaxMsgSize; undefined: no limit. */
  readonly maxMsgSize?: number | undefined;
  /** Most queue entries in one message. */
  readonly maxCommands?: number | undefined;
  /** Set Final when the whole queue went out. */
  readonly finalWhenDone: boolean;
}

export interface PackOutput {
  readonly message: SyncML;
  readonly bytes: Uint8Array;
  readonly packed: readonly PackedEntry[];
  /** Entries still to send (the first may be a large object in progress). */
  readonly rest: readonly OutEntry[];
  /** Lead commands that did not fit: to send first in the next message. */
  readonly restLead: readonly Command[];
  /** Queue entries that cannot fit in any message within MaxMsgSize, not even split: never sent. */
  readonly oversize: readonly OutEntry[];
  readonly final: boolean;
}

/** Smallest chunk worth a message; below this the object waits for the next message. */
const MIN_CHUNK = 64;

/** Whether `entry` can be sent as large-object chunks. */
export function isChunkable(cmd: Command): boolean {
  if (cmd.type !== 'Add' && cmd.type !== 'Replace' && cmd.type !== 'Results' && cmd.type !== 'Alert')
    return false;
  if (cmd.Item.length !== 1) return false;
  const d = cmd.Item[0]!.Data;
  return d !== undefined && (d.kind === 'text' || d.kind === 'bytes');
}

/** Size in bytes (as transmitted) of a text or bytes Data value. */
export function dataSize(data: Data | undefined): number {
  if (!data) return 0;
  if (data.kind === 'bytes') return data.bytes.byteLength;
  if (data.kind === 'text') return Buffer.byteLength(data.text, 'utf8');
  return 0;
}

/** The single-item command restricted to Data bytes [offset, end), as one chunk. */
export function chunkOf(cmd: Command, offset: number, end: number): { cmd: Command; end: number } {
  if (!isChunkable(cmd)) throw new TypeError('command is not chunkable');
  const c = cmd as Extract<Command, { Item: readonly Item[] }>;
  const item = c.Item[0]!;
  const data = item.Data!;
  const total = dataSize(data);
  let chunk: Data;
  if (data.kind === 'bytes') {
    end = Math.min(end, total);
    chunk = { kind: 'bytes', bytes: data.bytes.subarray(offset, end) };
  } else {
    const buf = Buffer.from((data as { text: string }).text, 'utf8');
    end = Math.min(end, total);
    // Never cut inside a UTF-8 sequence.
    while (end < total && end > offset && (buf[end]! & 0xc0) === 0x80) end--;
    chunk = { kind: 'text', text: buf.subarray(offset, end).toString('utf8') };
  }
  const { Size: _drop, ...metaRest } = item.Meta ?? {};
  const meta =
    offset === 0 ? { ...metaRest, Size: total } : Object.keys(metaRest).length ? metaRest : undefined;
  const { MoreData: _m, Meta: _meta, Data: _d, ...itemRest } = item;
  const newItem: Item = {
    ...itemRest,
    ...(meta === undefined ? {} : { Meta: meta }),
    Data: chunk,
    ...(end < total ? { MoreData: true } : {}),
  };
  return { cmd: { ...c, Item: [newItem] } as Command, end };
}

export function pack(input: PackInput): PackOutput {
  const max = input.maxMsgSize && input.maxMsgSize > 0 ? input.maxMsgSize : Number.POSITIVE_INFINITY;
  const maxCommands = input.maxCommands ?? Number.POSITIVE_INFINITY;
  const trailer = input.trailer ?? [];
  const queue = input.queue;
  const pinnedCount = Math.min(input.pinnedLead ?? 1, input.lead.length);
  const pinned = input.lead.slice(0, pinnedCount);
  const optional = input.lead.slice(pinnedCount);

  const build = (lead: readonly Command[], entries: readonly PackedEntry[], final: boolean): SyncML => {
    const all = [...lead, ...entries.map((e) => e.cmd), ...trailer];
    return message(input.header, numberCommands(all, 1).commands, final);
  };
  const sizeOf = (m: SyncML) => input.codec.encode(m, input.encoding).byteLength;

  // Fast path: everything fits (the common case: one encode).
  if (queue.length <= maxCommands) {
    const all = queue.map((e) => wholeOrRemainder(e));
    const final = input.finalWhenDone;
    const msg = build(input.lead, all, final);
    const bytes = input.codec.encode(msg, input.encoding);
    if (bytes.byteLength <= max)
      return {
        message: msg,
        bytes,
        packed: numbered(msg, input.lead.length, all),
        rest: [],
        restLead: [],
        oversize: [],
        final,
      };
  }

  // The statuses first: the pinned ones (SyncHdr Status) always, the others while they fit; a
  // Status never makes a message overflow, it waits for the next message instead (§3.9).
  const lead: Command[] = [...pinned];
  const pinnedBase = sizeOf(build(pinned, [], true));
  let used = pinnedBase;
  let leadFull = false;
  for (const s of optional) {
    const delta = sizeOf(build([...pinned, s], [], true)) - pinnedBase;
    // A Status that cannot fit even alone goes anyway (a MaxMsgSize below the SyncHdr and one
    // Status leaves no workable session; nothing else could ever be sent).
    const alone = lead.length === pinned.length && pinnedBase + delta > max;
    if (leadFull || (used + delta > max && !alone)) {
      leadFull = true;
      continue;
    }
    lead.push(s);
    used += delta;
  }
  const restLead = optional.slice(lead.length - pinned.length);

  // A message is as small as any later one can be when it carries the pinned lead and at most one
  // more Status (the peer's 1222 gets one): a command that does not fit such a message, whole or
  // split, never will; in a fuller message it waits for the next one.
  const minimal = lead.length - pinned.length <= 1;
  const base = sizeOf(build(lead, [], true));
  const deltaOf = (e: PackedEntry) => sizeOf(build(lead, [e], true)) - base;
  // Each taken entry remembers the queue entry it came from, so it can be put back.
  const taken: { packed: PackedEntry; source: OutEntry; remainder?: OutEntry }[] = [];
  const oversize: OutEntry[] = [];
  let next = 0;
  for (; next < queue.length && restLead.length === 0; next++) {
    if (taken.length >= maxCommands) break;
    const entry = queue[next]!;
    const whole = wholeOrRemainder(entry);
    const delta = deltaOf(whole);
    if (used + delta <= max) {
      taken.push({ packed: whole, source: entry });
      used += delta;
      continue;
    }
    const chunkable = isChunkable(entry.cmd);
    let overhead = 0;
    if (chunkable) {
      const offset = entry.offset ?? 0;
      const probe = chunkOf(entry.cmd, offset, offset).cmd;
      overhead = deltaOf({ cmd: withMoreData(probe), part: 'middle' });
      const room = max - used - overhead;
      if (room >= MIN_CHUNK) {
        const fitted = fitChunk(entry, offset, room, (e) => used + deltaOf(e) <= max);
        if (fitted) {
          taken.push(
            fitted.remainder
              ? { packed: fitted.packed, source: entry, remainder: fitted.remainder }
              : { packed: fitted.packed, source: entry },
          );
          next++;
          break;
        }
      }
    }
    // Not in this message. It waits for a later, emptier one; unless this one is as small as
    // any can be, or even the pinned lead alone leaves no room: then it is never sendable.
    const fitsPinnedOnly =
      pinnedBase + delta <= max || (chunkable && max - pinnedBase - overhead >= MIN_CHUNK);
    const waits = fitsPinnedOnly && (taken.length > 0 || !minimal);
    if (waits || (entry.offset ?? 0) > 0) break;
    // Never sendable within the peer's MaxMsgSize: the engine reports it (413); the rest goes on.
    oversize.push(entry);
  }
  const restOf = () => {
    const last = taken[taken.length - 1];
    const head = last?.remainder ? [last.remainder] : [];
    return [...head, ...queue.slice(next)];
  };
  // Measured sizes are additive for both encodings; verify once and trim if the real encoding
  // still came out larger (e.g. a CmdID growing a digit, a WBXML string table).
  let rest = restOf();
  let final = input.finalWhenDone && rest.length === 0 && restLead.length === 0;
  let msg = build(
    lead,
    taken.map((t) => t.packed),
    final,
  );
  let bytes = input.codec.encode(msg, input.encoding);
  while (bytes.byteLength > max && (taken.length > 0 || lead.length > pinned.length)) {
    if (taken.length > 0) {
      const dropped = taken.pop()!;
      rest = [dropped.source, ...rest.slice(dropped.remainder ? 1 : 0)];
    } else {
      if (lead.length === pinned.length + 1) break; // the one Status that goes anyway
      restLead.unshift(lead.pop()!);
    }
    final = false;
    msg = build(
      lead,
      taken.map((t) => t.packed),
      final,
    );
    bytes = input.codec.encode(msg, input.encoding);
  }
  return {
    message: msg,
    bytes,
    packed: numbered(
      msg,
      lead.length,
      taken.map((t) => t.packed),
    ),
    rest,
    restLead,
    oversize,
    final,
  };
}

/** The packed entries as they appear in the message (with their CmdIDs). */
function numbered(msg: SyncML, offset: number, entries: readonly PackedEntry[]): PackedEntry[] {
  return entries.map((e, i) => ({ ...e, cmd: msg.SyncBody.commands[offset + i]! }));
}

function withMoreData(cmd: Command): Command {
  const c = cmd as Extract<Command, { Item: readonly Item[] }>;
  return { ...c, Item: [{ ...c.Item[0]!, MoreData: true }] } as Command;
}

function wholeOrRemainder(entry: OutEntry): PackedEntry {
  const offset = entry.offset ?? 0;
  if (offset === 0)
    return entry.tag === undefined
      ? { cmd: entry.cmd, part: 'whole' }
      : { cmd: entry.cmd, tag: entry.tag, part: 'whole' };
  const total = dataSize((entry.cmd as Extract<Command, { Item: readonly Item[] }>).Item[0]!.Data);
  const { cmd } = chunkOf(entry.cmd, offset, total);
  return entry.tag === undefined ? { cmd, part: 'last' } : { cmd, tag: entry.tag, part: 'last' };
}

/** Largest chunk from `offset` that passes `fits`, starting from an estimate of `room` bytes. */
function fitChunk(
  entry: OutEntry,
  offset: number,
  room: number,
  fits: (e: PackedEntry) => boolean,
): { packed: PackedEntry; remainder?: OutEntry } | undefined {
  const total = dataSize((entry.cmd as Extract<Command, { Item: readonly Item[] }>).Item[0]!.Data);
  let n = room;
  for (let attempt = 0; attempt < 12 && n >= MIN_CHUNK / 2; attempt++) {
    const { cmd, end } = chunkOf(entry.cmd, offset, offset + n);
    const part: PackedEntry['part'] = end >= total ? 'last' : offset === 0 ? 'first' : 'middle';
    const packed: PackedEntry = entry.tag === undefined ? { cmd, part } : { cmd, tag: entry.tag, part };
    if (end > offset && fits(packed)) {
      if (end >= total) return { packed };
      const remainder: OutEntry =
        entry.tag === undefined
          ? { cmd: entry.cmd, offset: end }
          : { cmd: entry.cmd, tag: entry.tag, offset: end };
      return { packed, remainder };
    }
    // Escaping (XML) made it larger than estimated: shrink proportionally.
    n = Math.floor(n * 0.8);
  }
  return undefined;
}
