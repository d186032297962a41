/**
 * Meta/Format made explicit on every Add and Replace we send (issue 11): the spec's default is
 * `chr` (protocol.md §1.5), but widely used clients crash when it is left out, or when an Add of an
 * interior node carries no Data. Explicit costs nothing, so senders always say it: `node` (with an
 * empty Data) for an Add without a value, `chr` for text, `b64`/`bin` for bytes (XML carries bytes
 * as base64 text, WBXML as opaque), `xml` for an embedded document. A Format given by the queue or
 * the command's own Meta is kept as it is.
 */
import type { Command, Item } from '../representation/index.ts';
import type { Encoding } from './codec.ts';

function formatOf(item: Item, add: boolean, encoding: Encoding): string {
  const d = item.Data;
  if (d === undefined) return add ? 'node' : 'chr';
  if (d.kind === 'bytes') return encoding === 'wbxml' ? 'bin' : 'b64';
  if (d.kind === 'element') return 'xml';
  return 'chr';
}

/** The command with Meta/Format on every Add/Replace Item (group members included). */
export function withExplicitFormat(cmd: Command, encoding: Encoding): Command {
  if (cmd.type === 'Atomic' || cmd.type === 'Sequence') {
    return { ...cmd, commands: cmd.commands.map((c) => withExplicitFormat(c, encoding)) } as Command;
  }
  if (cmd.type !== 'Add' && cmd.type !== 'Replace') return cmd;
  const add = cmd.type === 'Add';
  const Item = cmd.Item.map((it): Item => {
    const given = it.Meta?.Format ?? cmd.Meta?.Format;
    const Format = given ?? formatOf(it, add, encoding);
    // A node Item with a Format other than null carries Data (protocol.md §1.5).
    const data =
      it.Data === undefined && Format === 'node' ? { Data: { kind: 'text' as const, text: '' } } : {};
    if (given !== undefined) return { ...it, ...data };
    return { ...it, Meta: { ...(it.Meta ?? {}), Format }, ...data };
  });
  return { ...cmd, Item };
}
