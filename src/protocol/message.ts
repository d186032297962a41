/**
 * Small builders for the messages the engines emit, so every Status and header is made in one
 * place and in the DTD's element order (the codecs write fields in model order anyway).
 */
import type {
  Alert,
  Chal,
  Command,
  Cred,
  Data,
  Item,
  Meta,
  Results,
  Status,
  SyncHdr,
  SyncML,
} from '../representation/index.ts';

/**
 * A received string made safe to echo: characters XML 1.0 cannot carry (controls, unpaired
 * surrogates, U+FFFE/FFFF) are dropped. A peer may send them (WBXML inline strings, char refs);
 * echoing them in a TargetRef or CmdRef must not make our own answer unencodable.
 */
export function echoSafe(text: string): string {
  // Fast path: almost every identifier is plain ASCII.
  if (/^[\x20-\x7e]*$/.test(text)) return text;
  return text.replace(/[^\t\n\r\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '');
}

export interface HeaderInput {
  readonly VerDTD: string;
  readonly VerProto: string;
  readonly SessionID: string;
  readonly MsgID: number;
  readonly target: string;
  readonly targetName?: string;
  readonly source: string;
  readonly sourceName?: string;
  readonly RespURI?: string;
  readonly Cred?: Cred;
  readonly MaxMsgSize?: number;
  readonly MaxObjSize?: number;
}

export function header(input: HeaderInput): SyncHdr {
  const meta: { MaxMsgSize?: number; MaxObjSize?: number } = {};
  if (input.MaxMsgSize !== undefined) meta.MaxMsgSize = input.MaxMsgSize;
  if (input.MaxObjSize !== undefined) meta.MaxObjSize = input.MaxObjSize;
  return {
    VerDTD: input.VerDTD,
    VerProto: input.VerProto,
    SessionID: echoSafe(input.SessionID),
    MsgID: String(input.MsgID),
    Target:
      input.targetName === undefined
        ? { LocURI: echoSafe(input.target) }
        : { LocURI: echoSafe(input.target), LocName: input.targetName },
    Source:
      input.sourceName === undefined
        ? { LocURI: echoSafe(input.source) }
        : { LocURI: echoSafe(input.source), LocName: input.sourceName },
    ...(input.RespURI === undefined ? {} : { RespURI: input.RespURI }),
    ...(input.Cred === undefined ? {} : { Cred: input.Cred }),
    ...(Object.keys(meta).length === 0 ? {} : { Meta: meta }),
  };
}

export function message(hdr: SyncHdr, commands: readonly Command[], final: boolean): SyncML {
  return { SyncHdr: hdr, SyncBody: { commands, Final: final } };
}

/** Status for the peer's SyncHdr (CmdRef 0), TargetRef/SourceRef from the received header. */
export function headerStatus(received: SyncHdr, code: number, chal?: Chal): Status {
  return {
    type: 'Status',
    CmdID: '0',
    MsgRef: echoSafe(received.MsgID),
    CmdRef: '0',
    Cmd: 'SyncHdr',
    TargetRef: [echoSafe(received.Target.LocURI)].filter((t) => t !== ''),
    SourceRef: [echoSafe(received.Source.LocURI)].filter((t) => t !== ''),
    ...(chal === undefined ? {} : { Chal: chal }),
    Data: code,
    Item: [],
  };
}

/** The `Cmd` name of a received command for its Status. */
export function cmdName(cmd: Command): string {
  return cmd.type === 'Unknown' ? cmd.name : cmd.type;
}

/** Status for a received command. `CmdID` is assigned when the message is packed. */
export function commandStatus(
  cmd: Command,
  msgRef: string,
  code: number,
  extra: { items?: readonly Item[]; chal?: Chal; targetRefs?: readonly string[] } = {},
): Status {
  const targets = extra.targetRefs ?? itemTargets(cmd);
  return {
    type: 'Status',
    CmdID: '0',
    MsgRef: echoSafe(msgRef),
    // A command without a usable CmdID cannot be referenced; its Status still names the command.
    CmdRef: echoSafe(cmd.CmdID ?? '') || '0',
    Cmd: echoSafe(cmdName(cmd)) || 'Unknown',
    TargetRef: targets.map(echoSafe).filter((t) => t !== ''),
    SourceRef: [],
    ...(extra.chal === undefined ? {} : { Chal: extra.chal }),
    Data: code,
    Item: extra.items ?? [],
  };
}

function itemTargets(cmd: Command): string[] {
  if (!('Item' in cmd) || cmd.type === 'Status') return [];
  const out: string[] = [];
  for (const it of cmd.Item) if (it.Target?.LocURI) out.push(it.Target.LocURI);
  return out;
}

export function alert(code: number, items: readonly Item[] = [], correlator?: string): Alert {
  return {
    type: 'Alert',
    CmdID: '0',
    Data: code,
    ...(correlator === undefined ? {} : { Correlator: correlator }),
    Item: items,
  };
}

export function results(msgRef: string, cmdRef: string, items: readonly Item[], meta?: Meta): Results {
  return {
    type: 'Results',
    CmdID: '0',
    MsgRef: echoSafe(msgRef),
    CmdRef: echoSafe(cmdRef) || '0',
    ...(meta === undefined ? {} : { Meta: meta }),
    Item: items,
  };
}

/**
 * Gives every command (nested ones included, they share the message's CmdID space) a CmdID
 * starting at `first`. Returns the renumbered commands and the next free id.
 */
export function numberCommands(
  commands: readonly Command[],
  first: number,
): { commands: Command[]; next: number } {
  let id = first;
  const walk = (cmd: Command): Command => {
    const CmdID = String(id++);
    if (cmd.type === 'Atomic' || cmd.type === 'Sequence') {
      return { ...cmd, CmdID, commands: cmd.commands.map(walk) };
    }
    return { ...cmd, CmdID } as Command;
  };
  const out = commands.map(walk);
  return { commands: out, next: id };
}

/** Text of a Data value (bytes as UTF-8, embedded elements not handled: ''). */
export function dataText(data: Data | undefined): string {
  if (!data) return '';
  if (data.kind === 'text') return data.text;
  if (data.kind === 'bytes') return Buffer.from(data.bytes).toString('utf8');
  return '';
}

/** Integer value of a numeric text, or undefined. */
export function intOf(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const t = text.trim();
  if (!/^\d{1,15}$/.test(t)) return undefined;
  return Number(t);
}
