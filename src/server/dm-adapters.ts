/**
 * The server session engine's sources (protocol/server-sources.ts) implemented over the server
 * store: credentials from the device registry, commands from the durable queue, session state in
 * the session table. This is where the queue's delivery guarantees are kept:
 *
 * - `next` claims commands for the session (a lease; unsent claims go back to the queue);
 * - `save` (called by the engine before every answer leaves) marks the commands of the message
 *   being answered as sent, after the state is stored and before the bytes go out, so a crash can
 *   never send a destructive command twice;
 * - `settle` applies the device's Status/Results; an Exec answered 202 stays pending until the
 *   Generic Alert with its Correlator arrives (`alert`).
 */
import { credentialDigest } from '../protocol/auth/index.ts';
import type { Command, Item, Meta } from '../representation/index.ts';
import { dataText } from '../representation/index.ts';
import type {
  ClientAlert,
  CommandOutcome as EngineOutcome,
  CommandSource,
  CredentialSource,
  DeviceCredentials as EngineCredentials,
  QueuedCommand,
  SessionOutcome,
  NoSessionHead,
  SessionHead as EngineSessionHead,
  SessionRef,
  SessionStore as EngineSessionStore,
} from '../protocol/server-sources.ts';
import { ServerPhase, type ServerSessionState } from '../protocol/server-state.ts';
import type { DmCommand } from './store/index.ts';
import { FINAL_STATES, isStoreError, StoreErrorCode } from './store/index.ts';
import type { CommandState } from './store/index.ts';
import { MAX_EVENT_DATA } from './store/sql-event-store.ts';
import { REDACTED } from './redact.ts';
import type {
  Device,
  DeviceCredentials,
  ResultItem,
  SessionExtras,
  Store,
  TreeValue,
} from './store/index.ts';
import { judgeAlert } from '../mo/alert-results.ts';
import type { ServerMetrics } from './metrics.ts';
import { currentActivity } from './trace-policy.ts';

/** Which devices are enrolled on first contact, and how (off unless configured). */
export interface AutoEnrollPolicy {
  /** The client secret every auto-enrolled device uses (a factory or bootstrap secret). */
  readonly secret: string;
  readonly authType?: 'basic' | 'md5' | 'hmac';
  /** Server name and secret toward auto-enrolled devices (optional). */
  readonly serverId?: string;
  readonly serverSecret?: string;
  /** Only DevIds matching this pattern are enrolled (default: any). */
  readonly idPattern?: RegExp;
  readonly tags?: readonly string[];
  readonly groups?: readonly string[];
}

export interface DmContext {
  readonly store: Store;
  readonly metrics: ServerMetrics;
  readonly onlineTtlMs: number;
  readonly autoEnroll?: AutoEnrollPolicy;
  /** Lease of claimed commands; renewed on every message of the session. */
  readonly leaseMs?: number;
  /** A session idle longer than this is expired by the sweep (its commands released). */
  readonly sessionIdleMs?: number;
  readonly log?: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
}

// ---- commands: queue JSON → SyncML model ----------------------------------------------------

function meta(format: string | undefined, type: string | undefined): Meta | undefined {
  if (format === undefined && type === undefined) return undefined;
  return {
    ...(format !== undefined ? { Format: format } : {}),
    ...(type !== undefined ? { Type: type } : {}),
  };
}

function item(target: string, data?: string, format?: string, type?: string, source?: string): Item {
  const m = meta(format, type);
  return {
    Target: { LocURI: target },
    ...(source !== undefined ? { Source: { LocURI: source } } : {}),
    ...(m ? { Meta: m } : {}),
    ...(data !== undefined ? { Data: { kind: 'text', text: data } } : {}),
  };
}

/** A queued command as a SyncML command (CmdIDs are assigned by the engine when sent). */
export function toSyncml(c: DmCommand): Command {
  const CmdID = '0';
  switch (c.kind) {
    case 'Get':
      return { type: 'Get', CmdID, Item: [item(c.target)] };
    case 'Delete':
      return { type: 'Delete', CmdID, Item: [item(c.target)] };
    case 'Add':
      return { type: 'Add', CmdID, Item: [item(c.target, c.data, c.format, c.type)] };
    case 'Replace':
      return { type: 'Replace', CmdID, Item: [item(c.target, c.data, c.format, c.type)] };
    case 'Copy':
      return { type: 'Copy', CmdID, Item: [item(c.target, undefined, undefined, undefined, c.source)] };
    case 'Exec':
      return {
        type: 'Exec',
        CmdID,
        ...(c.correlator ? { Correlator: c.correlator } : {}),
        Item: [item(c.target, c.data, c.format, c.type)],
      };
    case 'Atomic':
      return { type: 'Atomic', CmdID, commands: c.commands.map(toSyncml) };
    case 'Sequence':
      return { type: 'Sequence', CmdID, commands: c.commands.map(toSyncml) };
  }
}

