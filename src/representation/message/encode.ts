/**
 * SyncML model → element tree, strictly: children in DTD order (protocol.md §1.2), MetInf fields
 * in the MetInf DTD order, `Data` before `Correlator` in Alert, nothing the model does not hold.
 * Values the DTD cannot carry (empty CmdID, negative sizes, …) raise an EncodeError.
 */
import type { Element, ElementChild } from '../element.ts';
import { EncodeError } from '../errors.ts';
import type {
  Anchor,
  Chal,
  Command,
  Cred,
  Data,
  Item,
  Mem,
  Meta,
  SyncHdr,
  SyncML,
  Target,
} from '../model.ts';
import { Namespace } from '../model.ts';

/** The SyncML namespace for a VerDTD (`1.1` → `SYNCML:SYNCML1.1`; 1.2 and unknown → 1.2). */
export function syncmlNamespace(verDTD: string): string {
  if (verDTD === '1.1') return Namespace.SyncML11;
  if (verDTD === '1.0') return Namespace.SyncML10;
  return Namespace.SyncML12;
}

const MI = Namespace.MetInf;

function leaf(name: string, ns: string, text: string): Element {
  return { name, ns, children: text === '' ? [] : [text] };
}

function empty(name: string, ns: string): Element {
  return { name, ns, children: [] };
}

function need(value: string | undefined, what: string, path: string): string {
  if (value === undefined || value === '')
    throw new EncodeError('syncml.invalid', `${what} is required`, path);
  return value;
}

function uint(n: number, what: string, path: string): string {
  if (!Number.isSafeInteger(n) || n < 0)
    throw new EncodeError('syncml.invalid', `${what} must be a non-negative integer, got ${n}`, path);
  return String(n);
}

/** Builds the `SyncML` element of a message. @throws EncodeError `syncml.invalid` */
export function messageToElement(msg: SyncML): Element {
  const ns = syncmlNamespace(msg.SyncHdr.VerDTD);
  const body: ElementChild[] = [];
  const cmds = msg.SyncBody.commands;
  for (let i = 0; i < cmds.length; i++)
    body.push(command(cmds[i]!, ns, `SyncML/SyncBody/${cmds[i]!.type}[${i + 1}]`));
  if (msg.SyncBody.Final) body.push(empty('Final', ns));
  return {
    name: 'SyncML',
    ns,
    children: [syncHdr(msg.SyncHdr, ns), { name: 'SyncBody', ns, children: body }],
  };
}

function syncHdr(h: SyncHdr, ns: string): Element {
  const path = 'SyncML/SyncHdr';
  const ch: ElementChild[] = [
    leaf('VerDTD', ns, need(h.VerDTD, 'VerDTD', path)),
    leaf('VerProto', ns, need(h.VerProto, 'VerProto', path)),
    leaf('SessionID', ns, need(h.SessionID, 'SessionID', path)),
    leaf('MsgID', ns, need(h.MsgID, 'MsgID', path)),
    target('Target', h.Target, ns, `${path}/Target`),
    target('Source', h.Source, ns, `${path}/Source`),
  ];
  if (h.RespURI !== undefined) ch.push(leaf('RespURI', ns, h.RespURI));
  if (h.NoResp) ch.push(empty('NoResp', ns));
  if (h.Cred) ch.push(cred(h.Cred, ns, `${path}/Cred`));
  if (h.Meta) ch.push(meta(h.Meta, ns, `${path}/Meta`));
  return { name: 'SyncHdr', ns, children: ch };
}

function target(name: 'Target' | 'Source', t: Target | undefined, ns: string, path: string): Element {
  if (!t) throw new EncodeError('syncml.invalid', `${name} is required`, path);
  const ch: ElementChild[] = [leaf('LocURI', ns, need(t.LocURI, 'LocURI', path))];
  if (t.LocName !== undefined) ch.push(leaf('LocName', ns, t.LocName));
  return { name, ns, children: ch };
}

function cred(c: Cred, ns: string, path: string): Element {
  const ch: ElementChild[] = [];
  if (c.Meta) ch.push(meta(c.Meta, ns, `${path}/Meta`));
  ch.push(data(c.Data, ns));
  return { name: 'Cred', ns, children: ch };
}

function chal(c: Chal, ns: string, path: string): Element {
  return { name: 'Chal', ns, children: [meta(c.Meta, ns, `${path}/Meta`)] };
}

/** Element for a Data value: text, opaque bytes (WBXML OPAQUE) or an embedded element. */
export function data(d: Data, ns: string): Element {
  switch (d.kind) {
    case 'text':
      return leaf('Data', ns, d.text);
    case 'bytes':
      return { name: 'Data', ns, children: d.bytes.length ? [d.bytes] : [] };
    case 'element':
      return { name: 'Data', ns, children: [d.element] };
  }
}

/** `Meta` with its MetInf children, in MetInf DTD order. */
export function meta(m: Meta, ns: string, path: string): Element {
  const ch: ElementChild[] = [];
  if (m.Format !== undefined) ch.push(leaf('Format', MI, m.Format));
  if (m.Type !== undefined) ch.push(leaf('Type', MI, m.Type));
  if (m.Mark !== undefined) ch.push(leaf('Mark', MI, m.Mark));
  if (m.Size !== undefined) ch.push(leaf('Size', MI, uint(m.Size, 'Size', path)));
  if (m.Anchor !== undefined) ch.push(anchor(m.Anchor));
  if (m.Version !== undefined) ch.push(leaf('Version', MI, m.Version));
  if (m.NextNonce !== undefined) ch.push(leaf('NextNonce', MI, m.NextNonce));
  if (m.MaxMsgSize !== undefined) ch.push(leaf('MaxMsgSize', MI, uint(m.MaxMsgSize, 'MaxMsgSize', path)));
  if (m.MaxObjSize !== undefined) ch.push(leaf('MaxObjSize', MI, uint(m.MaxObjSize, 'MaxObjSize', path)));
  if (m.EMI) for (const e of m.EMI) ch.push(leaf('EMI', MI, e));
  if (m.Mem !== undefined) ch.push(mem(m.Mem, path));
  if (m.FieldLevel) ch.push(empty('FieldLevel', MI));
  return { name: 'Meta', ns, children: ch };
}

