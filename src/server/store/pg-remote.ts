/**
 * PostgreSQL LISTEN/NOTIFY for command waiters on other nodes. A node that settles a command
 * publishes its id; every node listening re-emits it on its in-process event bus, so a
 * `?wait=` long-poll on node A wakes within milliseconds of node B applying the device's Status.
 * Best effort by design: publishing is fire-and-forget and a lost listener only means waiters fall
 * back to polling (`waitFor` always polls with backoff as well), never a missed completion.
 */
import type { EventEmitter } from 'node:events';
import { type Kysely, sql } from 'kysely';
import pg from 'pg';
import type { Database } from './schema.ts';

/** One channel per schema, so stores in different schemas do not wake each other. */
function channelName(schema: string | undefined): string {
  return schema ? `omadm_command_${schema}` : 'omadm_command';
}

export function pgRemote(
  db: Kysely<Database>,
  url: string,
  events: EventEmitter,
  schema: string | undefined,
) {
  const channel = channelName(schema);
  let client: pg.Client | undefined;
  let closed = false;
  let listening: Promise<void> | undefined;

  const drop = () => {
    const c = client;
    client = undefined;
    listening = undefined;
    c?.end().catch(() => {});
  };

  return {
    publish(ids: readonly number[]): void {
      if (closed) return;
      // NOTIFY payloads are limited to 8000 bytes: chunk long id lists (recovery sweeps).
      for (let i = 0; i < ids.length; i += 500) {
        const payload = ids.slice(i, i + 500).join(',');
        sql`select pg_notify(${channel}, ${payload})`.execute(db).catch(() => {});
      }
    },
    /** Starts listening (idempotent); resolves once LISTEN is active (or failed: polling remains). */
    subscribe(): Promise<void> {
      if (closed) return Promise.resolve();
      if (listening) return listening;
      const c = new pg.Client({ connectionString: url });
      client = c;
      c.on('notification', (msg) => {
        if (msg.channel !== channel || !msg.payload) return;
        for (const id of msg.payload.split(',')) events.emit(`command:${id}`);
      });
      c.on('error', drop);
      listening = c
        .connect()
        .then(() => c.query(`LISTEN "${channel}"`))
        .then(
          () => undefined,
          () => {
            if (client === c) drop();
          },
        );
      return listening;
    },
    async close(): Promise<void> {
      closed = true;
      await listening;
      const c = client;
      client = undefined;
      await c?.end().catch(() => {});
    },
  };
}
