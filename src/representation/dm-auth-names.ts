/**
 * The DMAcc `AppAuth/<x>` vocabulary (protocol.md §4.5, §7.1): AAuthLevel and AAuthType values.
 * One table for the layers that both speak it — mo/ writes them into the tree, protocol/ maps them
 * to Cred/Chal schemes — which may not import each other; like codes.ts, spec names as data.
 */

/** AAuthLevel values (protocol.md §4.5). */
export const AAuthLevel = {
  /** Credentials the client uses to authenticate to the server. */
  Client: 'CLCRED',
  /** Credentials the server uses to authenticate to the client (and the Package 0 digest). */
  Server: 'SRVCRED',
  Obex: 'OBEX',
  Http: 'HTTP',
} as const;
export type AAuthLevel = (typeof AAuthLevel)[keyof typeof AAuthLevel];

/** AAuthType values (protocol.md §7.1). */
export const AAuthType = {
  HttpBasic: 'HTTP-BASIC',
  HttpDigest: 'HTTP-DIGEST',
  Basic: 'BASIC',
  Digest: 'DIGEST',
  Hmac: 'HMAC',
  X509: 'X509',
  SecurId: 'SECURID',
  SafeWord: 'SAFEWORD',
  DigiPass: 'DIGIPASS',
  Transport: 'TRANSPORT',
} as const;
export type AAuthType = (typeof AAuthType)[keyof typeof AAuthType];
