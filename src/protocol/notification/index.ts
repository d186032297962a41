/**
 * Package 0 (General Notification Initiated Session Alert): build, parse,
 * verify, duplicate suppression. See docs/notification.md.
 */
export { TriggerDeduplicator, type TriggerDeduplicatorOptions } from './dedup.ts';
export { NotificationError, NotificationErrorCode } from './errors.ts';
export {
  Initiator,
  MAX_PKG0_BYTES,
  NOTIFICATION_VERSION,
  PKG0_DIGEST_BYTES,
  PKG0_HEADER_BYTES,
  sessionIdHex,
  UI_MODE_BITS,
  UiMode,
} from './fields.ts';
export {
  buildPackage0,
  encodeTrigger,
  type NotificationCredentials,
  notificationDigest,
  type Package0,
  type Package0Input,
  type Package0Verification,
  parsePackage0,
  type TriggerFields,
  verifyPackage0,
  verifyPackage0WithFallback,
} from './package0.ts';
export { type Package0Account, type Package0Decision, receivePackage0 } from './receive.ts';
