/**
 * `omadm notify build …` prints Package 0 bytes (or their WSP push / SMS forms) as hex;
 * `omadm notify send --bearer udp|sip|smpp|pap --to TARGET …` builds one and delivers it through
 * a bearer directly (no server needed: for testing a device's push path).
 * `omadm notify DEVICE` asks the server to notify a provisioned device now, through the bearer and
 * address stored with the device (POST /devices/{id}/notify).
 * Exit codes: 0 done/accepted, 1 the next hop refused, 2 bad input, 69 bearer unreachable.
 */
import { writeFileSync } from 'node:fs';
import { type Command, Option } from 'commander';
import {
  type DeliveryResult,
  encodeNotificationPush,
  type NotificationBearer,
  PapBearer,
  PushError,
  SipBearer,
  SmppBearer,
  segmentWdpSms,
  UdpBearer,
} from '../../binding/push/index.ts';
import { AuthError, decodeNonce, fallbackNonce } from '../../protocol/auth/index.ts';
import {
  buildPackage0,
  type Initiator,
  NotificationError,
  type UiMode,
} from '../../protocol/notification/index.ts';
import { type ApiOptions, clientFor, seg, withApiOptions } from '../api/common.ts';
import { json, stdio } from '../api/output.ts';
import { CliError, ExitCode } from '../errors.ts';

interface Pkg0Options {
  serverId: string;
  secret?: string;
  digest?: string;
  nonce: string;
  session: string;
  uiMode: string;
  initiator: 'server' | 'client';
  vendor?: string;
  notificationVersion: string;
}

const UI_MODES: Readonly<Record<string, UiMode>> = {
  'not-specified': 'not-specified',
  background: 'background',
  informative: 'informative',
  interactive: 'user-interaction',
  'user-interaction': 'user-interaction',
};

function withPackage0Options(cmd: Command): Command {
  return cmd
    .requiredOption('--server-id <id>', 'ServerID of the notifying server (DMAcc ServerID)')
    .option('--secret <secret>', "the server's SRVCRED secret (AAuthSecret)")
    .option('--digest <b64>', 'instead of --secret: its credential digest B64(MD5(server-id:secret))')
    .requiredOption(
      '--nonce <b64>',
      'SRVCRED nonce (AAuthData) as base64, or "fallback" for the re-sync nonce',
    )
    .requiredOption('--session <hex>', 'session id, 1-4 hex digits (becomes the SyncML SessionID)')
    .addOption(
      new Option('--ui-mode <mode>', 'what the device shows')
        .choices(['background', 'informative', 'interactive', 'not-specified'])
        .makeOptionMandatory(),
    )
    .addOption(
      new Option('--initiator <who>', 'initiator bit').choices(['server', 'client']).default('server'),
    )
    .option('--vendor <hex>', 'vendor-specific bytes after the server id, as hex')
    .option('--notification-version <n>', 'notification version field (10 bits)', '11');
}

function hexBytes(value: string, what: string): Uint8Array {
  const t = value.replace(/\s+/g, '');
  if (!/^([0-9a-fA-F]{2})*$/.test(t))
    throw new CliError(`${what} must be hex (pairs of digits)`, ExitCode.BadInput);
  return Uint8Array.from(Buffer.from(t, 'hex'));
}

/** Builds Package 0 from the options (strict: every value checked, one-line errors). */
export function package0FromOptions(o: Pkg0Options): Uint8Array {
  if ((o.secret === undefined) === (o.digest === undefined)) {
    throw new CliError('give exactly one of --secret and --digest', ExitCode.BadInput);
  }
  let nonce: Uint8Array;
  try {
    nonce = o.nonce.toLowerCase() === 'fallback' ? fallbackNonce() : decodeNonce(o.nonce);
  } catch (e) {
    throw new CliError(`--nonce: ${(e as AuthError).message}`, ExitCode.BadInput);
  }
  if (!/^[0-9a-fA-F]{1,4}$/.test(o.session))
    throw new CliError('--session must be 1-4 hex digits', ExitCode.BadInput);
  const version = Number(o.notificationVersion);
  const uiMode = UI_MODES[o.uiMode];
  if (!uiMode) throw new CliError(`unknown --ui-mode ${o.uiMode}`, ExitCode.BadInput);
  const fields = {
    serverId: o.serverId,
    sessionId: Number.parseInt(o.session, 16),
    uiMode,
    initiator: o.initiator as Initiator,
    version,
    vendor: o.vendor === undefined ? undefined : hexBytes(o.vendor, '--vendor'),
    nonce,
  };
  try {
    return o.secret !== undefined
      ? buildPackage0({ ...fields, secret: o.secret })
      : buildPackage0({ ...fields, credentialDigest: o.digest! });
  } catch (e) {
    if (e instanceof NotificationError || e instanceof AuthError)
      throw new CliError(e.message, ExitCode.BadInput);
    throw e;
  }
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

interface SendOptions extends Pkg0Options {
  bearer: 'udp' | 'sip' | 'smpp' | 'pap';
  to: string;
  raw?: boolean;
  from?: string;
  smsc?: string;
  systemId?: string;
  password?: string;
  sourceAddr?: string;
  ppg?: string;
  timeout: string;
}

function bearerFor(o: SendOptions): NotificationBearer {
  const timeoutMs = Math.round(Number(o.timeout) * 1000);
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0)
    throw new CliError('--timeout must be seconds > 0', ExitCode.BadInput);
  switch (o.bearer) {
    case 'udp':
      return new UdpBearer({ framing: o.raw ? 'raw' : 'wsp' });
    case 'sip':
      return new SipBearer({ from: o.from, timeoutMs });
    case 'smpp': {
      const m = /^(.+):(\d{1,5})$/.exec(o.smsc ?? '');
      if (!m || o.systemId === undefined || o.password === undefined) {
        throw new CliError(
          '--bearer smpp needs --smsc HOST:PORT, --system-id and --password',
          ExitCode.BadInput,
        );
      }
      return new SmppBearer({
        host: m[1]!,
        port: Number(m[2]),
        systemId: o.systemId,
        password: o.password,
        sourceAddr: o.sourceAddr,
        timeoutMs,
      });
    }
    case 'pap':
      if (o.ppg === undefined) throw new CliError('--bearer pap needs --ppg URL', ExitCode.BadInput);
      return new PapBearer({ url: o.ppg, timeoutMs });
  }
}

