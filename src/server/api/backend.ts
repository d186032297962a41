/**
 * The shape the operator API needs from storage, in the API's own terms (views as the JSON
 * answers show them). `store-backend.ts` implements it over the server store; the routes depend
 * only on this, so they read like the API reference.
 */
import type { Principal } from './auth.ts';
import type { NotifyAddress } from '../notify.ts';
import type { AuthTypeName, Role } from './schemas.ts';

export interface PageOf<T> {
  readonly items: readonly T[];
  readonly nextCursor: string | null;
}

export interface DeviceView {
  readonly id: string;
  readonly authType: AuthTypeName;
  readonly serverId: string | null;
  readonly hasServerSecret: boolean;
  readonly tags: readonly string[];
  readonly groups: readonly string[];
  readonly enrolled: 'provisioned' | 'auto';
  readonly notify: NotifyAddress | null;
  readonly online: boolean;
  readonly lastSeen: string | null;
  readonly sessionCount: number;
  readonly devInfo: Readonly<Record<string, string>> | null;
  readonly devDetail: Readonly<Record<string, string>> | null;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly trace: TraceMode | null;
}

export type TraceMode = 'full' | 'errors' | 'off';

export interface GroupView {
  readonly name: string;
  readonly description: string;
  readonly devices: number;
  readonly trace: TraceMode | null;
}

export interface DeviceFilter {
  readonly tag?: string | undefined;
  readonly group?: string | undefined;
  readonly online?: boolean | undefined;
  readonly q?: string | undefined;
}

export interface DeviceInput {
  readonly id: string;
  readonly secret?: string | undefined;
  readonly authType: AuthTypeName;
  readonly serverId?: string | undefined;
  readonly serverSecret?: string | undefined;
  readonly tags?: readonly string[] | undefined;
  readonly groups?: readonly string[] | undefined;
  readonly notify?: NotifyAddress | undefined;
}

export interface DevicePatch {
  readonly secret?: string | undefined;
  readonly authType?: AuthTypeName | undefined;
  readonly serverId?: string | undefined;
  readonly serverSecret?: string | undefined;
  readonly tags?: readonly string[] | undefined;
  readonly groups?: readonly string[] | undefined;
  /** `null` removes the address. */
  readonly notify?: NotifyAddress | null | undefined;
  /** `null` returns to the default. */
  readonly trace?: TraceMode | null | undefined;
}

export interface TreeNodeView {
  readonly uri: string;
  readonly value: string | null;
  readonly format: string | null;
  readonly type: string | null;
  readonly readAt: string;
}

export interface ResultView {
  readonly uri: string;
  readonly value: string | null;
  readonly format: string | null;
  readonly type: string | null;
}

export interface CommandView {
  readonly id: string;
  readonly deviceId: string;
  readonly type: string;
  readonly request: unknown;
  readonly state: string;
  readonly status: number | null;
  readonly results: readonly ResultView[];
  readonly detail: unknown;
  readonly attempts: number;
  readonly createdBy: string | null;
  readonly sessionId: string | null;
  readonly createdAt: string;
  readonly sentAt: string | null;
  readonly completedAt: string | null;
  readonly expiresAt: string | null;
}

/** A command as the API accepts it (see schemas.ts CommandCreate), before validation by the queue. */
export interface CommandRequest {
  readonly type: string;
  readonly uri?: string | undefined;
  readonly value?: string | undefined;
  readonly format?: string | undefined;
  readonly contentType?: string | undefined;
  readonly source?: string | undefined;
  readonly commands?: readonly CommandRequest[] | undefined;
}

export interface SessionView {
  readonly id: string;
  readonly deviceId: string;
  readonly startedAt: string;
  readonly endedAt: string | null;
  /** live, completed, authFailed, aborted, limit, expired, superseded, or ended (not recorded). */
  readonly outcome: string | null;
  /** Why it ended, in words (null while live or when not recorded). */
  readonly reason: string | null;
  readonly messages: number;
}

