/**
 * Exec on a node: hands the command to the plugin that owns it, with a `report` for a late result
 * (202, then Generic Alert 1226). Not undoable, so never inside an explicit transaction. (The
 * executor of SyncML commands against the tree is exec.ts.)
 */
import { StatusCode } from '../representation/index.ts';
import { allowed, parse, schemaCheck, serverIdOf } from './access.ts';
import { AclCommand } from './acl.ts';
import { nodeInfo } from './node-info.ts';
import { callPlugin, pluginContext } from './plugin.ts';
import type { Scope } from './scope.ts';
import type { ExecContext, ExecInput, Principal } from './types.ts';
import { formatUri } from './uri.ts';

const S = StatusCode;

/** Exec: 200, or 202 when the plugin reports the result later; 500 inside an explicit transaction. */
export async function execNode(
  scope: Scope,
  uri: string,
  input: ExecInput,
  who: Principal,
): Promise<StatusCode> {
  const parsed = parse(scope, uri);
  if (typeof parsed === 'number') return parsed;
  if (parsed.prop !== undefined || parsed.list !== undefined) return S.CommandNotAllowed;
  const info = await nodeInfo(scope, parsed.path, who);
  if (typeof info === 'number') return info;
  const refused = schemaCheck(scope, {
    op: 'Exec',
    path: info.path,
    format: input.format,
    type: input.type,
    data: input.data,
    local: who.kind === 'local',
  });
  if (refused !== undefined) return refused;
  if (!allowed(scope, who, AclCommand.Exec, info.path)) return S.PermissionDenied;
  if (!info.plugin?.mo.exec) return S.CommandNotAllowed;
  if (scope.explicit) return S.CommandFailed; // Exec cannot be undone: not inside Atomic
  const { mo, rel } = info.plugin;
  const serverId = serverIdOf(who);
  const correlator = input.correlator;
  const core = scope.core;
  const resultUri = formatUri(info.path);
  const ctx: ExecContext = {
    ...pluginContext(scope, who),
    correlator,
    report(result) {
      core.emitExecResult({ uri: resultUri, serverId, correlator, ...result });
    },
  };
  scope.participate(mo);
  return callPlugin(() => mo.exec!(rel, input, ctx));
}
