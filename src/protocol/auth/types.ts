/**
 * Names of authentication types: the `Meta/Type` strings of Cred/Chal
 * (protocol.md §4.1), the DMAcc `AAuthType` values, and `AAuthLevel`.
 */
import { AAuthLevel, AAuthType } from '../../representation/dm-auth-names.ts';
import { AuthError, AuthErrorCode } from './errors.ts';

/** `Meta/Type` of Cred and Chal. Sent exactly as written here. */
export const AuthScheme = {
  Basic: 'syncml:auth-basic',
  Md5: 'syncml:auth-md5',
  /** HMAC travels in the `x-syncml-hmac` transport header, never in Cred; note the capitals. */
  Hmac: 'syncml:auth-MAC',
  X509: 'syncml:auth-X509',
  SecurId: 'syncml:auth-securid',
  SafeWord: 'syncml:auth-safeword',
  DigiPass: 'syncml:auth-digipass',
} as const;
export type AuthScheme = (typeof AuthScheme)[keyof typeof AuthScheme];

/** DMAcc `AppAuth/<x>` AAuthType and AAuthLevel: the one table mo/ uses too. */
export { AAuthLevel, AAuthType } from '../../representation/dm-auth-names.ts';

const schemeByType: Readonly<Partial<Record<AAuthType, AuthScheme>>> = {
  BASIC: AuthScheme.Basic,
  DIGEST: AuthScheme.Md5,
  HMAC: AuthScheme.Hmac,
  X509: AuthScheme.X509,
  SECURID: AuthScheme.SecurId,
  SAFEWORD: AuthScheme.SafeWord,
  DIGIPASS: AuthScheme.DigiPass,
};

const allSchemes = Object.values(AuthScheme) as readonly AuthScheme[];
const allTypes = Object.values(AAuthType) as readonly AAuthType[];
const allLevels = Object.values(AAuthLevel) as readonly AAuthLevel[];

/**
 * The `Meta/Type` of a DM-level AAuthType, or `undefined` for types that live
 * at the transport (HTTP-BASIC, HTTP-DIGEST, TRANSPORT).
 */
export function schemeForAAuthType(type: AAuthType): AuthScheme | undefined {
  return schemeByType[type];
}

/** The AAuthType of a `Meta/Type` value. */
export function aauthTypeForScheme(scheme: AuthScheme): AAuthType {
  for (const [type, s] of Object.entries(schemeByType)) if (s === scheme) return type as AAuthType;
  /* c8 ignore next */
  throw new AuthError(AuthErrorCode.UnknownAuthType, `no AAuthType for ${scheme}`);
}

/**
 * Reads a received `Meta/Type` liberally: case-insensitive and trimmed
 * (peers write `syncml:auth-mac`, `SYNCML:AUTH-MD5`…). Returns `undefined`
 * for unknown values so the caller can answer with a challenge.
 */
export function parseAuthScheme(text: string): AuthScheme | undefined {
  const t = text.trim().toLowerCase();
  return allSchemes.find((s) => s.toLowerCase() === t);
}

/** Reads an AAuthType liberally (case-insensitive; `SECUREID` as written in some CP documents). */
export function parseAAuthType(text: string): AAuthType | undefined {
  const t = text.trim().toUpperCase();
  if (t === 'SECUREID') return AAuthType.SecurId;
  return allTypes.find((s) => s === t);
}

/** Reads an AAuthLevel liberally (case-insensitive). */
export function parseAAuthLevel(text: string): AAuthLevel | undefined {
  const t = text.trim().toUpperCase();
  return allLevels.find((s) => s === t);
}