export interface SessionRecordView {
  readonly endedAt: string;
  readonly outcome: string;
  readonly kind: 'heartbeat' | 'commands' | 'error';
  readonly messages: number;
  readonly bytes: number;
  readonly traced: string | null;
}

export interface TraceMessageView {
  readonly seq: number;
  readonly direction: 'in' | 'out';
  readonly at: string;
  readonly contentType: string;
  readonly size: number;
  readonly xml: string | null;
}

export interface DeviceEventView {
  readonly id: string;
  readonly deviceId: string;
  readonly at: string;
  readonly alertCode: number;
  readonly alertType: string | null;
  readonly format: string | null;
  readonly mark: string | null;
  readonly sourceUri: string | null;
  readonly targetUri: string | null;
  readonly correlator: string | null;
  readonly data: string | null;
  readonly sessionId: string | null;
}

export interface TokenView {
  readonly id: string;
  readonly name: string;
  readonly role: Role;
  readonly createdAt: string;
  readonly lastUsedAt: string | null;
}

export interface AuditView {
  readonly id: string;
  readonly at: string;
  readonly actor: string;
  readonly action: string;
  readonly target: string | null;
  readonly details: unknown;
}

export interface ApiBackend {
  verifyToken(secret: string): Promise<Principal | undefined>;
  listTokens(): Promise<readonly TokenView[]>;
  createToken(name: string, role: Role, createdBy: string): Promise<TokenView & { readonly token: string }>;
  revokeToken(id: string): Promise<void>;

  listDevices(filter: DeviceFilter, limit: number, cursor: string | undefined): Promise<PageOf<DeviceView>>;
  getDevice(id: string): Promise<DeviceView>;
  createDevice(input: DeviceInput): Promise<DeviceView>;
  updateDevice(id: string, patch: DevicePatch): Promise<DeviceView>;
  deleteDevice(id: string): Promise<void>;
  tree(id: string, path: string | undefined): Promise<readonly TreeNodeView[]>;
  listGroups(): Promise<readonly GroupView[]>;
  createGroup(name: string, description: string): Promise<GroupView>;
  deleteGroup(name: string): Promise<void>;
  setGroupTrace(name: string, trace: TraceMode | null): Promise<GroupView>;
  groupMembers(name: string): Promise<readonly string[]>;

  enqueue(
    deviceId: string,
    request: CommandRequest,
    expiresAt: number | undefined,
    actor: string,
  ): Promise<CommandView>;
  getCommand(id: string): Promise<CommandView>;
  /** Resolves when the command reaches a final state or `ms` pass (or `signal` aborts). */
  waitCommand(id: string, ms: number, signal: AbortSignal): Promise<CommandView>;
  /** Commands of one device, or of the whole fleet when `deviceId` is undefined; newest first. */
  listCommands(
    deviceId: string | undefined,
    state: string | undefined,
    limit: number,
    cursor: string | undefined,
  ): Promise<PageOf<CommandView>>;
  cancelCommand(id: string): Promise<CommandView>;
  /** Queues a copy of a finished command (an operator's retry of an unknown or failed one). */
  retryCommand(id: string, expiresAt: number | undefined, actor: string): Promise<CommandView>;

  /** The device's events (Generic Alerts, Client Events), newest first. */
  listEvents(
    deviceId: string,
    filter: { type?: string | undefined; correlator?: string | undefined },
    limit: number,
    cursor: string | undefined,
  ): Promise<PageOf<DeviceEventView>>;
  listSessions(deviceId: string, limit: number, cursor: string | undefined): Promise<PageOf<SessionView>>;
  /** Compact records of the device's ended sessions (every session, heartbeats too), newest first. */
  listSessionRecords(
    deviceId: string,
    limit: number,
    cursor: string | undefined,
  ): Promise<PageOf<SessionRecordView>>;
  trace(sessionId: string): Promise<{ session: SessionView; messages: readonly TraceMessageView[] }>;

  audit(actor: string, action: string, target: string | null, details: unknown): Promise<void>;
  listAudit(
    filter: { actor?: string | undefined; action?: string | undefined },
    limit: number,
    cursor: string | undefined,
  ): Promise<PageOf<AuditView>>;
}
