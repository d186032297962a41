/**
 * `omadm device add|list|show|rm|set|notify|events`: provisioning and inspection of devices through the REST API.
 */
import { type Command, Option } from 'commander';
import type { ApiClient } from '../api/client.ts';
import { type ApiOptions, clientFor, seg, withApiOptions } from '../api/common.ts';
import { ago, fields, json, stdio, table } from '../api/output.ts';
import { CliError, ExitCode } from '../errors.ts';

/** The device as the API returns it (docs/api.md). */
export interface DeviceView {
  id: string;
  authType: string;
  serverId: string | null;
  hasServerSecret: boolean;
  tags: string[];
  groups: string[];
  enrolled: string;
  notify: { bearer: string; target: string } | null;
  online: boolean;
  lastSeen: string | null;
  sessionCount: number;
  devInfo: Record<string, string> | null;
  devDetail: Record<string, string> | null;
  createdAt: string;
  updatedAt: string;
  trace: 'full' | 'errors' | 'off' | null;
}

/** A device event as the API returns it (docs/api.md). */
export interface DeviceEventView {
  id: string;
  deviceId: string;
  at: string;
  alertCode: number;
  alertType: string | null;
  format: string | null;
  mark: string | null;
  sourceUri: string | null;
  targetUri: string | null;
  correlator: string | null;
  data: string | null;
  sessionId: string | null;
}

/** Data for a table cell: one line, at most 60 characters, control characters shown as escapes. */
function oneLine(text: string): string {
  const flat = JSON.stringify(text).slice(1, -1);
  return flat.length > 60 ? `${flat.slice(0, 59)}…` : flat;
}

interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

const collect = (value: string, prev: string[] = []) => [...prev, ...value.split(',').filter(Boolean)];

