/**
 * TypeBox schemas of the operator API: the request validation (Fastify's Ajv compiles them) and
 * the OpenAPI document come from these, and `Static<>` gives the handler types.
 */
import { type Static, Type } from 'typebox';

export const Iso = Type.String({ format: 'date-time', description: 'ISO 8601 time (UTC).' });
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

export const AuthTypeName = Type.Union(
  [
    Type.Literal('basic'),
    Type.Literal('md5'),
    Type.Literal('hmac'),
    Type.Literal('transport'),
    Type.Literal('none'),
  ],
  {
    description:
      'How the device authenticates: syncml:auth-basic, syncml:auth-md5, HMAC (x-syncml-hmac), transport ' +
      '(TLS client certificate, no DM-level credentials), or none (no credentials at all; sessions only ' +
      'over TLS; needs allowNoAuth).',
  },
);
export type AuthTypeName = Static<typeof AuthTypeName>;

export const Role = Type.Union([Type.Literal('admin'), Type.Literal('operator'), Type.Literal('viewer')]);
export type Role = Static<typeof Role>;

/** A tag or group name: printable, no commas (they separate filter values in the CLI). */
const Label = Type.String({ minLength: 1, maxLength: 64, pattern: '^[^,\\s][^,]*$' });
const DeviceIdSchema = Type.String({
  minLength: 1,
  maxLength: 256,
  pattern: '^[\\x21-\\x7e]+$',
  description: 'The DevId (e.g. IMEI:490154203237518), as the device sends it in SyncHdr/Source/LocURI.',
});

export const NotifyAddress = Type.Object(
  {
    bearer: Type.String({
      minLength: 1,
      maxLength: 32,
      description: 'A bearer the server has: udp, sms-smpp, pap, sip, …',
    }),
    target: Type.String({
      minLength: 1,
      maxLength: 256,
      description: "The device's address for that bearer: host:port, an MSISDN, a sip: URI.",
    }),
  },
  {
    additionalProperties: false,
    description: 'Where the device listens for Package 0 (server-initiated sessions).',
  },
);

export const NotifyResult = Type.Object({
  bearer: Type.String(),
  target: Type.String(),
  accepted: Type.Boolean({
    description: 'The next hop took the message (not proof of delivery to the device).',
  }),
  ids: Type.Array(Type.String()),
  parts: Type.Integer(),
  status: Type.Optional(Type.String()),
  detail: Type.Optional(Type.String()),
  sessionId: Type.String({ description: 'SessionID (hex) of the session the device is asked to open.' }),
});

export const NotifyRequest = Type.Object(
  {
    uiMode: Type.Optional(
      Type.Union(
        [
          Type.Literal('not-specified'),
          Type.Literal('background'),
          Type.Literal('informative'),
          Type.Literal('interactive'),
          Type.Literal('user-interaction'),
        ],
        { description: "Package 0 ui-mode for this notification (default: the server's setting)." },
      ),
    ),
  },
  { additionalProperties: false },
);

export const NotificationAttempt = Type.Object({
  id: Type.String(),
  at: Type.String({ format: 'date-time' }),
  bearer: Type.String(),
  target: Type.String(),
  sessionId: Type.String(),
  uiMode: Type.String(),
  attempt: Type.Integer({ description: '1 for the first send of a notification, 2.. for its retries.' }),
  trigger: Type.String({ description: 'request, enqueue, retry or deferred.' }),
  actor: Nullable(Type.String()),
  result: Type.String({ description: 'accepted, refused (by the next hop) or error (could not deliver).' }),
  status: Nullable(Type.String()),
  detail: Nullable(Type.String()),
  parts: Type.Integer(),
  ids: Type.Array(Type.String()),
});

export const NotificationState = Type.Object({
  outstanding: Type.Boolean(),
  sessionId: Type.String(),
  attempts: Type.Integer(),
  since: Type.String({ format: 'date-time' }),
  nextAt: Nullable(Type.String({ format: 'date-time' })),
});

export const DeviceParams = Type.Object({ id: DeviceIdSchema });
export const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }) });
export const NameParams = Type.Object({ name: Label });

export const TraceModeName = Type.Union([Type.Literal('full'), Type.Literal('errors'), Type.Literal('off')], {
  description:
    "Raw-trace switch: `full` keeps every session's messages (heartbeats too), `errors` only failed ones, " +
    "`off` none; null: the default (every session but a heartbeat). A device's own switch wins over its groups'.",
});

