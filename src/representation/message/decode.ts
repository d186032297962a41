/**
 * Element tree → SyncML model, liberally: children in any order, MetInf children in any (or no)
 * namespace and optionally wrapped in `MetInf`, Meta on the command or on the Item, `Chr` read as
 * `chr`, identifiers kept as strings, text from WBXML STR_I/STR_T or OPAQUE alike.
 *
 * Structural problems of the message itself (root not SyncML, no SyncHdr, no MsgID, …) raise a
 * DecodeError. A command that is unknown or broken (no CmdID, non-numeric Status code, …) becomes an
 * `Unknown` command with a reason, so the receiver can answer it with a Status (400) and go on
 * with the rest; `strict: true` turns those into DecodeErrors too.
 */
import type { Element, ElementChild } from '../element.ts';
import { DecodeError, type DecodeErrorCode } from '../errors.ts';
import type {
  Alert,
  Anchor,
  Chal,
  Command,
  Cred,
  Data,
  Item,
  Mem,
  Meta,
  Results,
  Status,
  SyncBody,
  SyncHdr,
  SyncML,
  Target,
} from '../model.ts';
import { isFormat } from '../model.ts';

export interface ModelReadOptions {
  /**
   * Strict: unknown elements, broken commands and bad MetInf values are errors instead of being
   * skipped / kept as `Unknown` commands. Default false (liberal receiver).
   */
  readonly strict?: boolean;
}

/** Signals a broken command inside a command parser; turned into an Unknown command or an error. */
class CommandProblem {
  readonly reason: string;
  readonly code: DecodeErrorCode;
  constructor(reason: string, code: DecodeErrorCode = 'syncml.missing') {
    this.reason = reason;
    this.code = code;
  }
}

const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

/** The text content of an element: strings concatenated, opaque bytes read as UTF-8. */
export function textOf(el: Element): string {
  const ch = el.children;
  if (ch.length === 1) {
    const c = ch[0]!;
    if (typeof c === 'string') return c;
    if (c instanceof Uint8Array) return utf8.decode(c);
    return '';
  }
  let out = '';
  for (let i = 0; i < ch.length; i++) {
    const c = ch[i]!;
    if (typeof c === 'string') out += c;
    else if (c instanceof Uint8Array) out += utf8.decode(c);
  }
  return out;
}

/**
 * Whether a child is an element (not text, not opaque bytes): the same answer as element.ts's
 * isElement, but most children here are elements or strings, and testing `typeof` and then
 * for a `children` array is cheaper than `instanceof Uint8Array`, which walks the prototype chain
 * of every element (it was a fifth of the model builder's time).
 */
function isElement(c: ElementChild): c is Element {
  return typeof c !== 'string' && (c as Partial<Element>).children !== undefined;
}

/**
 * `t.trim()`, without the call when both ends are visible ASCII (nearly every DM value): the
 * call was a sixth of the model builder's time.
 */
function trimmedText(t: string): string {
  const n = t.length;
  if (n === 0) return t;
  const a = t.charCodeAt(0);
  const z = t.charCodeAt(n - 1);
  return a > 0x20 && a < 0x7f && z > 0x20 && z < 0x7f ? t : t.trim();
}

