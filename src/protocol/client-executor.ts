/**
 * Executes the commands of a server package on the client and produces what answers them, in
 * order: one Status per command (Atomic/Sequence first, then their members), Results right after
 * a Get's Status (protocol.md §3.7, §3.8). Tree work goes through the CommandHandler, UI alerts
 * through the UiHandler.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { Alert, Atomic, Command, Item, Sequence } from '../representation/index.ts';
import { StatusCode } from '../representation/index.ts';
import type {
  CommandHandler,
  ExecContext,
  HandlerTransaction,
  TreeCommand,
  UiHandler,
  UiOptions,
  UiResponse,
} from './client-types.ts';
import { commandStatus, dataText, results } from './message.ts';

export interface ExecutorDeps {
  readonly handler: CommandHandler;
  readonly ui?: UiHandler | undefined;
  readonly ctx: ExecContext;
  /** Longest wait for a UI answer when the alert sets no MAXDT (ms). */
  readonly uiTimeoutMs: number;
  /** Injected timer (tests); resolves after `ms` unless aborted. */
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/** Why a member stopped a Sequence/Atomic. */
type Stop = 'none' | 'user' | 'failed';

interface Answer {
  /** Status + Results (+ member answers) to send, in order. */
  readonly out: Command[];
  readonly status: number;
  readonly stop: Stop;
}

const TREE = new Set(['Add', 'Replace', 'Delete', 'Copy', 'Get', 'Exec']);
const IN_ATOMIC = new Set(['Add', 'Replace', 'Delete', 'Copy', 'Alert']);
const IN_SEQUENCE = new Set(['Add', 'Replace', 'Delete', 'Copy', 'Get', 'Exec', 'Alert', 'Atomic']);

/** Executes one top-level command of a server message. */
export async function executeCommand(cmd: Command, msgRef: string, deps: ExecutorDeps): Promise<Command[]> {
  return (await run(cmd, msgRef, deps, 'top')).out;
}

async function run(
  cmd: Command,
  msgRef: string,
  deps: ExecutorDeps,
  where: 'top' | 'atomic' | 'sequence',
): Promise<Answer> {
  if (cmd.type === 'Unknown') return answer(cmd, msgRef, StatusCode.BadRequest);
  if (where === 'atomic' && !IN_ATOMIC.has(cmd.type))
    return answer(cmd, msgRef, StatusCode.CommandFailed, 'failed');
  if (where === 'sequence' && !IN_SEQUENCE.has(cmd.type))
    return answer(cmd, msgRef, StatusCode.CommandFailed, 'failed');
  switch (cmd.type) {
    case 'Atomic':
      return runAtomic(cmd, msgRef, deps);
    case 'Sequence':
      return runSequence(cmd, msgRef, deps);
    case 'Alert':
      return runAlert(cmd, msgRef, deps);
    case 'Status':
    case 'Results':
      return { out: [], status: StatusCode.Ok, stop: 'none' };
    default: {
      if (!TREE.has(cmd.type)) return answer(cmd, msgRef, StatusCode.CommandNotImplemented);
      const tree = cmd as TreeCommand;
      if (tree.type === 'Exec' && where === 'atomic')
        return answer(cmd, msgRef, StatusCode.CommandFailed, 'failed');
      let r: { status: number; results?: readonly Item[]; itemStatuses?: readonly number[] };
      try {
        r = await deps.handler.execute(tree, deps.ctx);
      } catch {
        r = { status: StatusCode.CommandFailed };
      }
      const out: Command[] = cmd.NoResp ? [] : itemStatuses(tree, msgRef, r.status, r.itemStatuses);
      // The values of the Items that succeeded, even when another Item failed.
      const someOk = r.status === StatusCode.Ok || (r.itemStatuses ?? []).includes(StatusCode.Ok);
      if (tree.type === 'Get' && someOk && r.results) {
        // One Results per item, so any single large value can be sent in chunks.
        for (const item of r.results) out.push(results(msgRef, cmd.CmdID, [item]));
      }
      return { out, status: r.status, stop: isOk(r.status) ? 'none' : 'failed' };
    }
  }
}

/**
 * The Statuses of a tree command: one when every Item has the same code; otherwise one per group
 * of Items with the same code, in order of first appearance, TargetRef naming that group's Items
 * (protocol.md §1.4: TargetRef lists the items a Status concerns).
 */
