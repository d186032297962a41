/** Field values of the Package 0 header (protocol.md §5.1) as data tables. */

/** ui-mode (2 bits). */
export const UiMode = {
  NotSpecified: 'not-specified',
  /** Run the session silently. */
  Background: 'background',
  /** Notify the user (beep/message), then run. */
  Informative: 'informative',
  /** Ask the user to accept before starting. */
  UserInteraction: 'user-interaction',
} as const;
export type UiMode = (typeof UiMode)[keyof typeof UiMode];

/** Wire value of each ui-mode; index = bits. */
export const UI_MODE_BITS: readonly UiMode[] = [
  UiMode.NotSpecified,
  UiMode.Background,
  UiMode.Informative,
  UiMode.UserInteraction,
];

/** initiator (1 bit): 0 client/user initiated, 1 server initiated. */
export const Initiator = {
  Client: 'client',
  Server: 'server',
} as const;
export type Initiator = (typeof Initiator)[keyof typeof Initiator];

/** Notification version we send: 11 ("1.1"), the value DM 1.2 requires. */
export const NOTIFICATION_VERSION = 11;

/** Bytes before the server identifier: digest(16) + 5 header bytes + sessionid(2) + length(1). */
export const PKG0_HEADER_BYTES = 24;

/** The digest is the first 16 bytes; the "trigger" is everything after it. */
export const PKG0_DIGEST_BYTES = 16;

/** Largest Package 0 we parse: ten concatenated SMS worth, far above any real trigger. */
export const MAX_PKG0_BYTES = 2048;

/**
 * SyncML SessionID for a Package 0 session id: uppercase hex, no leading
 * zeros (0x1234 → "1234", 0x00AB → "AB", 0 → "0"); protocol.md §5.1.
 */
export function sessionIdHex(sessionId: number): string {
  return sessionId.toString(16).toUpperCase();
}