/** A Results item as the queue and tree cache store it. */
export function resultItem(i: Item, fallbackUri = ''): ResultItem {
  const format = i.Meta?.Format;
  const type = i.Meta?.Type;
  const value =
    i.Data === undefined
      ? null
      : i.Data.kind === 'bytes' && (format === 'b64' || format === 'bin')
        ? Buffer.from(i.Data.bytes).toString('base64')
        : dataText(i.Data);
  return {
    uri: i.Source?.LocURI ?? i.Target?.LocURI ?? fallbackUri,
    value,
    ...(format !== undefined ? { format: format.toLowerCase() } : {}),
    ...(type !== undefined ? { type } : {}),
  };
}

/** Normalizes a URI for the tree cache: `./` prefix, no trailing slash. */
export function cacheUri(uri: string): string {
  let u = uri.replace(/\/+$/, '');
  if (!u.startsWith('./') && u !== '.') u = `./${u}`;
  return u;
}

// ---- credentials --------------------------------------------------------------------------------

/**
 * Client nonces announced by answers still being built, per device, for contexts whose session
 * store writes them (`sessionStore(ctx)`): the nonce is stored by that answer's `save`, in the
 * session start's UPDATE, before the answer leaves — not in a statement of its own.
 */
const pendingNonces = new WeakMap<DmContext, Map<string, Set<string>>>();

/**
 * DevInfo of first messages, per device, for contexts whose session store writes it: merged into
 * the registry by that message's `save`, in the session start's UPDATE (so the tree cache write
 * needs no read of the values it replaces to tell what changed).
 */
const pendingDevInfo = new WeakMap<DmContext, Map<string, Record<string, string>>>();

/**
 * What the credentials read at a message's start said about the device, per device, kept for the
 * rest of that message: the registry's DevInfo (a package 1 repeating it — nearly every session —
 * writes nothing for it) and whether anything was queued (if not, the message claims nothing).
 * Each hint is used once; the next message's lookup replaces them.
 */
interface LookupHints {
  devInfo?: Readonly<Record<string, string>> | undefined;
  hasQueued?: boolean | undefined;
}

const lookupHints = new WeakMap<DmContext, Map<string, LookupHints>>();

function rememberLookup(ctx: DmContext, c: DeviceCredentials): void {
  let hints = lookupHints.get(ctx);
  if (!hints) {
    hints = new Map();
    lookupHints.set(ctx, hints);
  }
  if (hints.size > 10_000) hints.clear(); // messages that ended before using them; bounded
  hints.set(c.deviceId, { devInfo: c.devInfo, hasQueued: c.hasQueued });
  const activity = currentActivity();
  if (activity) activity.traceMode = c.traceMode;
}

/** This message did something worth its trace (see trace-policy.ts). */
function noteActivity(): void {
  const activity = currentActivity();
  if (activity) activity.commands = true;
}

/** True when the registry already holds exactly these DevInfo leaves (and no DevDetail is among them). */
function unchangedDevInfo(
  ctx: DmContext,
  deviceId: string,
  values: Readonly<Record<string, string>>,
): boolean {
  const hint = lookupHints.get(ctx)?.get(deviceId);
  const known = hint?.devInfo;
  if (!hint || !known) return false;
  hint.devInfo = undefined;
  let n = 0;
  for (const uri in values) {
    // Package 1 names them ./DevInfo/<leaf> (or DevInfo/<leaf>); anything else is a change.
    const at = uri.startsWith('./DevInfo/') ? 10 : uri.startsWith('DevInfo/') ? 8 : -1;
    if (at < 0 || known[uri.slice(at)] !== values[uri]) return false;
    n++;
  }
  return n > 0;
}

/** Something in this message may have put commands back in the queue (a released session). */
function forgetNothingQueued(ctx: DmContext, deviceId: string): void {
  const hint = lookupHints.get(ctx)?.get(deviceId);
  if (hint) hint.hasQueued = undefined;
}

/** True when this message's credentials said nothing is queued for the device (used once). */
function nothingQueued(ctx: DmContext, deviceId: string): boolean {
  const hint = lookupHints.get(ctx)?.get(deviceId);
  if (hint?.hasQueued !== false) return false;
  hint.hasQueued = undefined;
  return true;
}

