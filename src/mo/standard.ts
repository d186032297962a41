/**
 * The standard tree every DM client has: DevInfo, DevDetail, DMAcc and Inbox, built from the
 * shipped DDFs, with the DDF checks and `?list=TNDS` plugged into the engine.
 */
import { StatusCode } from '../representation/index.ts';
import { type DdfSchema, ddfTreeSchema, installSkeleton } from '../tree/ddf/index.ts';
import { ManagementTree, type TreeOptions } from '../tree/index.ts';
import type { TndsHandler } from '../tree/exec.ts';
import { tndsHandler, tndsListSerializer } from '../tree/tnds/index.ts';
import { standardSchema } from './ddf.ts';
import { type DevDetailValues, type DevInfoValues, writeDevDetail, writeDevInfo } from './devinfo.ts';
import { DmAccounts, type DmAccountsOptions } from './dmacc.ts';
import { Inbox, type MoRegistry, standardRegistry } from './inbox.ts';

export interface StandardObjectsOptions {
  devInfo: DevInfoValues;
  devDetail: DevDetailValues;
  /** Account store options (location, ACL of ./DMAcc). */
  accounts?: DmAccountsOptions;
  /** MO type → location for the Inbox (default: DMAcc identifiers → ./DMAcc). */
  registry?: MoRegistry;
  /** Mount the Inbox (default true). */
  inbox?: boolean;
  /** Encoding of `?list=TNDS` answers (default xml). */
  tndsEncoding?: 'xml' | 'wbxml';
}

export interface StandardObjects {
  schema: DdfSchema;
  accounts: DmAccounts;
  registry: MoRegistry;
  /** Undefined when `inbox: false`. */
  inbox: Inbox | undefined;
  /** TNDS support for the command executor (`new TreeCommandExecutor(tree, { tnds })`), Inbox placement wired in. */
  tnds: TndsHandler;
}

export class StandardTreeError extends Error {
  readonly code = 'mo.install-failed';
  readonly status: StatusCode;
  constructor(what: string, status: StatusCode) {
    super(`installing ${what} failed with status ${status}`);
    this.name = 'StandardTreeError';
    this.status = status;
  }
}

function check(what: string, status: StatusCode): void {
  if (status !== StatusCode.Ok) throw new StandardTreeError(what, status);
}

/**
 * Build the standard objects in a tree opened with `schema: ddfTreeSchema(schema)`: the DDF
 * skeleton, DevInfo/DevDetail values, the DMAcc ACL, the Inbox plugin and `?list=TNDS`.
 * Idempotent (run at every start; values are refreshed, accounts kept).
 */
export async function installStandardObjects(
  tree: ManagementTree,
  schema: DdfSchema,
  options: StandardObjectsOptions,
): Promise<StandardObjects> {
  check('the DDF skeleton', await installSkeleton(tree, schema));
  check('DevInfo', await writeDevInfo(tree, options.devInfo));
  check('DevDetail', await writeDevDetail(tree, options.devDetail, tree.limits));
  const accounts = new DmAccounts(tree, options.accounts);
  check('DMAcc', await accounts.install());
  const registry = options.registry ?? standardRegistry(accounts.root);
  let inbox: Inbox | undefined;
  if (options.inbox !== false) {
    inbox = new Inbox(registry);
    await tree.mount(inbox.uri, inbox);
  }
  tree.registerListFormat('TNDS', tndsListSerializer({ schema, encoding: options.tndsEncoding ?? 'xml' }));
  const tnds = tndsHandler(inbox ? { redirect: inbox.redirect } : {});
  return { schema, accounts, registry, inbox, tnds };
}

export interface OpenStandardTreeOptions extends StandardObjectsOptions {
  /** Engine options (store, limits, clock…); `schema` is set from the DDFs. */
  tree?: Omit<TreeOptions, 'schema'>;
  /** The DDF schema (default: the shipped standard DDFs, without Inbox when `inbox: false`). */
  schema?: DdfSchema;
}

/** Open a tree with the standard objects installed and the DDFs enforced. */
export async function openStandardTree(
  options: OpenStandardTreeOptions,
): Promise<StandardObjects & { tree: ManagementTree }> {
  const schema = options.schema ?? standardSchema({ withoutInbox: options.inbox === false });
  const tree = await ManagementTree.open({ ...options.tree, schema: ddfTreeSchema(schema) });
  return { tree, ...(await installStandardObjects(tree, schema, options)) };
}
