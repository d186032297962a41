/**
 * Bootstrap message security (objects.md §7.5): HMAC-SHA1 over the bootstrap
 * body (WBXML DM message or CP document) with a key derived from the network
 * PIN (IMSI), a user PIN, or both; carried as SEC and MAC parameters on the
 * content type. USERPINMAC (CP only) carries no MAC: the MAC digits are part
 * of what the user types.
 *
 * Two profiles, two spellings:
 *   DM profile (DM Security §5.1.7): SEC=NETWORKID | USERPIN | USERPIN_NETWORKID,
 *     USERPIN_NETWORKID key = PIN ":" network secret.
 *   CP profile (ProvBoot 1.1):       SEC=NETWPIN(0) | USERPIN(1) | USERNETWPIN(2) | USERPINMAC(3),
 *     USERNETWPIN key = network secret || PIN (no separator).
 * The network secret is the IMSI in GSM 11.11 semi-octet form (or any octets
 * the operator uses, e.g. an ESN).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { BootstrapError, BootstrapErrorCode } from './errors.ts';

export type BootstrapProfile = 'dm' | 'cp';

/** Security types, by our names (CP spelling). */
export const BootstrapSecurity = {
  NetwPin: 'netwpin',
  UserPin: 'userpin',
  UserNetwPin: 'usernetwpin',
  /** CP profile only. */
  UserPinMac: 'userpinmac',
} as const;
export type BootstrapSecurity = (typeof BootstrapSecurity)[keyof typeof BootstrapSecurity];

/** CP SEC integer values (WSP Short-integer in the binary content type). */
export const CP_SEC_VALUES: Readonly<Record<BootstrapSecurity, number>> = {
  netwpin: 0,
  userpin: 1,
  usernetwpin: 2,
  userpinmac: 3,
};

/** SEC text per profile, as written in a textual content type. */
export const SEC_NAMES: Readonly<
  Record<BootstrapProfile, Readonly<Partial<Record<BootstrapSecurity, string>>>>
> = {
  dm: { netwpin: 'NETWORKID', userpin: 'USERPIN', usernetwpin: 'USERPIN_NETWORKID' },
  cp: { netwpin: 'NETWPIN', userpin: 'USERPIN', usernetwpin: 'USERNETWPIN', userpinmac: 'USERPINMAC' },
};

/** Accepted on receive: both profiles' spellings and aliases seen in the field, case-insensitive. */
const SEC_ALIASES: Readonly<Record<string, BootstrapSecurity>> = {
  NETWPIN: 'netwpin',
  NETWORKID: 'netwpin',
  USERPIN: 'userpin',
  USERNETWPIN: 'usernetwpin',
  USERPIN_NETWORKID: 'usernetwpin',
  USERPINNETWORKID: 'usernetwpin',
  USERPINMAC: 'userpinmac',
};

/** Reads a SEC value: a CP integer (0..3, or its decimal text) or a name of either profile. */
export function parseSec(value: string | number): BootstrapSecurity {
  const text = String(value).trim();
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    const hit = (Object.entries(CP_SEC_VALUES) as [BootstrapSecurity, number][]).find(([, v]) => v === n);
    if (hit) return hit[0];
  }
  const sec = SEC_ALIASES[text.toUpperCase()];
  if (!sec) throw new BootstrapError(BootstrapErrorCode.UnknownSecurity, `unknown SEC value ${text}`);
  return sec;
}

/**
 * GSM 11.11 EF_IMSI semi-octet form of an IMSI, the NETWPIN key: odd digit
 * count → prefix 9; even → prefix 1 and append F; then swap the nibbles of
 * each digit pair. `262011234567890` → `29 26 10 21 43 65 87 09`.
 */
export function imsiKey(imsi: string): Uint8Array {
  if (!/^\d{1,15}$/.test(imsi))
    throw new BootstrapError(BootstrapErrorCode.BadKeyMaterial, 'IMSI must be 1..15 digits');
  const digits = imsi.length % 2 === 1 ? `9${imsi}` : `1${imsi}F`;
  const out = new Uint8Array(digits.length / 2);
  for (let i = 0; i < out.length; i++) {
    const hi = Number.parseInt(digits[2 * i]!, 16);
    const lo = Number.parseInt(digits[2 * i + 1]!, 16);
    out[i] = (lo << 4) | hi;
  }
  return out;
}

