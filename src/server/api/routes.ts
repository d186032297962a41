/**
 * The operator REST API under `/api/v1`. Every route declares its schemas (validation + OpenAPI)
 * and the least role it needs; changes are written to the audit log with the acting token's name.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { ApiError, ApiErrorCode } from '../errors.ts';
import { valueProblem } from '../store/index.ts';
import { principalOf } from './auth.ts';
import { type Notifier, parseUiMode } from '../notify.ts';
import type { ApiBackend, CommandRequest } from './backend.ts';
import {
  AuditEntry,
  AuditQuery,
  Command,
  CommandCreate,
  CommandListQuery,
  CommandQuery,
  Device,
  DeviceCreate,
  DeviceEvent,
  EventListQuery,
  DeviceListQuery,
  DeviceParams,
  DeviceUpdate,
  FleetCommandListQuery,
  Group,
  GroupCommandResult,
  GroupCreate,
  GroupUpdate,
  RetryBody,
  IdParams,
  Limit,
  NameParams,
  NotificationAttempt,
  NotificationState,
  NotifyRequest,
  NotifyResult,
  Page,
  Session,
  SessionRecord,
  Token,
  TokenCreate,
  TokenCreated,
  Trace,
  TreeNode,
  TreeQuery,
  WhoAmI,
  Cursor,
  type AuthTypeName,
  type Role,
} from './schemas.ts';

export interface ApiRoutesOptions {
  readonly backend: ApiBackend;
  /** Aborted when the server closes: long-polls answer at once with the current state. */
  readonly closing?: AbortSignal;
  /** Package 0 pushes (server-initiated sessions), when the server has notification bearers. */
  readonly notifier?: Notifier;
}

const NoContent = { 204: Type.Null({ description: 'Done' }) };