function toEngineCredentials(c: DeviceCredentials): EngineCredentials {
  const clientAuth = c.authType;
  const serverAuth =
    c.serverAuthName === null || c.authType === 'transport'
      ? 'none'
      : c.authType === 'basic'
        ? c.serverSecret !== null
          ? 'basic'
          : 'none'
        : c.serverDigest !== null
          ? c.authType
          : 'none';
  return {
    deviceId: c.deviceId,
    clientAuth,
    clientName: c.clientAuthName,
    clientDigest: c.clientDigest ?? '',
    ...(c.clientNonce ? { clientNonce: c.clientNonce } : {}),
    serverAuth,
    serverName: c.serverAuthName ?? '',
    ...(c.serverSecret ? { serverSecret: c.serverSecret } : {}),
    ...(c.serverDigest ? { serverDigest: c.serverDigest } : {}),
    ...(c.serverNonce ? { serverNonce: c.serverNonce } : {}),
  };
}

/**
 * Devices the auto-enrollment policy would enroll, per context, until one authenticates: the
 * registry row is created when it authenticated (`authenticated`), never on contact (an
 * unauthenticated party must not be able to create devices). `serverNonce`: one the device issued
 * before its row existed.
 */
const pendingEnroll = new WeakMap<DmContext, Map<string, { serverNonce?: string }>>();

/** The credentials an auto-enrolled device will have, without storing anything. */
function enrollCredentials(deviceId: string, policy: AutoEnrollPolicy): EngineCredentials {
  const authType = policy.authType ?? 'md5';
  const serverName = policy.serverId;
  const serverSecret = serverName !== undefined ? policy.serverSecret : undefined;
  return {
    deviceId,
    clientAuth: authType,
    clientName: deviceId,
    clientDigest: credentialDigest(deviceId, policy.secret),
    serverAuth: serverName !== undefined && serverSecret !== undefined ? authType : 'none',
    serverName: serverName ?? '',
    ...(serverSecret !== undefined && authType === 'basic' ? { serverSecret } : {}),
    ...(serverName !== undefined && serverSecret !== undefined
      ? { serverDigest: credentialDigest(serverName, serverSecret) }
      : {}),
  };
}

/** Creates the registry row of a device that just authenticated with the enrollment secret. */
async function enroll(ctx: DmContext, deviceId: string): Promise<void> {
  const pending = pendingEnroll.get(ctx);
  const entry = pending?.get(deviceId);
  const policy = ctx.autoEnroll;
  if (!entry || !policy) return;
  pending?.delete(deviceId);
  const { store } = ctx;
  try {
    await store.devices.create({
      id: deviceId,
      authType: policy.authType ?? 'md5',
      clientSecret: policy.secret,
      ...(policy.serverId ? { serverAuthName: policy.serverId } : {}),
      ...(policy.serverSecret ? { serverSecret: policy.serverSecret } : {}),
      ...(policy.tags ? { tags: policy.tags } : {}),
      ...(policy.groups ? { groups: policy.groups } : {}),
      attributes: { enrolled: 'auto' },
    });
    await store.audit.append({ actor: 'system', action: 'device.autoenroll', target: deviceId });
    ctx.log?.info({ event: 'dm.device.autoenroll', deviceId }, 'device auto-enrolled');
  } catch (err) {
    // Another node enrolled it at the same moment: use that record.
    if (!isStoreError(err, StoreErrorCode.AlreadyExists)) throw err;
  }
  if (entry.serverNonce !== undefined)
    await store.devices.putNonces(deviceId, { serverNonce: entry.serverNonce });
}

export function credentialSource(ctx: DmContext): CredentialSource {
  const { store } = ctx;
  return {
    async lookup(deviceId) {
      const creds = await store.devices.credentials(deviceId);
      const policy = ctx.autoEnroll;
      if (!creds && policy && (!policy.idPattern || policy.idPattern.test(deviceId))) {
        let pending = pendingEnroll.get(ctx);
        if (!pending) {
          pending = new Map();
          pendingEnroll.set(ctx, pending);
        }
        if (pending.size > 10_000) pending.clear(); // contacts that never authenticated; bounded
        if (!pending.has(deviceId)) pending.set(deviceId, {});
        return enrollCredentials(deviceId, policy);
      }
      if (!creds) return undefined;
      rememberLookup(ctx, creds);
      return toEngineCredentials(creds);
    },
    // A device the enrollment policy admits gets its row once it authenticated.
    authenticated: (deviceId) => enroll(ctx, deviceId),
    async updateNonces(deviceId, nonces) {
      const enrolling = pendingEnroll.get(ctx)?.get(deviceId);
      if (enrolling && nonces.serverNonce !== undefined) enrolling.serverNonce = nonces.serverNonce;
      const pending = pendingNonces.get(ctx);
      if (pending && nonces.clientNonce !== undefined && nonces.serverNonce === undefined) {
        if (pending.size > 10_000) pending.clear(); // answers that never saved; bounded whatever happens
        let set = pending.get(deviceId);
        if (!set) {
          set = new Set();
          pending.set(deviceId, set);
        }
        set.add(nonces.clientNonce);
        return;
      }
      // A device we do not know is challenged like any other, but it has no record to keep nonces
      // in: putNonces then changes nothing.
      await store.devices.putNonces(deviceId, {
        ...(nonces.clientNonce !== undefined ? { clientNonce: nonces.clientNonce } : {}),
        ...(nonces.serverNonce !== undefined ? { serverNonce: nonces.serverNonce } : {}),
      });
    },
  };
}

