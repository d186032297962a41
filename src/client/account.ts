/**
 * DMAcc accounts (omadm/mo) as the session engine needs them (omadm/protocol): AAuthType ↔ the
 * engine's AuthMode, and the nonces (AAuthData) as base64.
 */
import { AAuthLevel, AAuthType, accountCredentials, accountUrl, type DmAccount } from '../mo/index.ts';
import type { AuthMode, ClientAccount } from '../protocol/index.ts';
import { ClientError, ClientErrorCode } from './errors.ts';

/** The engine's AuthMode for a DMAcc AAuthType (DIGEST → md5, …). */
export function authModeOfType(type: string | undefined): AuthMode {
  switch ((type ?? '').toUpperCase()) {
    case AAuthType.Basic:
    case AAuthType.HttpBasic:
      return 'basic';
    case AAuthType.Digest:
    case AAuthType.HttpDigest:
      return 'md5';
    case AAuthType.Hmac:
      return 'hmac';
    case AAuthType.Transport:
    case AAuthType.X509:
      return 'transport';
    default:
      return 'none';
  }
}

/** The DMAcc AAuthType for an AuthMode. */
export function authTypeOfMode(mode: AuthMode): string {
  switch (mode) {
    case 'basic':
      return AAuthType.Basic;
    case 'md5':
      return AAuthType.Digest;
    case 'hmac':
      return AAuthType.Hmac;
    case 'transport':
      return AAuthType.Transport;
    default:
      return 'NONE';
  }
}

const b64 = (bytes: Uint8Array | undefined): string | undefined =>
  bytes === undefined || bytes.byteLength === 0 ? undefined : Buffer.from(bytes).toString('base64');

/** The engine's view of a stored DMAcc account (credentials, nonces, URL). */
export function clientAccountOf(account: DmAccount): ClientAccount {
  const url = accountUrl(account);
  if (!url) {
    throw new ClientError(ClientErrorCode.BadAccount, `DMAcc ${account.serverId} has no AppAddr`);
  }
  const cl = accountCredentials(account, AAuthLevel.Client);
  const sr = accountCredentials(account, AAuthLevel.Server);
  const mode = authModeOfType(cl?.type ?? account.authPref);
  const client = { mode, name: cl?.name ?? '', secret: cl?.secret ?? '' };
  const clientNonce = b64(cl?.data);
  const serverNonce = b64(sr?.data);
  return {
    serverId: account.serverId,
    serverUri: url,
    client,
    ...(sr?.secret !== undefined && sr.secret !== ''
      ? { server: { mode: authModeOfType(sr.type), name: sr.name ?? account.serverId, secret: sr.secret } }
      : {}),
    ...(clientNonce ? { clientNonce } : {}),
    ...(serverNonce ? { serverNonce } : {}),
  };
}

/** Input for `simpleAccount`: one server, one pair of credentials. */
export interface SimpleAccountInput {
  /** DMAcc ServerID (default `omadm`, what `omadm server` calls itself). */
  readonly serverId?: string;
  /** The DM endpoint, e.g. `http://127.0.0.1:8080/dm`. */
  readonly serverUrl: string;
  /** CLCRED AAuthName (usually the DevId). */
  readonly name: string;
  readonly secret: string;
  readonly auth?: AuthMode;
  /** SRVCRED secret; when given the server must authenticate itself. */
  readonly serverSecret?: string;
  /** SRVCRED AAuthName (default: the ServerID). */
  readonly serverName?: string;
}

/** A complete DMAcc account from the few values an operator has. */
export function simpleAccount(input: SimpleAccountInput): DmAccount {
  const serverId = input.serverId ?? 'omadm';
  const type = authTypeOfMode(input.auth ?? 'md5');
  return {
    serverId,
    name: serverId,
    addresses: [{ addr: input.serverUrl, addrType: 'URI' }],
    authPref: type,
    auth: [
      { level: AAuthLevel.Client, type, name: input.name, secret: input.secret },
      ...(input.serverSecret !== undefined
        ? [
            {
              level: AAuthLevel.Server,
              type,
              name: input.serverName ?? serverId,
              secret: input.serverSecret,
            },
          ]
        : []),
    ],
  };
}

/** Whether two accounts say the same thing apart from nonces (so a restart keeps the stored one). */
export function sameAccount(a: DmAccount, b: DmAccount): boolean {
  const strip = (x: DmAccount) =>
    JSON.stringify({
      serverId: x.serverId,
      url: accountUrl(x),
      auth: x.auth
        .map((e) => ({ level: e.level, type: e.type, name: e.name ?? '', secret: e.secret ?? '' }))
        .sort((p, q) => p.level.localeCompare(q.level)),
    });
  return strip(a) === strip(b);
}
