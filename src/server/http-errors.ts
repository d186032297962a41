/**
 * Turns every failure on the HTTP side into the API's JSON error body with a fitting 4xx/5xx
 * status: our ApiErrors, Fastify's validation and body-parsing errors, and storage errors by their
 * stable codes. Only genuine bugs become 500 (and are logged with the request id).
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError, ApiErrorCode, apiErrorStatus, errorBody } from './errors.ts';
import type { ValidationDetail } from './api/validation.ts';
import { isStoreError, StoreErrorCode } from './store/index.ts';

const STORE_TO_API: Readonly<Record<string, ApiErrorCode>> = {
  [StoreErrorCode.NotFound]: ApiErrorCode.NotFound,
  [StoreErrorCode.AlreadyExists]: ApiErrorCode.Conflict,
  [StoreErrorCode.VersionConflict]: ApiErrorCode.Conflict,
  [StoreErrorCode.InvalidState]: ApiErrorCode.Conflict,
  [StoreErrorCode.InvalidInput]: ApiErrorCode.Validation,
  [StoreErrorCode.SecretKey]: ApiErrorCode.Unprocessable,
  [StoreErrorCode.Busy]: ApiErrorCode.Unavailable,
  [StoreErrorCode.RolledBack]: ApiErrorCode.Unavailable,
  [StoreErrorCode.Closed]: ApiErrorCode.Unavailable,
};

export function errorHandler(err: FastifyError | Error, req: FastifyRequest, reply: FastifyReply): void {
  if (err instanceof ApiError) {
    reply.status(err.statusCode).send(errorBody(err.code, err.message, err.details));
    return;
  }
  const fe = err as FastifyError;
  if (fe.validation) {
    // Details come from our validator compiler (api/validation.ts) as { path, message }.
    const details = fe.validation as unknown as ValidationDetail[];
    reply.status(400).send(errorBody(ApiErrorCode.Validation, err.message, details));
    return;
  }
  if (isStoreError(err)) {
    const code = STORE_TO_API[err.code];
    if (code) {
      reply.status(apiErrorStatus[code]).send(errorBody(code, err.message));
      return;
    }
  }
  const status = typeof fe.statusCode === 'number' ? fe.statusCode : 500;
  if (status === 413) {
    reply.status(413).send(errorBody(ApiErrorCode.TooLarge, 'the request body is too large'));
    return;
  }
  if (status >= 400 && status < 500) {
    // Fastify's own client errors: bad JSON (FST_ERR_CTP_*), unsupported media type, and so on.
    reply.status(status).send(errorBody(ApiErrorCode.BadBody, err.message));
    return;
  }
  req.log.error({ err }, 'request failed');
  reply.status(500).send(errorBody(ApiErrorCode.Internal, `internal error (request ${req.id})`));
}

export function notFoundHandler(req: FastifyRequest, reply: FastifyReply): void {
  reply.status(404).send(errorBody(ApiErrorCode.NoRoute, `no route ${req.method} ${req.url.split('?')[0]}`));
}
