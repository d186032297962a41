/**
 * `omadm cmd get|replace|add|delete|exec|copy DEVICE URI [VALUE]`: queue a DM command for a device
 * through the REST API; with `--wait` follow it until the device has answered. `omadm cmd show ID`
 * and `omadm cmd list DEVICE` inspect commands.
 *
 * Exit codes: 0 queued (or, with --wait, succeeded); 1 the device answered with an error status,
 * the command expired, or --wait ran out before the device answered; 2 bad input; 69 server
 * unreachable or token refused.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { ApiClient } from '../api/client.ts';
import { type ApiOptions, clientFor, seconds, seg, withApiOptions } from '../api/common.ts';
import { json, stdio, table } from '../api/output.ts';
import { statusMeaning } from '../../representation/index.ts';
import { CliError, ExitCode } from '../errors.ts';
import { selfCommand } from '../self.ts';

/** A queued command as the API returns it (docs/api.md). */
export interface CommandView {
  id: string;
  deviceId: string;
  type: string;
  request: unknown;
  state: string;
  status: number | null;
  results: { uri: string; value: string | null; format: string | null; type: string | null }[];
  /** Member statuses, the Generic Alerts that completed an Exec, or why it ended. */
  detail: {
    alerts?: { correlator: string; status?: number; data?: string; type?: string; verdict?: string }[];
    reason?: string;
  } | null;
  sessionId: string | null;
  createdAt: string;
  sentAt: string | null;
  completedAt: string | null;
  expiresAt: string | null;
}

const FINAL = new Set(['succeeded', 'failed', 'unknown', 'expired', 'cancelled']);
const FORMATS = ['b64', 'bin', 'bool', 'chr', 'int', 'node', 'null', 'xml', 'date', 'time', 'float'];
/** Commands `cmd list` shows unless told otherwise (a fleet's queue can hold millions). */
const DEFAULT_LIST_LIMIT = 100;
/** Longest single long-poll request; longer waits are several requests. */
const POLL_SLICE_S = 60;
const DEFAULT_WAIT_S = 60;

interface CmdOptions extends ApiOptions {
  quiet?: boolean;
  format?: string;
  type?: string;
  wait?: number | true;
  expires?: number;
}