function itemStatuses(
  cmd: TreeCommand,
  msgRef: string,
  status: number,
  codes?: readonly number[],
): Command[] {
  if (!codes || codes.length !== cmd.Item.length || codes.every((c) => c === codes[0])) {
    return [commandStatus(cmd, msgRef, status)];
  }
  const groups = new Map<number, string[]>();
  cmd.Item.forEach((it, i) => {
    const code = codes[i]!;
    const targets = groups.get(code) ?? [];
    const uri = it.Target?.LocURI ?? it.Source?.LocURI;
    if (uri !== undefined) targets.push(uri);
    groups.set(code, targets);
  });
  return [...groups].map(([code, targetRefs]) => commandStatus(cmd, msgRef, code, { targetRefs }));
}

function isOk(code: number): boolean {
  return code >= 200 && code < 300;
}

function answer(cmd: Command, msgRef: string, code: number, stop: Stop = 'none'): Answer {
  const silent = cmd.type !== 'Unknown' && 'NoResp' in cmd && cmd.NoResp === true;
  return { out: silent ? [] : [commandStatus(cmd, msgRef, code)], status: code, stop };
}

async function runAtomic(cmd: Atomic, msgRef: string, deps: ExecutorDeps): Promise<Answer> {
  if (!deps.handler.begin) {
    const out: Command[] = [commandStatus(cmd, msgRef, StatusCode.OptionalFeatureNotSupported)];
    for (const m of cmd.commands)
      if (m.type !== 'Unknown') out.push(commandStatus(m, msgRef, StatusCode.NotExecuted));
    return { out, status: StatusCode.OptionalFeatureNotSupported, stop: 'failed' };
  }
  let tx: HandlerTransaction;
  try {
    tx = await deps.handler.begin(deps.ctx);
  } catch {
    return answer(cmd, msgRef, StatusCode.CommandFailed, 'failed');
  }
  const inner: ExecutorDeps = { ...deps, ctx: { ...deps.ctx, transaction: tx } };
  const members: { cmd: Command; answer?: Answer }[] = cmd.commands.map((c) => ({ cmd: c }));
  let failedAt = -1;
  for (let i = 0; i < members.length; i++) {
    const a = await run(members[i]!.cmd, msgRef, inner, 'atomic');
    members[i]!.answer = a;
    if (!isOk(a.status)) {
      failedAt = i;
      break;
    }
  }
  if (failedAt < 0) {
    try {
      await tx.commit();
      const out: Command[] = cmd.NoResp ? [] : [commandStatus(cmd, msgRef, StatusCode.Ok)];
      for (const m of members) out.push(...m.answer!.out);
      return { out, status: StatusCode.Ok, stop: 'none' };
    } catch {
      failedAt = members.length;
    }
  }
  let rolledBack = false;
  try {
    rolledBack = await tx.rollback();
  } catch {
    rolledBack = false;
  }
  // Members that ran report 216 (516 if the rollback failed), the failing one its own code, the rest 215.
  const out: Command[] = cmd.NoResp ? [] : [commandStatus(cmd, msgRef, StatusCode.AtomicFailed)];
  members.forEach((m, i) => {
    if (m.cmd.type === 'Unknown' && i !== failedAt) {
      out.push(commandStatus(m.cmd, msgRef, StatusCode.NotExecuted));
      return;
    }
    const code =
      i < failedAt
        ? rolledBack
          ? StatusCode.AtomicRollbackOk
          : StatusCode.AtomicRollbackFailed
        : i === failedAt
          ? m.answer!.status
          : StatusCode.NotExecuted;
    out.push(commandStatus(m.cmd, msgRef, code));
  });
  return { out, status: StatusCode.AtomicFailed, stop: 'failed' };
}

async function runSequence(cmd: Sequence, msgRef: string, deps: ExecutorDeps): Promise<Answer> {
  const out: Command[] = cmd.NoResp ? [] : [commandStatus(cmd, msgRef, StatusCode.Ok)];
  let stopped = false;
  for (const m of cmd.commands) {
    if (stopped) {
      out.push(commandStatus(m, msgRef, StatusCode.NotExecuted));
      continue;
    }
    const a = await run(m, msgRef, deps, 'sequence');
    out.push(...a.out);
    // A user "No"/cancel skips the rest (215); other failures do not stop a Sequence.
    if (a.stop === 'user') stopped = true;
  }
  return { out, status: StatusCode.Ok, stop: 'none' };
}

