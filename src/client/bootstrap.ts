/**
 * Installing DM accounts from a bootstrap (objects.md §7): the DM profile (a WBXML DM message whose
 * commands — usually an Add of a DMAcc TNDS to ./Inbox — run with the device's authority) and the
 * CP profile (a Client Provisioning document whose w7 applications become DMAcc accounts). The
 * body's MAC is verified first (SEC/MAC from the content type, PIN and/or IMSI from the device);
 * a body that does not verify, or whose commands do not all succeed, installs nothing.
 */
import { type DmAccount, type DmAccounts, accountUrl } from '../mo/index.ts';
// The bootstrap blocks are not (yet) re-exported by omadm/protocol's index.
import {
  type BootstrapKeyMaterial,
  type BootstrapProfile,
  decodeCpWbxml,
  dmAccountsFromCp,
  parseBootstrapContentType,
  parseCpXml,
  verifyBootstrap,
} from '../protocol/bootstrap/index.ts';
import { syncmlCodec } from '../protocol/index.ts';
import type { Command } from '../representation/index.ts';
import {
  LOCAL,
  type ManagementTree,
  type SubtreeNode,
  type TndsHandler,
  TreeCommandExecutor,
  type TreeOps,
} from '../tree/index.ts';
import { BootstrapMacError, ClientError, ClientErrorCode } from './errors.ts';

export interface BootstrapInput extends BootstrapKeyMaterial {
  /** The protected body: a WBXML (or XML) DM message, or a CP document (WBXML or XML). */
  readonly body: Uint8Array;
  /** The content type it came with (`…; SEC=…; MAC=…`); gives the profile, SEC and MAC. */
  readonly contentType?: string;
  /** When there is no content type (or to override it). */
  readonly profile?: BootstrapProfile;
  readonly sec?: string | number;
  readonly mac?: string;
  /** USERPINMAC (CP): what the user typed (PIN followed by the MAC digits). */
  readonly userInput?: string;
  /**
   * A trusted channel vouches for the body (smart card, factory image): no MAC is checked. Never
   * set this for anything that arrived over the air.
   */
  readonly trusted?: boolean;
}

export interface BootstrapResult {
  readonly profile: BootstrapProfile;
  /** ServerIDs of the accounts installed or rewritten. */
  readonly servers: readonly string[];
  /** CP INIT: the provisioning asked for a session right away. */
  readonly init: boolean;
}

function fail(message: string): never {
  throw new ClientError(ClientErrorCode.Bootstrap, message);
}

const isXml = (b: Uint8Array) => {
  let i = 0;
  while (
    i < b.length &&
    (b[i] === 0x20 ||
      b[i] === 0x0a ||
      b[i] === 0x0d ||
      b[i] === 0x09 ||
      b[i] === 0xef ||
      b[i] === 0xbb ||
      b[i] === 0xbf)
  )
    i++;
  return b[i] === 0x3c; // '<'
};

/** Verifies and installs a bootstrap into `tree` / `accounts`. Throws ClientError (Bootstrap). */
export async function installBootstrap(
  tree: ManagementTree,
  accounts: DmAccounts,
  tnds: TndsHandler,
  input: BootstrapInput,
): Promise<BootstrapResult> {
  let ct: ReturnType<typeof parseBootstrapContentType> | undefined;
  if (input.contentType) {
    try {
      ct = parseBootstrapContentType(input.contentType);
    } catch (err) {
      fail(`bootstrap content type: ${(err as Error).message}`);
    }
  }
  const profile = input.profile ?? ct?.profile;
  if (profile !== 'dm' && profile !== 'cp') fail('bootstrap profile unknown: give a content type or dm|cp');
  if (!input.trusted) {
    const sec = input.sec ?? ct?.sec;
    if (sec === undefined) fail('bootstrap without SEC: refusing an unprotected body');
    const mac = input.mac ?? ct?.mac;
    const ok = verifyBootstrap(input.body, {
      profile,
      sec,
      ...(mac !== undefined ? { mac } : {}),
      ...(input.userInput !== undefined ? { userInput: input.userInput } : {}),
      ...(input.pin !== undefined ? { pin: input.pin } : {}),
      ...(input.imsi !== undefined ? { imsi: input.imsi } : {}),
      ...(input.networkSecret !== undefined ? { networkSecret: input.networkSecret } : {}),
    });
    if (!ok)
      throw new BootstrapMacError(
        'bootstrap MAC does not verify (wrong PIN/IMSI, or a tampered body): nothing installed',
      );
  }
  return profile === 'dm' ? installDm(tree, accounts, tnds, input.body) : installCp(accounts, input.body);
}

