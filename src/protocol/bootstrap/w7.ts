/**
 * The w7 APPLICATION characteristic (a DM server account in a CP document)
 * ↔ DMAcc fields (objects.md §7.3, protocol.md §7.1). `BootstrapAccount` has
 * the same shape as omadm/mo's `DmAccount`, so the client installs the result
 * with `DmAccounts` directly.
 */
import { b64decode, b64encode } from '../auth/base64.ts';
import { AAuthLevel, parseAAuthLevel, parseAAuthType } from '../auth/types.ts';
import type { CpCharacteristic, CpDocument, CpParm } from './cp.ts';
import { BootstrapError, BootstrapErrorCode } from './errors.ts';

export interface BootstrapAppAddr {
  /** AppAddr/<x>/Addr. */
  addr: string;
  /** `URI` (default), `IPv4`, `IPv6`, … */
  addrType?: string;
  /** Port/<x>/PortNbr values. */
  ports?: number[];
}

export interface BootstrapAppAuth {
  /** CLCRED, SRVCRED, OBEX or HTTP. */
  level: string;
  /** AAuthType (BASIC, DIGEST, HMAC, HTTP-BASIC, …). */
  type: string;
  name?: string;
  secret?: string;
  /** AAuthData: the nonce octets (CP carries them base64-encoded). */
  data?: Uint8Array;
}

/** One DM server account as a bootstrap delivers it (AppID is always w7). */
export interface BootstrapAccount {
  serverId: string;
  name?: string;
  /** TO-NAPID / TO-PROXY references in order; the client maps them to PrefConRef/ToConRef. */
  toConRefs?: string[];
  addresses: BootstrapAppAddr[];
  authPref?: string;
  auth: BootstrapAppAuth[];
  /** INIT present: start a session to this server right after provisioning. */
  init?: boolean;
}

/** CP AAUTHLEVEL → DMAcc AAuthLevel; absent means HTTP-level credentials. */
const LEVEL_FROM_CP: Readonly<Record<string, string>> = { APPSRV: 'CLCRED', CLIENT: 'SRVCRED', OBEX: 'OBEX' };
const LEVEL_TO_CP: Readonly<Record<string, string | undefined>> = {
  CLCRED: 'APPSRV',
  SRVCRED: 'CLIENT',
  OBEX: 'OBEX',
  HTTP: undefined,
};

const get = (parms: readonly CpParm[], name: string) =>
  parms.find((p) => p.name.toUpperCase() === name)?.value;
const all = (parms: readonly CpParm[], name: string) =>
  parms.filter((p) => p.name.toUpperCase() === name && p.value !== undefined).map((p) => p.value!);
const kids = (c: CpCharacteristic, type: string) =>
  c.characteristics.filter((k) => k.type.toUpperCase() === type);

function nonceBytes(text: string): Uint8Array {
  try {
    return b64decode(text, 4096);
  } catch {
    return new TextEncoder().encode(text); // not base64: take the text itself, as lenient clients do
  }
}

function port(text: string, serverId: string): number {
  const t = text.trim();
  const n = Number(t);
  if (!/^\d{1,5}$/.test(t) || n > 65535) {
    throw new BootstrapError(BootstrapErrorCode.BadCpDocument, `bad PORTNBR ${text} for ${serverId}`);
  }
  return n;
}

