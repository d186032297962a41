/**
 * Executes SyncML DM commands (the representation model) against a management tree for one
 * server, producing the Status (and Results) to send back — the client session engine's view of
 * the tree (protocol.md §3.6–§3.8, §6).
 *
 * - One Status per Item (TargetRef = the Item's Target LocURI, SourceRef for Copy), so a server
 *   sees which node failed; a Get's successful Items go in one Results.
 * - Atomic: members run in one transaction; on the first failure the rest are not executed (215),
 *   executed members are rolled back (216, or 516 when a plugin rollback failed), the failing one
 *   keeps its code and the Atomic answers 507. Get, Exec, Sequence or Atomic inside Atomic → 500.
 * - Sequence: members strictly in order; an Alert answered 214 (cancel) or 304 (No) stops it and
 *   the rest get 215; the Sequence itself answers 200.
 * - Items of large objects must arrive reassembled (the session engine buffers the chunks).
 */
import {
  type Add,
  type Alert,
  type Atomic,
  type Command,
  type Copy,
  type Data,
  type Delete,
  type Element,
  type Exec,
  type Format,
  type Get,
  type Item,
  type ItemCommand,
  isFormat,
  type Meta,
  type Replace,
  type Results,
  type Sequence,
  type Status,
  StatusCode,
} from '../representation/index.ts';
import type { ManagementTree } from './tree.ts';
import type { NodeData, NodeInput, Principal, TreeItem, TreeOps } from './types.ts';

const S = StatusCode;

/** Something that can run ops all-or-nothing (the tree; a Transaction cannot nest). */
export type TndsOps = TreeOps & { transaction?<T>(fn: (tx: TreeOps) => Promise<T>): Promise<T> };

/** Applies a TNDS document carried by Add/Replace Data (implemented by tree/tnds). */
export interface TndsHandler {
  isTndsType(type: string | undefined): boolean;
  add(
    ops: TndsOps,
    targetUri: string,
    data: string | Uint8Array | Element,
    options: { who: Principal },
  ): Promise<StatusCode>;
  replace(
    ops: TndsOps,
    targetUri: string,
    data: string | Uint8Array | Element,
    options: { who: Principal },
  ): Promise<StatusCode>;
}

/** The answer to an Alert met inside Atomic or Sequence (UI alerts). */
export interface AlertOutcome {
  readonly status: StatusCode;
  /** Items for the Status (e.g. user input of 1103, choices of 1104/1105). */
  readonly items?: readonly Item[];
}

export interface ExecutionContext {
  /** The authenticated server (or LOCAL for device-side scripts). */
  readonly principal: Principal;
  /** MsgID of the message the command came in (MsgRef of every reply). */
  readonly msgRef?: string;
  /** Allocates CmdIDs for the replies, in the order they are returned. */
  readonly nextCmdId: () => string;
  /** Runs an Alert found inside Atomic/Sequence (or passed directly). Without it: 406. */
  readonly alert?: (cmd: Alert) => Promise<AlertOutcome>;
}

export interface ExecutionOutcome {
  /** Statuses to send, in order (container first, then its members). */
  readonly statuses: readonly Status[];
  /** Results of Gets, to send after the statuses. */
  readonly results: readonly Results[];
}

/** Outcome of `TreeCommandExecutor.run` for one command. */
export interface CommandRunResult {
  readonly status: StatusCode;
  /** One per Item, in order. */
  readonly itemStatuses: readonly StatusCode[];
  /** Items for a Get's Results (Source LocURI, Meta Format/Type, Data). */
  readonly results: readonly Item[];
}

/** What the session engine calls for each received command. */
export interface CommandExecutor {
  execute(cmd: Command, ctx: ExecutionContext): Promise<ExecutionOutcome>;
}

export interface TreeCommandExecutorOptions {
  /** TNDS support for Add/Replace with a TNDS Meta Type; without it such commands get 415. */
  readonly tnds?: TndsHandler;
}

type StatusDraft = Omit<Status, 'CmdID' | 'MsgRef'>;
type ResultsDraft = Omit<Results, 'CmdID' | 'MsgRef'>;

interface Drafts {
  statuses: StatusDraft[];
  results: ResultsDraft[];
}

