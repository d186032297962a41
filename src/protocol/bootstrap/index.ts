/**
 * Bootstrap building blocks (objects.md §7): message security for the DM and
 * CP profiles, Client Provisioning documents (WBXML/XML) and the w7 ↔ DMAcc
 * mapping, and the smart-card source interface. See docs/bootstrap.md.
 */
export {
  type CpCharacteristic,
  type CpDocument,
  type CpParm,
  CP_LIMITS,
  cpToXml,
  decodeCpWbxml,
  encodeCpWbxml,
  parseCpXml,
} from './cp.ts';
export { CP_PUBLIC_ID, CP_PUBLIC_ID_TEXT } from './cp-tables.ts';
export { BootstrapError, BootstrapErrorCode } from './errors.ts';
export {
  BOOTSTRAP_MEDIA_TYPES,
  type BootstrapContentType,
  type BootstrapKeyMaterial,
  type BootstrapProfile,
  BootstrapSecurity,
  bootstrapKey,
  bootstrapMac,
  CP_SEC_VALUES,
  imsiKey,
  parseBootstrapContentType,
  parseSec,
  SEC_NAMES,
  type SignedBootstrap,
  signBootstrap,
  userPinMacDigits,
  type VerifyBootstrapInput,
  verifyBootstrap,
} from './security.ts';
export {
  type CardBootstrapDocument,
  type CardContents,
  DirectorySmartCardSource,
  MAX_CARD_FILE_BYTES,
  type SmartCardBootstrapSource,
} from './smartcard.ts';
export {
  type BootstrapAccount,
  type BootstrapAppAddr,
  type BootstrapAppAuth,
  cpApplicationFromDmAccount,
  cpDocumentFromDmAccounts,
  dmAccountsFromCp,
} from './w7.ts';
