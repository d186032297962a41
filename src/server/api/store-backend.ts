/**
 * The operator API over the server store: turns store records (numbers for times and ids) into the
 * API's JSON views (ISO times, string ids), and API requests into store calls.
 */
import { detectEncoding, parseElement, writeXmlElement } from '../../representation/index.ts';
import { ApiError, ApiErrorCode } from '../errors.ts';
import { publicSessionKey, REDACTED, redactMessage } from '../redact.ts';
import { notifyAddressOf, withNotifyAddress } from '../notify.ts';
import { isStoreError, StoreErrorCode } from '../store/index.ts';
import type { DmCommand, SecretLeaves } from '../store/index.ts';
import type {
  ApiToken,
  AuditEntry,
  CommandRecord,
  CommandState,
  Device,
  Group,
  Store,
  TraceEntry,
} from '../store/index.ts';
import type { Principal } from './auth.ts';
import type {
  ApiBackend,
  AuditView,
  CommandRequest,
  CommandView,
  DeviceFilter,
  DeviceView,
  GroupView,
  PageOf,
  SessionView,
  TokenView,
  TraceMessageView,
} from './backend.ts';

const iso = (ms: number): string => new Date(ms).toISOString();
const isoOrNull = (ms: number | null | undefined): string | null => (ms == null ? null : iso(ms));

export function deviceView(d: Device): DeviceView {
  const info = Object.keys(d.devInfo).length ? d.devInfo : null;
  const detail = Object.keys(d.devDetail).length ? d.devDetail : null;
  return {
    id: d.id,
    authType: d.authType,
    serverId: d.serverAuthName,
    hasServerSecret: d.hasServerCredential,
    tags: d.tags,
    groups: d.groups,
    enrolled: d.attributes.enrolled === 'auto' ? 'auto' : 'provisioned',
    notify: notifyAddressOf(d.attributes),
    online: d.online,
    lastSeen: isoOrNull(d.lastSeenAt),
    sessionCount: d.sessionCount,
    devInfo: info,
    devDetail: detail,
    createdAt: iso(d.createdAt),
    updatedAt: iso(d.updatedAt),
    trace: d.trace,
  };
}

function groupView(g: Group): GroupView {
  return { name: g.name, description: g.description, devices: g.size, trace: g.trace };
}

/** The queue's command JSON in the API's words (type/uri/value/contentType). */
export function requestOf(c: DmCommand): Record<string, unknown> {
  switch (c.kind) {
    case 'Atomic':
    case 'Sequence':
      return { type: c.kind, commands: c.commands.map(requestOf) };
    case 'Copy':
      return { type: 'Copy', uri: c.target, source: c.source };
    case 'Get':
    case 'Delete':
      return { type: c.kind, uri: c.target };
    default: {
      const out: Record<string, unknown> = { type: c.kind, uri: c.target };
      if (c.data !== undefined) out.value = c.data;
      // A secret value (sealed at rest) is never shown: `secret` says there was one.
      if (c.secret) out.secret = true;
      if (c.format !== undefined) out.format = c.format;
      if (c.type !== undefined) out.contentType = c.type;
      if (c.kind === 'Exec' && c.correlator) out.correlator = c.correlator;
      return out;
    }
  }
}

/** The API's command request as the queue's command JSON (the queue validates it). */
export function commandOf(r: CommandRequest): Record<string, unknown> {
  if (r.type === 'Atomic' || r.type === 'Sequence') {
    return { kind: r.type, commands: (r.commands ?? []).map(commandOf) };
  }
  const out: Record<string, unknown> = { kind: r.type, target: r.uri };
  if (r.type === 'Copy') out.source = r.source;
  if (r.value !== undefined) out.data = r.value;
  if (r.format !== undefined) out.format = r.format;
  if (r.contentType !== undefined) out.type = r.contentType;
  // An Add without value or format creates an interior node.
  if (r.type === 'Add' && r.value === undefined && r.format === undefined) out.format = 'node';
  return out;
}

/** A result or cached value of a secret leaf is never shown (devices should not return one). */
function shown(uri: string, value: string | null, secrets: SecretLeaves | undefined): string | null {
  return value !== null && secrets?.isSecret(uri) ? REDACTED : value;
}