/** Commands allowed inside Atomic (protocol.md §3.8). */
const ATOMIC_MEMBERS: ReadonlySet<string> = new Set(['Add', 'Alert', 'Delete', 'Copy', 'Replace']);
/** Item-level refusals, per command (a command with no usable Item answers 412). */
const ITEM_COMMANDS: ReadonlySet<string> = new Set(['Add', 'Replace', 'Delete', 'Get', 'Copy', 'Exec']);

function status(
  cmd: { CmdID: string; type: string },
  code: StatusCode,
  targetRef?: string,
  sourceRef?: string,
  items: readonly Item[] = [],
): StatusDraft {
  return {
    type: 'Status',
    CmdRef: cmd.CmdID,
    Cmd: cmd.type,
    TargetRef: targetRef === undefined ? [] : [targetRef],
    SourceRef: sourceRef === undefined ? [] : [sourceRef],
    Data: code,
    Item: items,
  };
}

function isOk(code: number): boolean {
  return code === S.Ok || code === S.AcceptedForProcessing;
}

/** Format/Type of an Item: item Meta over command Meta (protocol.md §1.5). */
function metaOf(
  cmdMeta: Meta | undefined,
  item: Item,
): { format: string | undefined; type: string | undefined } {
  const format = item.Meta?.Format ?? cmdMeta?.Format;
  return { format: format?.toLowerCase(), type: item.Meta?.Type ?? cmdMeta?.Type };
}

function nodeData(data: Data | undefined): NodeData | Element | undefined {
  if (!data) return undefined;
  if (data.kind === 'text') return data.text;
  if (data.kind === 'bytes') return data.bytes;
  return data.element;
}

function toItem(t: TreeItem): Item {
  const meta: { Format: Format; Type?: string } = { Format: t.format };
  if (t.type) meta.Type = t.type;
  const item: { Source: { LocURI: string }; Meta: Meta; Data?: Data } = {
    Source: { LocURI: t.uri },
    Meta: meta,
  };
  if (t.data !== undefined) {
    item.Data =
      typeof t.data === 'string' ? { kind: 'text', text: t.data } : { kind: 'bytes', bytes: t.data };
  }
  return item;
}

/** Runs DM commands against a ManagementTree. */
export class TreeCommandExecutor implements CommandExecutor {
  readonly #tree: ManagementTree;
  readonly #tnds: TndsHandler | undefined;

  constructor(tree: ManagementTree, options: TreeCommandExecutorOptions = {}) {
    this.#tree = tree;
    this.#tnds = options.tnds;
  }

  async execute(cmd: Command, ctx: ExecutionContext): Promise<ExecutionOutcome> {
    const drafts: Drafts = { statuses: [], results: [] };
    await this.#run(cmd, ctx, this.#tree, drafts);
    const withRefs = <T extends object>(d: T) =>
      ctx.msgRef === undefined
        ? { CmdID: ctx.nextCmdId(), ...d }
        : { CmdID: ctx.nextCmdId(), MsgRef: ctx.msgRef, ...d };
    const statuses = drafts.statuses.map((d) => withRefs(d) as Status);
    const results = drafts.results.map((d) => withRefs(d) as Results);
    return { statuses, results };
  }

  /**
   * Runs one tree command as a single outcome: the first failing Item's status (else 202 when an
   * Item answered 202, else 200), the per-Item statuses, and a Get's result Items. `ops` is the
   * tree or a Transaction (a member of an Atomic run by the caller's own executor).
   */
  async run(cmd: ItemCommand, who: Principal, ops: TndsOps = this.#tree): Promise<CommandRunResult> {
    const drafts: Drafts = { statuses: [], results: [] };
    const status = await this.#items(cmd, { principal: who, nextCmdId: () => '' }, ops, drafts);
    const results = drafts.results.flatMap((r) => r.Item);
    return { status, itemStatuses: drafts.statuses.map((d) => d.Data as StatusCode), results };
  }

