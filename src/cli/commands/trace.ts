/**
 * `omadm trace DEVICE`: the protocol trace of a device's latest DM session (or `--session ID`),
 * each message as XML (WBXML decoded); `--list` lists the device's sessions instead.
 */
import type { Command } from 'commander';
import { type ApiOptions, clientFor, seg, withApiOptions } from '../api/common.ts';
import { json, printable, stdio, table } from '../api/output.ts';
import { CliError, ExitCode } from '../errors.ts';

interface SessionView {
  id: string;
  deviceId: string;
  startedAt: string;
  endedAt: string | null;
  outcome: string | null;
  reason?: string | null;
  messages: number;
}

interface TraceView {
  session: SessionView;
  messages: {
    seq: number;
    direction: 'in' | 'out';
    at: string;
    contentType: string;
    size: number;
    xml: string | null;
  }[];
}

export function register(program: Command): void {
  withApiOptions(
    program
      .command('trace')
      .description("show a device's DM protocol trace (latest session by default)")
      .argument('<device>', 'the DevId')
      .option('--session <id>', 'a session id from --list (default: the latest session)')
      .option('--list', "list the device's sessions instead"),
  ).action(async (device: string, opts: ApiOptions & { session?: string; list?: boolean }) => {
    const api = clientFor(opts);
    if (opts.list) {
      const page = await api.get<{ items: SessionView[] }>(`/devices/${seg(device)}/sessions`, {
        limit: 100,
      });
      if (opts.json) {
        stdio.out(json(page.items));
        return;
      }
      if (page.items.length === 0) {
        stdio.out(`no sessions recorded for ${device}\n`);
        return;
      }
      stdio.out(
        table(
          ['SESSION', 'STARTED', 'ENDED', 'STATE', 'MESSAGES'],
          page.items.map((s) => [s.id, s.startedAt, s.endedAt ?? '-', stateOf(s), String(s.messages)]),
        ),
      );
      return;
    }
    let sessionId = opts.session;
    if (!sessionId) {
      const page = await api.get<{ items: SessionView[] }>(`/devices/${seg(device)}/sessions`, { limit: 1 });
      const latest = page.items[0];
      if (!latest) throw new CliError(`no sessions recorded for ${device}`, ExitCode.Failed);
      sessionId = latest.id;
    }
    const trace = await api.get<TraceView>(`/sessions/${seg(sessionId)}/trace`);
    if (trace.session.deviceId !== device) {
      throw new CliError(
        `session ${sessionId} belongs to ${trace.session.deviceId}, not ${device}`,
        ExitCode.BadInput,
      );
    }
    if (opts.json) {
      stdio.out(json(trace));
      return;
    }
    const s = trace.session;
    const parts = [
      `session ${s.id} of ${s.deviceId}: ${s.startedAt} → ${s.endedAt ?? 'still going'}, ${stateOf(s)}${
        s.reason ? ` (${s.reason})` : ''
      }, ${s.messages} messages\n`,
    ];
    for (const m of trace.messages) {
      const arrow = m.direction === 'in' ? 'device → server' : 'server → device';
      parts.push(`\n#${m.seq} ${arrow}  ${m.at}  ${m.contentType}  ${m.size} bytes\n`);
      // Device data may hold escape sequences (WBXML strings carry any byte): shown escaped.
      parts.push(m.xml === null ? '(does not decode)\n' : `${printable(m.xml.trimEnd(), true)}\n`);
    }
    stdio.out(parts.join(''));
  });
}

/** The end state in words people read (the API's outcome names are for scripts). */
function stateOf(s: SessionView): string {
  switch (s.outcome) {
    case 'live':
      return 'live';
    case 'authFailed':
      return 'auth failed';
    case null:
      return '-';
    default:
      return s.outcome;
  }
}
