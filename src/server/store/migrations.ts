/**
 * Schema migrations, as code, run by Kysely's Migrator when a store opens. Migrations are
 * append-only: never edit a released one, add the next `NNNN_what` instead. Kysely's Migrator
 * takes a lock, so several server processes starting at once on one PostgreSQL migrate once.
 */
import { type Kysely, sql } from 'kysely';
import { type Migration, type MigrationProvider, Migrator } from 'kysely/migration';
import { StoreError, StoreErrorCode } from './errors.ts';

/** Which SQL backend a migration is running on (for the few type names that differ). */
export type Backend = 'sqlite' | 'postgres';

/** Every migration for `backend`, by name (exported for upgrade tests). */
export function migrations(backend: Backend): Record<string, Migration> {
  const bytes = backend === 'postgres' ? 'bytea' : 'blob';
  // biome-ignore lint/suspicious/noExplicitAny: migrations run before the typed schema exists.
  const serialId = (db: Kysely<any>, table: string) =>
    backend === 'postgres'
      ? db.schema.createTable(table).addColumn('id', 'bigserial', (c) => c.primaryKey())
      : db.schema.createTable(table).addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement());
  return {
    '0001_initial': {
      // biome-ignore lint/suspicious/noExplicitAny: see above.
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('omadm_device')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('auth_type', 'text', (c) => c.notNull())
          .addColumn('client_auth_name', 'text', (c) => c.notNull())
          .addColumn('client_digest', 'text')
          .addColumn('server_auth_name', 'text')
          .addColumn('server_digest', 'text')
          .addColumn('server_secret', 'text')
          .addColumn('client_nonce', 'text')
          .addColumn('server_nonce', 'text')
          .addColumn('dev_info', 'text', (c) => c.notNull())
          .addColumn('dev_detail', 'text', (c) => c.notNull())
          .addColumn('attributes', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .addColumn('last_seen_at', 'bigint')
          .addColumn('session_count', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('online_until', 'bigint')
          .addColumn('current_session', 'text')
          .execute();
        await db.schema
          .createIndex('omadm_device_last_seen')
          .on('omadm_device')
          .column('last_seen_at')
          .execute();

        await db.schema
          .createTable('omadm_device_tag')
          .addColumn('device_id', 'text', (c) =>
            c.notNull().references('omadm_device.id').onDelete('cascade'),
          )
          .addColumn('tag', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('omadm_device_tag_pk', ['device_id', 'tag'])
          .execute();
        await db.schema
          .createIndex('omadm_device_tag_tag')
          .on('omadm_device_tag')
          .columns(['tag', 'device_id'])
          .execute();

        await db.schema
          .createTable('omadm_group')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('description', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('omadm_group_member')
          .addColumn('group_name', 'text', (c) =>
            c.notNull().references('omadm_group.name').onDelete('cascade'),
          )
          .addColumn('device_id', 'text', (c) =>
            c.notNull().references('omadm_device.id').onDelete('cascade'),
          )
          .addPrimaryKeyConstraint('omadm_group_member_pk', ['group_name', 'device_id'])
          .execute();
        await db.schema
          .createIndex('omadm_group_member_device')
          .on('omadm_group_member')
          .column('device_id')
          .execute();

        await db.schema
          .createTable('omadm_tree_value')
          .addColumn('device_id', 'text', (c) =>
            c.notNull().references('omadm_device.id').onDelete('cascade'),
          )
          .addColumn('uri', 'text', (c) => c.notNull())
          .addColumn('value', 'text')
          .addColumn('format', 'text', (c) => c.notNull())
          .addColumn('type', 'text')
          .addColumn('read_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('omadm_tree_value_pk', ['device_id', 'uri'])
          .execute();

        await serialId(db, 'omadm_command')
          .addColumn('device_id', 'text', (c) =>
            c.notNull().references('omadm_device.id').onDelete('cascade'),
          )
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('command', 'text', (c) => c.notNull())
          .addColumn('uri', 'text', (c) => c.notNull())
          .addColumn('value', 'text')
          .addColumn('destructive', 'integer', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('created_by', 'text')
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .addColumn('expires_at', 'bigint')
          .addColumn('session_id', 'text')
          .addColumn('lease_until', 'bigint')
          .addColumn('msg_id', 'integer')
          .addColumn('cmd_id', 'text')
          .addColumn('sent_at', 'bigint')
          .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('status', 'integer')
          .addColumn('results', 'text')
          .addColumn('detail', 'text')
          .addColumn('completed_at', 'bigint')
          .execute();
        // The claim path: a device's queued commands in order.
        await db.schema
          .createIndex('omadm_command_device_state')
          .on('omadm_command')
          .columns(['device_id', 'state', 'id'])
          .execute();
        // Recovery and expiry sweeps.
        await db.schema
          .createIndex('omadm_command_state_lease')
          .on('omadm_command')
          .columns(['state', 'lease_until'])
          .execute();

        await db.schema
          .createTable('omadm_correlator')
          .addColumn('device_id', 'text', (c) => c.notNull())
          .addColumn('correlator', 'text', (c) => c.notNull())
          .addColumn('command_id', 'bigint', (c) =>
            c.notNull().references('omadm_command.id').onDelete('cascade'),
          )
          .addColumn('status', 'integer')
          .addColumn('data', 'text')
          .addColumn('resolved_at', 'bigint')
          .addPrimaryKeyConstraint('omadm_correlator_pk', ['device_id', 'correlator'])
          .execute();
        await db.schema
          .createIndex('omadm_correlator_command')
          .on('omadm_correlator')
          .column('command_id')
          .execute();

        await db.schema
          .createTable('omadm_session')
          .addColumn('device_id', 'text', (c) => c.notNull())
          .addColumn('session_id', 'text', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('version', 'integer', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .addColumn('expires_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('omadm_session_pk', ['device_id', 'session_id'])
          .execute();
        await db.schema
          .createIndex('omadm_session_expires')
          .on('omadm_session')
          .column('expires_at')
          .execute();

        await serialId(db, 'omadm_trace')
          .addColumn('device_id', 'text', (c) => c.notNull())
          .addColumn('session_id', 'text')
          .addColumn('direction', 'text', (c) => c.notNull())
          .addColumn('content_type', 'text', (c) => c.notNull())
          .addColumn('body', sql.raw(bytes), (c) => c.notNull())
          .addColumn('size', 'integer', (c) => c.notNull())
          .addColumn('at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('omadm_trace_device')
          .on('omadm_trace')
          .columns(['device_id', 'id'])
          .execute();
        await db.schema.createIndex('omadm_trace_at').on('omadm_trace').column('at').execute();

        await serialId(db, 'omadm_audit')
          .addColumn('at', 'bigint', (c) => c.notNull())
          .addColumn('actor', 'text', (c) => c.notNull())
          .addColumn('action', 'text', (c) => c.notNull())
          .addColumn('target', 'text')
          .addColumn('details', 'text')
          .execute();
        await db.schema.createIndex('omadm_audit_at').on('omadm_audit').column('at').execute();

        await db.schema
          .createTable('omadm_token')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('role', 'text', (c) => c.notNull())
          .addColumn('hash', 'text', (c) => c.notNull().unique())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('created_by', 'text')
          .addColumn('revoked_at', 'bigint')
          .addColumn('last_used_at', 'bigint')
          .execute();
      },
    },
    '0002_session_key': {
      // RespURI tokens are session keys: find a session by its key alone (one row per session,
      // instead of a second "token index" row under a pseudo-device); and a device's latest one.
      // biome-ignore lint/suspicious/noExplicitAny: see above.
      async up(db: Kysely<any>) {
        await db.schema.createIndex('omadm_session_key').on('omadm_session').column('session_id').execute();
        // A device's latest live session without reading every row of it (session state sits
        // before these columns, so a table walk reads each state's overflow pages).
        await db.schema
          .createIndex('omadm_session_device_updated')
          .on('omadm_session')
          .columns(['device_id', 'updated_at', 'expires_at'])
          .execute();
      },
    },
    '0003_notification': {
      // Package 0 policy state (one row per device: the outstanding notification, when its next
      // attempt is due) and the attempt log.
      // biome-ignore lint/suspicious/noExplicitAny: see above.
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('omadm_notify_state')
          .addColumn('device_id', 'text', (c) =>
            c.primaryKey().references('omadm_device.id').onDelete('cascade'),
          )
          .addColumn('session_id', 'text', (c) => c.notNull())
          .addColumn('ui_mode', 'text', (c) => c.notNull())
          .addColumn('actor', 'text')
          .addColumn('outstanding', 'integer', (c) => c.notNull())
          .addColumn('attempts', 'integer', (c) => c.notNull())
          .addColumn('first_at', 'bigint', (c) => c.notNull())
          .addColumn('last_at', 'bigint')
          .addColumn('next_at', 'bigint')
          .execute();
        // The retry sweep: due rows only.
        await db.schema
          .createIndex('omadm_notify_state_next')
          .on('omadm_notify_state')
          .column('next_at')
          .execute();
        await serialId(db, 'omadm_notify_attempt')
          .addColumn('device_id', 'text', (c) =>
            c.notNull().references('omadm_device.id').onDelete('cascade'),
          )
          .addColumn('at', 'bigint', (c) => c.notNull())
          .addColumn('bearer', 'text', (c) => c.notNull())
          .addColumn('target', 'text', (c) => c.notNull())
          .addColumn('session_id', 'text', (c) => c.notNull())
          .addColumn('ui_mode', 'text', (c) => c.notNull())
          .addColumn('attempt', 'integer', (c) => c.notNull())
          .addColumn('trigger', 'text', (c) => c.notNull())
          .addColumn('actor', 'text')
          .addColumn('result', 'text', (c) => c.notNull())
          .addColumn('status', 'text')
          .addColumn('detail', 'text')
          .addColumn('parts', 'integer', (c) => c.notNull())
          .addColumn('ids', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('omadm_notify_attempt_device')
          .on('omadm_notify_attempt')
          .columns(['device_id', 'id'])
          .execute();
        await db.schema
          .createIndex('omadm_notify_attempt_at')
          .on('omadm_notify_attempt')
          .column('at')
          .execute();
      },
    },
    '0004_session_head': {
      // What a DM server needs of a device's latest session at package 1 (whose session it
      // continues, is it a retransmission, is it still open) as columns, so that read parses no
      // state JSON; and the bytes of the last answer in a column of their own, not base64 inside
      // the state, read only to answer a retransmission. Rows written before this keep these
      // null: readers fall back to the state JSON. The state and the answer's bytes come last.
      // biome-ignore lint/suspicious/noExplicitAny: see above.
      async up(db: Kysely<any>) {
        // The device's latest session when it closed in its first message (a heartbeat): its
        // head lives in the device row the session start updates anyway, so the next package 1
        // finds it with the credentials read. Null: look in omadm_session.
        for (const [name, type] of [
          ['latest_token', 'text'],
          ['latest_dm_session_id', 'text'],
          ['latest_request_hash', 'text'],
          ['latest_expires_at', 'bigint'],
        ] as const) {
          await db.schema.alterTable('omadm_device').addColumn(name, sql.raw(type)).execute();
        }
        if (backend === 'postgres') {
          // PostgreSQL keeps large values out of line (TOAST): column order costs nothing there.
          for (const [name, type] of [
            ['dm_session_id', 'text'],
            ['phase', 'text'],
            ['client_msg_id', 'integer'],
            ['request_hash', 'text'],
            ['reply', bytes],
          ] as const) {
            await db.schema.alterTable('omadm_session').addColumn(name, sql.raw(type)).execute();
          }
          return;
        }
        // SQLite reads a row's columns in order and walks a large value's overflow pages to reach
        // the columns after it: the head must come before the state and the answer, so the table
        // is rebuilt (ALTER TABLE could only append the new columns after `state`).
        await db.schema
          .createTable('omadm_session_0004')
          .addColumn('device_id', 'text', (c) => c.notNull())
          .addColumn('session_id', 'text', (c) => c.notNull())
          .addColumn('version', 'integer', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .addColumn('expires_at', 'bigint', (c) => c.notNull())
          .addColumn('dm_session_id', 'text')
          .addColumn('phase', 'text')
          .addColumn('client_msg_id', 'integer')
          .addColumn('request_hash', 'text')
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('reply', bytes)
          .addPrimaryKeyConstraint('omadm_session_pk', ['device_id', 'session_id'])
          .execute();
        await sql`insert into omadm_session_0004
            (device_id, session_id, version, created_at, updated_at, expires_at, state)
          select device_id, session_id, version, created_at, updated_at, expires_at, state
          from omadm_session`.execute(db);
        await db.schema.dropTable('omadm_session').execute();
        await db.schema.alterTable('omadm_session_0004').renameTo('omadm_session').execute();
        await db.schema
          .createIndex('omadm_session_expires')
          .on('omadm_session')
          .column('expires_at')
          .execute();
        await db.schema.createIndex('omadm_session_key').on('omadm_session').column('session_id').execute();
        await db.schema
          .createIndex('omadm_session_device_updated')
          .on('omadm_session')
          .columns(['device_id', 'updated_at', 'expires_at'])
          .execute();
      },
    },
    '0006_device_event': {
      // Every Generic Alert / Client Event a device sends (EventStore); bounded by retention.
      // biome-ignore lint/suspicious/noExplicitAny: see above.
      async up(db: Kysely<any>) {
        await serialId(db, 'omadm_device_event')
          .addColumn('device_id', 'text', (c) => c.notNull())
          .addColumn('at', 'bigint', (c) => c.notNull())
          .addColumn('alert_code', 'integer', (c) => c.notNull())
          .addColumn('alert_type', 'text')
          .addColumn('format', 'text')
          .addColumn('mark', 'text')
          .addColumn('source_uri', 'text')
          .addColumn('target_uri', 'text')
          .addColumn('correlator', 'text')
          .addColumn('data', 'text')
          .addColumn('session_id', 'text')
          .execute();
        await db.schema
          .createIndex('omadm_device_event_device')
          .on('omadm_device_event')
          .columns(['device_id', 'id'])
          .execute();
        await db.schema.createIndex('omadm_device_event_at').on('omadm_device_event').column('at').execute();
      },
    },
    '0007_retention': {
      // Bounded disk (issue 21): a compact record per session (a heartbeat keeps only that), the
      // raw-trace switch of devices and groups, indexes the batched pruner walks, and on
      // PostgreSQL autovacuum settings that keep up with tables pruned continuously.
      // biome-ignore lint/suspicious/noExplicitAny: see above.
      async up(db: Kysely<any>) {
        await db.schema.alterTable('omadm_device').addColumn('trace', 'text').execute();
        await db.schema.alterTable('omadm_group').addColumn('trace', 'text').execute();
        await serialId(db, 'omadm_session_log')
          .addColumn('device_id', 'text', (c) => c.notNull())
          .addColumn('at', 'bigint', (c) => c.notNull())
          .addColumn('outcome', 'text', (c) => c.notNull())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('messages', 'integer', (c) => c.notNull())
          .addColumn('bytes', 'integer', (c) => c.notNull())
          .addColumn('session_id', 'text')
          .execute();
        await db.schema
          .createIndex('omadm_session_log_device')
          .on('omadm_session_log')
          .columns(['device_id', 'id'])
          .execute();
        await db.schema.createIndex('omadm_session_log_at').on('omadm_session_log').column('at').execute();
        // Per-device retention counts a device's traced sessions without reading their bytes.
        await db.schema
          .createIndex('omadm_trace_device_session')
          .on('omadm_trace')
          .columns(['device_id', 'session_id', 'id'])
          .execute();
        // Finished commands are purged by completion time, oldest first, in batches.
        await db.schema
          .createIndex('omadm_command_completed')
          .on('omadm_command')
          .column('completed_at')
          .execute();
        if (backend === 'postgres') {
          // Pruned continuously: vacuum after 2 % of dead rows (default 20 %), so freed space is
          // reused before the table grows. The device row is rewritten by every session: room on
          // its page lets PostgreSQL update it in place (HOT) instead of leaving dead versions.
          for (const t of [
            'omadm_trace',
            'omadm_session_log',
            'omadm_session',
            'omadm_notify_attempt',
            'omadm_command',
            'omadm_audit',
          ]) {
            await sql`alter table ${sql.table(t)} set (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_insert_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.05)`.execute(
              db,
            );
          }
          await sql`alter table omadm_device set (fillfactor = 80, autovacuum_vacuum_scale_factor = 0.05)`.execute(
            db,
          );
        } else {
          // Freed pages can be given back to the file system (PRAGMA incremental_vacuum). A new
          // database is created in this mode (NodeSqliteDialect); an older one switches at the
          // VACUUM openStore runs once after this migration (VACUUM cannot run in a transaction).
          await sql`PRAGMA auto_vacuum = INCREMENTAL`.execute(db);
        }
      },
    },
    '0008_alert_verdict': {
      // A Generic Alert's result is judged by its alert type (FUMO 200/250–299, SCOMO/LAWMO/DCMO
      // 1200–1299): keep the type and the verdict with the alert. Older rows keep null (judged by
      // their status as before).
      // biome-ignore lint/suspicious/noExplicitAny: see above.
      async up(db: Kysely<any>) {
        await db.schema.alterTable('omadm_correlator').addColumn('alert_type', 'text').execute();
        await db.schema.alterTable('omadm_correlator').addColumn('verdict', 'text').execute();
      },
    },
    '0009_trace_outcome': {
      // How a session ended (completed, authFailed, expired, superseded, …), on the trace row of
      // the message that ended it: written with that message's answer (no statement of its own),
      // or set on the session's last row when it ends later (superseded, expired by the sweep).
      // Null on every other row, and on rows written before this.
      // biome-ignore lint/suspicious/noExplicitAny: see above.
      async up(db: Kysely<any>) {
        await db.schema.alterTable('omadm_trace').addColumn('outcome', 'text').execute();
      },
    },
  };
}

class CodeMigrationProvider implements MigrationProvider {
  readonly #backend: Backend;
  constructor(backend: Backend) {
    this.#backend = backend;
  }
  async getMigrations(): Promise<Record<string, Migration>> {
    return migrations(this.#backend);
  }
}

/** Brings the schema up to date. Safe to call from several processes at once. */
// biome-ignore lint/suspicious/noExplicitAny: the migrator works on the untyped schema.
export async function migrateToLatest(db: Kysely<any>, backend: Backend, schema?: string): Promise<void> {
  const migrator = new Migrator({
    db,
    provider: new CodeMigrationProvider(backend),
    migrationTableName: 'omadm_migration',
    migrationLockTableName: 'omadm_migration_lock',
    ...(schema ? { migrationTableSchema: schema } : {}),
  });
  let { error, results } = await migrator.migrateToLatest();
  // Kysely's introspector lists tables across all schemas; another application dropping a schema
  // at that moment makes it fail (3F000/42P01). Migrations are transactional, so retry.
  for (let attempt = 1; error && attempt <= 3 && isTransientCatalogError(error); attempt++) {
    await new Promise((r) => setTimeout(r, 50 * attempt));
    ({ error, results } = await migrator.migrateToLatest());
  }
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new StoreError(StoreErrorCode.Migration, `database migration ${failed} failed`, { cause: error });
  }
}

function isTransientCatalogError(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return code === '3F000' || code === '42P01' || code === 'XX000';
}
