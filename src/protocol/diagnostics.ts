/**
 * Observability without a logging dependency (undici-style): the engines publish on
 * `node:diagnostics_channel` channels; pino, metrics or the console subscribe.
 */
import { channel } from 'node:diagnostics_channel';

export const channels = {
  /** `{ role, sessionId, deviceId }` when a session starts. */
  sessionStart: channel('omadm:session:start'),
  /** `{ role, sessionId, deviceId, outcome, error? }` when a session ends. */
  sessionEnd: channel('omadm:session:end'),
  /** `{ role, sessionId, deviceId, msgId, bytes, encoding }` for every received message. */
  messageIn: channel('omadm:message:in'),
  /** `{ role, sessionId, deviceId, msgId, bytes, encoding }` for every sent message. */
  messageOut: channel('omadm:message:out'),
  /** `{ role, sessionId, deviceId, reason }` when an authentication attempt fails. */
  authFail: channel('omadm:auth:fail'),
  /** `{ role, sessionId, deviceId, cmd, status }` for every command status produced or received. */
  commandStatus: channel('omadm:command:status'),
} as const;

export type Role = 'client' | 'server';