export const Device = Type.Object({
  id: Type.String(),
  authType: AuthTypeName,
  serverId: Nullable(Type.String()),
  hasServerSecret: Type.Boolean(),
  tags: Type.Array(Type.String()),
  groups: Type.Array(Type.String()),
  enrolled: Type.Union([Type.Literal('provisioned'), Type.Literal('auto')]),
  notify: Nullable(NotifyAddress),
  online: Type.Boolean({
    description: 'A session with this device is going on (its last message less than a minute ago).',
  }),
  lastSeen: Nullable(Iso),
  sessionCount: Type.Integer(),
  devInfo: Nullable(Type.Record(Type.String(), Type.String())),
  devDetail: Nullable(Type.Record(Type.String(), Type.String())),
  createdAt: Iso,
  updatedAt: Iso,
  trace: Nullable(TraceModeName),
});
export type Device = Static<typeof Device>;

export const DeviceCreate = Type.Object(
  {
    id: DeviceIdSchema,
    secret: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 256,
        description:
          'The client secret (ClientPW); required unless authType is transport or none. Only its digest ' +
          'B64(MD5(id:secret)) is stored.',
      }),
    ),
    authType: Type.Optional(AuthTypeName),
    allowNoAuth: Type.Optional(
      Type.Boolean({
        description:
          'Must be true with authType none: the device gets sessions without any credentials (over TLS only).',
      }),
    ),
    serverId: Type.Optional(
      Type.String({ minLength: 1, maxLength: 256, description: 'The ServerID this device knows us by.' }),
    ),
    serverSecret: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 256,
        description: 'The server secret (ServerPW) the server authenticates itself with to the device.',
      }),
    ),
    tags: Type.Optional(Type.Array(Label, { maxItems: 64 })),
    groups: Type.Optional(Type.Array(Label, { maxItems: 64 })),
    notify: Type.Optional(NotifyAddress),
  },
  { additionalProperties: false },
);
export type DeviceCreate = Static<typeof DeviceCreate>;

export const DeviceUpdate = Type.Object(
  {
    secret: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    authType: Type.Optional(AuthTypeName),
    allowNoAuth: Type.Optional(Type.Boolean({ description: 'Must be true to change authType to none.' })),
    serverId: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    serverSecret: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    tags: Type.Optional(Type.Array(Label, { maxItems: 64 })),
    groups: Type.Optional(Type.Array(Label, { maxItems: 64 })),
    notify: Type.Optional(Nullable(NotifyAddress)),
    trace: Type.Optional(Nullable(TraceModeName)),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type DeviceUpdate = Static<typeof DeviceUpdate>;

export const Limit = Type.Integer({ minimum: 1, maximum: 500, default: 50, description: 'Page size.' });
export const Cursor = Type.String({
  minLength: 1,
  maxLength: 512,
  description: 'The `nextCursor` of the previous page.',
});

export const DeviceListQuery = Type.Object(
  {
    tag: Type.Optional(Label),
    group: Type.Optional(Label),
    online: Type.Optional(Type.Boolean()),
    q: Type.Optional(
      Type.String({ minLength: 1, maxLength: 256, description: 'Substring of the DevId, make or model.' }),
    ),
    limit: Type.Optional(Limit),
    cursor: Type.Optional(Cursor),
  },
  { additionalProperties: false },
);
export type DeviceListQuery = Static<typeof DeviceListQuery>;

export const Page = <T extends Parameters<typeof Type.Array>[0]>(item: T) =>
  Type.Object({ items: Type.Array(item), nextCursor: Nullable(Type.String()) });

export const TreeQuery = Type.Object(
  {
    path: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 1024,
        description: 'A node URI; the node and everything below it.',
      }),
    ),
  },
  { additionalProperties: false },
);

export const TreeNode = Type.Object({
  uri: Type.String(),
  value: Nullable(Type.String()),
  format: Nullable(Type.String()),
  type: Nullable(Type.String()),
  readAt: Iso,
});

/** The DDF formats a value may be sent in. */
export const FormatName = Type.Union(
  ['b64', 'bin', 'bool', 'chr', 'int', 'node', 'null', 'xml', 'date', 'time', 'float'].map((f) =>
    Type.Literal(f),
  ),
);

const Uri = Type.String({
  minLength: 1,
  maxLength: 1024,
  description: 'A node URI (./DevInfo/Mod, Vendor/…).',
});

