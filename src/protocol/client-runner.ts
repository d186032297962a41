/**
 * Drives a client session over a transport until it ends. The transport is a one-method shape so
 * the engine never names HTTP; `binding/http` provides one.
 */
import type {
  ClientRequest,
  ClientResponse,
  ClientSessionResult,
  DmClientSession,
} from './client-session.ts';
import { SessionError, SessionErrorCode } from './errors.ts';

/** Sends one DM message and returns the peer's answer (one request/response exchange). */
export interface Transport {
  exchange(request: ClientRequest): Promise<ClientResponse>;
}

/** Runs `session` to its end; resolves with its result, rejects with a SessionError. */
export async function runClientSession(
  session: DmClientSession,
  transport: Transport,
): Promise<ClientSessionResult> {
  let request: ClientRequest | undefined = await session.start();
  while (request) {
    let response: ClientResponse;
    try {
      response = await transport.exchange(request);
    } catch (cause) {
      if (cause instanceof SessionError) throw cause;
      throw new SessionError(SessionErrorCode.Transport, `transport failed: ${(cause as Error).message}`, {
        cause,
      });
    }
    // A message that ended the session (our Alert 1223) gets no further processing.
    if (session.result) break;
    request = await session.receive(response);
  }
  return session.result!;
}
