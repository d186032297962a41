/**
 * Request validation with TypeBox's compiler instead of Fastify's default Ajv setup, because the
 * API wants strict bodies (unknown fields are errors, never silently dropped; no type coercion:
 * `"secret": 5` is a 400) while query strings and path parameters are text and are converted
 * (`?limit=10`, `?online=true`). Errors come out as readable `{ path, message }` details.
 */
import type { FastifySchemaCompiler } from 'fastify';
import type { TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import Value from 'typebox/value';

export interface ValidationDetail {
  readonly path: string;
  readonly message: string;
}

interface TbError {
  readonly keyword: string;
  readonly schemaPath: string;
  readonly instancePath: string;
  readonly params: Record<string, unknown>;
  readonly message: string;
}

function at(schema: unknown, pointer: string): unknown {
  let node = schema;
  for (const raw of pointer.replace(/^#\/?/, '').split('/').filter(Boolean)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

function dotted(where: string, instancePath: string, extra?: string): string {
  const parts = instancePath
    .split('/')
    .filter(Boolean)
    .map((p) => (/^\d+$/.test(p) ? `[${p}]` : `.${p}`));
  return `${where}${parts.join('')}${extra ? `.${extra}` : ''}`;
}

/** Readable details from TypeBox errors: one line per problem, unions summarized. */
export function describeErrors(
  where: string,
  schema: unknown,
  errors: readonly TbError[],
): ValidationDetail[] {
  const anyOfAt = new Set(errors.filter((e) => e.keyword === 'anyOf').map((e) => e.schemaPath));
  const out: ValidationDetail[] = [];
  const seen = new Set<string>();
  const push = (d: ValidationDetail) => {
    const k = `${d.path}\n${d.message}`;
    if (!seen.has(k)) {
      seen.add(k);
      out.push(d);
    }
  };
  for (const e of errors) {
    // Member errors of a failed union are summarized by the union's own error.
    if ([...anyOfAt].some((p) => e.schemaPath.startsWith(`${p}/anyOf/`))) continue;
    switch (e.keyword) {
      case 'boolean':
        continue; // `additionalProperties: false` is reported by its own keyword below
      case 'additionalProperties': {
        const names = (e.params.additionalProperties as string[] | undefined) ?? [];
        for (const n of names)
          push({ path: dotted(where, e.instancePath, n), message: 'is not a known field' });
        continue;
      }
      case 'required': {
        const names = (e.params.requiredProperties as string[] | undefined) ?? [];
        for (const n of names) push({ path: dotted(where, e.instancePath, n), message: 'is required' });
        continue;
      }
      case 'anyOf': {
        const node = at(schema, e.schemaPath) as { anyOf?: { const?: unknown }[] } | undefined;
        const consts = node?.anyOf?.map((s) => s.const);
        const message = consts?.every((c) => c !== undefined)
          ? `must be one of ${consts.map(String).join(', ')}`
          : 'does not match any allowed form';
        push({ path: dotted(where, e.instancePath), message });
        continue;
      }
      default:
        push({ path: dotted(where, e.instancePath), message: e.message });
    }
  }
  return out;
}

const PART_NAME: Readonly<Record<string, string>> = {
  body: 'body',
  querystring: 'query',
  params: 'path',
  headers: 'headers',
};

/** Fastify validator compiler: strict bodies, converted query strings and path parameters. */
export const typeboxValidatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  const compiled = Compile(schema);
  const convert = httpPart !== 'body';
  const where = PART_NAME[httpPart ?? 'body'] ?? String(httpPart);
  return (data: unknown) => {
    // An absent body or query counts as empty, so optional-only schemas accept it.
    const value = convert ? Value.Convert(schema, data ?? {}) : (data ?? {});
    if (compiled.Check(value)) return { value };
    const details = describeErrors(where, schema, [...compiled.Errors(value)] as TbError[]);
    const first = details[0];
    const error = Object.assign(new Error(first ? `${first.path} ${first.message}` : `invalid ${where}`), {
      validation: details,
      statusCode: 400,
    });
    return { error };
  };
};
