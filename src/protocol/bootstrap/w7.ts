/**
 * The w7 APPLICATION characteristic (a DM server account in a CP document)
 * ↔ DMAcc fields (objects.md §7.3, protocol.md §7.1). The model uses the
 * DMAcc leaf names so the client can write it into ./DMAcc/<x> directly.
 */
import { AAuthLevel, parseAAuthLevel, parseAAuthType } from '../auth/types.ts';
import type { CpCharacteristic, CpDocument, CpParm } from './cp.ts';
import { BootstrapError, BootstrapErrorCode } from './errors.ts';

export interface DmAccAppAddr {
  Addr: string;
  /** `URI` (default), `IPv4`, `IPv6`, … */
  AddrType?: string;
  /** PortNbr values. */
  Port?: string[];
}

export interface DmAccAppAuth {
  /** CLCRED, SRVCRED, OBEX or HTTP. */
  AAuthLevel: string;
  AAuthType: string;
  AAuthName?: string;
  AAuthSecret?: string;
  /** Nonce, base64 text as carried in CP (the tree stores its decoded octets, Format bin). */
  AAuthData?: string;
}

/** One DM server account as a bootstrap delivers it. */
export interface DmAccount {
  AppID: 'w7';
  ServerID: string;
  Name?: string;
  /** TO-NAPID / TO-PROXY references, in order (client maps them to PrefConRef/ToConRef). */
  ToConRef?: string[];
  AppAddr: DmAccAppAddr[];
  AAuthPref?: string;
  AppAuth: DmAccAppAuth[];
  /** INIT present: the client must start a session to this server right after provisioning. */
  Init?: boolean;
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

/** DM accounts from every APPLICATION characteristic with APPID w7, in document (priority) order. */
export function dmAccountsFromCp(doc: CpDocument): DmAccount[] {
  const out: DmAccount[] = [];
  for (const app of doc.characteristics.filter((c) => c.type.toUpperCase() === 'APPLICATION')) {
    if (get(app.parms, 'APPID')?.trim().toLowerCase() !== 'w7') continue;
    const serverId = get(app.parms, 'PROVIDER-ID');
    if (!serverId) {
      throw new BootstrapError(
        BootstrapErrorCode.NoDmAccount,
        'w7 APPLICATION without PROVIDER-ID (ServerID)',
      );
    }
    const acc: DmAccount = { AppID: 'w7', ServerID: serverId, AppAddr: [], AppAuth: [] };
    const name = get(app.parms, 'NAME');
    if (name !== undefined) acc.Name = name;
    const refs = [...all(app.parms, 'TO-NAPID'), ...all(app.parms, 'TO-PROXY')];
    if (refs.length > 0) acc.ToConRef = refs;
    if (app.parms.some((p) => p.name.toUpperCase() === 'INIT')) acc.Init = true;
    const addr = get(app.parms, 'ADDR');
    if (addr !== undefined) acc.AppAddr.push({ Addr: addr, AddrType: 'URI' });
    for (const a of kids(app, 'APPADDR')) {
      const aAddr = get(a.parms, 'ADDR');
      if (aAddr === undefined) continue;
      const entry: DmAccAppAddr = { Addr: aAddr, AddrType: get(a.parms, 'ADDRTYPE') ?? 'URI' };
      const ports = kids(a, 'PORT')
        .map((p) => get(p.parms, 'PORTNBR'))
        .filter((p): p is string => p !== undefined);
      if (ports.length > 0) entry.Port = ports;
      acc.AppAddr.push(entry);
    }
    for (const auth of kids(app, 'APPAUTH')) {
      const cpLevel = get(auth.parms, 'AAUTHLEVEL')?.trim().toUpperCase();
      const level =
        cpLevel === undefined ? AAuthLevel.Http : (LEVEL_FROM_CP[cpLevel] ?? parseAAuthLevel(cpLevel));
      const typeText = get(auth.parms, 'AAUTHTYPE');
      if (!level || typeText === undefined) continue; // unusable entry: skip rather than guess
      const entry: DmAccAppAuth = {
        AAuthLevel: level,
        AAuthType: parseAAuthType(typeText) ?? typeText.trim(),
      };
      for (const [cp, dm] of [
        ['AAUTHNAME', 'AAuthName'],
        ['AAUTHSECRET', 'AAuthSecret'],
        ['AAUTHDATA', 'AAuthData'],
      ] as const) {
        const v = get(auth.parms, cp);
        if (v !== undefined) entry[dm] = v;
      }
      acc.AppAuth.push(entry);
    }
    if (acc.AppAddr.length === 0) {
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
export function cpApplicationFromDmAccount(acc: DmAccount): CpCharacteristic {
  const parms: CpParm[] = [
    { name: 'APPID', value: 'w7' },
    { name: 'PROVIDER-ID', value: acc.ServerID },
  ];
  if (acc.Name !== undefined) parms.push({ name: 'NAME', value: acc.Name });
  for (const r of acc.ToConRef ?? []) parms.push({ name: 'TO-NAPID', value: r });
  if (acc.Init) parms.push({ name: 'INIT' });
  const characteristics: CpCharacteristic[] = acc.AppAddr.map((a) => ({
    type: 'APPADDR',
    parms: [
      { name: 'ADDR', value: a.Addr },
      ...(a.AddrType && a.AddrType !== 'URI' ? [{ name: 'ADDRTYPE', value: a.AddrType }] : []),
    ],
    characteristics: (a.Port ?? []).map((p) => ({
      type: 'PORT',
      parms: [{ name: 'PORTNBR', value: p }],
      characteristics: [],
    })),
  }));
  for (const auth of acc.AppAuth) {
    const level = LEVEL_TO_CP[auth.AAuthLevel.toUpperCase()];
    const ap: CpParm[] = [];
    if (level !== undefined) ap.push({ name: 'AAUTHLEVEL', value: level });
    ap.push({ name: 'AAUTHTYPE', value: auth.AAuthType });
    if (auth.AAuthName !== undefined) ap.push({ name: 'AAUTHNAME', value: auth.AAuthName });
    if (auth.AAuthSecret !== undefined) ap.push({ name: 'AAUTHSECRET', value: auth.AAuthSecret });
    if (auth.AAuthData !== undefined) ap.push({ name: 'AAUTHDATA', value: auth.AAuthData });
    characteristics.push({ type: 'APPAUTH', parms: ap, characteristics: [] });
  }
  return { type: 'APPLICATION', parms, characteristics };
}

/** A CP document provisioning the given DM accounts. */
export function cpDocumentFromDmAccounts(accounts: readonly DmAccount[]): CpDocument {
  return { version: '1.0', characteristics: accounts.map(cpApplicationFromDmAccount) };
}