/** What the key is made of. `networkSecret` overrides `imsi` (e.g. for an ESN). */
export interface BootstrapKeyMaterial {
  imsi?: string;
  networkSecret?: Uint8Array;
  pin?: string;
}

const te = new TextEncoder();

function networkSecret(m: BootstrapKeyMaterial): Uint8Array {
  if (m.networkSecret) return m.networkSecret;
  if (m.imsi !== undefined) return imsiKey(m.imsi);
  throw new BootstrapError(
    BootstrapErrorCode.BadKeyMaterial,
    'network security needs an IMSI or network secret',
  );
}

function pin(m: BootstrapKeyMaterial): Uint8Array {
  if (m.pin === undefined || m.pin === '') {
    throw new BootstrapError(BootstrapErrorCode.BadKeyMaterial, 'user PIN security needs a PIN');
  }
  return te.encode(m.pin);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
}

/** The HMAC-SHA1 key for a profile and security type. */
export function bootstrapKey(
  profile: BootstrapProfile,
  sec: BootstrapSecurity,
  m: BootstrapKeyMaterial,
): Uint8Array {
  switch (sec) {
    case 'netwpin':
      return networkSecret(m);
    case 'userpin':
    case 'userpinmac':
      if (sec === 'userpinmac' && profile !== 'cp') {
        throw new BootstrapError(
          BootstrapErrorCode.UnknownSecurity,
          'USERPINMAC exists only in the CP profile',
        );
      }
      return pin(m);
    case 'usernetwpin':
      return profile === 'dm'
        ? concat(pin(m), Uint8Array.of(0x3a), networkSecret(m))
        : concat(networkSecret(m), pin(m));
    default:
      throw new BootstrapError(BootstrapErrorCode.UnknownSecurity, `unknown security ${String(sec)}`);
  }
}

/** HMAC-SHA1(key, body) as upper-case hex (40 characters). */
export function bootstrapMac(key: Uint8Array, body: Uint8Array): string {
  return createHmac('sha1', key).update(body).digest('hex').toUpperCase();
}

/** USERPINMAC: the n MAC digits for an n-digit PIN (each of the first n HMAC bytes mod 10). */
export function userPinMacDigits(pinDigits: string, body: Uint8Array): string {
  if (!/^\d+$/.test(pinDigits))
    throw new BootstrapError(BootstrapErrorCode.BadKeyMaterial, 'USERPINMAC PIN must be digits');
  if (pinDigits.length < 5 || pinDigits.length > 20) {
    throw new BootstrapError(BootstrapErrorCode.BadKeyMaterial, 'USERPINMAC PIN must be 5..20 digits');
  }
  const mac = createHmac('sha1', te.encode(pinDigits)).update(body).digest();
  let out = '';
  for (let i = 0; i < pinDigits.length; i++) out += String(mac[i]! % 10);
  return out;
}

export interface SignedBootstrap {
  profile: BootstrapProfile;
  sec: BootstrapSecurity;
  /** SEC text for a textual content type (e.g. `NETWORKID`, `USERNETWPIN`). */
  secName: string;
  /** CP SEC integer (for the WSP binary content type); undefined in the DM profile. */
  secValue?: number;
  /** HMAC-SHA1 upper-case hex; undefined for USERPINMAC. */
  mac?: string;
  /** USERPINMAC: what the user must type (PIN followed by the MAC digits). */
  userPinWithMac?: string;
  /** Full textual Content-Type value with SEC and MAC parameters. */
  contentType: string;
}

/** Media types of the two profiles' bootstrap bodies. */
export const BOOTSTRAP_MEDIA_TYPES: Readonly<Record<BootstrapProfile, string>> = {
  dm: 'application/vnd.syncml.dm+wbxml',
  cp: 'application/vnd.wap.connectivity-wbxml',
};

