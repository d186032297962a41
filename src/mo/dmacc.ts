/**
 * DMAcc (DM 1.2, `./DMAcc/<x>`) as plain objects: the accounts the client session engine
 * connects with. Everything here runs as the device (local principal): it reads the secrets
 * servers can never Get (AAuthSecret, AAuthData have no Get in the DDF).
 *
 * Isolation: each account node carries the ACL `Add=<ServerID>&Delete=…&Get=…&Replace=…`, and
 * `./DMAcc` itself has no Get for servers (default ACL `Add=*`), so a server sees and changes only
 * its own account and cannot even list the others' names.
 */
import type { AAuthLevel, AAuthType } from '../representation/dm-auth-names.ts';
import { StatusCode } from '../representation/index.ts';
import type { ManagementTree, NodeData, SubtreeNode, TreeOps } from '../tree/index.ts';
import { aclFor, AclCommand } from '../tree/index.ts';
import { MoId, StandardUri } from './ids.ts';

export { AAuthLevel, AAuthType } from '../representation/dm-auth-names.ts';

/** `AppAuth/<x>`: one set of credentials. */
export interface AppAuth {
  /** Node name under AppAuth (device-assigned when absent on write). */
  id?: string;
  level: AAuthLevel | (string & {});
  type: AAuthType | (string & {});
  name?: string;
  secret?: string;
  /** AAuthData: the next nonce (raw bytes). */
  data?: Uint8Array;
}

/** `AppAddr/<x>`: one server address. */
export interface AppAddr {
  id?: string;
  addr: string;
  /** `URI` (default), `IPv4`, `IPv6`. */
  addrType?: string;
  ports?: number[];
}

/** One DM server account. */
export interface DmAccount {
  /** Node name under ./DMAcc (device-assigned when absent on write). */
  id?: string;
  serverId: string;
  name?: string;
  prefConRef?: string;
  toConRefs?: string[];
  addresses: AppAddr[];
  authPref?: string;
  auth: AppAuth[];
}

export interface DmAccountsOptions {
  /** Where the accounts live (default `./DMAcc`; DM 1.1 devices use `./SyncML/DMAcc`). */
  root?: string;
  /**
   * ACL of the DMAcc node itself, set when the accounts are installed. Default `Add=*`: servers
   * may add accounts but not list them. Use `Add=` a trusted ServerID to restrict provisioning.
   */
  rootAcl?: string;
}

/** The tree as the account store needs it (ManagementTree). */
type AccountTree = TreeOps & Pick<ManagementTree, 'transaction' | 'removeServer' | 'ensure'>;

const NAME = /^[A-Za-z0-9._~-]{1,32}$/;
const utf8 = new TextDecoder();

function text(data: NodeData | undefined): string | undefined {
  if (data === undefined) return undefined;
  return typeof data === 'string' ? data : utf8.decode(data);
}

function bytes(data: NodeData | undefined): Uint8Array | undefined {
  if (data === undefined) return undefined;
  return typeof data === 'string' ? new TextEncoder().encode(data) : data;
}

function leaf(name: string, data: string | undefined): SubtreeNode[] {
  return data === undefined ? [] : [{ name, format: 'chr', type: 'text/plain', data }];
}

/** The server's URL for an account: its first address, with the port when one is given and the URL has none. */
export function accountUrl(account: DmAccount): string | undefined {
  const a = account.addresses[0];
  if (!a) return undefined;
  const port = a.ports?.[0];
  if (port === undefined || (a.addrType ?? 'URI') !== 'URI') return a.addr;
  try {
    const url = new URL(a.addr);
    if (url.port === '') url.port = String(port);
    return url.toString();
  } catch {
    return a.addr;
  }
}

/** The credentials of one level (`CLCRED` = the client's, `SRVCRED` = the server's). */
export function accountCredentials(account: DmAccount, level: AAuthLevel): AppAuth | undefined {
  return account.auth.find((a) => a.level === level);
}

/** Read and write DM accounts in the tree. */
export class DmAccounts {
  readonly #tree: AccountTree;
  readonly #root: string;
  readonly #rootAcl: string;

  constructor(tree: AccountTree, options: DmAccountsOptions = {}) {
    this.#tree = tree;
    this.#root = options.root ?? StandardUri.DMAcc;
    this.#rootAcl = options.rootAcl ?? 'Add=*';
  }

