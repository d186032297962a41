/**
 * Secret values in queued commands (an Add/Replace of AAuthSecret, a TNDS document provisioning
 * an account): sealed with the store's SecretBox before the row is written, opened only for the
 * session that sends them, and left out of every other record the queue returns.
 */
import type { AtomicMember, DmCommand, SequenceMember } from './command.ts';
import type { SecretBox } from './secret-box.ts';
import type { SecretLeaves } from './secret-leaves.ts';

type Member = DmCommand | AtomicMember | SequenceMember;

/** True when a member's value is secret: its target is a secret leaf, or it is a TNDS naming one. */
function carriesSecret(c: Member, secrets: SecretLeaves): boolean {
  if (c.kind !== 'Add' && c.kind !== 'Replace' && c.kind !== 'Exec') return false;
  if (c.data === undefined) return false;
  if (secrets.isSecret(c.target)) return true;
  return /tnds/i.test(c.type ?? '') && secrets.mentions(c.data);
}

function mapMembers(c: DmCommand, f: (m: Member) => Member): DmCommand {
  if (c.kind === 'Atomic') return { ...c, commands: c.commands.map((m) => f(m) as AtomicMember) };
  if (c.kind === 'Sequence')
    return { ...c, commands: c.commands.map((m) => mapMembers(m as DmCommand, f) as SequenceMember) };
  return f(c) as DmCommand;
}

/** The command as stored: secret values sealed and marked `secret`. */
export function sealCommand(c: DmCommand, box: SecretBox, secrets: SecretLeaves): DmCommand {
  return mapMembers(c, (m) =>
    carriesSecret(m, secrets) && 'data' in m && m.data !== undefined
      ? { ...m, data: box.seal(m.data), secret: true }
      : m,
  );
}

/** The stored command with its secret values opened (for the session that sends it). */
export function openCommand(c: DmCommand, box: SecretBox): DmCommand {
  return mapMembers(c, (m) =>
    'secret' in m && m.secret && m.data !== undefined ? { ...m, data: box.open(m.data) } : m,
  );
}

/** The stored command with its secret values left out (`secret: true` says one was there). */
export function redactCommand(c: DmCommand): DmCommand {
  return mapMembers(c, (m) => {
    if (!('secret' in m) || !m.secret) return m;
    const { data: _data, ...rest } = m;
    return rest as Member;
  });
}

/** True when the command holds a sealed value. */
export function hasSecret(c: DmCommand): boolean {
  let found = false;
  mapMembers(c, (m) => {
    if ('secret' in m && m.secret) found = true;
    return m;
  });
  return found;
}