// ---- commands --------------------------------------------------------------------------------

/** DevInfo/DevDetail leaf names from tree values under those roots. */
function inventory(values: readonly ResultItem[]): {
  devInfo: Record<string, string>;
  devDetail: Record<string, string>;
} {
  const devInfo: Record<string, string> = {};
  const devDetail: Record<string, string> = {};
  for (const v of values) {
    if (v.value === null || v.format === 'node') continue;
    const u = cacheUri(v.uri);
    if (u.startsWith('./DevInfo/')) devInfo[u.slice('./DevInfo/'.length)] = v.value;
    else if (u.startsWith('./DevDetail/')) devDetail[u.slice('./DevDetail/'.length)] = v.value;
  }
  return { devInfo, devDetail };
}

function isFinal(state: CommandState): boolean {
  return FINAL_STATES.includes(state);
}

function queueId(id: string): number {
  return Number(id);
}

export function commandSource(ctx: DmContext): CommandSource {
  const { store, metrics } = ctx;
  const leaseMs = ctx.leaseMs ?? 5 * 60_000;

  async function cache(deviceId: string, all: readonly ResultItem[], at: number): Promise<void> {
    // Secret values (a device that returns one) are never cached: the cache is read by viewers.
    const results = all.filter((r) => !store.secrets.isSecret(r.uri));
    if (!results.length) return;
    const values: TreeValue[] = results.map((r) => ({
      uri: cacheUri(r.uri),
      value: r.value,
      format: r.format ?? 'chr',
      type: r.type ?? null,
      readAt: at,
    }));
    const previous = new Map((await store.tree.put(deviceId, values)).map((v) => [v.uri, v.value]));
    // The registry's DevInfo/DevDetail change only when a value did (most sessions repeat them).
    const changed = results.filter(
      (r) => !previous.has(cacheUri(r.uri)) || previous.get(cacheUri(r.uri)) !== r.value,
    );
    const { devInfo, devDetail } = inventory(changed);
    if (Object.keys(devInfo).length || Object.keys(devDetail).length) {
      await store.devices.update(deviceId, {
        ...(Object.keys(devInfo).length ? { devInfo } : {}),
        ...(Object.keys(devDetail).length ? { devDetail } : {}),
      });
    }
  }

  /** Commands counted as completed by this node, per device (a repeated alert in one message is not counted twice). */
  const counted = new Map<string, Set<number>>();
  function firstCount(session: SessionRef, id: number): boolean {
    let set = counted.get(session.deviceId);
    if (!set) {
      if (counted.size > 10_000) counted.clear(); // bounded whatever happens
      set = new Set();
      counted.set(session.deviceId, set);
    }
    if (set.has(id)) return false;
    if (set.size > 1000) set.clear();
    set.add(id);
    return true;
  }

  /** One event per item of a Generic Alert / Client Event (sizes bounded: the device is not trusted). */
  async function recordEvents(session: SessionRef, alert: ClientAlert): Promise<void> {
    const cut = (v: string | undefined, max = 2048) => (v === undefined ? null : v.slice(0, max));
    const at = Date.now();
    const items = alert.items.length > 0 ? alert.items.slice(0, 100) : [undefined];
    await store.events.append(
      items.map((i) => {
        const format = i?.Meta?.Format;
        const data =
          i?.Data === undefined
            ? null
            : i.Data.kind === 'bytes' && (format === 'b64' || format === 'bin')
              ? Buffer.from(i.Data.bytes).toString('base64')
              : dataText(i.Data);
        return {
          deviceId: session.deviceId,
          at,
          alertCode: alert.code,
          alertType: cut(i?.Meta?.Type),
          format: cut(format),
          mark: cut(i?.Meta?.Mark),
          sourceUri: cut(i?.Source?.LocURI),
          targetUri: cut(i?.Target?.LocURI),
          correlator: cut(alert.correlator),
          data: data === null ? null : data.slice(0, MAX_EVENT_DATA),
          sessionId: session.sessionId,
        };
      }),
    );
  }

  return {
    async next(session: SessionRef, max: number): Promise<readonly QueuedCommand[]> {
      const now = Date.now();
      // Later messages keep the session's claims alive; the first has none yet, nor has a session
      // whose state holds no command (all answered).
      if (!session.firstMessage && !session.holdsNothing)
        await store.queue.renewLease(session.deviceId, session.sessionId, now + leaseMs);
      // Nothing was queued when this message began: a command queued since waits for the next one.
      if (nothingQueued(ctx, session.deviceId)) return [];
      const claimed = await store.queue.claim(session.deviceId, session.sessionId, {
        limit: max,
        leaseUntil: now + leaseMs,
      });
      if (claimed.length) noteActivity();
      return claimed.map((c) => ({ id: String(c.id), command: toSyncml(c.command) }));
    },

    async settle(session: SessionRef, outcomes: readonly EngineOutcome[]): Promise<void> {
      if (outcomes.length) noteActivity();
      const now = Date.now();
      for (const o of outcomes) {
        const id = queueId(o.id);
        if (o.status === undefined) continue; // no Status: releaseSession decides (Get → again, else unknown)
        // A device that returns a secret leaf's value (its DDF says none may): not stored.
        const results = (o.results ?? []).map((i) => {
          const r = resultItem(i);
          return r.value !== null && store.secrets.isSecret(r.uri) ? { ...r, value: REDACTED } : r;
        });
        if (o.notSent && o.reason !== undefined) {
          // Never sent and never will be (e.g. a value the encoding cannot carry): failed, with why.
          try {
            const rec = await store.queue.reject(id, session.sessionId, {
              status: o.status,
              reason: o.reason,
            });
            metrics.commandsDelivered.inc({ state: rec.state });
            ctx.log?.warn(
              { event: 'dm.command.unsendable', deviceId: session.deviceId, commandId: id, reason: o.reason },
              'queued command cannot be sent; failed on its own',
            );
            continue;
          } catch (err) {
            if (!isStoreError(err, StoreErrorCode.InvalidState)) throw err;
          }
        }
        if (o.notSent) {
          // Refused before sending (e.g. 413 too large for the device): record it as failed.
          const rec = await store.queue.get(id);
          if (rec?.state === 'claimed') {
            await store.queue.markSent(id, session.sessionId, { msgId: 0, cmdId: 'not-sent' });
          }
        }
        try {
          const rec = await store.queue.settle(id, {
            status: o.status,
            ...(results.length ? { results } : {}),
            ...(o.members ? { members: o.members.map((m) => ({ status: m.status ?? 0 })) } : {}),
            ...(o.itemStatuses
              ? { items: o.itemStatuses.map((i) => ({ status: i.status, uris: i.targets.slice(0, 64) })) }
              : {}),
            ...(o.reason ? { reason: o.reason } : {}),
          });
          // Pending (an Exec answered 202) is counted when its Generic Alert finishes it.
          if (isFinal(rec.state) && firstCount(session, rec.id))
            metrics.commandsDelivered.inc({ state: rec.state });
          if (rec.state === 'succeeded' && rec.kind === 'Delete') {
            await store.tree.deleteSubtree(session.deviceId, cacheUri(rec.uri));
          }
          if (
            (rec.kind === 'Replace' || rec.kind === 'Add') &&
            rec.state === 'succeeded' &&
            rec.value !== null &&
            !store.secrets.isSecret(rec.uri)
          ) {
            const c = rec.command as { data?: string; format?: string; type?: string };
            // What it replaced does not matter here: one upsert.
            await store.tree.put(
              session.deviceId,
              [
                {
                  uri: cacheUri(rec.uri),
                  value: c.data ?? null,
                  format: c.format ?? 'chr',
                  type: c.type ?? null,
                  readAt: now,
                },
              ],
              { previous: false },
            );
          }
        } catch (err) {
          if (isStoreError(err, StoreErrorCode.InvalidState) || isStoreError(err, StoreErrorCode.NotFound)) {
            ctx.log?.warn({ err, commandId: id }, 'outcome for a command not awaiting one');
            continue;
          }
          throw err;
        }
        await cache(session.deviceId, results, now);
      }
    },

    async release(session: SessionRef, ids: readonly string[]): Promise<void> {
      forgetNothingQueued(ctx, session.deviceId);
      for (const id of ids) {
        try {
          await store.queue.release(queueId(id), session.sessionId);
        } catch (err) {
          // Already marked sent: releaseSession applies the after-send rules at session end.
          if (!isStoreError(err, StoreErrorCode.InvalidState)) throw err;
        }
      }
    },

    async alert(session: SessionRef, alert: ClientAlert): Promise<number> {
      noteActivity();
      // Every Generic Alert and Client Event is kept, whatever its type, with or without a
      // Correlator (feature code and operators read outcomes from the device's events).
      if (alert.code === 1226 || alert.code === 1224) await recordEvents(session, alert);
      if (alert.code === 1226 && alert.correlator) {
        const first = alert.items[0];
        const raw = first?.Data !== undefined ? dataText(first.Data).trim() : '';
        const type = first?.Meta?.Type;
        // Judged by its alert type's table (FUMO 200/250–299, SCOMO/LAWMO/DCMO 1200–1299); a
        // type no table knows is kept as sent, without a verdict.
        const judged = judgeAlert(type, raw);
        const startedAt = Date.now();
        const rec = await store.queue.completeByCorrelator(session.deviceId, alert.correlator, {
          ...(judged.code === undefined ? {} : { status: judged.code }),
          ...(raw && String(judged.code) !== raw ? { data: raw.slice(0, 4096) } : {}),
          ...(type === undefined ? {} : { type: type.slice(0, 256) }),
          verdict: judged.verdict,
        });
        // Counted once, when this alert finished it: an alert read before its Exec's Status (same
        // message) leaves the command sent and `settle` counts it; a repeated alert changes nothing.
        if (rec && isFinal(rec.state) && rec.completedAt !== null && rec.completedAt >= startedAt) {
          if (firstCount(session, rec.id)) metrics.commandsDelivered.inc({ state: rec.state });
        }
        return 200;
      }
      if (alert.code === 1226 || alert.code === 1224) return 200;
      return 406;
    },

    async devInfo(session: SessionRef, values: Readonly<Record<string, string>>): Promise<void> {
      // The same DevInfo as the registry holds (its tree cache rows were written when it last
      // changed): nothing to write. `lastSeenAt` tells when the device last confirmed it.
      if (unchangedDevInfo(ctx, session.deviceId, values)) return;
      noteActivity();
      const now = Date.now();
      const items: ResultItem[] = Object.entries(values).map(([uri, value]) => ({
        uri,
        value,
        format: 'chr',
      }));
      const pending = pendingDevInfo.get(ctx);
      if (pending && session.firstMessage) {
        const { devInfo, devDetail } = inventory(items);
        if (Object.keys(devDetail).length === 0) {
          // The session start's UPDATE (this message's save) merges it into the registry.
          await store.tree.put(
            session.deviceId,
            items.map((r) => ({
              uri: cacheUri(r.uri),
              value: r.value,
              format: 'chr',
              type: null,
              readAt: now,
            })),
            { previous: false },
          );
          if (pending.size > 10_000) pending.clear(); // messages that never saved; bounded whatever happens
          pending.set(session.deviceId, { ...pending.get(session.deviceId), ...devInfo });
          return;
        }
      }
      await cache(session.deviceId, items, now);
    },

    async sessionEnded(session: SessionRef, outcome: SessionOutcome): Promise<void> {
      // The message's own session ends after its save; an older one closed on the way (expired,
      // superseded) before it.
      const activity = currentActivity();
      if (activity?.saved) activity.outcome = outcome;
      // Nothing held (a heartbeat that took nothing; a session that ended with everything answered).
      if (!session.heldNothing) {
        // A superseded or expired session ending in this message may requeue its commands.
        forgetNothingQueued(ctx, session.deviceId);
        const report = await store.queue.releaseSession(
          session.deviceId,
          session.sessionId,
          `session ${outcome}`,
        );
        if (report.unknown) {
          ctx.log?.warn(
            { deviceId: session.deviceId, report },
            'session ended with commands sent and not answered',
          );
        }
      }
      // One ending in its first message was recorded as started and ended at once by `save`.
      if (!session.firstMessage) {
        await store.devices
          .noteSessionEnd(session.deviceId, session.sessionId, Date.now())
          .catch(() => undefined);
      }
      metrics.dmSessions.inc({ outcome });
    },
  };
}