  /** Where the accounts live. */
  get root(): string {
    return this.#root;
  }

  /** Create `./DMAcc` if needed and give it its ACL (the DDF skeleton normally created it). */
  async install(): Promise<StatusCode> {
    const s = await this.#tree.ensure(this.#root, { format: 'node', permanent: true });
    if (s !== StatusCode.Ok) return s;
    return this.#tree.replace(`${this.#root}?prop=ACL`, { data: this.#rootAcl });
  }

  async #children(uri: string): Promise<string[]> {
    const got = await this.#tree.get(uri);
    if (got.status !== StatusCode.Ok || got.items[0]?.format !== 'node') return [];
    const data = text(got.items[0].data) ?? '';
    return data === '' ? [] : data.split('/').map((n) => decodeURIComponent(n));
  }

  async #value(uri: string): Promise<NodeData | undefined> {
    const got = await this.#tree.get(uri);
    return got.status === StatusCode.Ok ? got.items[0]?.data : undefined;
  }

  async #text(uri: string): Promise<string | undefined> {
    return text(await this.#value(uri));
  }

  #uri(...names: string[]): string {
    return [this.#root, ...names.map((n) => encodeURIComponent(n))].join('/');
  }

  /** Node names of the accounts. */
  ids(): Promise<string[]> {
    return this.#children(this.#root);
  }

  /** Every account. */
  async list(): Promise<DmAccount[]> {
    const out: DmAccount[] = [];
    for (const id of await this.ids()) {
      const acc = await this.get(id);
      if (acc) out.push(acc);
    }
    return out;
  }

  /** The account stored under node name `id`. */
  async get(id: string): Promise<DmAccount | undefined> {
    const kids = await this.#children(this.#uri(id));
    if (!kids.includes('ServerID')) return undefined;
    const account: DmAccount = {
      id,
      serverId: (await this.#text(this.#uri(id, 'ServerID'))) ?? '',
      addresses: [],
      auth: [],
    };
    if (kids.includes('Name')) account.name = await this.#text(this.#uri(id, 'Name'));
    if (kids.includes('PrefConRef')) account.prefConRef = await this.#text(this.#uri(id, 'PrefConRef'));
    if (kids.includes('AAuthPref')) account.authPref = await this.#text(this.#uri(id, 'AAuthPref'));
    if (kids.includes('ToConRef')) {
      account.toConRefs = [];
      for (const x of await this.#children(this.#uri(id, 'ToConRef'))) {
        const ref = await this.#text(this.#uri(id, 'ToConRef', x, 'ConRef'));
        if (ref !== undefined) account.toConRefs.push(ref);
      }
    }
    for (const x of await this.#children(this.#uri(id, 'AppAddr'))) {
      const addr: AppAddr = { id: x, addr: (await this.#text(this.#uri(id, 'AppAddr', x, 'Addr'))) ?? '' };
      const addrType = await this.#text(this.#uri(id, 'AppAddr', x, 'AddrType'));
      if (addrType !== undefined) addr.addrType = addrType;
      const ports: number[] = [];
      for (const p of await this.#children(this.#uri(id, 'AppAddr', x, 'Port'))) {
        const nbr = Number(await this.#text(this.#uri(id, 'AppAddr', x, 'Port', p, 'PortNbr')));
        if (Number.isInteger(nbr) && nbr >= 0 && nbr <= 65535) ports.push(nbr);
      }
      if (ports.length > 0) addr.ports = ports;
      account.addresses.push(addr);
    }
    for (const x of await this.#children(this.#uri(id, 'AppAuth'))) {
      const names = await this.#children(this.#uri(id, 'AppAuth', x));
      const auth: AppAuth = {
        id: x,
        level: (await this.#text(this.#uri(id, 'AppAuth', x, 'AAuthLevel'))) ?? '',
        type: (await this.#text(this.#uri(id, 'AppAuth', x, 'AAuthType'))) ?? '',
      };
      if (names.includes('AAuthName')) auth.name = await this.#text(this.#uri(id, 'AppAuth', x, 'AAuthName'));
      if (names.includes('AAuthSecret'))
        auth.secret = await this.#text(this.#uri(id, 'AppAuth', x, 'AAuthSecret'));
      if (names.includes('AAuthData'))
        auth.data = bytes(await this.#value(this.#uri(id, 'AppAuth', x, 'AAuthData')));
      account.auth.push(auth);
    }
    return account;
  }

  /** The account of a server (by its ServerID). */
  async find(serverId: string): Promise<DmAccount | undefined> {
    for (const id of await this.ids()) {
      if ((await this.#text(this.#uri(id, 'ServerID'))) === serverId) return this.get(id);
    }
    return undefined;
  }

  async #newId(serverId: string): Promise<string> {
    const taken = new Set(await this.ids());
    const base = NAME.test(serverId) && serverId !== '.' && serverId !== '..' ? serverId : 'acc';
    if (!taken.has(base) && base !== 'acc') return base;
    for (let n = 1; ; n++) if (!taken.has(`${base}${n}`)) return `${base}${n}`;
  }

  /**
   * Create or replace the account of `account.serverId` (matched by `id`, else by ServerID).
   * The whole account subtree is rewritten in one transaction (an existing `Ext` is kept) and its
   * node gets the ACL that lets only that server at it. Returns the account as stored.
   */
  async put(account: DmAccount): Promise<DmAccount> {
    if (account.serverId === '') throw new TypeError('a DM account needs a ServerID');
    const existing =
      account.id !== undefined ? await this.get(account.id) : await this.find(account.serverId);
    const id = account.id ?? existing?.id ?? (await this.#newId(account.serverId));
    const uri = this.#uri(id);
    const kids = existing ? await this.#children(uri) : [];
    const ext = kids.includes('Ext') ? (await this.#tree.snapshot(this.#uri(id, 'Ext'))).node : undefined;
    const node = accountNode(id, account, ext, ownAcl(account.serverId));
    await this.#tree.transaction(async (tx) => {
      const status = existing ? await tx.replaceSubtree(uri, node) : await tx.addSubtree(this.#root, node);
      if (status !== StatusCode.Ok) throw new Error(`writing DMAcc ${id} failed with ${status}`);
    });
    return (await this.get(id))!;
  }

  /**
   * Store the next nonce of one credential level (the Chal NextNonce the peer sent, or the one
   * this side sends). Returns false when the account or the level does not exist.
   */
  async setNonce(serverId: string, level: AAuthLevel, nonce: Uint8Array): Promise<boolean> {
    const account = await this.find(serverId);
    const auth = account && accountCredentials(account, level);
    if (!account?.id || !auth?.id) return false;
    const uri = this.#uri(account.id, 'AppAuth', auth.id, 'AAuthData');
    const input = { format: 'bin' as const, type: 'application/octet-stream', data: nonce };
    let status = await this.#tree.replace(uri, input);
    if (status === StatusCode.NotFound) status = await this.#tree.add(uri, input);
    return status === StatusCode.Ok;
  }

  /** Delete a server's account and strip its ServerID from every ACL (protocol.md §6.4). */
  async remove(serverId: string): Promise<boolean> {
    const account = await this.find(serverId);
    if (!account?.id) return false;
    const status = await this.#tree.delete(this.#uri(account.id));
    if (status !== StatusCode.Ok) return false;
    await this.#tree.removeServer(serverId);
    return true;
  }
}

/** The ACL that gives a server (and nobody else) its account: Add, Delete, Get, Replace. */
export function ownAcl(serverId: string): string {
  return aclFor(serverId, [AclCommand.Add, AclCommand.Delete, AclCommand.Get, AclCommand.Replace]);
}

function accountNode(id: string, a: DmAccount, ext: SubtreeNode | undefined, acl: string): SubtreeNode {
  const children: SubtreeNode[] = [
    ...leaf('AppID', 'w7'),
    ...leaf('ServerID', a.serverId),
    ...leaf('Name', a.name),
    ...leaf('PrefConRef', a.prefConRef),
  ];
  if (a.toConRefs && a.toConRefs.length > 0) {
    children.push({
      name: 'ToConRef',
      format: 'node',
      children: a.toConRefs.map((ref, i) => ({
        name: String(i + 1),
        format: 'node',
        children: leaf('ConRef', ref),
      })),
    });
  }
  children.push({
    name: 'AppAddr',
    format: 'node',
    children: a.addresses.map((addr, i) => ({
      name: addr.id ?? String(i + 1),
      format: 'node',
      children: [
        ...leaf('Addr', addr.addr),
        ...leaf('AddrType', addr.addrType ?? 'URI'),
        ...(addr.ports && addr.ports.length > 0
          ? [
              {
                name: 'Port',
                format: 'node' as const,
                children: addr.ports.map((p, j) => ({
                  name: String(j + 1),
                  format: 'node' as const,
                  children: leaf('PortNbr', String(p)),
                })),
              },
            ]
          : []),
      ],
    })),
  });
  children.push(...leaf('AAuthPref', a.authPref));
  if (a.auth.length > 0) {
    children.push({
      name: 'AppAuth',
      format: 'node',
      children: a.auth.map((auth, i) => ({
        name: auth.id ?? String(i + 1),
        format: 'node',
        children: [
          ...leaf('AAuthLevel', auth.level),
          ...leaf('AAuthType', auth.type),
          ...leaf('AAuthName', auth.name),
          ...leaf('AAuthSecret', auth.secret),
          ...(auth.data
            ? [
                {
                  name: 'AAuthData',
                  format: 'bin' as const,
                  type: 'application/octet-stream',
                  data: auth.data,
                },
              ]
            : []),
        ],
      })),
    });
  }
  if (ext) children.push(ext);
  return { name: id, format: 'node', type: MoId.DMAcc, acl, children };
}

/**
 * An account as a TNDS-ready subtree (`./DMAcc/<id>`, Type the DMAcc MO identifier, ACL for its
 * own server by default): what a server puts in a bootstrap (`subtreeToTnds(accountSubtree(a))`
 * then Add to `./Inbox` or `./DMAcc`).
 */
export function accountSubtree(account: DmAccount, options: { id?: string; acl?: string } = {}): SubtreeNode {
  const id = options.id ?? account.id ?? (NAME.test(account.serverId) ? account.serverId : '');
  return accountNode(id, account, undefined, options.acl ?? ownAcl(account.serverId));
}

/**
 * DMAcc leaves as protocol/bootstrap's w7 mapping delivers them (leaf names as keys, nonce in
 * base64, ports as strings): the same shape, declared here because mo does not import protocol.
 */
export interface DmAccLeaves {
  ServerID: string;
  Name?: string;
  PrefConRef?: string;
  ToConRef?: string[];
  AppAddr: { Addr: string; AddrType?: string; Port?: string[] }[];
  AAuthPref?: string;
  AppAuth: {
    AAuthLevel: string;
    AAuthType: string;
    AAuthName?: string;
    AAuthSecret?: string;
    AAuthData?: string;
  }[];
}

/** Turn DMAcc leaves (e.g. a w7 bootstrap) into an account for `put()`. Invalid ports are dropped. */
export function accountFromLeaves(leaves: DmAccLeaves): DmAccount {
  const account: DmAccount = {
    serverId: leaves.ServerID,
    addresses: leaves.AppAddr.map((a) => {
      const ports = (a.Port ?? []).map(Number).filter((n) => Number.isInteger(n) && n >= 0 && n <= 65535);
      return {
        addr: a.Addr,
        ...(a.AddrType ? { addrType: a.AddrType } : {}),
        ...(ports.length > 0 ? { ports } : {}),
      };
    }),
    auth: leaves.AppAuth.map((x) => {
      const auth: AppAuth = { level: x.AAuthLevel, type: x.AAuthType };
      if (x.AAuthName !== undefined) auth.name = x.AAuthName;
      if (x.AAuthSecret !== undefined) auth.secret = x.AAuthSecret;
      if (x.AAuthData !== undefined) auth.data = new Uint8Array(Buffer.from(x.AAuthData, 'base64'));
      return auth;
    }),
  };
  if (leaves.Name !== undefined) account.name = leaves.Name;
  if (leaves.PrefConRef !== undefined) account.prefConRef = leaves.PrefConRef;
  if (leaves.ToConRef && leaves.ToConRef.length > 0) account.toConRefs = [...leaves.ToConRef];
  if (leaves.AAuthPref !== undefined) account.authPref = leaves.AAuthPref;
  return account;
}