export function commandView(c: CommandRecord, secrets?: SecretLeaves): CommandView {
  return {
    id: String(c.id),
    deviceId: c.deviceId,
    type: c.kind,
    request: requestOf(c.command),
    state: c.state,
    status: c.status,
    results: (c.results ?? []).map((r) => ({
      uri: r.uri,
      value: shown(r.uri, r.value, secrets),
      format: r.format ?? null,
      type: r.type ?? null,
    })),
    detail: c.detail,
    attempts: c.attempts,
    createdBy: c.createdBy,
    sessionId: c.sessionId,
    createdAt: iso(c.createdAt),
    sentAt: isoOrNull(c.sentAt),
    completedAt: isoOrNull(c.completedAt),
    expiresAt: isoOrNull(c.expiresAt),
  };
}

function tokenView(t: ApiToken): TokenView {
  return {
    id: t.id,
    name: t.name,
    role: t.role,
    createdAt: iso(t.createdAt),
    lastUsedAt: isoOrNull(t.lastUsedAt),
  };
}

function auditView(a: AuditEntry): AuditView {
  return {
    id: String(a.id),
    at: iso(a.at),
    actor: a.actor,
    action: a.action,
    target: a.target,
    details: a.details,
  };
}

/**
 * The session id the API shows: DM SessionIDs repeat per device, so it names the device too. The
 * trace key is the public hash of the session's token (traces written before it was hashed are
 * keyed by the token itself: hashed here, never shown).
 */
export function apiSessionId(deviceId: string, traceKey: string): string {
  return Buffer.from(`${deviceId}\n${publicSessionKey(traceKey)}`, 'utf8').toString('base64url');
}

function parseApiSessionId(id: string): { deviceId: string; sessionId: string } {
  const text = Buffer.from(id, 'base64url').toString('utf8');
  const nl = text.indexOf('\n');
  if (nl <= 0 || nl === text.length - 1) throw new ApiError(ApiErrorCode.NotFound, `no session ${id}`);
  return { deviceId: text.slice(0, nl), sessionId: text.slice(nl + 1) };
}

function commandId(id: string): number {
  if (!/^[1-9][0-9]{0,15}$/.test(id)) throw new ApiError(ApiErrorCode.NotFound, `no command ${id}`);
  return Number(id);
}

/** A cursor of ours: the store's cursor of a page plus how many of its items were already shown. */
interface ScanCursor {
  readonly s: string | null;
  readonly k: number;
}
function encodeScan(c: ScanCursor): string {
  return Buffer.from(JSON.stringify(c)).toString('base64url');
}
function decodeScan(cursor: string | undefined): ScanCursor {
  if (!cursor) return { s: null, k: 0 };
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as ScanCursor;
    if ((v.s === null || typeof v.s === 'string') && Number.isInteger(v.k) && v.k >= 0) return v;
  } catch {
    // fall through
  }
  throw new ApiError(ApiErrorCode.Validation, 'invalid pagination cursor', [
    { path: 'querystring.cursor', message: 'is not a cursor of this listing' },
  ]);
}

/** A stored engine session state that is still going on (the engine keeps closed ones until they expire). */
function isLive(state: unknown): boolean {
  return (state as { phase?: string } | null)?.phase !== 'closed';
}

/**
 * Renders a trace message as indented XML (WBXML decoded). XML that does not parse is shown as
 * received; anything else that does not decode gives null (its size and type are still listed).
 */
export function traceXml(body: Uint8Array, contentType: string): string | null {
  const enc = detectEncoding(body, contentType);
  try {
    if (enc === 'xml' || enc === 'wbxml') return writeXmlElement(parseElement(body), { pretty: true });
  } catch {
    if (enc === 'xml') return new TextDecoder('utf-8', { fatal: false }).decode(body);
  }
  return null;
}

