/**
 * Table types for Kysely: the single schema shared by SQLite and PostgreSQL.
 *
 * Portable column conventions (so one data-access layer serves both backends):
 * - times are `bigint` milliseconds since the epoch (PostgreSQL int8 is parsed to `number`);
 * - booleans are integers 0/1;
 * - JSON is stored as text and parsed in TypeScript;
 * - raw message bytes are `blob` (SQLite) / `bytea` (PostgreSQL).
 */
import type { Generated } from 'kysely';

export interface DeviceTable {
  id: string;
  auth_type: string;
  client_auth_name: string;
  /** B64(MD5(name ":" secret)); the client's plaintext secret is never stored. */
  client_digest: string | null;
  server_auth_name: string | null;
  /** B64(MD5(serverName ":" serverSecret)), sealed when a secret key is configured. */
  server_digest: string | null;
  /** The server's plaintext secret, only for Basic server credentials, always sealed. */
  server_secret: string | null;
  client_nonce: string | null;
  server_nonce: string | null;
  dev_info: string;
  dev_detail: string;
  attributes: string;
  created_at: number;
  updated_at: number;
  last_seen_at: number | null;
  session_count: number;
  online_until: number | null;
  current_session: string | null;
  /** Head of the latest session when it closed in its first message (migration 0004); else null. */
  latest_token: string | null;
  latest_dm_session_id: string | null;
  latest_request_hash: string | null;
  latest_expires_at: number | null;
  /** Raw-trace switch for this device (`full`, `errors`, `off`; migration 0007); null: default. */
  trace: string | null;
}

export interface DeviceTagTable {
  device_id: string;
  tag: string;
}

export interface GroupTable {
  name: string;
  description: string;
  created_at: number;
  /** Raw-trace switch for the group's devices (migration 0007); null: default. */
  trace: string | null;
}

export interface GroupMemberTable {
  group_name: string;
  device_id: string;
}

export interface TreeValueTable {
  device_id: string;
  uri: string;
  value: string | null;
  format: string;
  type: string | null;
  read_at: number;
}

export interface CommandTable {
  id: Generated<number>;
  device_id: string;
  kind: string;
  command: string;
  uri: string;
  value: string | null;
  destructive: number;
  state: string;
  created_at: number;
  created_by: string | null;
  updated_at: number;
  expires_at: number | null;
  session_id: string | null;
  lease_until: number | null;
  msg_id: number | null;
  cmd_id: string | null;
  sent_at: number | null;
  attempts: number;
  status: number | null;
  results: string | null;
  detail: string | null;
  completed_at: number | null;
}

export interface CorrelatorTable {
  device_id: string;
  correlator: string;
  command_id: number;
  status: number | null;
  data: string | null;
  resolved_at: number | null;
  /** The Generic Alert's Meta/Type as sent (0008). */
  alert_type: string | null;
  /** `success`, `failure` or `none` (no table knows the type), by the alert-result tables (0008). */
  verdict: string | null;
}

export interface SessionTable {
  device_id: string;
  session_id: string;
  state: string;
  version: number;
  created_at: number;
  updated_at: number;
  expires_at: number;
  // 0004: the head a DM server reads at package 1, and the last answer; null in older rows.
  dm_session_id: string | null;
  phase: string | null;
  client_msg_id: number | null;
  request_hash: string | null;
  reply: Uint8Array | null;
}

export interface TraceTable {
  id: Generated<number>;
  device_id: string;
  session_id: string | null;
  direction: string;
  content_type: string;
  body: Uint8Array;
  size: number;
  at: number;
  // 0009: how the session ended, on the row of the message that ended it; else null.
  outcome: string | null;
}

export interface DeviceEventTable {
  id: Generated<number>;
  device_id: string;
  at: number;
  alert_code: number;
  alert_type: string | null;
  format: string | null;
  mark: string | null;
  source_uri: string | null;
  target_uri: string | null;
  correlator: string | null;
  data: string | null;
  session_id: string | null;
}

export interface AuditTable {
  id: Generated<number>;
  at: number;
  actor: string;
  action: string;
  target: string | null;
  details: string | null;
}

export interface TokenTable {
  id: string;
  name: string;
  role: string;
  hash: string;
  created_at: number;
  created_by: string | null;
  revoked_at: number | null;
  last_used_at: number | null;
}

export interface NotifyStateTable {
  device_id: string;
  session_id: string;
  ui_mode: string;
  actor: string | null;
  outstanding: number;
  attempts: number;
  first_at: number;
  last_at: number | null;
  next_at: number | null;
}

export interface NotifyAttemptTable {
  id: Generated<number>;
  device_id: string;
  at: number;
  bearer: string;
  target: string;
  session_id: string;
  ui_mode: string;
  attempt: number;
  trigger: string;
  actor: string | null;
  result: string;
  status: string | null;
  detail: string | null;
  parts: number;
  ids: string;
}

/**
 * One compact record per DM session (migration 0007): what every session leaves behind, traced or
 * not — a heartbeat's only row. Kept small: no state, no bytes.
 */
export interface SessionLogTable {
  id: Generated<number>;
  device_id: string;
  /** When the session ended (ms). */
  at: number;
  /** `completed`, `aborted`, `authFailed`, `expired`, `superseded`, `limit`. */
  outcome: string;
  /** `heartbeat`, `commands` or `error` (see docs/storage.md, Traces and retention). */
  kind: string;
  messages: number;
  /** Bytes received and sent in the session (the messages it was last seen with when untraced). */
  bytes: number;
  /** The session's key (RespURI token) when its raw messages are in omadm_trace; else null. */
  session_id: string | null;
}

/** The whole schema, as Kysely sees it. */
export interface Database {
  omadm_device: DeviceTable;
  omadm_device_tag: DeviceTagTable;
  omadm_group: GroupTable;
  omadm_group_member: GroupMemberTable;
  omadm_tree_value: TreeValueTable;
  omadm_command: CommandTable;
  omadm_correlator: CorrelatorTable;
  omadm_session: SessionTable;
  omadm_trace: TraceTable;
  omadm_device_event: DeviceEventTable;
  omadm_audit: AuditTable;
  omadm_token: TokenTable;
  omadm_notify_state: NotifyStateTable;
  omadm_notify_attempt: NotifyAttemptTable;
  omadm_session_log: SessionLogTable;
}
