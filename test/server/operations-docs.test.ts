/**
 * docs/operations.md and the Grafana dashboard stay in step with what a server exports: every
 * metric a server serves on /metrics is documented, and every metric the dashboard queries is
 * served (histogram series by their base name).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { api, freshBackend, startServer } from './helpers.ts';

const ROOT = new URL('../..', import.meta.url);
/** Metrics documented and built elsewhere (authentication failures: docs/operations.md, security). */
const ELSEWHERE = new Set(['omadm_auth_failures_total']);

test('docs/operations.md lists every metric /metrics serves; the dashboard queries only those', async (t) => {
  const backend = await freshBackend('sqlite');
  const store = await backend.open();
  const srv = await startServer(store);
  t.after(async () => {
    await srv.close();
    await store.close();
    await backend.cleanup();
  });
  const text = String((await api(srv.url, undefined, 'GET', '/metrics')).body);
  const served = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1] as string));
  assert.ok(served.has('omadm_dm_sessions_total'));

  const doc = readFileSync(new URL('docs/operations.md', ROOT), 'utf8');
  for (const name of served) assert.ok(doc.includes(`\`${name}\``), `${name} is not in docs/operations.md`);

  const dashboard = JSON.parse(readFileSync(new URL('examples/grafana-dashboard.json', ROOT), 'utf8')) as {
    panels: { targets: { expr: string }[] }[];
  };
  const queried = new Set(
    dashboard.panels.flatMap((p) =>
      p.targets.flatMap((q) =>
        [...q.expr.matchAll(/\b((?:omadm|process|nodejs)_\w+)/g)].map((m) => m[1] as string),
      ),
    ),
  );
  for (const name of queried) {
    const base = name.replace(/_(bucket|sum|count)$/, '');
    assert.ok(
      served.has(base) || ELSEWHERE.has(base),
      `the dashboard queries ${name}, which no server serves`,
    );
  }
});