/** A decimal of 1..maxDigits ASCII digits, or -1. */
function parseUint(t: string, maxDigits: number): number {
  const n = t.length;
  if (n === 0 || n > maxDigits) return -1;
  let v = 0;
  for (let i = 0; i < n; i++) {
    const d = t.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

function trimmed(el: Element): string {
  return trimmedText(textOf(el));
}

/** Builds the model from a `SyncML` element. @throws DecodeError `syncml.*` */
export function elementToMessage(root: Element, options?: ModelReadOptions): SyncML {
  const b = new Builder(options?.strict === true);
  return b.message(root);
}

/** Atomic/Sequence nesting beyond this is refused (DM allows none inside Atomic; keeps recursion bounded). */
const MAX_CONTAINER_NESTING = 32;

class Builder {
  private readonly strict: boolean;
  private nesting = 0;
  constructor(strict: boolean) {
    this.strict = strict;
  }

  private fail(code: DecodeErrorCode, message: string, path: string): never {
    throw new DecodeError(code, message, -1, path);
  }

  private unknownChild(child: Element, path: string): void {
    if (this.strict)
      this.fail('syncml.structure', `unexpected element <${child.name}>`, `${path}/${child.name}`);
  }

  message(root: Element): SyncML {
    if (root.name !== 'SyncML')
      this.fail('syncml.structure', `root element is <${root.name}>, not <SyncML>`, root.name);
    let hdr: Element | undefined;
    let body: Element | undefined;
    for (const c of root.children) {
      if (!isElement(c)) {
        if (this.strict && !(typeof c === 'string' && c.trim() === ''))
          this.fail('syncml.structure', 'text in <SyncML>', 'SyncML');
        continue;
      }
      if (c.name === 'SyncHdr' && !hdr) hdr = c;
      else if (c.name === 'SyncBody' && !body) body = c;
      else this.unknownChild(c, 'SyncML');
    }
    if (!hdr) this.fail('syncml.missing', 'no <SyncHdr>', 'SyncML');
    if (!body) this.fail('syncml.missing', 'no <SyncBody>', 'SyncML');
    let SyncHdr: SyncHdr;
    try {
      SyncHdr = this.syncHdr(hdr);
    } catch (e) {
      // Problems that only cost a command its place in the body are fatal in the header.
      if (e instanceof CommandProblem) this.fail(e.code, e.reason, 'SyncML/SyncHdr');
      throw e;
    }
    return { SyncHdr, SyncBody: this.syncBody(body) };
  }

  private syncHdr(el: Element): SyncHdr {
    const path = 'SyncML/SyncHdr';
    let VerDTD: string | undefined;
    let VerProto: string | undefined;
    let SessionID: string | undefined;
    let MsgID: string | undefined;
    let tgt: Target | undefined;
    let src: Target | undefined;
    let RespURI: string | undefined;
    let NoResp = false;
    let cred: Cred | undefined;
    let meta: Meta | undefined;
    for (const c of el.children) {
      if (!isElement(c)) continue;
      switch (c.name) {
        case 'VerDTD':
          VerDTD = trimmed(c);
          break;
        case 'VerProto':
          VerProto = trimmed(c);
          break;
        case 'SessionID':
          SessionID = trimmed(c);
          break;
        case 'MsgID':
          MsgID = trimmed(c);
          break;
        case 'Target':
          tgt = this.target(c, path);
          break;
        case 'Source':
          src = this.target(c, path);
          break;
        case 'RespURI':
          RespURI = trimmed(c);
          break;
        case 'NoResp':
          NoResp = true;
          break;
        case 'Cred':
          cred = this.cred(c, path);
          break;
        case 'Meta':
          meta = this.meta(c, path);
          break;
        default:
          this.unknownChild(c, path);
      }
    }
    if (VerDTD === undefined) this.fail('syncml.missing', 'no <VerDTD>', path);
    if (VerProto === undefined) this.fail('syncml.missing', 'no <VerProto>', path);
    if (SessionID === undefined) this.fail('syncml.missing', 'no <SessionID>', path);
    if (MsgID === undefined || MsgID === '') this.fail('syncml.missing', 'no <MsgID>', path);
    if (!tgt) this.fail('syncml.missing', 'no <Target>', path);
    if (!src) this.fail('syncml.missing', 'no <Source>', path);
    const h: {
      -readonly [K in keyof SyncHdr]: SyncHdr[K];
    } = { VerDTD, VerProto, SessionID, MsgID, Target: tgt, Source: src };
    if (RespURI !== undefined) h.RespURI = RespURI;
    if (NoResp) h.NoResp = true;
    if (cred) h.Cred = cred;
    if (meta) h.Meta = meta;
    return h;
  }

  private target(el: Element, path: string): Target {
    let LocURI: string | undefined;
    let LocName: string | undefined;
    for (const c of el.children) {
      if (!isElement(c)) continue;
      if (c.name === 'LocURI') LocURI = trimmed(c);
      else if (c.name === 'LocName') LocName = trimmed(c);
      else this.unknownChild(c, path);
    }
    if (LocURI === undefined) throw new CommandProblem(`no <LocURI> in <${el.name}>`);
    return LocName === undefined ? { LocURI } : { LocURI, LocName };
  }

  private cred(el: Element, path: string): Cred {
    let meta: Meta | undefined;
    let data: Data | undefined;
    for (const c of el.children) {
      if (!isElement(c)) continue;
      if (c.name === 'Meta') meta = this.meta(c, path);
      else if (c.name === 'Data') data = this.data(c);
      else this.unknownChild(c, path);
    }
    if (!data) throw new CommandProblem('no <Data> in <Cred>');
    return meta ? { Meta: meta, Data: data } : { Data: data };
  }

  private chal(el: Element, path: string): Chal {
    let meta: Meta | undefined;
    for (const c of el.children) {
      if (!isElement(c)) continue;
      if (c.name === 'Meta') meta = this.meta(c, path);
      else this.unknownChild(c, path);
    }
    return { Meta: meta ?? {} };
  }

  private int(el: Element, path: string): number | undefined {
    const t = trimmed(el);
    const n = parseUint(t, 15);
    if (n >= 0) return n;
    if (this.strict)
      this.fail('syncml.value', `<${el.name}> is not a non-negative integer: "${t.slice(0, 40)}"`, path);
    return undefined;
  }

  meta(el: Element, path: string): Meta {
    const m: { -readonly [K in keyof Meta]: Meta[K] } = {};
    this.metaInto(el, path, m);
    return m;
  }

  private metaInto(el: Element, path: string, m: { -readonly [K in keyof Meta]: Meta[K] }): void {
    for (const c of el.children) {
      if (!isElement(c)) continue;
      switch (c.name) {
        case 'Format': {
          const f = trimmed(c);
          const lower = f.toLowerCase();
          m.Format = isFormat(lower) ? lower : f;
          break;
        }
        case 'Type':
          m.Type = trimmed(c);
          break;
        case 'Mark':
          m.Mark = trimmed(c);
          break;
        case 'Size': {
          const n = this.int(c, path);
          if (n !== undefined) m.Size = n;
          break;
        }
        case 'Anchor':
          m.Anchor = this.anchor(c, path);
          break;
        case 'Version':
          m.Version = trimmed(c);
          break;
        case 'NextNonce':
          m.NextNonce = trimmed(c);
          break;
        case 'MaxMsgSize': {
          const n = this.int(c, path);
          if (n !== undefined) m.MaxMsgSize = n;
          break;
        }
        case 'MaxObjSize': {
          const n = this.int(c, path);
          if (n !== undefined) m.MaxObjSize = n;
          break;
        }
        case 'EMI':
          // Pushed in place: rebuilding the array per EMI would be quadratic in hostile input.
          if (m.EMI) (m.EMI as string[]).push(textOf(c));
          else m.EMI = [textOf(c)];
          break;
        case 'Mem':
          m.Mem = this.mem(c, path);
          break;
        case 'FieldLevel':
          m.FieldLevel = true;
          break;
        case 'MetInf':
          // An explicit MetInf wrapper (rare, allowed by the DTD): flatten it.
          this.metaInto(c, path, m);
          break;
        default:
          this.unknownChild(c, path);
      }
    }
  }

  private anchor(el: Element, path: string): Anchor {
    let Last: string | undefined;
    let Next: string | undefined;
    for (const c of el.children) {
      if (!isElement(c)) continue;
      if (c.name === 'Last') Last = trimmed(c);
      else if (c.name === 'Next') Next = trimmed(c);
      else this.unknownChild(c, path);
    }
    if (Next === undefined) {
      if (this.strict) this.fail('syncml.missing', 'no <Next> in <Anchor>', path);
      Next = '';
    }
    return Last === undefined ? { Next } : { Last, Next };
  }

  private mem(el: Element, path: string): Mem {
    const m: { -readonly [K in keyof Mem]: Mem[K] } = {};
    for (const c of el.children) {
      if (!isElement(c)) continue;
      if (c.name === 'SharedMem') m.SharedMem = true;
      else if (c.name === 'FreeMem') {
        const n = this.int(c, path);
        if (n !== undefined) m.FreeMem = n;
      } else if (c.name === 'FreeID') {
        const n = this.int(c, path);
        if (n !== undefined) m.FreeID = n;
      } else this.unknownChild(c, path);
    }
    return m;
  }

  /** `Data`: text, opaque bytes, or one embedded element (whitespace around it ignored). */
  data(el: Element): Data {
    const ch = el.children;
    if (ch.length === 0) return { kind: 'text', text: '' };
    if (ch.length === 1) {
      const c = ch[0]!;
      if (typeof c === 'string') return { kind: 'text', text: c };
      if (c instanceof Uint8Array) return { kind: 'bytes', bytes: c };
      return { kind: 'element', element: c };
    }
    let element: Element | undefined;
    let hasBytes = false;
    for (const c of ch) {
      if (isElement(c)) {
        if (element) throw new CommandProblem('<Data> holds more than one element', 'syncml.value');
        element = c;
      } else if (c instanceof Uint8Array) hasBytes = true;
    }
    if (element) {
      for (const c of ch) {
        if (c !== element && !(typeof c === 'string' && c.trim() === '')) {
          throw new CommandProblem('<Data> mixes an element with text', 'syncml.value');
        }
      }
      return { kind: 'element', element };
    }
    if (hasBytes) return { kind: 'bytes', bytes: concatBytes(ch) };
    return { kind: 'text', text: textOf(el) };
  }

  private item(el: Element, path: string): Item {
    const it: { -readonly [K in keyof Item]: Item[K] } = {};
    for (const c of el.children) {
      if (!isElement(c)) continue;
      switch (c.name) {
        case 'Target':
          it.Target = this.target(c, path);
          break;
        case 'Source':
          it.Source = this.target(c, path);
          break;
        case 'Meta':
          it.Meta = this.meta(c, path);
          break;
        case 'Data':
          it.Data = this.data(c);
          break;
        case 'MoreData':
          it.MoreData = true;
          break;
        default:
          this.unknownChild(c, path);
      }
    }
    return it;
  }

  private syncBody(el: Element): SyncBody {
    const commands: Command[] = [];
    let Final = false;
    let i = 0;
    for (const c of el.children) {
      if (!isElement(c)) continue;
      i++;
      if (c.name === 'Final') Final = true;
      else commands.push(this.command(c, `SyncML/SyncBody/${c.name}[${i}]`));
    }
    return { commands, Final };
  }

  private command(el: Element, path: string): Command {
    try {
      return this.commandOrThrow(el, path);
    } catch (e) {
      if (!(e instanceof CommandProblem)) throw e;
      if (this.strict) this.fail(e.code, e.reason, path);
      let CmdID: string | undefined;
      for (const c of el.children) {
        if (isElement(c) && c.name === 'CmdID') {
          CmdID = trimmed(c);
          break;
        }
      }
      return CmdID
        ? { type: 'Unknown', name: el.name, CmdID, reason: e.reason, element: el }
        : { type: 'Unknown', name: el.name, reason: e.reason, element: el };
    }
  }

  private commandOrThrow(el: Element, path: string): Command {
    switch (el.name) {
      case 'Add':
      case 'Copy':
      case 'Replace':
      case 'Delete':
      case 'Get':
      case 'Exec':
        return this.itemCommand(el, el.name, path);
      case 'Alert':
        return this.alert(el, path);
      case 'Atomic':
      case 'Sequence':
        return this.container(el, el.name, path);
      case 'Status':
        return this.status(el, path);
      case 'Results':
        return this.results(el, path);
      default:
        throw new CommandProblem(`unknown command <${el.name}>`, 'syncml.structure');
    }
  }

  private itemCommand(
    el: Element,
    type: 'Add' | 'Copy' | 'Replace' | 'Delete' | 'Get' | 'Exec',
    path: string,
  ): Command {
    const cmd: Record<string, unknown> = { type, CmdID: '' };
    const items: Item[] = [];
    let hasId = false;
    for (const c of el.children) {
      if (!isElement(c)) continue;
      switch (c.name) {
        case 'CmdID':
          cmd.CmdID = trimmed(c);
          hasId = cmd.CmdID !== '';
          break;
        case 'NoResp':
          cmd.NoResp = true;
          break;
        case 'Cred':
          cmd.Cred = this.cred(c, path);
          break;
        case 'Meta':
          cmd.Meta = this.meta(c, path);
          break;
        case 'Item':
          items.push(this.item(c, path));
          break;
        case 'Correlator':
          if (type !== 'Exec') this.unknownChild(c, path);
          else cmd.Correlator = trimmed(c);
          break;
        case 'Archive':
        case 'SftDel':
          if (type !== 'Delete') this.unknownChild(c, path);
          else cmd[c.name] = true;
          break;
        case 'Lang':
          if (type !== 'Get') this.unknownChild(c, path);
          else cmd.Lang = trimmed(c);
          break;
        default:
          this.unknownChild(c, path);
      }
    }
    if (!hasId) throw new CommandProblem(`<${type}> without <CmdID>`);
    cmd.Item = items;
    return cmd as unknown as Command;
  }

  private alert(el: Element, path: string): Alert {
    const a: { -readonly [K in keyof Alert]: Alert[K] } = { type: 'Alert', CmdID: '', Item: [] };
    const items: Item[] = [];
    for (const c of el.children) {
      if (!isElement(c)) continue;
      switch (c.name) {
        case 'CmdID':
          a.CmdID = trimmed(c);
          break;
        case 'NoResp':
          a.NoResp = true;
          break;
        case 'Cred':
          a.Cred = this.cred(c, path);
          break;
        case 'Data': {
          const t = trimmed(c);
          const n = parseUint(t, 9);
          if (n < 0)
            throw new CommandProblem(`<Alert> code is not a number: "${t.slice(0, 40)}"`, 'syncml.value');
          a.Data = n;
          break;
        }
        case 'Correlator':
          a.Correlator = trimmed(c);
          break;
        case 'Item':
          items.push(this.item(c, path));
          break;
        default:
          this.unknownChild(c, path);
      }
    }
    if (a.CmdID === '') throw new CommandProblem('<Alert> without <CmdID>');
    a.Item = items;
    return a;
  }

  private container(el: Element, type: 'Atomic' | 'Sequence', path: string): Command {
    if (this.nesting >= MAX_CONTAINER_NESTING) {
      throw new CommandProblem(
        `Atomic/Sequence nested deeper than ${MAX_CONTAINER_NESTING}`,
        'syncml.structure',
      );
    }
    this.nesting++;
    try {
      return this.containerBody(el, type, path);
    } finally {
      this.nesting--;
    }
  }

  private containerBody(el: Element, type: 'Atomic' | 'Sequence', path: string): Command {
    let CmdID = '';
    let NoResp = false;
    let meta: Meta | undefined;
    const commands: Command[] = [];
    let i = 0;
    for (const c of el.children) {
      if (!isElement(c)) continue;
      i++;
      switch (c.name) {
        case 'CmdID':
          CmdID = trimmed(c);
          break;
        case 'NoResp':
          NoResp = true;
          break;
        case 'Meta':
          meta = this.meta(c, path);
          break;
        default:
          commands.push(this.command(c, `${path}/${c.name}[${i}]`));
      }
    }
    if (CmdID === '') throw new CommandProblem(`<${type}> without <CmdID>`);
    const cmd: Record<string, unknown> = { type, CmdID };
    if (NoResp) cmd.NoResp = true;
    if (meta) cmd.Meta = meta;
    cmd.commands = commands;
    return cmd as unknown as Command;
  }

  private status(el: Element, path: string): Status {
    let CmdID = '';
    let MsgRef: string | undefined;
    let CmdRef: string | undefined;
    let Cmd: string | undefined;
    const TargetRef: string[] = [];
    const SourceRef: string[] = [];
    let cred: Cred | undefined;
    let chal: Chal | undefined;
    let code: number | undefined;
    const items: Item[] = [];
    for (const c of el.children) {
      if (!isElement(c)) continue;
      switch (c.name) {
        case 'CmdID':
          CmdID = trimmed(c);
          break;
        case 'MsgRef':
          MsgRef = trimmed(c);
          break;
        case 'CmdRef':
          CmdRef = trimmed(c);
          break;
        case 'Cmd':
          Cmd = trimmed(c);
          break;
        case 'TargetRef':
          TargetRef.push(trimmed(c));
          break;
        case 'SourceRef':
          SourceRef.push(trimmed(c));
          break;
        case 'Cred':
          cred = this.cred(c, path);
          break;
        case 'Chal':
          chal = this.chal(c, path);
          break;
        case 'Data': {
          const t = trimmed(c);
          const n = parseUint(t, 9);
          if (n < 0)
            throw new CommandProblem(`<Status> code is not a number: "${t.slice(0, 40)}"`, 'syncml.value');
          code = n;
          break;
        }
        case 'Item':
          items.push(this.item(c, path));
          break;
        default:
          this.unknownChild(c, path);
      }
    }
    if (CmdID === '') throw new CommandProblem('<Status> without <CmdID>');
    if (CmdRef === undefined) throw new CommandProblem('<Status> without <CmdRef>');
    if (Cmd === undefined) throw new CommandProblem('<Status> without <Cmd>');
    if (code === undefined) throw new CommandProblem('<Status> without <Data>');
    const s: { -readonly [K in keyof Status]: Status[K] } = {
      type: 'Status',
      CmdID,
      CmdRef,
      Cmd,
      TargetRef,
      SourceRef,
      Data: code,
      Item: items,
    };
    if (MsgRef !== undefined) s.MsgRef = MsgRef;
    if (cred) s.Cred = cred;
    if (chal) s.Chal = chal;
    return s;
  }

  private results(el: Element, path: string): Results {
    const r: { -readonly [K in keyof Results]: Results[K] } = {
      type: 'Results',
      CmdID: '',
      CmdRef: '',
      Item: [],
    };
    let hasRef = false;
    const items: Item[] = [];
    for (const c of el.children) {
      if (!isElement(c)) continue;
      switch (c.name) {
        case 'CmdID':
          r.CmdID = trimmed(c);
          break;
        case 'MsgRef':
          r.MsgRef = trimmed(c);
          break;
        case 'CmdRef':
          r.CmdRef = trimmed(c);
          hasRef = true;
          break;
        case 'Meta':
          r.Meta = this.meta(c, path);
          break;
        case 'TargetRef':
          r.TargetRef = trimmed(c);
          break;
        case 'SourceRef':
          r.SourceRef = trimmed(c);
          break;
        case 'Item':
          items.push(this.item(c, path));
          break;
        default:
          this.unknownChild(c, path);
      }
    }
    if (r.CmdID === '') throw new CommandProblem('<Results> without <CmdID>');
    if (!hasRef) throw new CommandProblem('<Results> without <CmdRef>');
    r.Item = items;
    return r;
  }
}

function concatBytes(ch: readonly ElementChild[]): Uint8Array {
  const parts: Uint8Array[] = [];
  let n = 0;
  const enc = new TextEncoder();
  for (const c of ch) {
    const b = typeof c === 'string' ? enc.encode(c) : c instanceof Uint8Array ? c : null;
    if (b) {
      parts.push(b);
      n += b.length;
    }
  }
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
