/**
 * The DDF as the tree engine's TreeSchema: every server command is checked against the
 * compiled DDFs before the ACL check. Commands from the device itself (local principal) are
 * not constrained: the device builds its permanent nodes and reads DMAcc secrets through them.
 */
import type { Format, StatusCode } from '../../representation/index.ts';
import type { CaseSense, SchemaRequest, TreeSchema, TreeView } from '../types.ts';
import { typeString } from './model.ts';
import type { DdfSchema } from './schema.ts';

const utf8 = new TextDecoder('utf-8');

/** Adapt a compiled DDF schema to the engine's `TreeSchema` hook. */
export function ddfTreeSchema(schema: DdfSchema): TreeSchema {
  return {
    check(request: SchemaRequest, view: TreeView): StatusCode | undefined {
      if (request.local) return undefined;
      const path = request.path;
      switch (request.op) {
        case 'Get': {
          // Properties are readable even on write-only nodes, except Size (it would leak a secret's length).
          if (request.prop !== undefined && request.prop !== 'Size') return undefined;
          const v = schema.checkCommand(path, 'Get', view);
          return v.ok ? undefined : v.status;
        }
        case 'Delete':
        case 'Exec': {
          if (request.prop !== undefined) return undefined;
          const v = schema.checkCommand(path, request.op, view);
          return v.ok ? undefined : v.status;
        }
        case 'Copy': {
          // The source of a Copy must be copyable and readable: Copy would otherwise leak a
          // write-only value (AAuthSecret) into a node the server can Get.
          if (request.prop !== undefined) return undefined;
          const copy = schema.checkCommand(path, 'Copy', view);
          if (!copy.ok) return copy.status;
          const get = schema.checkCommand(path, 'Get', view);
          return get.ok ? undefined : get.status;
        }
        case 'Add': {
          if (request.prop !== undefined) return undefined;
          const v = schema.checkAdd(
            path,
            { format: request.format, type: request.type, value: request.data },
            view,
          );
          return v.ok ? undefined : v.status;
        }
        case 'Replace': {
          if (request.prop === 'Name') {
            const data = request.data;
            const name = data === undefined ? '' : typeof data === 'string' ? data : utf8.decode(data);
            const v = schema.checkRename(path, name, view);
            return v.ok ? undefined : v.status;
          }
          if (request.prop !== undefined) return undefined;
          const v = schema.checkReplace(
            path,
            { format: request.format, type: request.type, value: request.data },
            view,
          );
          return v.ok ? undefined : v.status;
        }
      }
    },
    defaultsFor(path) {
      const m = schema.match(path);
      if (m.kind !== 'described') return undefined;
      // The format fills in a missing Meta Format on Add; the type a missing Meta Type.
      const out: { caseSense?: CaseSense; type?: string; format?: Format } = { format: m.node.df.format };
      if (m.node.df.caseSense) out.caseSense = m.node.df.caseSense;
      const type = typeString(m.node.df.type);
      if (type !== '') out.type = type;
      return out;
    },
  };
}