/** Registers the API routes; mount with `{ prefix: '/api/v1' }`. */
export async function apiRoutes(
  app: FastifyInstance,
  { backend, closing, notifier }: ApiRoutesOptions,
): Promise<void> {
  // JSON only: a text/plain body is a 415, not a string to validate.
  app.removeContentTypeParser('text/plain');
  const audit = (req: FastifyRequest, action: string, target: string | null, details?: unknown) =>
    backend.audit(principalOf(req).name, action, target, details ?? null);

  app.get(
    '/whoami',
    {
      config: { role: 'viewer' },
      schema: { summary: 'The token in use: its name and role', tags: ['tokens'], response: { 200: WhoAmI } },
    },
    async (req) => {
      const p = principalOf(req);
      return { name: p.name, role: p.role };
    },
  );

  /**
   * After a command is queued: the notification policy decides whether to push Package 0 now
   * (idle device, none outstanding, within the rate limits). Never fails the request; attempts
   * are recorded and audited by the notifier.
   */
  const notifyAfterEnqueue = (req: FastifyRequest, deviceId: string, device: { notify: unknown }) => {
    if (!notifier?.onEnqueue || !device.notify) return;
    const actor = principalOf(req).name;
    notifier
      .requestNotification(deviceId, { actor })
      .then((d) => req.log.debug({ deviceId, notification: d.action }, 'notification after enqueue'))
      .catch((err: unknown) => req.log.warn({ err, deviceId }, 'notification after enqueue failed'));
  };

  // ---- devices ---------------------------------------------------------------------------------
  app.get<{
    Querystring: {
      tag?: string;
      group?: string;
      online?: boolean;
      q?: string;
      limit?: number;
      cursor?: string;
    };
  }>(
    '/devices',
    {
      config: { role: 'viewer' },
      schema: {
        summary: 'List devices (filters combine with AND; newest page first by DevId order)',
        tags: ['devices'],
        querystring: DeviceListQuery,
        response: { 200: Page(Device) },
      },
    },
    async (req) => {
      const { limit = 50, cursor, ...filter } = req.query;
      return backend.listDevices(filter, limit, cursor);
    },
  );

  app.post<{
    Body: {
      id: string;
      secret?: string;
      authType?: AuthTypeName;
      allowNoAuth?: boolean;
      serverId?: string;
      serverSecret?: string;
      tags?: string[];
      groups?: string[];
    };
  }>(
    '/devices',
    {
      config: { role: 'operator' },
      schema: {
        summary: 'Provision a device (the client secret is stored only as its digest)',
        tags: ['devices'],
        body: DeviceCreate,
        response: { 201: Device },
      },
    },
    async (req, reply) => {
      const { allowNoAuth, ...body } = req.body;
      const authType = body.authType ?? 'md5';
      checkNoAuth(authType, allowNoAuth);
      if (body.secret === undefined && authType !== 'transport' && authType !== 'none') {
        throw new ApiError(ApiErrorCode.Validation, 'body.secret is required', [
          { path: 'body.secret', message: `is required for auth type ${authType}` },
        ]);
      }
      const d = await backend.createDevice({ ...body, authType });
      if (authType === 'none') {
        req.log.warn(
          { event: 'device.auth.none', deviceId: d.id, actor: principalOf(req).name },
          'device provisioned without credentials: its sessions are accepted over TLS with no authentication',
        );
      }
      await audit(req, 'device.create', d.id, {
        authType: d.authType,
        tags: d.tags,
        groups: d.groups,
        serverSecret: req.body.serverSecret !== undefined,
      });
      reply.status(201);
      return d;
    },
  );

  app.get<{ Params: { id: string } }>(
    '/devices/:id',
    {
      config: { role: 'viewer' },
      schema: { summary: 'One device', tags: ['devices'], params: DeviceParams, response: { 200: Device } },
    },
    async (req) => backend.getDevice(req.params.id),
  );

  app.patch<{
    Params: { id: string };
    Body: {
      secret?: string;
      authType?: AuthTypeName;
      allowNoAuth?: boolean;
      serverId?: string;
      serverSecret?: string;
      tags?: string[];
      groups?: string[];
      trace?: 'full' | 'errors' | 'off' | null;
    };
  }>(
    '/devices/:id',
    {
      config: { role: 'operator' },
      schema: {
        summary:
          'Change a device: secrets, auth type, ServerID, tags (replace), groups (replace), trace switch',
        tags: ['devices'],
        params: DeviceParams,
        body: DeviceUpdate,
        response: { 200: Device },
      },
    },
    async (req) => {
      const { allowNoAuth, ...patch } = req.body;
      if (patch.authType !== undefined) checkNoAuth(patch.authType, allowNoAuth);
      const d = await backend.updateDevice(req.params.id, patch);
      if (patch.authType === 'none') {
        req.log.warn(
          { event: 'device.auth.none', deviceId: d.id, actor: principalOf(req).name },
          'device set to no credentials: its sessions are accepted over TLS with no authentication',
        );
      }
      const { secret, serverSecret, ...rest } = patch;
      await audit(req, 'device.update', d.id, {
        ...rest,
        ...(secret !== undefined ? { secret: 'changed' } : {}),
        ...(serverSecret !== undefined ? { serverSecret: 'changed' } : {}),
      });
      return d;
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/devices/:id',
    {
      config: { role: 'operator' },
      schema: {
        summary: 'Delete a device with its tree cache, commands, sessions and trace',
        tags: ['devices'],
        params: DeviceParams,
        response: NoContent,
      },
    },
    async (req, reply) => {
      await backend.deleteDevice(req.params.id);
      await audit(req, 'device.delete', req.params.id);
      reply.status(204).send();
    },
  );

  app.post<{ Params: { id: string }; Body: { uiMode?: string } | undefined }>(
    '/devices/:id/notify',
    {
      config: { role: 'operator' },
      schema: {
        summary: 'Push Package 0 to the device now, asking it to open a session',
        description:
          "Uses the device's notification address and the server's bearer of that name; the package is signed " +
          "with the device's server credential. An outstanding notification keeps its SessionID. The attempt is " +
          'recorded (GET /devices/{id}/notifications) and audited. 422 when the device has no address or server ' +
          'secret, or the server lacks the bearer; 502 when the bearer could not deliver.',
        tags: ['devices'],
        params: DeviceParams,
        body: Type.Optional(NotifyRequest),
        response: { 200: NotifyResult },
      },
    },
    async (req) => {
      if (!notifier) {
        throw new ApiError(ApiErrorCode.Unprocessable, 'this server has no notification bearers configured');
      }
      const uiMode = req.body?.uiMode === undefined ? undefined : parseUiMode(req.body.uiMode);
      try {
        return await notifier.notify(req.params.id, {
          actor: principalOf(req).name,
          ...(uiMode != null ? { uiMode } : {}),
        });
      } catch (e) {
        if (e instanceof ApiError) throw e;
        const code = (e as { code?: unknown }).code;
        throw new ApiError(
          ApiErrorCode.NotifyFailed,
          `the ${typeof code === 'string' ? `bearer failed (${code})` : 'bearer failed'}: ${e instanceof Error ? e.message : String(e)}`,
        );
      }
    },
  );

  app.get<{ Params: { id: string }; Querystring: { limit?: number; cursor?: string } }>(
    '/devices/:id/notifications',
    {
      config: { role: 'viewer' },
      schema: {
        summary: "The device's Package 0 attempts, newest first, and its outstanding notification",
        description:
          'Every attempt: operator requests, notifications after a queued command, retries; failures included ' +
          '(result `error` with the bearer error code in `status`).',
        tags: ['devices'],
        params: DeviceParams,
        querystring: Type.Object({ limit: Type.Optional(Limit), cursor: Type.Optional(Cursor) }),
        response: {
          200: Type.Object({
            items: Type.Array(NotificationAttempt),
            next: Type.Union([Type.String(), Type.Null()]),
            state: Type.Union([NotificationState, Type.Null()]),
          }),
        },
      },
    },
    async (req) => {
      await backend.getDevice(req.params.id);
      if (!notifier) return { items: [], next: null, state: null };
      const limit = req.query.limit ?? 50;
      const { items, state } = await notifier.history(req.params.id, {
        limit,
        ...(req.query.cursor ? { before: req.query.cursor } : {}),
      });
      const iso = (ms: number) => new Date(ms).toISOString();
      return {
        items: items.map((a) => ({
          id: a.id,
          at: iso(a.at),
          bearer: a.bearer,
          target: a.target,
          sessionId: a.sessionId,
          uiMode: a.uiMode,
          attempt: a.attempt,
          trigger: a.trigger,
          actor: a.actor,
          result: a.result,
          status: a.status,
          detail: a.detail,
          parts: a.parts,
          ids: [...a.ids],
        })),
        next: items.length === limit ? (items.at(-1)?.id ?? null) : null,
        state: state
          ? {
              outstanding: state.outstanding,
              sessionId: state.sessionId,
              attempts: state.attempts,
              since: iso(state.firstAt),
              nextAt: state.nextAt === null ? null : iso(state.nextAt),
            }
          : null,
      };
    },
  );

  app.get<{ Params: { id: string }; Querystring: { path?: string } }>(
    '/devices/:id/tree',
    {
      config: { role: 'viewer' },
      schema: {
        summary: 'The cached copy of values read from the device tree, with the time each was read',
        tags: ['devices'],
        params: DeviceParams,
        querystring: TreeQuery,
        response: { 200: Type.Object({ items: Type.Array(TreeNode) }) },
      },
    },
    async (req) => ({ items: await backend.tree(req.params.id, req.query.path) }),
  );

  // ---- commands --------------------------------------------------------------------------------
  app.post<{ Params: { id: string }; Body: CommandRequest & { expiresIn?: number } }>(
    '/devices/:id/commands',
    {
      config: { role: 'operator' },
      schema: {
        summary: "Queue a DM command for the device's next session",
        description:
          'Get, Add, Replace, Delete, Copy, Exec on a URI, or an Atomic/Sequence group of them. The command is ' +
          'delivered exactly once; follow it with GET /commands/{id}?wait=SECONDS.',
        tags: ['commands'],
        params: DeviceParams,
        body: CommandCreate,
        response: { 201: Command },
      },
    },
    async (req, reply) => {
      const { expiresIn, ...request } = req.body;
      checkCommandShape(request, 'body');
      const expiresAt = expiresIn ? Date.now() + expiresIn * 1000 : undefined;
      const c = await backend.enqueue(req.params.id, request, expiresAt, principalOf(req).name);
      await audit(req, 'command.create', req.params.id, {
        commandId: c.id,
        type: c.type,
        request: redact(request),
      });
      if (notifier?.onEnqueue) notifyAfterEnqueue(req, req.params.id, await backend.getDevice(req.params.id));
      reply.status(201);
      return c;
    },
  );

  app.get<{ Params: { id: string }; Querystring: { state?: string; limit?: number; cursor?: string } }>(
    '/devices/:id/commands',
    {
      config: { role: 'viewer' },
      schema: {
        summary: "The device's commands, newest first",
        tags: ['commands'],
        params: DeviceParams,
        querystring: CommandListQuery,
        response: { 200: Page(Command) },
      },
    },
    async (req) => {
      await backend.getDevice(req.params.id);
      return backend.listCommands(req.params.id, req.query.state, req.query.limit ?? 50, req.query.cursor);
    },
  );

  app.get<{ Querystring: { state?: string; device?: string; limit?: number; cursor?: string } }>(
    '/commands',
    {
      config: { role: 'viewer' },
      schema: {
        summary:
          'Commands across the fleet, newest first (e.g. ?state=unknown: the ones that need a decision)',
        tags: ['commands'],
        querystring: FleetCommandListQuery,
        response: { 200: Page(Command) },
      },
    },
    async (req) =>
      backend.listCommands(req.query.device, req.query.state, req.query.limit ?? 50, req.query.cursor),
  );

  app.get<{ Params: { id: string }; Querystring: { wait?: number } }>(
    '/commands/:id',
    {
      config: { role: 'viewer' },
      schema: {
        summary: 'A command: state, DM status code and results',
        description:
          'With ?wait=SECONDS the answer is held until the command reaches a final state or the time passes.',
        tags: ['commands'],
        params: IdParams,
        querystring: CommandQuery,
        response: { 200: Command },
      },
    },
    async (req) => {
      const wait = req.query.wait ?? 0;
      if (wait <= 0) return backend.getCommand(req.params.id);
      const ac = new AbortController();
      const onClose = () => ac.abort();
      req.raw.once('close', onClose);
      try {
        const signal = closing ? AbortSignal.any([ac.signal, closing]) : ac.signal;
        return await backend.waitCommand(req.params.id, wait * 1000, signal);
      } finally {
        req.raw.off('close', onClose);
      }
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/commands/:id',
    {
      config: { role: 'operator' },
      schema: {
        summary: 'Cancel a command that has not been sent yet',
        tags: ['commands'],
        params: IdParams,
        response: { 200: Command },
      },
    },
    async (req) => {
      const c = await backend.cancelCommand(req.params.id);
      await audit(req, 'command.cancel', c.deviceId, { commandId: c.id });
      return c;
    },
  );

  app.post<{ Params: { id: string }; Body: { expiresIn?: number } | undefined }>(
    '/commands/:id/retry',
    {
      config: { role: 'operator' },
      schema: {
        summary: 'Queue a copy of a finished command (e.g. one left unknown after a lost session)',
        tags: ['commands'],
        params: IdParams,
        body: RetryBody,
        response: { 201: Command },
      },
    },
    async (req, reply) => {
      const expiresIn = req.body?.expiresIn;
      const c = await backend.retryCommand(
        req.params.id,
        expiresIn ? Date.now() + expiresIn * 1000 : undefined,
        principalOf(req).name,
      );
      await audit(req, 'command.retry', c.deviceId, { commandId: req.params.id, newCommandId: c.id });
      reply.status(201);
      return c;
    },
  );

  // ---- events ------------------------------------------------------------------------------------
  app.get<{
    Params: { id: string };
    Querystring: { type?: string; correlator?: string; limit?: number; cursor?: string };
  }>(
    '/devices/:id/events',
    {
      config: { role: 'viewer' },
      schema: {
        summary: "The device's events: every Generic Alert and Client Event it sent, newest first",
        description:
          'One event per alert item, whatever its type and whether or not it carries a Correlator ' +
          '(an Exec it completes also shows the outcome in the command). Kept per the event retention.',
        tags: ['devices'],
        params: DeviceParams,
        querystring: EventListQuery,
        response: { 200: Page(DeviceEvent) },
      },
    },
    async (req) => {
      const { limit = 50, cursor, type, correlator } = req.query;
      return backend.listEvents(req.params.id, { type, correlator }, limit, cursor);
    },
  );

  // ---- sessions and trace ----------------------------------------------------------------------
  app.get<{ Params: { id: string }; Querystring: { limit?: number; cursor?: string } }>(
    '/devices/:id/session-records',
    {
      config: { role: 'viewer' },
      schema: {
        summary:
          "Compact records of the device's ended sessions, heartbeats included (time, outcome, kind, size), newest first",
        tags: ['sessions'],
        params: DeviceParams,
        querystring: Type.Object(
          { limit: Type.Optional(Limit), cursor: Type.Optional(Cursor) },
          { additionalProperties: false },
        ),
        response: { 200: Page(SessionRecord) },
      },
    },
    async (req) => {
      await backend.getDevice(req.params.id);
      return backend.listSessionRecords(req.params.id, req.query.limit ?? 50, req.query.cursor);
    },
  );

  app.get<{ Params: { id: string }; Querystring: { limit?: number; cursor?: string } }>(
    '/devices/:id/sessions',
    {
      config: { role: 'viewer' },
      schema: {
        summary: "The device's DM sessions, newest first",
        tags: ['sessions'],
        params: DeviceParams,
        querystring: Type.Object(
          { limit: Type.Optional(Limit), cursor: Type.Optional(Cursor) },
          { additionalProperties: false },
        ),
        response: { 200: Page(Session) },
      },
    },
    async (req) => {
      await backend.getDevice(req.params.id);
      return backend.listSessions(req.params.id, req.query.limit ?? 50, req.query.cursor);
    },
  );

  app.get<{ Params: { id: string } }>(
    '/sessions/:id/trace',
    {
      config: { role: 'viewer' },
      schema: {
        summary: 'The raw messages of a session, each also decoded to XML',
        tags: ['sessions'],
        params: IdParams,
        response: { 200: Trace },
      },
    },
    async (req) => backend.trace(req.params.id),
  );

  // ---- groups ----------------------------------------------------------------------------------
  app.get(
    '/groups',
    {
      config: { role: 'viewer' },
      schema: {
        summary: 'Groups with their device counts',
        tags: ['groups'],
        response: { 200: Type.Object({ items: Type.Array(Group) }) },
      },
    },
    async () => ({ items: await backend.listGroups() }),
  );

  app.post<{ Body: { name: string; description?: string } }>(
    '/groups',
    {
      config: { role: 'operator' },
      schema: {
        summary: 'Create a group (groups named when provisioning a device are created on the fly)',
        tags: ['groups'],
        body: GroupCreate,
        response: { 201: Group },
      },
    },
    async (req, reply) => {
      const g = await backend.createGroup(req.body.name, req.body.description ?? '');
      await audit(req, 'group.create', g.name);
      reply.status(201);
      return g;
    },
  );

  app.patch<{ Params: { name: string }; Body: { trace: 'full' | 'errors' | 'off' | null } }>(
    '/groups/:name',
    {
      config: { role: 'operator' },
      schema: {
        summary: "Change a group: its devices' raw-trace switch (a device's own switch wins)",
        tags: ['groups'],
        params: NameParams,
        body: GroupUpdate,
        response: { 200: Group },
      },
    },
    async (req) => {
      const g = await backend.setGroupTrace(req.params.name, req.body.trace);
      await audit(req, 'group.update', g.name, { trace: req.body.trace });
      return g;
    },
  );

  app.delete<{ Params: { name: string } }>(
    '/groups/:name',
    {
      config: { role: 'operator' },
      schema: {
        summary: 'Delete a group (its devices stay)',
        tags: ['groups'],
        params: NameParams,
        response: NoContent,
      },
    },
    async (req, reply) => {
      await backend.deleteGroup(req.params.name);
      await audit(req, 'group.delete', req.params.name);
      reply.status(204).send();
    },
  );

  app.post<{ Params: { name: string }; Body: CommandRequest & { expiresIn?: number } }>(
    '/groups/:name/commands',
    {
      config: { role: 'operator' },
      schema: {
        summary: 'Queue the same command for every device of a group',
        tags: ['groups', 'commands'],
        params: NameParams,
        body: CommandCreate,
        response: { 201: GroupCommandResult },
      },
    },
    async (req, reply) => {
      const { expiresIn, ...request } = req.body;
      checkCommandShape(request, 'body');
      const members = await backend.groupMembers(req.params.name);
      if (members.length === 0)
        throw new ApiError(ApiErrorCode.NotFound, `group ${req.params.name} has no devices`);
      const expiresAt = expiresIn ? Date.now() + expiresIn * 1000 : undefined;
      const actor = principalOf(req).name;
      const commands: { deviceId: string; commandId: string }[] = [];
      for (const deviceId of members) {
        const c = await backend.enqueue(deviceId, request, expiresAt, actor);
        commands.push({ deviceId, commandId: c.id });
        if (notifier?.onEnqueue) notifyAfterEnqueue(req, deviceId, await backend.getDevice(deviceId));
      }
      await audit(req, 'group.command', req.params.name, { type: request.type, devices: members.length });
      reply.status(201);
      return { group: req.params.name, commands };
    },
  );

  // ---- tokens and audit ------------------------------------------------------------------------
  app.get(
    '/tokens',
    {
      config: { role: 'admin' },
      schema: {
        summary: 'API tokens (never their secrets)',
        tags: ['tokens'],
        response: { 200: Type.Object({ items: Type.Array(Token) }) },
      },
    },
    async () => ({ items: await backend.listTokens() }),
  );

  app.post<{ Body: { name: string; role: Role } }>(
    '/tokens',
    {
      config: { role: 'admin' },
      schema: {
        summary: 'Create an API token; the secret is in this answer only',
        tags: ['tokens'],
        body: TokenCreate,
        response: { 201: TokenCreated },
      },
    },
    async (req, reply) => {
      const t = await backend.createToken(req.body.name, req.body.role, principalOf(req).name);
      await audit(req, 'token.create', t.id, { name: t.name, role: t.role });
      reply.status(201);
      return t;
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/tokens/:id',
    {
      config: { role: 'admin' },
      schema: { summary: 'Revoke an API token', tags: ['tokens'], params: IdParams, response: NoContent },
    },
    async (req, reply) => {
      await backend.revokeToken(req.params.id);
      await audit(req, 'token.revoke', req.params.id);
      reply.status(204).send();
    },
  );

  app.get<{ Querystring: { actor?: string; action?: string; limit?: number; cursor?: string } }>(
    '/audit',
    {
      config: { role: 'admin' },
      schema: {
        summary: 'The audit log of operator actions, newest first',
        tags: ['audit'],
        querystring: AuditQuery,
        response: { 200: Page(AuditEntry) },
      },
    },
    async (req) => {
      const { limit = 50, cursor, ...filter } = req.query;
      return backend.listAudit(filter, limit, cursor);
    },
  );
}

/** `none` (no credentials at all) is never chosen by accident: it needs `allowNoAuth: true`. */
function checkNoAuth(authType: AuthTypeName, allowNoAuth: boolean | undefined): void {
  if (authType !== 'none') {
    if (allowNoAuth)
      throw new ApiError(ApiErrorCode.Validation, 'body.allowNoAuth is only for authType none', [
        { path: 'body.allowNoAuth', message: 'is only for authType none' },
      ]);
    return;
  }
  if (allowNoAuth !== true) {
    throw new ApiError(
      ApiErrorCode.Validation,
      'authType none accepts the device with no credentials at all: confirm with allowNoAuth: true',
      [{ path: 'body.allowNoAuth', message: 'must be true for authType none' }],
    );
  }
}

/** Rules the schema cannot say: which fields each command type needs. */
function checkCommandShape(c: CommandRequest, path: string): void {
  const bad = (field: string, message: string): never => {
    throw new ApiError(ApiErrorCode.Validation, `${path}.${field} ${message}`, [
      { path: `${path}.${field}`, message },
    ]);
  };
  if (c.type === 'Atomic' || c.type === 'Sequence') {
    if (!c.commands?.length) bad('commands', `is required for ${c.type}`);
    if (c.uri !== undefined) bad('uri', `is not used by ${c.type}; give it to the inner commands`);
    for (const [i, inner] of (c.commands ?? []).entries()) checkCommandShape(inner, `${path}.commands[${i}]`);
    return;
  }
  if (c.commands !== undefined) bad('commands', `is only for Atomic and Sequence, not ${c.type}`);
  if (c.uri === undefined) bad('uri', 'is required');
  if (c.type === 'Replace' && c.value === undefined) bad('value', 'is required for Replace');
  if ((c.type === 'Get' || c.type === 'Delete' || c.type === 'Copy') && c.value !== undefined) {
    bad('value', `is not used by ${c.type}`);
  }
  if (c.type === 'Copy' && c.source === undefined) bad('source', 'is required for Copy');
  if (c.type !== 'Copy' && c.source !== undefined) bad('source', 'is only for Copy');
  if (c.format === 'int' && c.value !== undefined && !/^-?\d+$/.test(c.value))
    bad('value', 'is not an integer (format int)');
  if (c.format === 'bool' && c.value !== undefined && !/^(true|false)$/i.test(c.value)) {
    bad('value', 'is not true or false (format bool)');
  }
  // What the wire cannot carry is refused here, not found out by the device's session.
  if (c.value !== undefined) {
    const problem = valueProblem(c.value, c.format);
    if (problem) bad('value', problem);
  }
}

/** Values can be secrets (passwords written into DMAcc); the audit log keeps only their size. */
function redact(c: CommandRequest): unknown {
  const { value, commands, ...rest } = c;
  return {
    ...rest,
    ...(value !== undefined ? { valueBytes: Buffer.byteLength(value) } : {}),
    ...(commands ? { commands: commands.map(redact) } : {}),
  };
}
