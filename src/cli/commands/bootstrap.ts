/**
 * `omadm bootstrap --profile dm|cp --security … --server-id … --addr … --out FILE`: builds a
 * bootstrap for one DM server account and protects it (objects.md §7):
 *   dm: a WBXML SyncML DM message adding the DMAcc as TNDS to ./Inbox (MUST be WBXML);
 *   cp: a WBXML Client Provisioning document with the w7 APPLICATION characteristic.
 * Writes the body (or with --wsp the WAP push PDU) to FILE and prints the Content-Type with SEC
 * and MAC; for USERPINMAC it prints what the user must type instead. With --send udp|smpp --to
 * TARGET it also pushes it over the air (WAP push: WDP over UDP, or WAP Push over SMS through an
 * SMSC). Exit 2 on bad input, 1 when the SMSC refused, 69 when the bearer is unreachable.
 */
import { writeFileSync } from 'node:fs';
import { type Command, Option } from 'commander';
import {
  type DeliveryResult,
  encodeBootstrapPush,
  PushError,
  SmppBearer,
  UdpBearer,
} from '../../binding/push/index.ts';
import { accountSubtree } from '../../mo/index.ts';
import { AuthError, decodeNonce } from '../../protocol/auth/index.ts';
import {
  type BootstrapAccount,
  type BootstrapProfile,
  type BootstrapSecurity,
  BootstrapError,
  cpDocumentFromDmAccounts,
  encodeCpWbxml,
  signBootstrap,
} from '../../protocol/bootstrap/index.ts';
import { encodeWbxmlMessage, type SyncML } from '../../representation/index.ts';
import { subtreeToTnds, tndsToElement } from '../../tree/index.ts';
import { CliError, ExitCode } from '../errors.ts';

interface BootstrapOptions {
  profile: BootstrapProfile;
  security: BootstrapSecurity;
  imsi?: string;
  pin?: string;
  serverId: string;
  addr: string;
  port?: string;
  name?: string;
  device: string;
  clientName?: string;
  clientSecret?: string;
  clientAuth: string;
  serverSecret?: string;
  serverNonce?: string;
  serverAuth: string;
  init?: boolean;
  out?: string;
  wsp?: boolean;
  send?: 'udp' | 'smpp';
  to?: string;
  smsc?: string;
  systemId?: string;
  password?: string;
  sourceAddr?: string;
  timeout: string;
}