/** Why a session ended, for each outcome the server records. */
const REASONS: Readonly<Record<string, string>> = {
  completed: 'the session ran to its end',
  authFailed: 'the device failed to authenticate',
  aborted: 'the device or the server aborted it',
  limit: 'a session limit was reached (size, messages or duration)',
  expired: 'idle past its expiry: the device stopped answering',
  superseded: 'the device started a new session before this one ended',
};

/**
 * A session's end as the API shows it: its recorded outcome; else, still stored and open, `live`
 * (or `expired` once past its expiry, before the sweep removes it); else `ended` (recorded before
 * outcomes were kept).
 */
function endOf(
  s: { readonly last: number; readonly outcome?: string },
  liveUntil: number | undefined,
  now = Date.now(),
): { endedAt: string | null; outcome: string; reason: string | null } {
  if (s.outcome !== undefined)
    return { endedAt: iso(s.last), outcome: s.outcome, reason: REASONS[s.outcome] ?? null };
  if (liveUntil !== undefined && liveUntil > now) return { endedAt: null, outcome: 'live', reason: null };
  if (liveUntil !== undefined)
    return { endedAt: iso(s.last), outcome: 'expired', reason: REASONS.expired ?? null };
  return { endedAt: iso(s.last), outcome: 'ended', reason: null };
}

export interface StoreBackendOptions {
  /** Longest stretch of trace messages scanned to build a session list (per device). */
  readonly maxTraceScan?: number;
  /** The server's name toward devices (SRVCRED AAuthName) when a device gets a server secret without one. */
  readonly serverId?: string;
}