function anchor(a: Anchor): Element {
  const ch: ElementChild[] = [];
  if (a.Last !== undefined) ch.push(leaf('Last', MI, a.Last));
  ch.push(leaf('Next', MI, a.Next));
  return { name: 'Anchor', ns: MI, children: ch };
}

function mem(m: Mem, path: string): Element {
  const ch: ElementChild[] = [];
  if (m.SharedMem) ch.push(empty('SharedMem', MI));
  if (m.FreeMem !== undefined) ch.push(leaf('FreeMem', MI, uint(m.FreeMem, 'FreeMem', path)));
  if (m.FreeID !== undefined) ch.push(leaf('FreeID', MI, uint(m.FreeID, 'FreeID', path)));
  return { name: 'Mem', ns: MI, children: ch };
}

function item(it: Item, ns: string, path: string): Element {
  const ch: ElementChild[] = [];
  if (it.Target) ch.push(target('Target', it.Target, ns, `${path}/Target`));
  if (it.Source) ch.push(target('Source', it.Source, ns, `${path}/Source`));
  if (it.Meta) ch.push(meta(it.Meta, ns, `${path}/Meta`));
  if (it.Data) ch.push(data(it.Data, ns));
  if (it.MoreData) ch.push(empty('MoreData', ns));
  return { name: 'Item', ns, children: ch };
}

function items(list: readonly Item[], ns: string, path: string, ch: ElementChild[]): void {
  for (let i = 0; i < list.length; i++) ch.push(item(list[i]!, ns, `${path}/Item[${i + 1}]`));
}

function command(c: Command, ns: string, path: string): Element {
  if (c.type === 'Unknown') return c.element;
  const ch: ElementChild[] = [leaf('CmdID', ns, need(c.CmdID, 'CmdID', path))];
  switch (c.type) {
    case 'Add':
    case 'Copy':
    case 'Replace':
    case 'Delete':
    case 'Get':
    case 'Exec':
      if (c.NoResp) ch.push(empty('NoResp', ns));
      if (c.type === 'Delete') {
        if (c.Archive) ch.push(empty('Archive', ns));
        if (c.SftDel) ch.push(empty('SftDel', ns));
      }
      if (c.type === 'Get' && c.Lang !== undefined) ch.push(leaf('Lang', ns, c.Lang));
      if (c.Cred) ch.push(cred(c.Cred, ns, `${path}/Cred`));
      if (c.Meta) ch.push(meta(c.Meta, ns, `${path}/Meta`));
      if (c.type === 'Exec' && c.Correlator !== undefined) ch.push(leaf('Correlator', ns, c.Correlator));
      items(c.Item, ns, path, ch);
      break;
    case 'Alert':
      if (c.NoResp) ch.push(empty('NoResp', ns));
      if (c.Cred) ch.push(cred(c.Cred, ns, `${path}/Cred`));
      // [INTEROP] Data before Correlator, as the DM 1.2 examples and the Motorola toolkit write it.
      if (c.Data !== undefined) ch.push(leaf('Data', ns, uint(c.Data, 'Alert Data', path)));
      if (c.Correlator !== undefined) ch.push(leaf('Correlator', ns, c.Correlator));
      items(c.Item, ns, path, ch);
      break;
    case 'Atomic':
    case 'Sequence':
      if (c.NoResp) ch.push(empty('NoResp', ns));
      if (c.Meta) ch.push(meta(c.Meta, ns, `${path}/Meta`));
      for (let i = 0; i < c.commands.length; i++) {
        const sub = c.commands[i]!;
        ch.push(command(sub, ns, `${path}/${sub.type}[${i + 1}]`));
      }
      break;
    case 'Status':
      if (c.MsgRef !== undefined) ch.push(leaf('MsgRef', ns, c.MsgRef));
      ch.push(leaf('CmdRef', ns, need(c.CmdRef, 'CmdRef', path)));
      ch.push(leaf('Cmd', ns, need(c.Cmd, 'Cmd', path)));
      for (const r of c.TargetRef) ch.push(leaf('TargetRef', ns, r));
      for (const r of c.SourceRef) ch.push(leaf('SourceRef', ns, r));
      if (c.Cred) ch.push(cred(c.Cred, ns, `${path}/Cred`));
      if (c.Chal) ch.push(chal(c.Chal, ns, `${path}/Chal`));
      ch.push(leaf('Data', ns, uint(c.Data, 'Status Data', path)));
      items(c.Item, ns, path, ch);
      break;
    case 'Results':
      if (c.MsgRef !== undefined) ch.push(leaf('MsgRef', ns, c.MsgRef));
      ch.push(leaf('CmdRef', ns, need(c.CmdRef, 'CmdRef', path)));
      if (c.Meta) ch.push(meta(c.Meta, ns, `${path}/Meta`));
      if (c.TargetRef !== undefined) ch.push(leaf('TargetRef', ns, c.TargetRef));
      if (c.SourceRef !== undefined) ch.push(leaf('SourceRef', ns, c.SourceRef));
      items(c.Item, ns, path, ch);
      break;
  }
  return { name: c.type, ns, children: ch };
}
