/**
 * Bearer-token authentication and role checks for the operator API. Roles are ordered:
 * viewer (read) < operator (devices, commands) < admin (tokens, audit log). A route states the
 * least role it needs in `config.role`; requests without a valid token get 401, with a too-weak
 * one 403.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiError, ApiErrorCode } from '../errors.ts';
import type { Role } from './schemas.ts';

const RANK: Readonly<Record<Role, number>> = { viewer: 0, operator: 1, admin: 2 };

/** Who made a request: the token's name and role. */
export interface Principal {
  readonly tokenId: string;
  readonly name: string;
  readonly role: Role;
}

/** Resolves a presented bearer secret to its principal, or undefined when unknown/revoked. */
export type TokenVerifier = (secret: string) => Promise<Principal | undefined>;

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
  interface FastifyContextConfig {
    /** The least role a route needs; absent means the route is public. */
    role?: Role;
  }
}

export function roleAllows(have: Role, need: Role): boolean {
  return RANK[have] >= RANK[need];
}

/** An `onRequest` hook enforcing `config.role` on the routes that declare one. */
export function authHook(verify: TokenVerifier) {
  return async (req: FastifyRequest, _reply: FastifyReply): Promise<void> => {
    const need = req.routeOptions.config.role;
    if (!need) return;
    const header = req.headers.authorization;
    const m = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!m)
      throw new ApiError(
        ApiErrorCode.Unauthorized,
        'an API token is required: Authorization: Bearer <token>',
      );
    const principal = await verify(m[1] as string);
    if (!principal) throw new ApiError(ApiErrorCode.Unauthorized, 'unknown or revoked API token');
    if (!roleAllows(principal.role, need)) {
      throw new ApiError(
        ApiErrorCode.Forbidden,
        `this needs the ${need} role; the token has ${principal.role}`,
      );
    }
    req.principal = principal;
  };
}

/** The principal of an authenticated request (routes with `config.role` always have one). */
export function principalOf(req: FastifyRequest): Principal {
  if (!req.principal) throw new ApiError(ApiErrorCode.Unauthorized, 'not authenticated');
  return req.principal;
}
