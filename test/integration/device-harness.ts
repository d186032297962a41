/**
 * A bare device for the end-to-end tests, built from the layers (not the client product): a fresh
 * standard tree (openStandardTree: DevInfo, DevDetail, DMAcc, Inbox), its DMAcc accounts, and one
 * DM session run from an installed account with the protocol engine over HTTP. Also the server
 * side's `omadm bootstrap`, run in-process.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HttpTransport } from '../../src/binding/http/index.ts';
import { main } from '../../src/cli/main.ts';
import { clientAccountOf } from '../../src/client/account.ts';
import { AAuthLevel, type DmAccounts, openStandardTree, StandardUri } from '../../src/mo/index.ts';
import {
  type ClientSessionResult,
  credentialDigest,
  DmClientSession,
  type Package0Account,
  runClientSession,
  syncmlCodec,
  type UiHandler,
} from '../../src/protocol/index.ts';
import type { ManagementTree, TndsHandler } from '../../src/tree/index.ts';
import { treeCommandHandler } from '../../src/tree/index.ts';
import type { MemoryDmServer } from './http-harness.ts';

export interface Device {
  readonly devId: string;
  readonly tree: ManagementTree;
  readonly accounts: DmAccounts;
  readonly tnds: TndsHandler;
  /** The whole tree (nodes, values, properties, overlays) as comparable data. */
  state(): unknown;
  /** One session with the account of `serverId` (Alert 1201, or 1200 with a notification). */
  session(
    serverId: string,
    transport: HttpTransport,
    notification?: { sessionId: number },
    ui?: UiHandler,
  ): Promise<ClientSessionResult>;
  close(): Promise<void>;
}

/**
 * The device's side of Package 0 verification (receivePackage0's lookup): the SRVCRED of the
 * account `serverId` names in its DMAcc — digest of name and secret, and the nonce it holds.
 */
export function package0AccountOf(device: Device) {
  return async (serverId: string): Promise<Package0Account | undefined> => {
    const acc = await device.accounts.find(serverId);
    const sr = acc?.auth.find((a) => a.level === AAuthLevel.Server);
    if (!sr?.secret) return undefined;
    return {
      credentialDigest: credentialDigest(sr.name ?? serverId, sr.secret),
      ...(sr.data?.byteLength ? { nonce: sr.data } : {}),
    };
  };
}

export async function openDevice(devId: string): Promise<Device> {
  const { tree, accounts, tnds } = await openStandardTree({
    devInfo: { devId, man: 'ExampleCorp', mod: 'EX-100', dmV: '1.2', lang: 'en-US' },
    devDetail: { devTyp: 'phone', oem: 'ExampleCorp', fwV: '1.0', swV: '4.2.1', hwV: 'A', lrgObj: true },
  });
  const devInfo = async (): Promise<Record<string, string>> => {
    const out: Record<string, string> = {};
    for (const leaf of ['DevId', 'Man', 'Mod', 'DmV', 'Lang']) {
      const uri = `${StandardUri.DevInfo}/${leaf}`;
      const d = (await tree.get(uri)).items[0]?.data;
      if (d !== undefined) out[uri] = typeof d === 'string' ? d : Buffer.from(d).toString('utf8');
    }
    return out;
  };
  return {
    devId,
    tree,
    accounts,
    tnds,
    state: () => structuredClone(tree.toSnapshot()),
    async session(serverId, transport, notification, ui) {
      const account = await accounts.find(serverId);
      assert.ok(account, `no DMAcc for ${serverId}`);
      const acc = clientAccountOf(account);
      const session = new DmClientSession({
        codec: syncmlCodec,
        deviceId: devId,
        devInfo: await devInfo(),
        account: acc,
        accountState: {
          async saveNonces(n) {
            if (n.clientNonce !== undefined)
              await accounts.setNonce(serverId, AAuthLevel.Client, Buffer.from(n.clientNonce, 'base64'));
            if (n.serverNonce !== undefined)
              await accounts.setNonce(serverId, AAuthLevel.Server, Buffer.from(n.serverNonce, 'base64'));
          },
        },
        handler: treeCommandHandler(tree, { tnds }),
        ...(notification ? { notification } : {}),
        ...(ui ? { ui } : {}),
      });
      return runClientSession(session, transport);
    },
    close: () => tree.close(),
  };
}

/**
 * Registers `devId` with the server (client and server secrets, `generation` makes them new) and
 * returns the `omadm bootstrap` arguments that provision the same account on the device.
 */
export function provision(
  side: MemoryDmServer,
  devId: string,
  serverId = 'omadm',
  generation = '',
): string[] {
  side.creds.put({
    deviceId: devId,
    clientSecret: `cli-${devId}${generation}`,
    serverName: serverId,
    serverSecret: `srv-${devId}${generation}`,
  });
  return [
    '--server-id',
    serverId,
    '--addr',
    side.http.url,
    '--device',
    devId,
    '--client-secret',
    `cli-${devId}${generation}`,
    '--server-secret',
    `srv-${devId}${generation}`,
  ];
}

export interface BootstrapRun {
  exit: number;
  bytes: Uint8Array;
  contentType: string;
  userEnters?: string;
  stdout: string;
  stderr: string;
}

const BIN = fileURLToPath(new URL('../../bin/omadm.js', import.meta.url));

/**
 * Runs `omadm bootstrap …` (what an operator runs) and returns the bytes it wrote and what it
 * printed: the Content-Type line, for USERPINMAC what the user must type, for --send the verdict.
 * In-process, capturing the text the command writes (binary writes — the test runner's reports
 * to its parent — pass through); with --send in its own process, as an operator runs it.
 */
export async function omadmBootstrap(
  dir: string,
  name: string,
  args: readonly string[],
): Promise<BootstrapRun> {
  const out = join(dir, `${name}.bin`);
  if (args.includes('--send')) {
    const r = await new Promise<{ exit: number; stdout: string; stderr: string }>((resolve) =>
      execFile(
        process.execPath,
        [BIN, 'bootstrap', ...args, '--out', out],
        { env: { ...process.env, NODE_TEST_CONTEXT: undefined } },
        (err, stdout, stderr) => resolve({ exit: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
      ),
    );
    return parsePrinted(r.exit, out, r.stdout, r.stderr);
  }
  let printed = '';
  let stderr = '';
  const write = process.stdout.write.bind(process.stdout);
  const writeErr = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
    if (typeof chunk !== 'string') return write(chunk, ...rest);
    printed += chunk;
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
    if (typeof chunk !== 'string') return writeErr(chunk, ...rest);
    stderr += chunk;
    return true;
  }) as typeof process.stderr.write;
  let exit: number;
  try {
    process.exitCode = undefined;
    exit = await main(['bootstrap', ...args, '--out', out]);
  } finally {
    process.stdout.write = write;
    process.stderr.write = writeErr;
    process.exitCode = undefined;
  }
  return parsePrinted(exit, out, printed, stderr);
}

function parsePrinted(exit: number, out: string, printed: string, stderr: string): BootstrapRun {
  if (exit !== 0) return { exit, bytes: new Uint8Array(), contentType: '', stdout: printed, stderr };
  const ct = /Content-Type: (.+)/.exec(printed)?.[1]?.trim();
  assert.ok(ct, printed);
  const user = /User enters: (.+)/.exec(printed)?.[1]?.trim();
  return {
    exit,
    bytes: new Uint8Array(readFileSync(out)),
    contentType: ct,
    ...(user ? { userEnters: user } : {}),
    stdout: printed,
    stderr,
  };
}