/** Pushes the bootstrap PDU over the air; one line on stdout says what the next hop did. */
async function sendOverTheAir(o: BootstrapOptions, push: (tid: number) => Uint8Array): Promise<void> {
  if (o.to === undefined) throw new CliError('--send needs --to TARGET', ExitCode.BadInput);
  const timeoutMs = Math.round(Number(o.timeout) * 1000);
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0)
    throw new CliError('--timeout must be seconds > 0', ExitCode.BadInput);
  let bearer: UdpBearer | SmppBearer;
  if (o.send === 'smpp') {
    const m = /^(.+):(\d{1,5})$/.exec(o.smsc ?? '');
    if (!m || o.systemId === undefined || o.password === undefined) {
      throw new CliError('--send smpp needs --smsc HOST:PORT, --system-id and --password', ExitCode.BadInput);
    }
    bearer = new SmppBearer({
      host: m[1]!,
      port: Number(m[2]),
      systemId: o.systemId,
      password: o.password,
      sourceAddr: o.sourceAddr,
      timeoutMs,
    });
  } else bearer = new UdpBearer();
  let r: DeliveryResult;
  try {
    r = await bearer.sendPush(o.to, push, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (e) {
    if (e instanceof PushError) {
      throw new CliError(e.message, e.code === 'PUSH_BAD_TARGET' ? ExitCode.BadInput : ExitCode.Unavailable);
    }
    throw e;
  } finally {
    await bearer.close();
  }
  const parts = [r.accepted ? 'sent' : 'refused', r.bearer, r.target, `parts=${r.parts}`];
  if (r.status) parts.push(`status=${r.status}`);
  if (r.ids.length > 0) parts.push(`ids=${r.ids.join(',')}`);
  process.stdout.write(`${parts.join(' ')}\n`);
  if (!r.accepted) throw new CliError(`the ${r.bearer} next hop refused the bootstrap`, ExitCode.Failed);
}

/** The account the options describe (CLCRED for the device, SRVCRED for the server). */
export function accountFromOptions(o: BootstrapOptions): BootstrapAccount {
  let ports: number[] | undefined;
  if (o.port !== undefined) {
    const n = Number(o.port);
    if (!/^\d{1,5}$/.test(o.port) || n < 1 || n > 65535)
      throw new CliError('--port must be 1..65535', ExitCode.BadInput);
    ports = [n];
  }
  const acc: BootstrapAccount = {
    serverId: o.serverId,
    addresses: [{ addr: o.addr, addrType: 'URI', ...(ports ? { ports } : {}) }],
    auth: [],
  };
  if (o.name !== undefined) acc.name = o.name;
  if (o.init) acc.init = true;
  if (o.clientSecret !== undefined) {
    acc.auth.push({
      level: 'CLCRED',
      type: o.clientAuth,
      name: o.clientName ?? o.device,
      secret: o.clientSecret,
    });
  }
  if (o.serverSecret !== undefined) {
    let data: Uint8Array | undefined;
    try {
      data = o.serverNonce === undefined ? undefined : decodeNonce(o.serverNonce);
    } catch (e) {
      throw new CliError(`--server-nonce: ${(e as AuthError).message}`, ExitCode.BadInput);
    }
    acc.auth.push({
      level: 'SRVCRED',
      type: o.serverAuth,
      name: o.serverId,
      secret: o.serverSecret,
      ...(data ? { data } : {}),
    });
  }
  return acc;
}

/** DM profile body: one Add of the account as TNDS into ./Inbox, WBXML (objects.md §7.4). */
export function dmBootstrapMessage(acc: BootstrapAccount, device: string): Uint8Array {
  const tnds = tndsToElement(subtreeToTnds(accountSubtree(acc)));
  const msg: SyncML = {
    SyncHdr: {
      VerDTD: '1.2',
      VerProto: 'DM/1.2',
      SessionID: '0',
      MsgID: '1',
      Target: { LocURI: device },
      Source: { LocURI: acc.serverId },
    },
    SyncBody: {
      commands: [
        {
          type: 'Add',
          CmdID: '1',
          Item: [
            {
              Target: { LocURI: './Inbox' },
              Meta: { Format: 'xml', Type: 'application/vnd.syncml.dmtnds+xml' },
              Data: { kind: 'element', element: tnds },
            },
          ],
        },
      ],
      Final: true,
    },
  };
  return encodeWbxmlMessage(msg);
}

export function register(program: Command): void {
  program
    .command('bootstrap')
    .description(
      'build a protected bootstrap (DM profile: WBXML DM message; CP profile: w7 provisioning document)',
    )
    .addOption(
      new Option('--profile <profile>', 'bootstrap profile').choices(['dm', 'cp']).makeOptionMandatory(),
    )
    .addOption(
      new Option('--security <sec>', 'protection (userpinmac: CP only)')
        .choices(['netwpin', 'userpin', 'usernetwpin', 'userpinmac'])
        .makeOptionMandatory(),
    )
    .option('--imsi <digits>', 'network PIN: the IMSI (netwpin, usernetwpin)')
    .option('--pin <pin>', 'user PIN (userpin, usernetwpin, userpinmac: 5+ digits)')
    .requiredOption('--server-id <id>', 'ServerID of the DM server')
    .requiredOption('--addr <url>', 'server address (URL)')
    .option('--port <n>', 'server port (AppAddr Port)')
    .option('--name <name>', 'account display name')
    .option('--device <devid>', 'device identity: SyncHdr Target (dm) and default client AAuthName', '*')
    .option('--client-name <name>', 'CLCRED AAuthName (default --device)')
    .option('--client-secret <secret>', 'CLCRED AAuthSecret (the device authenticates with it)')
    .option('--client-auth <type>', 'CLCRED AAuthType', 'DIGEST')
    .option('--server-secret <secret>', 'SRVCRED AAuthSecret (the server authenticates with it)')
    .option('--server-nonce <b64>', 'SRVCRED AAuthData (first nonce), base64')
    .option('--server-auth <type>', 'SRVCRED AAuthType', 'DIGEST')
    .option('--init', 'cp: ask the device to start a session right away (INIT)')
    .option('--wsp', 'write the WAP push PDU (content type with SEC/MAC) instead of the bare body')
    .option('--out <file>', 'where to write the bytes')
    .addOption(
      new Option(
        '--send <bearer>',
        'push it over the air: WDP over UDP, or WAP Push over SMS via SMPP',
      ).choices(['udp', 'smpp']),
    )
    .option('--to <target>', '--send udp: HOST[:PORT] (default 2948); --send smpp: the MSISDN')
    .option('--smsc <host:port>', '--send smpp: the SMS centre')
    .option('--system-id <id>', '--send smpp: bind system_id')
    .option('--password <pw>', '--send smpp: bind password')
    .option('--source-addr <addr>', '--send smpp: originating address')
    .option('--timeout <seconds>', '--send: give up after this long', '15')
    .action(async (o: BootstrapOptions) => {
      if (o.out === undefined && o.send === undefined)
        throw new CliError('give --out FILE and/or --send udp|smpp --to TARGET', ExitCode.BadInput);
      const acc = accountFromOptions(o);
      let body: Uint8Array;
      let signed: ReturnType<typeof signBootstrap>;
      try {
        body =
          o.profile === 'cp'
            ? encodeCpWbxml(cpDocumentFromDmAccounts([acc]))
            : dmBootstrapMessage(acc, o.device);
        signed = signBootstrap(body, { profile: o.profile, sec: o.security, imsi: o.imsi, pin: o.pin });
      } catch (e) {
        if (e instanceof BootstrapError || e instanceof AuthError)
          throw new CliError(e.message, ExitCode.BadInput);
        throw e;
      }
      const push = (transactionId?: number) =>
        encodeBootstrapPush({ profile: o.profile, sec: o.security, mac: signed.mac, body, transactionId });
      // The package carries the account's secrets (AAuthSecret in plaintext): owner only.
      if (o.out !== undefined) writeFileSync(o.out, o.wsp ? push() : body, { mode: 0o600 });
      process.stdout.write(`Content-Type: ${signed.contentType}\n`);
      if (signed.userPinWithMac) process.stdout.write(`User enters: ${signed.userPinWithMac}\n`);
      if (o.send !== undefined) await sendOverTheAir(o, push);
    });
}