export function register(program: Command): void {
  const cmd = program
    .command('cmd')
    .description('queue DM commands for a device and follow them (through the REST API)');

  const leaf = (
    name: string,
    type: string,
    value: 'none' | 'optional' | 'required' | 'source',
    what: string,
  ) => {
    let c = cmd
      .command(name)
      .description(what)
      .argument('<device>', 'the DevId')
      .argument('<uri>', 'the node URI');
    if (value === 'required') c = c.argument('<value>', 'the value');
    if (value === 'optional') c = c.argument('[value]', 'the value (data of the Exec item)');
    if (value === 'source') c = c.argument('<source>', 'the source URI');
    if (value === 'required' || value === 'optional') {
      c = c
        .option('--format <format>', `value format: ${FORMATS.join('|')} (default chr)`)
        .option('--type <mime>', 'MIME type of the value (Meta/Type)');
    }
    withApiOptions(c)
      .option('-q, --quiet', 'print only the id of the queued command (ID=$(omadm cmd get … -q))')
      .option(
        '--wait [seconds]',
        `wait for the device's answer (default ${DEFAULT_WAIT_S} s)`,
        seconds('--wait', 86400),
      )
      .option(
        '--expires <seconds>',
        'expire the command if not delivered within this time',
        seconds('--expires', 365 * 86400),
      )
      .action(async (device: string, uri: string, ...rest: unknown[]) => {
        const hasValue = value !== 'none';
        const arg = hasValue ? (rest[0] as string | undefined) : undefined;
        const opts = (hasValue ? rest[1] : rest[0]) as CmdOptions;
        if (opts.format !== undefined && !FORMATS.includes(opts.format)) {
          throw new CliError(
            `--format must be one of ${FORMATS.join(', ')}, not ${opts.format}`,
            ExitCode.BadInput,
          );
        }
        if (opts.format === 'int' && arg !== undefined && !/^-?\d+$/.test(arg)) {
          throw new CliError(`value ${arg} is not an integer (--format int)`, ExitCode.BadInput);
        }
        if (opts.format === 'bool' && arg !== undefined && !/^(true|false)$/i.test(arg)) {
          throw new CliError(`value ${arg} is not true or false (--format bool)`, ExitCode.BadInput);
        }
        const body: Record<string, unknown> = { type, uri };
        if (value === 'source') body.source = arg;
        else if (arg !== undefined) body.value = arg;
        if (opts.format) body.format = opts.format;
        if (opts.type) body.contentType = opts.type;
        if (opts.expires) body.expiresIn = Math.max(1, Math.round(opts.expires));
        const api = clientFor(opts);
        const queued = await api.post<CommandView>(`/devices/${seg(device)}/commands`, body);
        await finish(api, queued, opts);
      });
  };
  leaf('get', 'Get', 'none', 'read a node (Get)');
  leaf('replace', 'Replace', 'required', 'change a node value (Replace)');
  leaf('add', 'Add', 'optional', 'create a node (Add); without a value, an interior node');
  leaf('delete', 'Delete', 'none', 'delete a node (Delete)');
  leaf('exec', 'Exec', 'optional', 'execute a node (Exec); FUMO/SCOMO operations complete by Generic Alert');
  leaf('copy', 'Copy', 'source', 'copy a node (Copy) from a source URI to the target URI');

  withApiOptions(
    cmd
      .command('send')
      .description(
        "queue any command given as the API's JSON (Atomic, Sequence, …) from a file or - for stdin",
      )
      .argument('<device>', 'the DevId')
      .argument('<file>', 'JSON file with the command, e.g. {"type":"Atomic","commands":[…]}; - reads stdin'),
  )
    .option('-q, --quiet', 'print only the id of the queued command')
    .option(
      '--wait [seconds]',
      `wait for the device's answer (default ${DEFAULT_WAIT_S} s)`,
      seconds('--wait', 86400),
    )
    .action(async (device: string, file: string, opts: CmdOptions) => {
      let text: string;
      try {
        text = file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
      } catch (err) {
        throw new CliError(`cannot read ${file}: ${(err as Error).message}`, ExitCode.BadInput);
      }
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch (err) {
        throw new CliError(`${file} is not JSON: ${(err as Error).message}`, ExitCode.BadInput);
      }
      const api = clientFor(opts);
      const queued = await api.post<CommandView>(`/devices/${seg(device)}/commands`, body);
      await finish(api, queued, opts);
    });

  withApiOptions(
    cmd.command('show').description('show a command and its results').argument('<id>', 'command id'),
  )
    .option('--wait [seconds]', 'wait for a final state', seconds('--wait', 86400))
    .action(async (id: string, opts: CmdOptions) => {
      const api = clientFor(opts);
      const c = await api.get<CommandView>(`/commands/${seg(id)}`);
      await finish(api, c, opts);
    });

  withApiOptions(
    cmd
      .command('list')
      .description("list commands, newest first: a device's, or the fleet's (e.g. --state unknown)")
      .argument('[device]', 'the DevId (default: all devices)'),
  )
    .option(
      '--state <state>',
      'only commands in this state (queued, claimed, sent, pending, succeeded, failed, unknown, expired, cancelled)',
    )
    .option('--limit <n>', `at most this many commands (default ${DEFAULT_LIST_LIMIT}); 0: all`)
    .action(async (device: string | undefined, opts: ApiOptions & { state?: string; limit?: string }) => {
      const limit = opts.limit === undefined ? DEFAULT_LIST_LIMIT : Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 0) {
        throw new CliError(`--limit must be a whole number (0: all), not ${opts.limit}`, ExitCode.BadInput);
      }
      const api = clientFor(opts);
      const { items, more } = await listCommands(
        api,
        device === undefined ? '/commands' : `/devices/${seg(device)}/commands`,
        opts.state,
        limit === 0 ? Number.POSITIVE_INFINITY : limit,
      );
      // The note goes to stderr: stdout stays a clean table (or JSON array) for pipes.
      if (more) {
        stdio.err(
          `omadm: showing the newest ${items.length} commands; more exist (--limit N shows more, --limit 0 all)\n`,
        );
      }
      if (opts.json) {
        stdio.out(json(items));
        return;
      }
      if (items.length === 0) {
        stdio.out('no commands\n');
        return;
      }
      stdio.out(
        table(
          ['ID', ...(device === undefined ? ['DEVICE'] : []), 'TYPE', 'URI', 'STATE', 'STATUS', 'CREATED'],
          items.map((c) => [
            c.id,
            ...(device === undefined ? [c.deviceId] : []),
            c.type,
            uriOf(c),
            c.state,
            c.status === null ? '-' : String(c.status),
            c.createdAt,
          ]),
        ),
      );
    });

  withApiOptions(
    cmd
      .command('retry')
      .description('queue a copy of a finished command (one left unknown, failed, expired or cancelled)')
      .argument('<id>', 'command id'),
  )
    .option('-q, --quiet', 'print only the id of the new command')
    .option('--wait [seconds]', "wait for the device's answer", seconds('--wait', 86400))
    .action(async (id: string, opts: CmdOptions) => {
      const api = clientFor(opts);
      const copy = await api.post<CommandView>(`/commands/${seg(id)}/retry`, {});
      await finish(api, copy, opts);
    });

  withApiOptions(
    cmd.command('cancel').description('cancel a command not yet sent').argument('<id>', 'command id'),
  ).action(async (id: string, opts: ApiOptions) => {
    await clientFor(opts).delete(`/commands/${seg(id)}`);
    stdio.out(opts.json ? json({ cancelled: id }) : `cancelled ${id}\n`);
  });
}