async function installDm(
  tree: ManagementTree,
  accounts: DmAccounts,
  tnds: TndsHandler,
  body: Uint8Array,
): Promise<BootstrapResult> {
  let commands: readonly Command[];
  try {
    commands = syncmlCodec.decode(body, isXml(body) ? 'xml' : 'wbxml').SyncBody.commands;
  } catch (err) {
    fail(`bootstrap message does not decode: ${(err as Error).message}`);
  }
  const before = new Map((await accounts.list()).map((a) => [a.serverId, JSON.stringify(a)]));
  const oldIds = new Set(await accounts.ids());
  const executor = new TreeCommandExecutor(tree, { tnds });
  // All or nothing: one failing command rolls the whole bootstrap back.
  const placed = await tree.transaction(async (tx) => {
    for (const cmd of commands) {
      if (cmd.type !== 'Add' && cmd.type !== 'Replace') {
        throw new ClientError(
          ClientErrorCode.Bootstrap,
          `bootstrap may only Add or Replace, not ${cmd.type}`,
        );
      }
      const r = await executor.run(cmd, LOCAL, tx);
      if (r.status < 200 || r.status > 299) {
        const uri = cmd.Item[0]?.Target?.LocURI ?? '?';
        throw new ClientError(
          ClientErrorCode.Bootstrap,
          `bootstrap ${cmd.type} ${uri} failed with status ${r.status}`,
        );
      }
    }
    return oneAccountPerServer(tx, accounts.root, oldIds);
  });
  const after = await accounts.list();
  // Rewritten accounts, and those placed anew even when identical to what the device had.
  const servers = after
    .filter((a) => placed.has(a.serverId) || before.get(a.serverId) !== JSON.stringify(a))
    .map((a) => a.serverId);
  if (servers.length === 0) fail('bootstrap installed no DM account');
  for (const a of after) if (servers.includes(a.serverId)) usable(a);
  return { profile: 'dm', servers, init: true };
}

const utf8 = new TextDecoder();
const nodeText = (n: SubtreeNode | undefined) =>
  n?.data === undefined ? undefined : typeof n.data === 'string' ? n.data : utf8.decode(n.data);

/**
 * A DM-profile bootstrap for a server the device already has: the Inbox places the TNDS under a
 * new ./DMAcc/<x>, beside the old account. The new account takes the old one's node (so the
 * account keeps its name, and its Ext when the bootstrap brings none) and the new node goes, in
 * the bootstrap's own transaction: exactly one account per ServerID remains.
 */
async function oneAccountPerServer(
  tx: TreeOps,
  root: string,
  oldIds: ReadonlySet<string>,
): Promise<Set<string>> {
  const placed = new Set<string>();
  const snap = await tx.snapshot(root, LOCAL);
  const byServer = new Map<string, SubtreeNode[]>();
  for (const acc of snap.node?.children ?? []) {
    const serverId = nodeText(acc.children?.find((c) => c.name === 'ServerID'));
    if (serverId === undefined) continue;
    byServer.set(serverId, [...(byServer.get(serverId) ?? []), acc]);
  }
  const uri = (name: string) => `${root}/${encodeURIComponent(name)}`;
  const must = async (what: string, status: Promise<number>) => {
    const s = await status;
    if (s < 200 || s > 299) fail(`bootstrap: ${what} failed with status ${s}`);
  };
  for (const [serverId, nodes] of byServer) {
    const added = nodes.filter((n) => !oldIds.has(n.name));
    const old = nodes.filter((n) => oldIds.has(n.name));
    if (added.length === 0) continue;
    placed.add(serverId);
    if (added.length > 1) fail(`bootstrap installs ${added.length} accounts for ServerID ${serverId}`);
    const [keep, ...stale] = old;
    if (!keep) continue;
    const fresh = added[0]!;
    const children = fresh.children ?? [];
    const ext = keep.children?.find((c) => c.name === 'Ext');
    const node: SubtreeNode = {
      ...fresh,
      name: keep.name,
      ...(fresh.acl || !keep.acl ? {} : { acl: keep.acl }),
      children: ext && !children.some((c) => c.name === 'Ext') ? [...children, ext] : children,
    };
    await must(`replacing ${uri(keep.name)}`, tx.replaceSubtree(uri(keep.name), node, LOCAL));
    await must(`removing ${uri(fresh.name)}`, tx.delete(uri(fresh.name), LOCAL));
    for (const s of stale) await must(`removing ${uri(s.name)}`, tx.delete(uri(s.name), LOCAL));
  }
  return placed;
}

async function installCp(accounts: DmAccounts, body: Uint8Array): Promise<BootstrapResult> {
  let list: ReturnType<typeof dmAccountsFromCp>;
  try {
    const doc = isXml(body) ? parseCpXml(new TextDecoder().decode(body)) : decodeCpWbxml(body);
    list = dmAccountsFromCp(doc);
  } catch (err) {
    fail(`CP document: ${(err as Error).message}`);
  }
  for (const a of list) usable(a);
  const servers: string[] = [];
  for (const { init: _init, ...account } of list) {
    const stored = await accounts.find(account.serverId);
    await accounts.put(stored?.id ? { ...account, id: stored.id } : account);
    servers.push(account.serverId);
  }
  return { profile: 'cp', servers, init: list.some((a) => a.init) };
}

function usable(a: DmAccount): void {
  if (!accountUrl(a)) fail(`bootstrap account ${a.serverId} has no address`);
}
