/**
 * omadm/binding: transports for DM messages (HTTP(S)) and for Package 0 notifications (push
 * bearers). The session engines in omadm/protocol never import these.
 */
export * from './http/index.ts';
export * from './push/index.ts';