/** Up to `limit` commands, following the API's cursor; `more` when the list goes on. */
async function listCommands(
  api: ApiClient,
  path: string,
  state: string | undefined,
  limit: number,
): Promise<{ items: CommandView[]; more: boolean }> {
  const items: CommandView[] = [];
  let cursor: string | undefined;
  do {
    const page = await api.get<{ items: CommandView[]; nextCursor?: string | null }>(path, {
      state,
      limit: Math.min(500, limit - items.length),
      cursor,
    });
    items.push(...page.items);
    cursor = page.nextCursor ?? undefined;
  } while (cursor && items.length < limit);
  return { items: items.slice(0, limit), more: cursor !== undefined };
}

function uriOf(c: CommandView): string {
  const r = c.request as { uri?: string; items?: { uri: string }[]; commands?: unknown[] } | null;
  if (r?.uri) return r.uri;
  if (r?.items?.length) return r.items.map((i) => i.uri).join(',');
  if (r?.commands) return `(${r.commands.length} commands)`;
  return '-';
}

async function finish(api: ApiClient, first: CommandView, opts: CmdOptions): Promise<void> {
  let c = first;
  if (opts.wait !== undefined) {
    const total = opts.wait === true ? DEFAULT_WAIT_S : opts.wait;
    const deadline = Date.now() + total * 1000;
    while (!FINAL.has(c.state)) {
      const left = (deadline - Date.now()) / 1000;
      if (left <= 0) break;
      const slice = Math.min(POLL_SLICE_S, left);
      c = await api.get<CommandView>(
        `/commands/${seg(c.id)}`,
        { wait: Math.round(slice * 10) / 10 },
        slice * 1000,
      );
    }
  }
  if (opts.quiet) stdio.out(`${c.id}\n`);
  else if (opts.json) stdio.out(json(c));
  else stdio.out(describe(c));
  if (opts.wait === undefined) return;
  if (c.state === 'succeeded') return;
  if (FINAL.has(c.state)) {
    throw new CliError(
      c.state === 'failed'
        ? `${c.type} ${uriOf(c)} failed on ${c.deviceId}: ${resultText(c)}`
        : `${c.type} ${uriOf(c)} ${c.state}`,
      ExitCode.Failed,
    );
  }
  throw new CliError(
    `${c.type} ${uriOf(c)} still ${c.state} after waiting; follow it with: ${selfCommand()} cmd show ${c.id} --wait`,
    ExitCode.Failed,
  );
}

/**
 * The command's status, and for an asynchronous one (Exec answered 202) the final result code its
 * Generic Alert reported, with the verdict of that alert type's table.
 */
function resultText(c: CommandView): string {
  const status = c.status === null ? 'no status' : `status ${c.status}${statusText(c.status)}`;
  const alerts = c.detail?.alerts ?? [];
  if (alerts.length === 0) return status;
  const results = alerts.map((a) => {
    const verdict = a.verdict === undefined ? '' : a.verdict === 'none' ? ', no verdict' : `, ${a.verdict}`;
    return `result ${a.status ?? '-'} (${a.type ?? 'no type'}${verdict})`;
  });
  return `${status}; ${results.join('; ')}`;
}

function describe(c: CommandView): string {
  const reason = c.detail?.reason ? `\n  ${c.detail.reason}` : '';
  const head = `command ${c.id} (${c.type} ${uriOf(c)} on ${c.deviceId}): ${c.state}${
    c.status === null && !c.detail?.alerts?.length ? '' : `, ${resultText(c)}`
  }${reason}\n`;
  if (c.results.length === 0) return head;
  return (
    head +
    table(
      ['URI', 'VALUE', 'FORMAT'],
      c.results.map((r) => [r.uri, r.value ?? '', r.format ?? 'chr']),
    )
  );
}

function statusText(status: number | null): string {
  return status === null ? '' : ` ${statusMeaning(status)}`;
}