export const CommandItem = Type.Object(
  {
    uri: Uri,
    value: Type.Optional(Type.String({ maxLength: 1_000_000 })),
    format: Type.Optional(FormatName),
    type: Type.Optional(Type.String({ maxLength: 128, description: 'MIME type (Meta/Type) of the value.' })),
    source: Type.Optional(
      Type.String({ minLength: 1, maxLength: 1024, description: 'Copy: the source URI.' }),
    ),
  },
  { additionalProperties: false },
);

const LeafType = Type.Union(['Get', 'Add', 'Replace', 'Delete', 'Copy', 'Exec'].map((t) => Type.Literal(t)));

const LeafFields = {
  uri: Type.Optional(Uri),
  value: Type.Optional(Type.String({ maxLength: 1_000_000 })),
  format: Type.Optional(FormatName),
  contentType: Type.Optional(
    Type.String({ maxLength: 128, description: 'MIME type (Meta/Type) of the value.' }),
  ),
  source: Type.Optional(Type.String({ minLength: 1, maxLength: 1024, description: 'Copy: the source URI.' })),
};

export const LeafCommand = Type.Object({ type: LeafType, ...LeafFields }, { additionalProperties: false });

/** A member of a group: a leaf command, or (inside a Sequence) an Atomic of leaf commands. */
export const MemberCommand = Type.Object(
  {
    type: Type.Union([LeafType, Type.Literal('Atomic')]),
    ...LeafFields,
    commands: Type.Optional(Type.Array(LeafCommand, { minItems: 1, maxItems: 100 })),
  },
  { additionalProperties: false },
);

export const CommandCreate = Type.Object(
  {
    type: Type.Union([LeafType, Type.Literal('Atomic'), Type.Literal('Sequence')], {
      description: 'The DM command.',
    }),
    ...LeafFields,
    commands: Type.Optional(
      Type.Array(MemberCommand, {
        minItems: 1,
        maxItems: 100,
        description: 'Atomic/Sequence: the inner commands.',
      }),
    ),
    expiresIn: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 365 * 86400,
        description: 'Seconds after which an undelivered command expires.',
      }),
    ),
  },
  { additionalProperties: false },
);
export type CommandCreate = Static<typeof CommandCreate>;

export const ResultItem = Type.Object({
  uri: Type.String(),
  value: Nullable(Type.String()),
  format: Nullable(Type.String()),
  type: Nullable(Type.String()),
});

export const Command = Type.Object({
  id: Type.String(),
  deviceId: Type.String(),
  type: Type.String(),
  request: Type.Unknown({ description: 'The command as queued.' }),
  state: Type.String({
    description:
      'queued, sent, succeeded, failed, pending (Exec accepted, awaiting its Generic Alert), expired, canceled.',
  }),
  status: Nullable(Type.Integer({ description: 'The DM status code the device answered.' })),
  results: Type.Array(ResultItem),
  detail: Type.Unknown({
    description:
      'Group member statuses (members), the Generic Alerts that completed an Exec (alerts), or why it ended (reason).',
  }),
  attempts: Type.Integer({ description: 'How many sessions took the command.' }),
  createdBy: Nullable(Type.String()),
  sessionId: Nullable(Type.String()),
  createdAt: Iso,
  sentAt: Nullable(Iso),
  completedAt: Nullable(Iso),
  expiresAt: Nullable(Iso),
});

export const CommandQuery = Type.Object(
  {
    wait: Type.Optional(
      Type.Number({
        minimum: 0,
        maximum: 300,
        description: 'Long-poll: wait up to this many seconds for the command to reach a final state.',
      }),
    ),
  },
  { additionalProperties: false },
);

export const CommandState = Type.Union(
  ['queued', 'claimed', 'sent', 'pending', 'succeeded', 'failed', 'unknown', 'expired', 'cancelled'].map(
    (s) => Type.Literal(s),
  ),
);

export const FleetCommandListQuery = Type.Object(
  {
    state: Type.Optional(CommandState),
    device: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    limit: Type.Optional(Limit),
    cursor: Type.Optional(Cursor),
  },
  { additionalProperties: false },
);

export const CommandListQuery = Type.Object(
  {
    state: Type.Optional(CommandState),
    limit: Type.Optional(Limit),
    cursor: Type.Optional(Cursor),
  },
  { additionalProperties: false },
);