export function register(program: Command): void {
  const device = program
    .command('device')
    .description('provision and inspect devices (through the REST API)');

  withApiOptions(
    device
      .command('notify')
      .description('push Package 0 now: ask the device to open a session (needs its --notify address)')
      .argument('<id>', 'the DevId')
      .addOption(
        new Option('--ui-mode <mode>', "Package 0 ui-mode (default: the server's setting)").choices([
          'not-specified',
          'background',
          'informative',
          'interactive',
        ]),
      ),
  ).action(async (id: string, opts: ApiOptions & { uiMode?: string }) => {
    const r = await clientFor(opts).post<{
      bearer: string;
      target: string;
      accepted: boolean;
      sessionId: string;
      status?: string;
      detail?: string;
    }>(`/devices/${seg(id)}/notify`, opts.uiMode ? { uiMode: opts.uiMode } : {});
    if (opts.json) stdio.out(json(r));
    else {
      const how = `${id} via ${r.bearer} ${r.target} (session ${r.sessionId})`;
      const extra = `${r.status ? ` ${r.status}` : ''}${r.detail ? ` — ${r.detail}` : ''}`;
      stdio.out(`${r.accepted ? 'notified' : 'notification refused:'} ${how}${extra}\n`);
    }
    if (!r.accepted)
      throw new CliError(`the ${r.bearer} next hop did not accept the notification`, ExitCode.Failed);
  });

  withApiOptions(
    device
      .command('add')
      .description('provision a device')
      .argument('<id>', 'the DevId, as the device sends it (e.g. IMEI:490154203237518)')
      .option(
        '--secret <secret>',
        'the client secret (only its digest is stored); not for --auth transport or none',
      )
      .addOption(
        new Option('--auth <type>', 'how the device authenticates (none: no credentials, TLS only)')
          .choices(['basic', 'md5', 'hmac', 'transport', 'none'])
          .default('md5'),
      )
      .option('--allow-no-auth', 'confirm --auth none: sessions without any credentials (over TLS only)')
      .option('--server-secret <secret>', 'the server secret the server authenticates itself with')
      .option('--server-id <id>', 'the ServerID the device knows this server by')
      .option('--tag <tag...>', 'tags (repeat or comma-separate)', collect)
      .option('--group <group...>', 'groups (repeat or comma-separate)', collect)
      .option(
        '--notify <bearer:target>',
        'where the device takes Package 0: udp:HOST:PORT, sms-smpp:MSISDN, sip:URI, …',
      ),
  ).action(
    async (
      id: string,
      opts: ApiOptions & {
        secret?: string;
        auth: string;
        serverSecret?: string;
        serverId?: string;
        tag?: string[];
        group?: string[];
        notify?: string;
        trace?: string;
        allowNoAuth?: boolean;
      },
    ) => {
      noAuthCheck(opts.auth, opts.allowNoAuth);
      if (opts.secret === undefined && opts.auth !== 'transport' && opts.auth !== 'none') {
        throw new CliError('--secret is required (except with --auth transport or none)', ExitCode.BadInput);
      }
      const api = clientFor(opts);
      const body = {
        id,
        ...(opts.secret !== undefined ? { secret: opts.secret } : {}),
        authType: opts.auth,
        ...(opts.auth === 'none' ? { allowNoAuth: true } : {}),
        ...(opts.serverSecret ? { serverSecret: opts.serverSecret } : {}),
        ...(opts.serverId ? { serverId: opts.serverId } : {}),
        ...(opts.tag ? { tags: opts.tag.flat() } : {}),
        ...(opts.group ? { groups: opts.group.flat() } : {}),
        ...(opts.notify ? { notify: notifyAddress(opts.notify, false) } : {}),
      };
      const d = await api.post<DeviceView>('/devices', body);
      stdio.out(opts.json ? json(d) : `provisioned ${d.id} (auth ${d.authType})\n`);
    },
  );

  withApiOptions(
    device
      .command('list')
      .alias('ls')
      .description('list devices')
      .option('--tag <tag>', 'only devices with this tag')
      .option('--group <group>', 'only devices in this group')
      .option('--online', 'only devices online now')
      .option('--offline', 'only devices not online')
      .option('-q, --search <text>', 'DevId, make or model contains this text')
      .option('--limit <n>', 'at most this many devices (default: all)'),
  ).action(
    async (
      opts: ApiOptions & {
        tag?: string;
        group?: string;
        online?: boolean;
        offline?: boolean;
        search?: string;
        limit?: string;
      },
    ) => {
      const api = clientFor(opts);
      if (opts.online && opts.offline)
        throw new CliError('--online and --offline exclude each other', ExitCode.BadInput);
      let limit = Number.POSITIVE_INFINITY;
      if (opts.limit !== undefined) {
        limit = Number(opts.limit);
        if (!Number.isInteger(limit) || limit < 1) {
          throw new CliError(`--limit must be a positive integer, not ${opts.limit}`, ExitCode.BadInput);
        }
      }
      const { items: devices, more } = await listAll(api, limit, {
        tag: opts.tag,
        group: opts.group,
        online: opts.online ? true : opts.offline ? false : undefined,
        q: opts.search,
      });
      // On stderr: stdout stays a clean table (or JSON array) for pipes.
      if (more)
        stdio.err(`omadm: showing ${devices.length} devices; more exist (a larger --limit shows more)\n`);
      if (opts.json) {
        stdio.out(json(devices));
        return;
      }
      if (devices.length === 0) {
        stdio.out('no devices\n');
        return;
      }
      stdio.out(
        table(
          ['DEVICE', 'AUTH', 'ONLINE', 'LAST SEEN', 'SESSIONS', 'MODEL', 'TAGS'],
          devices.map((d) => [
            d.id,
            d.authType,
            d.online ? 'yes' : 'no',
            ago(d.lastSeen),
            String(d.sessionCount),
            [d.devInfo?.Man, d.devInfo?.Mod].filter(Boolean).join(' ') || '-',
            d.tags.join(',') || '-',
          ]),
        ),
      );
    },
  );

  withApiOptions(device.command('show').description('show one device').argument('<id>', 'the DevId')).action(
    async (id: string, opts: ApiOptions) => {
      const api = clientFor(opts);
      const d = await api.get<DeviceView>(`/devices/${seg(id)}`);
      if (opts.json) {
        stdio.out(json(d));
        return;
      }
      const pairs: [string, string][] = [
        ['device', d.id],
        ['auth', d.authType],
        ['server id', d.serverId ?? '-'],
        ['server secret', d.hasServerSecret ? 'set' : 'not set'],
        ['enrolled', d.enrolled],
        ['online', d.online ? 'yes' : 'no'],
        ['last seen', d.lastSeen ? `${d.lastSeen} (${ago(d.lastSeen)})` : 'never'],
        ['sessions', String(d.sessionCount)],
        ['tags', d.tags.join(', ') || '-'],
        ['groups', d.groups.join(', ') || '-'],
        ['notify', d.notify ? `${d.notify.bearer}:${d.notify.target}` : '-'],
        ['trace', d.trace ?? 'default'],
      ];
      for (const [k, v] of Object.entries(d.devInfo ?? {})) pairs.push([`DevInfo/${k}`, v]);
      for (const [k, v] of Object.entries(d.devDetail ?? {})) pairs.push([`DevDetail/${k}`, v]);
      stdio.out(fields(pairs));
    },
  );

  withApiOptions(
    device
      .command('set')
      .description('change a device: secrets, auth type, tags, groups, trace switch')
      .argument('<id>', 'the DevId')
      .option('--secret <secret>', 'a new client secret')
      .addOption(
        new Option('--auth <type>', 'how the device authenticates').choices([
          'basic',
          'md5',
          'hmac',
          'transport',
          'none',
        ]),
      )
      .option('--allow-no-auth', 'confirm --auth none: sessions without any credentials (over TLS only)')
      .option('--server-secret <secret>', 'a new server secret')
      .option('--server-id <id>', 'the ServerID the device knows this server by')
      .option('--tag <tag...>', 'replace the tags', collect)
      .option('--group <group...>', 'replace the groups', collect)
      .option('--notify <bearer:target>', "the device's notification address, or none to remove it")
      .addOption(
        new Option(
          '--trace <mode>',
          "keep raw messages of every session (full), failed ones only (errors), none (off), or as its groups and the server's default say (default)",
        ).choices(['full', 'errors', 'off', 'default']),
      ),
  ).action(
    async (
      id: string,
      opts: ApiOptions & {
        secret?: string;
        auth?: string;
        serverSecret?: string;
        serverId?: string;
        tag?: string[];
        group?: string[];
        notify?: string;
        trace?: string;
        allowNoAuth?: boolean;
      },
    ) => {
      if (opts.auth !== undefined) noAuthCheck(opts.auth, opts.allowNoAuth);
      const body = {
        ...(opts.notify ? { notify: notifyAddress(opts.notify, true) } : {}),
        ...(opts.secret ? { secret: opts.secret } : {}),
        ...(opts.auth ? { authType: opts.auth } : {}),
        ...(opts.auth === 'none' ? { allowNoAuth: true } : {}),
        ...(opts.serverSecret ? { serverSecret: opts.serverSecret } : {}),
        ...(opts.serverId ? { serverId: opts.serverId } : {}),
        ...(opts.tag ? { tags: opts.tag } : {}),
        ...(opts.group ? { groups: opts.group } : {}),
        ...(opts.trace ? { trace: opts.trace === 'default' ? null : opts.trace } : {}),
      };
      if (Object.keys(body).length === 0) throw new CliError('nothing to change', ExitCode.BadInput);
      const d = await clientFor(opts).patch<DeviceView>(`/devices/${seg(id)}`, body);
      stdio.out(opts.json ? json(d) : `updated ${d.id}\n`);
    },
  );

  withApiOptions(
    device
      .command('events')
      .description('the alerts the device sent on its own (Generic Alerts, Client Events), newest first')
      .argument('<id>', 'the DevId')
      .option('--type <type>', 'only this alert type (Meta/Type)')
      .option('--correlator <c>', 'only alerts with this Correlator')
      .option('--limit <n>', 'at most this many events (default 50)'),
  ).action(async (id: string, opts: ApiOptions & { type?: string; correlator?: string; limit?: string }) => {
    const limit = opts.limit === undefined ? 50 : Number(opts.limit);
    if (!Number.isInteger(limit) || limit < 1) {
      throw new CliError(`--limit must be a positive integer, not ${opts.limit}`, ExitCode.BadInput);
    }
    const api = clientFor(opts);
    const events: DeviceEventView[] = [];
    let cursor: string | undefined;
    do {
      const page = await api.get<Page<DeviceEventView>>(`/devices/${seg(id)}/events`, {
        type: opts.type,
        correlator: opts.correlator,
        limit: Math.min(500, limit - events.length),
        cursor,
      });
      events.push(...page.items);
      cursor = page.nextCursor ?? undefined;
    } while (cursor && events.length < limit);
    if (opts.json) {
      stdio.out(json(events));
      return;
    }
    if (events.length === 0) {
      stdio.out('no events\n');
      return;
    }
    stdio.out(
      table(
        ['AT', 'ALERT', 'TYPE', 'MARK', 'SOURCE', 'CORRELATOR', 'DATA'],
        events.map((e) => [
          e.at,
          String(e.alertCode),
          e.alertType ?? '-',
          e.mark ?? '-',
          e.sourceUri ?? '-',
          e.correlator ?? '-',
          e.data === null ? '-' : oneLine(e.data),
        ]),
      ),
    );
  });

  withApiOptions(
    device
      .command('rm')
      .alias('remove')
      .description('delete a device and its data')
      .argument('<id...>', 'DevIds'),
  ).action(async (ids: string[], opts: ApiOptions) => {
    const api = clientFor(opts);
    for (const id of ids) {
      await api.delete(`/devices/${seg(id)}`);
      if (!opts.json) stdio.out(`removed ${id}\n`);
    }
    if (opts.json) stdio.out(json({ removed: ids }));
  });
}

