/**
 * The TNDS support the DM command executor takes (`new TreeCommandExecutor(tree, { tnds })`):
 * Add/Replace whose Meta Type is a TNDS type run through addTnds/replaceTnds.
 */
import type { TndsHandler } from '../exec.ts';
import { addTnds, isTndsType, replaceTnds, type TndsRedirect } from './apply.ts';
import type { TndsReadOptions } from './codec.ts';

export interface TndsHandlerOptions extends TndsReadOptions {
  /** Placement hook for Add (the Inbox's `redirect`). */
  redirect?: TndsRedirect;
}

export function tndsHandler(options: TndsHandlerOptions = {}): TndsHandler {
  const { redirect, ...limits } = options;
  return {
    isTndsType,
    add: (ops, target, data, o) =>
      addTnds(ops, target, data, { ...limits, who: o.who, ...(redirect ? { redirect } : {}) }),
    replace: (ops, target, data, o) => replaceTnds(ops, target, data, { ...limits, who: o.who }),
  };
}