export const DeviceEvent = Type.Object({
  id: Type.String(),
  deviceId: Type.String(),
  at: Iso,
  alertCode: Type.Integer({ description: '1226 Generic Alert, 1224 Client Event.' }),
  alertType: Nullable(
    Type.String({ description: 'Meta/Type, e.g. org.openmobilealliance.dm.firmwareupdate.update.' }),
  ),
  format: Nullable(Type.String({ description: 'Meta/Format of the data.' })),
  mark: Nullable(
    Type.String({ description: 'Meta/Mark: fatal, critical, major, minor, warning, informational…' }),
  ),
  sourceUri: Nullable(Type.String({ description: 'The node the alert is about (Item Source).' })),
  targetUri: Nullable(Type.String()),
  correlator: Nullable(Type.String({ description: 'Ties the alert to an Exec.' })),
  data: Nullable(Type.String({ description: 'Item Data as text (b64/bin data as base64).' })),
  sessionId: Nullable(Type.String({ description: 'DM SessionID of the session that carried it.' })),
});

export const EventListQuery = Type.Object(
  {
    type: Type.Optional(Type.String({ minLength: 1, maxLength: 2048, description: 'Only this alert type.' })),
    correlator: Type.Optional(Type.String({ minLength: 1, maxLength: 2048 })),
    limit: Type.Optional(Limit),
    cursor: Type.Optional(Cursor),
  },
  { additionalProperties: false },
);

export const Session = Type.Object({
  id: Type.String(),
  deviceId: Type.String(),
  startedAt: Iso,
  endedAt: Nullable(Iso),
  outcome: Nullable(
    Type.String({
      description:
        'live, completed, authFailed, aborted, limit, expired, superseded; ended when not recorded',
    }),
  ),
  reason: Nullable(Type.String({ description: 'Why it ended, in words' })),
  messages: Type.Integer(),
});

export const SessionRecord = Type.Object({
  endedAt: Iso,
  outcome: Type.String({ description: 'completed, aborted, authFailed, expired, superseded or limit.' }),
  kind: Type.Union([Type.Literal('heartbeat'), Type.Literal('commands'), Type.Literal('error')]),
  messages: Type.Integer(),
  bytes: Type.Integer({ description: 'Bytes received and sent.' }),
  traced: Nullable(
    Type.String({ description: 'The session id for GET /sessions/{id}/trace; null: not traced.' }),
  ),
});

export const TraceMessage = Type.Object({
  seq: Type.Integer(),
  direction: Type.Union([Type.Literal('in'), Type.Literal('out')]),
  at: Iso,
  contentType: Type.String(),
  size: Type.Integer(),
  xml: Nullable(
    Type.String({ description: 'The message as XML (WBXML decoded); null when it does not decode.' }),
  ),
});

export const Trace = Type.Object({ session: Session, messages: Type.Array(TraceMessage) });

export const Group = Type.Object({
  name: Type.String(),
  description: Type.String(),
  devices: Type.Integer(),
  trace: Nullable(TraceModeName),
});

export const GroupUpdate = Type.Object({ trace: Nullable(TraceModeName) }, { additionalProperties: false });

export const GroupCreate = Type.Object(
  { name: Label, description: Type.Optional(Type.String({ maxLength: 1024 })) },
  { additionalProperties: false },
);

export const RetryBody = Type.Object(
  {
    expiresIn: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 365 * 86400,
        description: 'Seconds after which the copy expires.',
      }),
    ),
  },
  { additionalProperties: false },
);

export const GroupCommandResult = Type.Object({
  group: Type.String(),
  commands: Type.Array(Type.Object({ deviceId: Type.String(), commandId: Type.String() })),
});

export const TokenCreate = Type.Object(
  { name: Type.String({ minLength: 1, maxLength: 128 }), role: Role },
  { additionalProperties: false },
);
export const Token = Type.Object({
  id: Type.String(),
  name: Type.String(),
  role: Role,
  createdAt: Iso,
  lastUsedAt: Nullable(Iso),
});
export const TokenCreated = Type.Object({
  id: Type.String(),
  name: Type.String(),
  role: Role,
  createdAt: Iso,
  lastUsedAt: Nullable(Iso),
  token: Type.String({ description: 'The secret; shown once, only its hash is stored.' }),
});

export const AuditEntry = Type.Object({
  id: Type.String(),
  at: Iso,
  actor: Type.String(),
  action: Type.String(),
  target: Nullable(Type.String()),
  details: Type.Unknown(),
});

export const AuditQuery = Type.Object(
  {
    actor: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    action: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    limit: Type.Optional(Limit),
    cursor: Type.Optional(Cursor),
  },
  { additionalProperties: false },
);

export const WhoAmI = Type.Object({ name: Type.String(), role: Role });