// ---- session state --------------------------------------------------------------------------

/**
 * Sessions are stored under their RespURI token (unique per session run; DM SessionIDs repeat).
 * Releases before the `omadm_session_key` index also kept a "token index" row under this
 * pseudo-device; it is still removed with its session, and expires by itself otherwise.
 */
const LEGACY_TOKEN_INDEX = '~token';
const CLOSED_GRACE_MS = 2 * 60_000;

/** The session store, plus `takeToken`: the token of the session a request just saved (for its trace). */
export interface DmSessionStore extends EngineSessionStore {
  /** Token of the latest session saved in this process for the device and SessionID; forgets it. */
  takeToken(deviceId: string, sessionId: string): string | undefined;
}

export function sessionStore(ctx: DmContext): DmSessionStore {
  const lastToken = new Map<string, string>();
  const { store } = ctx;
  const pending = new Map<string, Set<string>>();
  pendingNonces.set(ctx, pending);
  const devInfoOf = new Map<string, Record<string, string>>();
  pendingDevInfo.set(ctx, devInfoOf);

  /** DevInfo leaves for the registry: this message's (its `devInfo` hook ran first) and the state's. */
  function takeDevInfo(state: ServerSessionState): Record<string, string> {
    const flushed = devInfoOf.get(state.deviceId);
    if (flushed) devInfoOf.delete(state.deviceId);
    const own = Object.keys(state.devInfo).length
      ? inventory(Object.entries(state.devInfo).map(([uri, value]) => ({ uri, value }))).devInfo
      : {};
    return flushed ? { ...own, ...flushed } : own;
  }

  /** The client nonce this answer announces, if its `updateNonces` was deferred to this save. */
  function takeNonce(state: ServerSessionState): string | undefined {
    const nonce = state.auth.nonce;
    const set = pending.get(state.deviceId);
    if (nonce === undefined || !set?.delete(nonce)) return undefined;
    if (set.size === 0) pending.delete(state.deviceId);
    return nonce;
  }
  const idleMs = ctx.sessionIdleMs ?? 10 * 60_000;

  async function markSentIn(state: ServerSessionState): Promise<void> {
    // The commands first written in the message being answered now: mark them sent before it leaves.
    const prefix = `${state.serverMsgId}:`;
    const fresh = new Set<string>();
    for (const key in state.awaiting) {
      if (!key.startsWith(prefix)) continue;
      const a = state.awaiting[key]!;
      if (a.parent !== undefined) continue;
      if (a.part !== 'whole' && a.part !== 'first') continue;
      fresh.add(`${a.id}\n${key.slice(prefix.length)}`);
    }
    for (const entry of fresh) {
      const [id, cmdId] = entry.split('\n') as [string, string];
      try {
        await store.queue.markSent(queueId(id), state.sessionId, { msgId: state.serverMsgId, cmdId });
      } catch (err) {
        // Already sent in an earlier message (re-sent after a credentials challenge): nothing to mark.
        if (!isStoreError(err, StoreErrorCode.InvalidState)) throw err;
      }
    }
  }

  return {
    async load(token) {
      let rec = await store.sessions.getByKey<ServerSessionState>(token);
      if (rec?.deviceId === LEGACY_TOKEN_INDEX) {
        // A session from before the key index: its index row names the device.
        const deviceId = (rec.state as unknown as { deviceId: string }).deviceId;
        rec = await store.sessions.get<ServerSessionState>(deviceId, token);
      }
      return rec ? { ...rec.state, revision: rec.version } : undefined;
    },
    async loadByDevice(deviceId) {
      const rec = await store.sessions.latest<ServerSessionState>(deviceId);
      return rec ? { ...rec.state, revision: rec.version } : undefined;
    },
    async loadHeadByDevice(deviceId): Promise<EngineSessionHead | NoSessionHead | undefined> {
      // The credentials are read first and handed to the engine with the head (it then does not
      // look them up again): when the device's latest session closed in its first message —
      // every heartbeat — its head is in that same row.
      const creds = await store.devices.credentials(deviceId);
      if (creds) rememberLookup(ctx, creds);
      const known: NoSessionHead | undefined = creds
        ? { credentials: toEngineCredentials(creds) }
        : undefined;
      const closed = creds?.closedSession;
      if (closed) {
        // Any later session start would have replaced or cleared it: when it has expired, the
        // device has no live session at all.
        if (closed.expiresAt <= Date.now()) return known;
        return {
          token: closed.token,
          revision: 1, // written once, by the message that started and closed it
          deviceId,
          sessionId: closed.dmSessionId,
          phase: ServerPhase.Closed,
          clientMsgId: 1, // a session starts only with MsgID 1
          requestHash: closed.requestHash,
          ...known,
        };
      }
      const rec = await store.sessions.latestHead<ServerSessionState>(deviceId);
      if (!rec) return known;
      const { head, state } = rec;
      if (head) {
        return {
          token: rec.sessionId,
          revision: rec.version,
          deviceId: rec.deviceId,
          sessionId: head.dmSessionId,
          phase: head.phase as ServerPhase,
          clientMsgId: head.clientMsgId,
          ...(head.requestHash === undefined ? {} : { requestHash: head.requestHash }),
          ...known,
        };
      }
      if (!state) return known;
      // Written without a head (before it existed): the state has it all.
      const requestHash = state.lastReply?.requestHash;
      return {
        token: rec.sessionId,
        revision: rec.version,
        deviceId: rec.deviceId,
        sessionId: state.sessionId,
        phase: state.phase,
        clientMsgId: state.clientMsgId,
        ...(requestHash === undefined ? {} : { requestHash }),
        ...known,
      };
    },
    async loadReply(state) {
      return store.sessions.reply(state.deviceId, state.token);
    },
    async save(state, expectedRevision, reply) {
      const now = Date.now();
      const activity = currentActivity();
      if (activity) {
        activity.saved = true;
        activity.messages = state.messages;
        activity.authFailures = state.auth.failures;
        activity.authenticated = state.auth.authenticated;
      }
      // A finished session is kept briefly, to answer a retransmitted last message identically.
      const expiresAt = now + (state.phase === 'closed' ? CLOSED_GRACE_MS : idleMs);
      if (lastToken.size > 10_000) lastToken.clear(); // only a hint; bounded whatever happens
      lastToken.set(`${state.deviceId}\n${state.sessionId}`, state.token);
      const clientNonce = takeNonce(state);
      // The answer's bytes go to their own column (the engine leaves them out of the state), the
      // head to its columns (read at package 1).
      const extras: SessionExtras = {
        head: {
          dmSessionId: state.sessionId,
          phase: state.phase,
          clientMsgId: state.clientMsgId,
          ...(state.lastReply ? { requestHash: state.lastReply.requestHash } : {}),
        },
        ...(reply ? { reply } : {}),
      };
      try {
        if (expectedRevision === 0) {
          const devInfo = takeDevInfo(state);
          await store.sessions.create({
            deviceId: state.deviceId,
            sessionId: state.token,
            state,
            expiresAt,
            ...extras,
          });
          // A session closed in its first message is over as it starts: online until now (offline,
          // as noteSessionEnd would leave it), in the same statement, which also keeps its head
          // for the next package 1 (an authenticated one only: a refused newcomer must not hide
          // the device's live session).
          const closedHead =
            state.phase === ServerPhase.Closed && state.auth.authenticated && state.lastReply
              ? {
                  token: state.token,
                  dmSessionId: state.sessionId,
                  requestHash: state.lastReply.requestHash,
                  expiresAt,
                }
              : undefined;
          await store.devices
            .recordSessionStart(state.deviceId, {
              sessionId: state.sessionId,
              at: now,
              onlineUntil: state.phase === 'closed' ? now : now + ctx.onlineTtlMs,
              ...(Object.keys(devInfo).length ? { devInfo } : {}),
              ...(clientNonce !== undefined ? { clientNonce } : {}),
              ...(closedHead ? { closedHead } : {}),
            })
            .catch((err: unknown) => {
              // The answer must not leave announcing a nonce that was not stored, nor with the
              // device row naming an older session as its latest.
              if (clientNonce !== undefined || closedHead) throw err;
            });
          ctx.metrics.dmSessionsStarted.inc();
        } else {
          await store.sessions.update(
            state.deviceId,
            state.token,
            expectedRevision,
            state,
            expiresAt,
            extras,
          );
          if (clientNonce !== undefined) await store.devices.putNonces(state.deviceId, { clientNonce });
          // The session start made the device online for onlineTtlMs; refresh only past half of it,
          // so a typical sub-second session costs no write per message.
          if (now - state.startedAt > ctx.onlineTtlMs / 2) {
            await store.devices.noteSeen(state.deviceId, now, now + ctx.onlineTtlMs).catch(() => undefined);
          }
        }
      } catch (err) {
        if (
          isStoreError(err, StoreErrorCode.VersionConflict) ||
          isStoreError(err, StoreErrorCode.AlreadyExists)
        ) {
          return false;
        }
        throw err;
      }
      await markSentIn(state);
      return true;
    },
    takeToken(deviceId, sessionId) {
      const key = `${deviceId}\n${sessionId}`;
      const token = lastToken.get(key);
      lastToken.delete(key);
      return token;
    },
    async delete(token) {
      const rec = await store.sessions.getByKey<ServerSessionState>(token);
      if (rec && rec.deviceId !== LEGACY_TOKEN_INDEX) await store.sessions.delete(rec.deviceId, token);
      await store.sessions.delete(LEGACY_TOKEN_INDEX, token);
    },
  };
}

export type { Device };