/**
 * `--auth none` (no credentials at all) only with `--allow-no-auth`, and never silently: the
 * warning goes to stderr.
 */
function noAuthCheck(auth: string, allowed: boolean | undefined): void {
  if (auth !== 'none') {
    if (allowed) throw new CliError('--allow-no-auth is only for --auth none', ExitCode.BadInput);
    return;
  }
  if (!allowed) {
    throw new CliError(
      '--auth none lets the device in without any credentials; confirm with --allow-no-auth',
      ExitCode.BadInput,
    );
  }
  stdio.err(
    'warning: --auth none: this device has no credentials; anyone reaching the server over TLS with its DevId gets its sessions\n',
  );
}

/** `udp:10.0.0.5:2948` → { bearer: 'udp', target: '10.0.0.5:2948' }; `none` → null (when allowed). */
function notifyAddress(text: string, allowNone: boolean): { bearer: string; target: string } | null {
  if (allowNone && text === 'none') return null;
  const i = text.indexOf(':');
  if (i <= 0 || i === text.length - 1) {
    throw new CliError(
      `--notify takes BEARER:TARGET (e.g. udp:10.0.0.5:2948), not ${text}`,
      ExitCode.BadInput,
    );
  }
  return { bearer: text.slice(0, i), target: text.slice(i + 1) };
}

async function listAll(
  api: ApiClient,
  limit: number,
  filter: {
    tag?: string | undefined;
    group?: string | undefined;
    online?: boolean | undefined;
    q?: string | undefined;
  },
): Promise<{ items: DeviceView[]; more: boolean }> {
  const out: DeviceView[] = [];
  let cursor: string | undefined;
  do {
    const page = await api.get<Page<DeviceView>>('/devices', {
      ...filter,
      limit: Math.min(500, limit - out.length),
      cursor,
    });
    out.push(...page.items);
    cursor = page.nextCursor ?? undefined;
  } while (cursor && out.length < limit);
  return { items: out, more: cursor !== undefined };
}