  async #run(cmd: Command, ctx: ExecutionContext, ops: TndsOps, out: Drafts): Promise<StatusCode> {
    switch (cmd.type) {
      case 'Add':
      case 'Replace':
      case 'Delete':
      case 'Copy':
      case 'Exec':
      case 'Get':
        return this.#items(cmd, ctx, ops, out);
      case 'Atomic':
        return this.#atomic(cmd, ctx, out);
      case 'Sequence':
        return this.#sequence(cmd, ctx, ops, out);
      case 'Alert':
        return this.#alert(cmd, ctx, out);
      case 'Status':
      case 'Results':
        return S.Ok; // answers, not commands: nothing to execute, never acknowledged
      case 'Unknown': {
        if (cmd.CmdID === undefined) return S.BadRequest;
        const code =
          ITEM_COMMANDS.has(cmd.name) || cmd.name === 'Atomic' || cmd.name === 'Sequence'
            ? S.IncompleteCommand
            : S.CommandNotImplemented;
        out.statuses.push({
          type: 'Status',
          CmdRef: cmd.CmdID,
          Cmd: cmd.name,
          TargetRef: [],
          SourceRef: [],
          Data: code,
          Item: [],
        });
        return code;
      }
    }
  }

  async #alert(cmd: Alert, ctx: ExecutionContext, out: Drafts): Promise<StatusCode> {
    if (!ctx.alert) {
      out.statuses.push(status(cmd, S.OptionalFeatureNotSupported));
      return S.OptionalFeatureNotSupported;
    }
    let outcome: AlertOutcome;
    try {
      outcome = await ctx.alert(cmd);
    } catch {
      outcome = { status: S.CommandFailed };
    }
    out.statuses.push(status(cmd, outcome.status, undefined, undefined, outcome.items ?? []));
    return outcome.status;
  }

  /** Add/Replace/Delete/Copy/Exec/Get: one Status per Item; the command's code is the worst one. */
  async #items(
    cmd: Add | Replace | Delete | Copy | Exec | Get,
    ctx: ExecutionContext,
    ops: TndsOps,
    out: Drafts,
  ): Promise<StatusCode> {
    if (cmd.Item.length === 0) {
      out.statuses.push(status(cmd, S.IncompleteCommand));
      return S.IncompleteCommand;
    }
    const who = ctx.principal;
    let worst: StatusCode = S.Ok;
    const got: Item[] = [];
    for (const item of cmd.Item) {
      const target = item.Target?.LocURI;
      let code: StatusCode;
      let sourceRef: string | undefined;
      if (cmd.type === 'Copy') {
        sourceRef = item.Source?.LocURI;
        code =
          target === undefined || sourceRef === undefined
            ? S.IncompleteCommand
            : await ops.copy(target, sourceRef, who);
      } else if (target === undefined) {
        code = S.IncompleteCommand;
      } else {
        switch (cmd.type) {
          case 'Get': {
            const r = await ops.get(target, who);
            code = r.status;
            if (code === S.Ok) for (const t of r.items) got.push(toItem(t));
            break;
          }
          case 'Delete':
            code = await ops.delete(target, who);
            break;
          case 'Exec': {
            const data = nodeData(item.Data);
            const { format, type } = metaOf(cmd.Meta, item);
            if (data !== undefined && typeof data === 'object' && !(data instanceof Uint8Array)) {
              code = S.UnsupportedMediaTypeOrFormat;
              break;
            }
            const input: { data?: NodeData; format?: Format; type?: string; correlator?: string } = {};
            if (data !== undefined) input.data = data;
            if (format !== undefined && isFormat(format)) input.format = format;
            if (type !== undefined) input.type = type;
            if (cmd.Correlator !== undefined) input.correlator = cmd.Correlator;
            code = await ops.exec(target, input, who);
            break;
          }
          case 'Add':
          case 'Replace':
            code = await this.#write(cmd, item, target, who, ops);
            break;
        }
      }
      if (!isOk(code) && isOk(worst)) worst = code;
      else if (code === S.AcceptedForProcessing && worst === S.Ok) worst = code;
      out.statuses.push(status(cmd, code, target, sourceRef));
    }
    if (cmd.type === 'Get' && got.length > 0) {
      out.results.push({ type: 'Results', CmdRef: cmd.CmdID, Item: got });
    }
    return worst;
  }

  async #write(
    cmd: Add | Replace,
    item: Item,
    target: string,
    who: Principal,
    ops: TndsOps,
  ): Promise<StatusCode> {
    const { format, type } = metaOf(cmd.Meta, item);
    const data = nodeData(item.Data);
    if (this.#tnds?.isTndsType(type)) {
      if (data === undefined) return S.IncompleteCommand;
      return cmd.type === 'Add'
        ? this.#tnds.add(ops, target, data, { who })
        : this.#tnds.replace(ops, target, data, { who });
    }
    if (format !== undefined && !isFormat(format)) return S.UnsupportedMediaTypeOrFormat;
    if (data !== undefined && typeof data === 'object' && !(data instanceof Uint8Array)) {
      // An embedded document that is not TNDS (or no TNDS support): not a value we can store.
      return S.UnsupportedMediaTypeOrFormat;
    }
    const input: { format?: Format; type?: string; data?: NodeData } = {};
    if (format !== undefined) input.format = format as Format;
    if (type !== undefined) input.type = type;
    if (data !== undefined) input.data = data;
    // Add without Meta: chr/text/plain (the engine's default); Replace without Meta keeps the node's.
    return cmd.type === 'Add'
      ? ops.add(target, input as NodeInput, who)
      : ops.replace(target, input as NodeInput, who);
  }

  async #sequence(cmd: Sequence, ctx: ExecutionContext, ops: TndsOps, out: Drafts): Promise<StatusCode> {
    out.statuses.push(status(cmd, S.Ok));
    let stopped = false;
    for (const member of cmd.commands) {
      if (stopped) {
        skip(member, S.NotExecuted, out);
        continue;
      }
      const code = await this.#run(member, ctx, ops, out);
      if (member.type === 'Alert' && (code === S.OperationCancelled || code === S.NotModified))
        stopped = true;
    }
    return S.Ok;
  }

  async #atomic(cmd: Atomic, ctx: ExecutionContext, out: Drafts): Promise<StatusCode> {
    const head = status(cmd, S.Ok);
    out.statuses.push(head);
    const headIndex = out.statuses.length - 1;
    const tx = await this.#tree.begin();
    const members: Drafts = { statuses: [], results: [] };
    let failed = false;
    // Run inside the transaction's context: tree calls made by ctx.alert or plugins join it.
    await tx.within(async () => {
      for (const member of cmd.commands) {
        if (failed) {
          skip(member, S.NotExecuted, members);
          continue;
        }
        let code: StatusCode;
        if (!ATOMIC_MEMBERS.has(member.type)) {
          code = S.CommandFailed;
          skip(member, code, members);
        } else {
          code = await this.#run(member, ctx, tx, members);
        }
        if (!isOk(code)) failed = true;
      }
    });
    let final: StatusCode = S.Ok;
    if (!failed) {
      final = await tx.commit();
      if (final !== S.Ok) {
        for (const s of members.statuses) if (isOk(s.Data)) Object.assign(s, { Data: S.AtomicRollbackOk });
      }
    } else {
      const rb = await tx.rollback();
      const undone = rb === S.Ok ? S.AtomicRollbackOk : S.AtomicRollbackFailed;
      for (const s of members.statuses) if (isOk(s.Data)) Object.assign(s, { Data: undone });
    }
    const atomicCode = final === S.Ok && !failed ? S.Ok : S.AtomicFailed;
    out.statuses[headIndex] = { ...head, Data: atomicCode };
    out.statuses.push(...members.statuses);
    return atomicCode;
  }
}

/** Statuses for a command that is not executed (215) or refused as a whole (500 in Atomic). */
function skip(cmd: Command, code: StatusCode, out: Drafts): void {
  if (cmd.type === 'Status' || cmd.type === 'Results') return;
  if (cmd.type === 'Unknown') {
    if (cmd.CmdID !== undefined) {
      out.statuses.push({
        type: 'Status',
        CmdRef: cmd.CmdID,
        Cmd: cmd.name,
        TargetRef: [],
        SourceRef: [],
        Data: code,
        Item: [],
      });
    }
    return;
  }
  if (cmd.type === 'Atomic' || cmd.type === 'Sequence') {
    out.statuses.push(status(cmd, code));
    for (const m of cmd.commands) skip(m, code === S.CommandFailed ? S.NotExecuted : code, out);
    return;
  }
  if (cmd.type === 'Alert') {
    out.statuses.push(status(cmd, code));
    return;
  }
  if (cmd.Item.length === 0) {
    out.statuses.push(status(cmd, code));
    return;
  }
  for (const item of cmd.Item)
    out.statuses.push(
      status(cmd, code, item.Target?.LocURI, cmd.type === 'Copy' ? item.Source?.LocURI : undefined),
    );
}
