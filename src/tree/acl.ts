/**
 * ACL property values (protocol.md §6.4):
 *
 *   acl        := "" | entry ("&" entry)*
 *   entry      := command "=" server-ids
 *   server-ids := server-id ("+" server-id)*
 *   command    := "Add" | "Delete" | "Exec" | "Get" | "Replace"
 *
 * Rights go to ServerIDs; `*` grants any authenticated server. An empty ACL means "inherit from the
 * nearest ancestor with a non-empty ACL" (all or nothing, never merged per command).
 */
import { StatusCode } from '../representation/index.ts';
import { TreeError, TreeErrorCode } from './errors.ts';

export const AclCommand = {
  Add: 'Add',
  Delete: 'Delete',
  Exec: 'Exec',
  Get: 'Get',
  Replace: 'Replace',
} as const;
export type AclCommand = (typeof AclCommand)[keyof typeof AclCommand];

const COMMANDS: ReadonlySet<string> = new Set(Object.values(AclCommand));

/** A parsed ACL: for each command listed, its server ids (`*` = everyone), in first-seen order. */
export type Acl = ReadonlyMap<AclCommand, readonly string[]>;

/** The factory default ACL of the root (protocol.md §6.4). */
export const ROOT_DEFAULT_ACL = 'Add=*&Get=*';

const ID_FORBIDDEN = /[=&*+\s]/;
/** Longest ACL accepted (far above real ones; bounds the work a hostile Replace can cause). */
export const MAX_ACL_LENGTH = 65536;

function bad(text: string, why: string): TreeError {
  return new TreeError(
    TreeErrorCode.AclInvalid,
    `invalid ACL ${JSON.stringify(text)}: ${why}`,
    StatusCode.BadRequest,
  );
}

/** Parses an ACL string; throws TreeError (status 400) when it does not follow the grammar. */
export function parseAcl(text: string): Acl {
  const acl = new Map<AclCommand, string[]>();
  if (text === '') return acl;
  if (text.length > MAX_ACL_LENGTH) {
    throw new TreeError(
      TreeErrorCode.AclInvalid,
      `ACL longer than ${MAX_ACL_LENGTH} characters`,
      StatusCode.RequestEntityTooLarge,
    );
  }
  const seen = new Map<AclCommand, Set<string>>();
  for (const entry of text.split('&')) {
    const eq = entry.indexOf('=');
    if (eq < 0) throw bad(text, `entry ${JSON.stringify(entry)} has no "="`);
    const command = entry.slice(0, eq);
    if (!COMMANDS.has(command)) throw bad(text, `unknown command ${JSON.stringify(command)}`);
    const ids = entry.slice(eq + 1);
    if (ids === '') throw bad(text, `command ${command} lists no server`);
    let list = acl.get(command as AclCommand);
    let set = seen.get(command as AclCommand);
    if (!list || !set) {
      list = [];
      set = new Set();
      acl.set(command as AclCommand, list);
      seen.set(command as AclCommand, set);
    }
    for (const id of ids.split('+')) {
      if (id === '') throw bad(text, 'empty server id');
      if (id !== '*' && ID_FORBIDDEN.test(id)) throw bad(text, `server id ${JSON.stringify(id)}`);
      if (!set.has(id)) {
        set.add(id);
        list.push(id);
      }
    }
  }
  return acl;
}

/** Formats an ACL; commands without ids are dropped (never `Get=`). */
export function formatAcl(acl: Acl): string {
  const parts: string[] = [];
  for (const [command, ids] of acl) if (ids.length > 0) parts.push(`${command}=${ids.join('+')}`);
  return parts.join('&');
}

/** Checks the grammar and returns the normalized form (duplicates merged). Throws like parseAcl. */
export function normalizeAcl(text: string): string {
  return formatAcl(parseAcl(text));
}

const cache = new Map<string, Acl>();

/** parseAcl with a small cache: the same few ACL strings are checked on every command. */
function cachedAcl(text: string): Acl {
  let acl = cache.get(text);
  if (!acl) {
    acl = parseAcl(text);
    if (cache.size >= 512) cache.clear();
    cache.set(text, acl);
  }
  return acl;
}

/** Whether a (non-empty, valid) ACL grants `command` to `serverId`. */
export function aclGrants(text: string, command: AclCommand, serverId: string): boolean {
  let acl: Acl;
  try {
    acl = cachedAcl(text);
  } catch {
    return false; // a stored ACL is always valid; refuse rather than guess
  }
  const ids = acl.get(command);
  return ids !== undefined && (ids.includes('*') || ids.includes(serverId));
}

/**
 * Removes a ServerID from an ACL (the server was removed from the device). Commands left without
 * ids disappear; on the root, a command left empty becomes `*` (protocol.md §6.4).
 */
export function aclWithoutServer(text: string, serverId: string, isRoot: boolean): string {
  if (text === '') return text;
  const acl = parseAcl(text);
  const out = new Map<AclCommand, readonly string[]>();
  for (const [command, ids] of acl) {
    const left = ids.filter((id) => id !== serverId);
    if (left.length > 0) out.set(command, left);
    else if (isRoot) out.set(command, ['*']);
  }
  return formatAcl(out);
}

/** An ACL granting exactly these commands to one server. */
export function aclFor(serverId: string, commands: readonly AclCommand[]): string {
  return commands.map((c) => `${c}=${serverId}`).join('&');
}