async function runAlert(cmd: Alert, msgRef: string, deps: ExecutorDeps): Promise<Answer> {
  const code = cmd.Data;
  if (code === undefined) return answer(cmd, msgRef, StatusCode.IncompleteCommand);
  if (code < 1100 || code > 1104) return answer(cmd, msgRef, StatusCode.OptionalFeatureNotSupported);
  if (!deps.ui) return answer(cmd, msgRef, StatusCode.OptionalFeatureNotSupported);
  const options = parseUiOptions(dataText(cmd.Item[0]?.Data));
  const text = dataText(cmd.Item[1]?.Data);
  const choices = cmd.Item.slice(2).map((i) => dataText(i.Data));
  const timeoutMs =
    options.maxDisplaySeconds !== undefined ? options.maxDisplaySeconds * 1000 : deps.uiTimeoutMs;
  const ac = new AbortController();
  const sleep = deps.sleep ?? ((ms: number, signal: AbortSignal) => delay(ms, undefined, { signal }));
  let response: UiResponse | 'timeout';
  try {
    // Both racers settle quietly: the loser must not become an unhandled rejection.
    response = await Promise.race([
      deps
        .ui({ code, text, options, choices, signal: ac.signal })
        .catch((): UiResponse => ({ kind: 'cancel' })),
      sleep(timeoutMs, ac.signal).then(
        () => 'timeout' as const,
        () => 'timeout' as const,
      ),
    ]);
  } catch {
    response = { kind: 'cancel' };
  } finally {
    ac.abort();
  }
  const st = (c: number, items: Item[] = []): Answer => ({
    out: cmd.NoResp ? [] : [commandStatus(cmd, msgRef, c, { items })],
    status: c,
    stop: c === StatusCode.Ok ? 'none' : 'user',
  });
  if (response === 'timeout') return st(StatusCode.RequestTimeout);
  switch (response.kind) {
    case 'cancel':
      return st(StatusCode.OperationCancelled);
    case 'no':
      return code === 1101 ? st(StatusCode.NotModified) : st(StatusCode.OperationCancelled);
    case 'yes':
    case 'ok':
      return st(StatusCode.Ok);
    case 'text':
      if (options.maxLength !== undefined && response.text.length > options.maxLength) {
        return st(StatusCode.RequestedSizeTooBig);
      }
      return st(StatusCode.Ok, [{ Data: { kind: 'text', text: response.text } }]);
    case 'choice': {
      const valid = response.selected.filter((n) => Number.isInteger(n) && n >= 1 && n <= choices.length);
      if (code === 1103 && valid.length !== 1) return st(StatusCode.OperationCancelled);
      return st(
        StatusCode.Ok,
        valid.map((n) => ({ Data: { kind: 'text' as const, text: String(n) } })),
      );
    }
  }
}

/** Parses `MINDT=10&MAXDT=30&DR=1` (URL-encoded, unknown options ignored). */
export function parseUiOptions(text: string): UiOptions {
  const out: { -readonly [K in keyof UiOptions]: UiOptions[K] } = {};
  for (const part of text.split('&')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim().toUpperCase();
    let value: string;
    try {
      value = decodeURIComponent(part.slice(eq + 1).replace(/\+/g, ' '));
    } catch {
      value = part.slice(eq + 1);
    }
    const n = /^\d{1,9}$/.test(value.trim()) ? Number(value.trim()) : undefined;
    switch (name) {
      case 'MINDT':
        if (n !== undefined) out.minDisplaySeconds = n;
        break;
      case 'MAXDT':
        if (n !== undefined && n > 0) out.maxDisplaySeconds = n;
        break;
      case 'DR':
        out.defaultResponse = value;
        break;
      case 'MAXLEN':
        if (n !== undefined) out.maxLength = n;
        break;
      case 'IT':
        out.inputType = value;
        break;
      case 'ET':
        out.echoType = value;
        break;
    }
  }
  return out;
}