/** DM accounts from every APPLICATION characteristic with APPID w7, in document (priority) order. */
export function dmAccountsFromCp(doc: CpDocument): BootstrapAccount[] {
  const out: BootstrapAccount[] = [];
  for (const app of doc.characteristics.filter((c) => c.type.toUpperCase() === 'APPLICATION')) {
    if (get(app.parms, 'APPID')?.trim().toLowerCase() !== 'w7') continue;
    const serverId = get(app.parms, 'PROVIDER-ID');
    if (!serverId) {
      throw new BootstrapError(
        BootstrapErrorCode.NoDmAccount,
        'w7 APPLICATION without PROVIDER-ID (ServerID)',
      );
    }
    const acc: BootstrapAccount = { serverId, addresses: [], auth: [] };
    const name = get(app.parms, 'NAME');
    if (name !== undefined) acc.name = name;
    const refs = [...all(app.parms, 'TO-NAPID'), ...all(app.parms, 'TO-PROXY')];
    if (refs.length > 0) acc.toConRefs = refs;
    if (app.parms.some((p) => p.name.toUpperCase() === 'INIT')) acc.init = true;
    const addr = get(app.parms, 'ADDR');
    if (addr !== undefined) acc.addresses.push({ addr, addrType: 'URI' });
    for (const a of kids(app, 'APPADDR')) {
      const aAddr = get(a.parms, 'ADDR');
      if (aAddr === undefined) continue;
      const entry: BootstrapAppAddr = { addr: aAddr, addrType: get(a.parms, 'ADDRTYPE') ?? 'URI' };
      const ports = kids(a, 'PORT')
        .map((p) => get(p.parms, 'PORTNBR'))
        .filter((p): p is string => p !== undefined)
        .map((p) => port(p, serverId));
      if (ports.length > 0) entry.ports = ports;
      acc.addresses.push(entry);
    }
    for (const a of kids(app, 'APPAUTH')) {
      const cpLevel = get(a.parms, 'AAUTHLEVEL')?.trim().toUpperCase();
      const level =
        cpLevel === undefined ? AAuthLevel.Http : (LEVEL_FROM_CP[cpLevel] ?? parseAAuthLevel(cpLevel));
      const typeText = get(a.parms, 'AAUTHTYPE');
      if (!level || typeText === undefined) continue; // unusable entry: skip rather than guess
      const entry: BootstrapAppAuth = { level, type: parseAAuthType(typeText) ?? typeText.trim() };
      const n = get(a.parms, 'AAUTHNAME');
      if (n !== undefined) entry.name = n;
      const s = get(a.parms, 'AAUTHSECRET');
      if (s !== undefined) entry.secret = s;
      const d = get(a.parms, 'AAUTHDATA');
      if (d !== undefined) entry.data = nonceBytes(d);
      acc.auth.push(entry);
    }
    if (acc.addresses.length === 0) {
      throw new BootstrapError(
        BootstrapErrorCode.NoDmAccount,
        `w7 APPLICATION ${serverId} has no server address`,
      );
    }
    out.push(acc);
  }
  return out;
}

/** The w7 APPLICATION characteristic for a DM account. */
export function cpApplicationFromDmAccount(acc: BootstrapAccount): CpCharacteristic {
  const parms: CpParm[] = [
    { name: 'APPID', value: 'w7' },
    { name: 'PROVIDER-ID', value: acc.serverId },
  ];
  if (acc.name !== undefined) parms.push({ name: 'NAME', value: acc.name });
  for (const r of acc.toConRefs ?? []) parms.push({ name: 'TO-NAPID', value: r });
  if (acc.init) parms.push({ name: 'INIT' });
  const characteristics: CpCharacteristic[] = acc.addresses.map((a) => ({
    type: 'APPADDR',
    parms: [
      { name: 'ADDR', value: a.addr },
      ...(a.addrType && a.addrType !== 'URI' ? [{ name: 'ADDRTYPE', value: a.addrType }] : []),
    ],
    characteristics: (a.ports ?? []).map((p) => ({
      type: 'PORT',
      parms: [{ name: 'PORTNBR', value: String(p) }],
      characteristics: [],
    })),
  }));
  for (const auth of acc.auth) {
    const level = LEVEL_TO_CP[auth.level.toUpperCase()];
    const ap: CpParm[] = [];
    if (level !== undefined) ap.push({ name: 'AAUTHLEVEL', value: level });
    ap.push({ name: 'AAUTHTYPE', value: auth.type });
    if (auth.name !== undefined) ap.push({ name: 'AAUTHNAME', value: auth.name });
    if (auth.secret !== undefined) ap.push({ name: 'AAUTHSECRET', value: auth.secret });
    if (auth.data !== undefined) ap.push({ name: 'AAUTHDATA', value: b64encode(auth.data) });
    characteristics.push({ type: 'APPAUTH', parms: ap, characteristics: [] });
  }
  return { type: 'APPLICATION', parms, characteristics };
}

/** A CP document provisioning the given DM accounts. */
export function cpDocumentFromDmAccounts(accounts: readonly BootstrapAccount[]): CpDocument {
  return { version: '1.0', characteristics: accounts.map(cpApplicationFromDmAccount) };
}