export function storeBackend(store: Store, options: StoreBackendOptions = {}): ApiBackend {
  const maxTraceScan = options.maxTraceScan ?? 5000;
  const defaultServerId = options.serverId ?? 'omadm';

  /** Groups named when provisioning are created on the fly. */
  async function ensureGroups(names: readonly string[] | undefined): Promise<void> {
    if (!names?.length) return;
    const known = new Set((await store.devices.listGroups()).map((g) => g.name));
    for (const name of names) {
      if (known.has(name)) continue;
      try {
        await store.devices.createGroup(name);
      } catch (err) {
        if (!isStoreError(err, StoreErrorCode.AlreadyExists)) throw err;
      }
    }
  }

  async function device(id: string): Promise<Device> {
    const d = await store.devices.get(id);
    if (!d) throw new ApiError(ApiErrorCode.NotFound, `no device ${id}`);
    return d;
  }

  /** Trace entries of one session by its public key (older traces keyed by the token included). */
  async function traceOf(deviceId: string, key: string): Promise<TraceEntry[]> {
    const read = async (sessionId: string) => {
      const entries: TraceEntry[] = [];
      let cursor: string | undefined;
      do {
        const page = await store.traces.list(deviceId, {
          sessionId,
          oldestFirst: true,
          limit: 1000,
          ...(cursor ? { cursor } : {}),
        });
        entries.push(...page.items);
        cursor = page.nextCursor;
      } while (cursor && entries.length < maxTraceScan);
      return entries;
    };
    const entries = await read(key);
    if (entries.length > 0) return entries;
    // A trace written before keys were hashed: find its token by the hash.
    let cursor: string | undefined;
    let scanned = 0;
    do {
      const page = await store.traces.list(deviceId, { limit: 1000, ...(cursor ? { cursor } : {}) });
      const legacy = page.items.find((e) => e.sessionId !== null && publicSessionKey(e.sessionId) === key);
      if (legacy?.sessionId) return read(legacy.sessionId);
      scanned += page.items.length;
      cursor = page.nextCursor;
    } while (cursor && scanned < maxTraceScan);
    return [];
  }

  async function sessionsOf(deviceId: string): Promise<SessionView[]> {
    const entries: TraceEntry[] = [];
    let cursor: string | undefined;
    do {
      const page = await store.traces.list(deviceId, { limit: 1000, ...(cursor ? { cursor } : {}) });
      entries.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor && entries.length < maxTraceScan);
    const stored = await liveSessions(deviceId);
    const byId = new Map<
      string,
      { first: number; last: number; n: number; outcome?: string; outcomeId: number }
    >();
    for (const e of entries) {
      if (e.sessionId === null) continue;
      const key = publicSessionKey(e.sessionId);
      let s = byId.get(key);
      if (s) {
        s.first = Math.min(s.first, e.at);
        s.last = Math.max(s.last, e.at);
        s.n++;
      } else {
        s = { first: e.at, last: e.at, n: 1, outcomeId: -1 };
        byId.set(key, s);
      }
      if (e.outcome !== undefined && e.id > s.outcomeId) {
        s.outcome = e.outcome;
        s.outcomeId = e.id;
      }
    }
    return [...byId.entries()]
      .sort((a, b) => b[1].first - a[1].first || (a[0] < b[0] ? 1 : -1))
      .map(([sid, s]) => ({
        id: apiSessionId(deviceId, sid),
        deviceId,
        startedAt: iso(s.first),
        ...endOf(s, stored.get(sid)),
        messages: s.n,
      }));
  }

  /** The device's stored sessions that are not closed, by public key, with their expiry. */
  async function liveSessions(deviceId: string): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const r of await store.sessions.listByDevice(deviceId)) {
      if (isLive(r.state)) out.set(publicSessionKey(r.sessionId), r.expiresAt);
    }
    return out;
  }

  return {
    async verifyToken(secret: string): Promise<Principal | undefined> {
      const t = await store.tokens.verify(secret);
      return t ? { tokenId: t.id, name: t.name, role: t.role } : undefined;
    },
    async listTokens() {
      return (await store.tokens.list()).map(tokenView);
    },
    async createToken(name, role, createdBy) {
      const { token, secret } = await store.tokens.create({ name, role, createdBy });
      return { ...tokenView(token), token: secret };
    },
    async revokeToken(id) {
      const t = await store.tokens.revoke(id);
      if (!t) throw new ApiError(ApiErrorCode.NotFound, `no token ${id}`);
    },

    async listDevices(
      filter: DeviceFilter,
      limit: number,
      cursor: string | undefined,
    ): Promise<PageOf<DeviceView>> {
      const q = filter.q?.toLowerCase();
      const base = {
        ...(filter.tag ? { tags: [filter.tag] } : {}),
        ...(filter.group ? { group: filter.group } : {}),
        ...(filter.online !== undefined ? { online: filter.online } : {}),
      };
      if (!q) {
        const page = await store.devices.list({ ...base, limit, ...(cursor ? { cursor } : {}) });
        return { items: page.items.map(deviceView), nextCursor: page.nextCursor ?? null };
      }
      // Text search scans store pages and filters; our cursor remembers the page and the offset in it.
      const matches = (d: Device) =>
        [d.id, d.devInfo.Man ?? '', d.devInfo.Mod ?? ''].some((s) => s.toLowerCase().includes(q));
      let at = decodeScan(cursor);
      const out: DeviceView[] = [];
      for (;;) {
        const page = await store.devices.list({ ...base, limit: 200, ...(at.s ? { cursor: at.s } : {}) });
        const items = page.items;
        for (let i = at.k; i < items.length; i++) {
          const d = items[i] as Device;
          if (!matches(d)) continue;
          out.push(deviceView(d));
          if (out.length === limit) {
            const more = i + 1 < items.length || page.nextCursor !== undefined;
            return {
              items: out,
              nextCursor: more
                ? encodeScan(
                    i + 1 < items.length ? { s: at.s, k: i + 1 } : { s: page.nextCursor ?? null, k: 0 },
                  )
                : null,
            };
          }
        }
        if (!page.nextCursor) return { items: out, nextCursor: null };
        at = { s: page.nextCursor, k: 0 };
      }
    },
    async getDevice(id) {
      return deviceView(await device(id));
    },
    async createDevice(input) {
      await ensureGroups(input.groups);
      const serverId = input.serverId ?? (input.serverSecret !== undefined ? defaultServerId : undefined);
      const d = await store.devices.create({
        id: input.id,
        authType: input.authType,
        ...(input.secret !== undefined ? { clientSecret: input.secret } : {}),
        ...(serverId !== undefined ? { serverAuthName: serverId } : {}),
        ...(input.serverSecret !== undefined ? { serverSecret: input.serverSecret } : {}),
        ...(input.tags ? { tags: input.tags } : {}),
        ...(input.groups ? { groups: input.groups } : {}),
        ...(input.notify ? { attributes: withNotifyAddress({}, input.notify) } : {}),
      });
      return deviceView(d);
    },
    async updateDevice(id, patch) {
      await ensureGroups(patch.groups);
      let serverId = patch.serverId;
      if (serverId === undefined && patch.serverSecret !== undefined) {
        serverId = (await device(id)).serverAuthName ?? defaultServerId;
      }
      const attributes =
        patch.notify !== undefined
          ? withNotifyAddress((await device(id)).attributes, patch.notify)
          : undefined;
      const [, d] = await store.devices.update(id, {
        ...(attributes ? { attributes } : {}),
        ...(patch.authType !== undefined ? { authType: patch.authType } : {}),
        ...(patch.secret !== undefined ? { clientSecret: patch.secret } : {}),
        ...(serverId !== undefined ? { serverAuthName: serverId } : {}),
        ...(patch.serverSecret !== undefined ? { serverSecret: patch.serverSecret } : {}),
        ...(patch.tags !== undefined ? { tags: patch.tags } : {}),
        ...(patch.groups !== undefined ? { groups: patch.groups } : {}),
        ...(patch.trace !== undefined ? { trace: patch.trace } : {}),
      });
      return deviceView(d);
    },
    async deleteDevice(id) {
      const d = await store.devices.delete(id);
      if (!d) throw new ApiError(ApiErrorCode.NotFound, `no device ${id}`);
    },
    async tree(id, path) {
      await device(id);
      const values = await store.tree.list(id, path);
      return values.map((v) => ({
        uri: v.uri,
        value: shown(v.uri, v.value, store.secrets),
        format: v.format,
        type: v.type,
        readAt: iso(v.readAt),
      }));
    },
    async listGroups() {
      return (await store.devices.listGroups()).map(groupView);
    },
    async createGroup(name, description) {
      return groupView(await store.devices.createGroup(name, description));
    },
    async setGroupTrace(name, trace) {
      try {
        return groupView(await store.devices.setGroupTrace(name, trace));
      } catch (err) {
        if (isStoreError(err, StoreErrorCode.NotFound))
          throw new ApiError(ApiErrorCode.NotFound, `no group ${name}`);
        throw err;
      }
    },
    async deleteGroup(name) {
      const g = await store.devices.deleteGroup(name);
      if (!g) throw new ApiError(ApiErrorCode.NotFound, `no group ${name}`);
    },
    async groupMembers(name) {
      const ids: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await store.devices.list({ group: name, limit: 1000, ...(cursor ? { cursor } : {}) });
        ids.push(...page.items.map((d) => d.id));
        cursor = page.nextCursor;
      } while (cursor);
      return ids;
    },

    async enqueue(deviceId, request, expiresAt, actor) {
      await device(deviceId);
      const rec = await store.queue.enqueue(deviceId, commandOf(request), {
        ...(expiresAt !== undefined ? { expiresAt } : {}),
        createdBy: actor,
      });
      return commandView(rec, store.secrets);
    },
    async getCommand(id) {
      const rec = await store.queue.get(commandId(id));
      if (!rec) throw new ApiError(ApiErrorCode.NotFound, `no command ${id}`);
      return commandView(rec, store.secrets);
    },
    async waitCommand(id, ms, signal) {
      const n = commandId(id);
      const rec = await store.queue.waitFor(n, { timeoutMs: ms, until: 'final', signal });
      if (!rec) throw new ApiError(ApiErrorCode.NotFound, `no command ${id}`);
      return commandView(rec, store.secrets);
    },
    async listCommands(deviceId, state, limit, cursor) {
      const page = await store.queue.list({
        ...(deviceId !== undefined ? { deviceId } : {}),
        ...(state ? { states: [state as CommandState] } : {}),
        limit,
        newestFirst: true,
        ...(cursor ? { cursor } : {}),
      });
      return {
        items: page.items.map((c) => commandView(c, store.secrets)),
        nextCursor: page.nextCursor ?? null,
      };
    },
    async cancelCommand(id) {
      const n = commandId(id);
      if (!(await store.queue.get(n))) throw new ApiError(ApiErrorCode.NotFound, `no command ${id}`);
      return commandView(await store.queue.cancel(n, 'cancelled by operator'), store.secrets);
    },

    async retryCommand(id, expiresAt, actor) {
      const n = commandId(id);
      if (!(await store.queue.get(n))) throw new ApiError(ApiErrorCode.NotFound, `no command ${id}`);
      const rec = await store.queue.requeue(n, {
        ...(expiresAt !== undefined ? { expiresAt } : {}),
        createdBy: actor,
      });
      return commandView(rec, store.secrets);
    },

    async listSessionRecords(deviceId, limit, cursor) {
      const page = await store.sessionLog.list(deviceId, { limit, ...(cursor ? { cursor } : {}) });
      return {
        items: page.items.map((e) => ({
          endedAt: iso(e.at),
          outcome: e.outcome,
          kind: e.kind,
          messages: e.messages,
          bytes: e.bytes,
          traced: e.sessionId === null ? null : apiSessionId(deviceId, e.sessionId),
        })),
        nextCursor: page.nextCursor ?? null,
      };
    },
    async listEvents(deviceId, filter, limit, cursor) {
      await device(deviceId);
      const page = await store.events.list(deviceId, {
        ...(filter.type ? { alertType: filter.type } : {}),
        ...(filter.correlator ? { correlator: filter.correlator } : {}),
        limit,
        ...(cursor ? { cursor } : {}),
      });
      return {
        items: page.items.map((e) => ({
          id: String(e.id),
          deviceId: e.deviceId,
          at: iso(e.at),
          alertCode: e.alertCode,
          alertType: e.alertType,
          format: e.format,
          mark: e.mark,
          sourceUri: e.sourceUri,
          targetUri: e.targetUri,
          correlator: e.correlator,
          data: e.data,
          sessionId: e.sessionId,
        })),
        nextCursor: page.nextCursor ?? null,
      };
    },
    async listSessions(deviceId, limit, cursor) {
      const all = await sessionsOf(deviceId);
      const start = cursor ? decodeScan(cursor).k : 0;
      const items = all.slice(start, start + limit);
      const next = start + limit < all.length ? encodeScan({ s: null, k: start + limit }) : null;
      return { items, nextCursor: next };
    },
    async trace(id) {
      const { deviceId, sessionId } = parseApiSessionId(id);
      const entries = await traceOf(deviceId, sessionId);
      if (entries.length === 0) throw new ApiError(ApiErrorCode.NotFound, `no session ${id}`);
      const live = (await liveSessions(deviceId)).get(sessionId);
      const ending = entries.findLast((e) => e.outcome !== undefined);
      const first = entries[0] as TraceEntry;
      const last = entries[entries.length - 1] as TraceEntry;
      const messages: TraceMessageView[] = entries.map((e, i) => ({
        seq: i + 1,
        direction: e.direction,
        at: iso(e.at),
        contentType: e.contentType,
        size: e.size,
        // Traces older than the redaction on write are redacted on the way out too.
        xml: traceXml(
          redactMessage(e.body, { secrets: store.secrets, tokens: [e.sessionId ?? undefined] }),
          e.contentType,
        ),
      }));
      return {
        session: {
          id,
          deviceId,
          startedAt: iso(first.at),
          ...endOf({ last: last.at, ...(ending?.outcome ? { outcome: ending.outcome } : {}) }, live),
          messages: entries.length,
        },
        messages,
      };
    },

    async audit(actor, action, target, details) {
      await store.audit.append({
        actor,
        action,
        target,
        ...(details && typeof details === 'object' ? { details: details as Record<string, unknown> } : {}),
      });
    },
    async listAudit(filter, limit, cursor) {
      const page = await store.audit.list({
        ...(filter.actor ? { actor: filter.actor } : {}),
        ...(filter.action ? { action: filter.action } : {}),
        limit,
        ...(cursor ? { cursor } : {}),
      });
      return { items: page.items.map(auditView), nextCursor: page.nextCursor ?? null };
    },
  };
}