/** Computes the protection of a bootstrap body. */
export function signBootstrap(
  body: Uint8Array,
  options: { profile: BootstrapProfile; sec: BootstrapSecurity } & BootstrapKeyMaterial,
): SignedBootstrap {
  const { profile, sec } = options;
  const secName = SEC_NAMES[profile][sec];
  if (!secName)
    throw new BootstrapError(
      BootstrapErrorCode.UnknownSecurity,
      `${sec} is not defined for the ${profile} profile`,
    );
  const media = BOOTSTRAP_MEDIA_TYPES[profile];
  const base = { profile, sec, secName, ...(profile === 'cp' ? { secValue: CP_SEC_VALUES[sec] } : {}) };
  if (sec === 'userpinmac') {
    const digits = userPinMacDigits(options.pin ?? '', body);
    return { ...base, userPinWithMac: `${options.pin}${digits}`, contentType: `${media}; SEC=${secName}` };
  }
  const mac = bootstrapMac(bootstrapKey(profile, sec, options), body);
  return { ...base, mac, contentType: `${media}; SEC=${secName}; MAC=${mac}` };
}

export interface BootstrapContentType {
  media: string;
  profile?: BootstrapProfile;
  sec?: BootstrapSecurity;
  mac?: string;
}

/**
 * Reads a textual content type with SEC/MAC parameters, liberally:
 * parameter names case-insensitive, quoted or bare values, SEC as name or
 * number, extra parameters ignored.
 */
export function parseBootstrapContentType(value: string): BootstrapContentType {
  if (value.length > 1024)
    throw new BootstrapError(BootstrapErrorCode.BadContentType, 'content type too long');
  const [mediaPart, ...params] = value.split(';');
  const media = mediaPart!.trim().toLowerCase();
  if (!/^[a-z0-9.+-]+\/[a-z0-9.+-]+$/.test(media)) {
    throw new BootstrapError(BootstrapErrorCode.BadContentType, `bad media type ${mediaPart}`);
  }
  const out: BootstrapContentType = { media };
  if (media === BOOTSTRAP_MEDIA_TYPES.dm || media === 'application/vnd.syncml.dm+xml') out.profile = 'dm';
  else if (media === BOOTSTRAP_MEDIA_TYPES.cp || media === 'text/vnd.wap.connectivity-xml')
    out.profile = 'cp';
  for (const p of params) {
    const i = p.indexOf('=');
    if (i < 0) continue;
    const name = p.slice(0, i).trim().toLowerCase();
    let v = p.slice(i + 1).trim();
    if (v.startsWith('"') && v.endsWith('"') && v.length >= 2) v = v.slice(1, -1);
    if (name === 'sec') out.sec = parseSec(v);
    else if (name === 'mac') {
      if (!/^[0-9a-fA-F]{40}$/.test(v))
        throw new BootstrapError(BootstrapErrorCode.BadContentType, 'MAC must be 40 hex digits');
      out.mac = v.toUpperCase();
    }
  }
  return out;
}

export interface VerifyBootstrapInput extends BootstrapKeyMaterial {
  profile: BootstrapProfile;
  sec: BootstrapSecurity | string | number;
  /** The MAC parameter (hex, any case); not used for USERPINMAC. */
  mac?: string;
  /** USERPINMAC: the full string the user typed (PIN followed by the MAC digits). */
  userInput?: string;
}

/**
 * Verifies a received bootstrap body. Returns false for a wrong MAC, a
 * missing MAC, a missing key ingredient or a malformed USERPINMAC entry —
 * in every case the bootstrap must not be installed.
 */
export function verifyBootstrap(body: Uint8Array, input: VerifyBootstrapInput): boolean {
  let sec: BootstrapSecurity;
  try {
    sec =
      typeof input.sec === 'string' && input.sec in CP_SEC_VALUES
        ? (input.sec as BootstrapSecurity)
        : parseSec(input.sec);
  } catch {
    return false;
  }
  try {
    if (sec === 'userpinmac') {
      if (input.profile !== 'cp') return false;
      const typed = input.userInput ?? '';
      // 2n digits: first n = PIN, last n = MAC digits (CPClient: even length, at least 10).
      if (!/^\d+$/.test(typed) || typed.length % 2 !== 0 || typed.length < 10) return false;
      const n = typed.length / 2;
      const want = te.encode(userPinMacDigits(typed.slice(0, n), body));
      const got = te.encode(typed.slice(n));
      return timingSafeEqual(want, got);
    }
    if (input.mac === undefined || !/^[0-9a-fA-F]{40}$/.test(input.mac)) return false;
    const want = Buffer.from(bootstrapMac(bootstrapKey(input.profile, sec, input), body), 'hex');
    return timingSafeEqual(want, Buffer.from(input.mac, 'hex'));
  } catch (err) {
    if (err instanceof BootstrapError) return false;
    throw err;
  }
}
