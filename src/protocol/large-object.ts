/**
 * Receiving large objects (protocol.md §3.9): chunks of one item arrive in consecutive messages,
 * every chunk but the last with `<MoreData/>`, the total `Meta/Size` on the first. The receiver
 * answers 213 per buffered chunk, and on the last one checks the size (424 on mismatch) before
 * the reassembled command is executed. A different command arriving before the last chunk ends
 * the object (Alert 1225). State is plain JSON so a server can keep it in its session store.
 */
import type { Command, Item } from '../representation/index.ts';
import { fromJson, type Json, toJson } from './json.ts';

export type ChunkCommand = Extract<Command, { type: 'Add' | 'Replace' | 'Results' | 'Alert' }>;

/** An object being reassembled. */
export interface IncomingObject {
  readonly cmdType: ChunkCommand['type'];
  readonly cmdId: string;
  readonly msgRef: string;
  readonly target?: string;
  readonly source?: string;
  /** `Meta/Size` from the first chunk, when sent. */
  readonly declared?: number;
  readonly kind: 'text' | 'bytes';
  /** Text chunks, or base64 of byte chunks. */
  readonly parts: readonly string[];
  readonly received: number;
  /** The first chunk's command (JSON form), whose Meta/Target/Source the result keeps. */
  readonly first: Json;
}

export type ChunkVerdict =
  /** Buffered; answer 213. */
  | { readonly kind: 'buffered'; readonly state: IncomingObject }
  /** Last chunk arrived and sizes agree: execute `cmd`. */
  | { readonly kind: 'complete'; readonly cmd: Command }
  /** Reassembled size differs from Meta/Size: answer 424, do not commit. */
  | { readonly kind: 'mismatch'; readonly declared: number; readonly received: number }
  /** Larger than the receiver accepts: answer 413. */
  | { readonly kind: 'tooLarge'; readonly size: number };

/** Whether a received command starts or continues a chunked object. */
export function isChunk(cmd: Command, current: IncomingObject | undefined): boolean {
  if (cmd.type !== 'Add' && cmd.type !== 'Replace' && cmd.type !== 'Results' && cmd.type !== 'Alert')
    return false;
  if (cmd.Item.length !== 1) return false;
  return cmd.Item[0]!.MoreData === true || (current !== undefined && continues(current, cmd));
}

/** Whether `cmd` is the next chunk of `current` (same command kind and same item address). */
export function continues(current: IncomingObject, cmd: Command): boolean {
  if (cmd.type !== current.cmdType || !('Item' in cmd) || cmd.Item.length !== 1) return false;
  const it = cmd.Item[0]!;
  return it.Target?.LocURI === current.target && it.Source?.LocURI === current.source;
}

/** Adds one chunk. `maxObjSize` is the largest object this receiver accepts (undefined: none). */
export function receiveChunk(
  current: IncomingObject | undefined,
  cmd: ChunkCommand,
  msgRef: string,
  maxObjSize: number | undefined,
): ChunkVerdict {
  const item = cmd.Item[0]!;
  const data = item.Data;
  const kind: 'text' | 'bytes' = data?.kind === 'bytes' ? 'bytes' : (current?.kind ?? 'text');
  const piece =
    data === undefined
      ? ''
      : data.kind === 'bytes'
        ? Buffer.from(data.bytes).toString('base64')
        : data.kind === 'text'
          ? data.text
          : '';
  const pieceBytes =
    data === undefined ? 0 : data.kind === 'bytes' ? data.bytes.byteLength : Buffer.byteLength(piece, 'utf8');
  const declared = current ? current.declared : item.Meta?.Size;
  const received = (current?.received ?? 0) + pieceBytes;
  const limit = maxObjSize ?? Number.POSITIVE_INFINITY;
  if ((declared !== undefined && declared > limit) || received > limit) {
    return { kind: 'tooLarge', size: Math.max(declared ?? 0, received) };
  }
  if (declared !== undefined && received > declared) {
    return { kind: 'mismatch', declared, received };
  }
  const parts = [...(current?.parts ?? []), piece];
  const state: IncomingObject = {
    cmdType: cmd.type,
    cmdId: current?.cmdId ?? cmd.CmdID,
    msgRef: current?.msgRef ?? msgRef,
    ...(item.Target?.LocURI === undefined ? {} : { target: item.Target.LocURI }),
    ...(item.Source?.LocURI === undefined ? {} : { source: item.Source.LocURI }),
    ...(declared === undefined ? {} : { declared }),
    kind,
    parts,
    received,
    first: current?.first ?? toJson(cmd),
  };
  if (item.MoreData) return { kind: 'buffered', state };
  if (declared !== undefined && received !== declared) return { kind: 'mismatch', declared, received };
  return { kind: 'complete', cmd: assemble(state, cmd) };
}

function assemble(state: IncomingObject, last: ChunkCommand): Command {
  const first = fromJson<ChunkCommand>(state.first);
  const firstItem = first.Item[0]!;
  const data =
    state.kind === 'bytes'
      ? {
          kind: 'bytes' as const,
          bytes: new Uint8Array(Buffer.concat(state.parts.map((p) => Buffer.from(p, 'base64')))),
        }
      : { kind: 'text' as const, text: state.parts.join('') };
  const { MoreData: _m, Data: _d, ...rest } = firstItem;
  const item: Item = { ...rest, Data: data };
  // The last chunk's CmdID is the one its Status answers; the item info is the first chunk's.
  return { ...first, CmdID: last.CmdID, Item: [item] } as Command;
}