function describeResult(r: DeliveryResult): string {
  const parts = [r.accepted ? 'accepted' : 'refused', r.bearer, r.target, `parts=${r.parts}`];
  if (r.status) parts.push(`status=${r.status}`);
  if (r.ids.length > 0) parts.push(`ids=${r.ids.join(',')}`);
  if (r.detail) parts.push(`(${r.detail})`);
  return parts.join(' ');
}

export function register(program: Command): void {
  const notify = withApiOptions(
    program
      .command('notify')
      .description(
        'Package 0 (server-initiated session trigger): have the server notify DEVICE, or build/send one yourself',
      )
      .argument('[device]', 'DevId of a provisioned device: the server pushes Package 0 through its bearer'),
  ).action(async (device: string | undefined, opts: ApiOptions, cmd: Command) => {
    if (device === undefined) {
      cmd.outputHelp();
      throw new CliError('give a DEVICE, or use notify build / notify send', ExitCode.Usage);
    }
    const r = await clientFor(opts).post<DeliveryResult & { sessionId: string }>(
      `/devices/${seg(device)}/notify`,
      {},
    );
    stdio.out(opts.json ? json(r) : `${describeResult(r)} session=${r.sessionId}\n`);
    if (!r.accepted) process.exitCode = ExitCode.Failed;
  });

  withPackage0Options(
    notify
      .command('build')
      .description('print Package 0 as hex (or its WAP push / SMS forms)')
      .option('--wsp', 'print the WSP push PDU carrying it (content type 0x44, app id syncml.dm)')
      .option('--sms', 'print the SMS user-data units (UDH + data), one per line')
      .option(
        '--out <file>',
        'write the bytes (Package 0, or the push PDU with --wsp) to FILE instead of hex',
      ),
  ).action((o: Pkg0Options & { wsp?: boolean; sms?: boolean; out?: string }) => {
    const pkg0 = package0FromOptions(o);
    if (o.out !== undefined) {
      if (o.sms)
        throw new CliError('--sms prints several units; it does not combine with --out', ExitCode.BadInput);
      writeFileSync(o.out, o.wsp ? encodeNotificationPush(pkg0) : pkg0);
    } else if (o.sms) {
      for (const ud of segmentWdpSms(encodeNotificationPush(pkg0))) process.stdout.write(`${hex(ud)}\n`);
    } else process.stdout.write(`${hex(o.wsp ? encodeNotificationPush(pkg0) : pkg0)}\n`);
  });

  withPackage0Options(
    notify
      .command('send')
      .description('build Package 0 and deliver it through a bearer (UDP, SIP, SMS via SMPP, PAP to a PPG)')
      .addOption(
        new Option('--bearer <bearer>', 'how to deliver')
          .choices(['udp', 'sip', 'smpp', 'pap'])
          .makeOptionMandatory(),
      )
      .requiredOption('--to <target>', 'udp: HOST[:PORT] (default 2948); sip: sip:URI; smpp/pap: MSISDN')
      .option('--raw', 'udp: send bare Package 0 instead of the WSP push')
      .option('--from <uri>', 'sip: our SIP identity')
      .option('--smsc <host:port>', 'smpp: the SMS centre')
      .option('--system-id <id>', 'smpp: bind system_id')
      .option('--password <pw>', 'smpp: bind password')
      .option('--source-addr <addr>', 'smpp: originating address')
      .option('--ppg <url>', 'pap: the Push Proxy Gateway URL')
      .option('--timeout <seconds>', 'give up after this long', '15'),
  ).action(async (o: SendOptions) => {
    const pkg0 = package0FromOptions(o);
    const bearer = bearerFor(o);
    try {
      const r = await bearer.send(o.to, pkg0);
      process.stdout.write(`${describeResult(r)}\n`);
      if (!r.accepted) process.exitCode = ExitCode.Failed;
    } catch (e) {
      if (e instanceof PushError) {
        throw new CliError(
          e.message,
          e.code === 'PUSH_BAD_TARGET' ? ExitCode.BadInput : ExitCode.Unavailable,
        );
      }
      throw e;
    } finally {
      await bearer.close();
    }
  });
}
