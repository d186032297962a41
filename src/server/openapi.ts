/**
 * The OpenAPI 3.1 document of the operator API, built from the routes as Fastify registers them:
 * each route's TypeBox schemas (plain JSON Schema) are the single source for request validation
 * and for the document, so the two cannot drift apart.
 */
import type { RouteOptions } from 'fastify';

declare module 'fastify' {
  interface FastifySchema {
    /** OpenAPI: one-line summary of the operation. */
    summary?: string;
    description?: string;
    tags?: readonly string[];
    /** Leave the route out of the OpenAPI document. */
    hide?: boolean;
  }
}

interface RouteSchema {
  readonly summary?: string;
  readonly description?: string;
  readonly tags?: readonly string[];
  readonly params?: JsonObject;
  readonly querystring?: JsonObject;
  readonly body?: JsonObject;
  readonly response?: Readonly<Record<string, JsonObject>>;
  readonly hide?: boolean;
  /** Roles allowed (documentation; enforcement is in the route's preHandler). */
  readonly 'x-roles'?: readonly string[];
}

type JsonObject = { readonly [k: string]: unknown };

interface Operation {
  summary?: string;
  description?: string;
  tags?: readonly string[];
  operationId: string;
  parameters?: unknown[];
  requestBody?: unknown;
  responses: Record<string, unknown>;
  security?: unknown[];
  'x-roles'?: readonly string[];
}

/** Collects routes (call `add` from an `onRoute` hook) and renders the document. */
export class OpenApiBuilder {
  readonly #paths = new Map<string, Record<string, Operation>>();
  readonly #info: { title: string; version: string; description: string };

  constructor(info: { title: string; version: string; description: string }) {
    this.#info = info;
  }

  add(route: RouteOptions): void {
    const schema = route.schema as RouteSchema | undefined;
    if (!schema || schema.hide) return;
    const url = route.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    const methods = (Array.isArray(route.method) ? route.method : [route.method]) as string[];
    for (const method of methods) {
      const m = method.toLowerCase();
      if (m === 'head' || m === 'options') continue;
      const op: Operation = {
        operationId: operationId(m, url),
        responses: {},
      };
      if (schema.summary) op.summary = schema.summary;
      if (schema.description) op.description = schema.description;
      if (schema.tags) op.tags = schema.tags;
      if (schema['x-roles']) op['x-roles'] = schema['x-roles'];
      const parameters: unknown[] = [];
      for (const [where, s] of [
        ['path', schema.params],
        ['query', schema.querystring],
      ] as const) {
        if (!s) continue;
        const props = (s.properties ?? {}) as Record<string, JsonObject>;
        const required = new Set((s.required ?? []) as string[]);
        for (const [name, p] of Object.entries(props)) {
          const { description, ...rest } = p as { description?: string };
          parameters.push({
            name,
            in: where,
            required: where === 'path' || required.has(name),
            ...(description ? { description } : {}),
            schema: rest,
          });
        }
      }
      if (parameters.length) op.parameters = parameters;
      if (schema.body)
        op.requestBody = { required: true, content: { 'application/json': { schema: schema.body } } };
      for (const [status, s] of Object.entries(schema.response ?? {})) {
        const { description, ...rest } = s as { description?: string };
        op.responses[status] =
          status === '204'
            ? { description: description ?? 'No content' }
            : { description: description ?? 'OK', content: { 'application/json': { schema: rest } } };
      }
      op.responses.default = {
        description: 'Error',
        content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
      };
      const byMethod = this.#paths.get(url) ?? {};
      byMethod[m] = op;
      this.#paths.set(url, byMethod);
    }
  }

  document(serverUrl?: string): JsonObject {
    const paths: Record<string, unknown> = {};
    for (const url of [...this.#paths.keys()].sort()) paths[url] = this.#paths.get(url);
    return {
      openapi: '3.1.0',
      info: this.#info,
      ...(serverUrl ? { servers: [{ url: serverUrl }] } : {}),
      security: [{ bearer: [] }],
      paths,
      components: {
        securitySchemes: {
          bearer: {
            type: 'http',
            scheme: 'bearer',
            description: 'An API token (roles: admin, operator, viewer).',
          },
        },
        schemas: {
          Error: {
            type: 'object',
            required: ['error'],
            properties: {
              error: {
                type: 'object',
                required: ['code', 'message'],
                properties: {
                  code: { type: 'string' },
                  message: { type: 'string' },
                  details: {},
                },
              },
            },
          },
        },
      },
    };
  }
}

function operationId(method: string, url: string): string {
  const parts = url
    .replace(/^\/api\/v1\//, '')
    .split('/')
    .filter(Boolean)
    .map((p) => (p.startsWith('{') ? `By${cap(p.slice(1, -1))}` : cap(p)));
  return method + parts.join('');
}

function cap(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
