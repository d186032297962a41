/**
 * Creates a fleet's devices on an omadm server through the operator REST API (POST /devices),
 * several requests at a time. A device that already exists gets its credentials reset (PATCH), so
 * a fleet can be re-provisioned with another seed or auth type.
 */
import { ApiClient, ApiRequestError } from '../cli/api/client.ts';
import type { Fleet } from './fleet.ts';

export interface ProvisionOptions {
  /** Server base URL (`http://127.0.0.1:8080`). */
  readonly url: string;
  readonly token: string;
  readonly auth: string;
  readonly serverSecret?: string;
  readonly serverId?: string;
  readonly tags?: readonly string[];
  /** Where device `i` takes Package 0 (`{ bearer: 'udp', target: 'host:port' }`), if anywhere. */
  readonly notify?: (i: number) => { readonly bearer: string; readonly target: string } | undefined;
  /** Requests in flight (default 16). */
  readonly parallel?: number;
  readonly onDevice?: (i: number, created: boolean) => void;
}

export interface ProvisionResult {
  readonly created: number;
  readonly updated: number;
}

export async function provisionFleet(fleet: Fleet, o: ProvisionOptions): Promise<ProvisionResult> {
  const api = new ApiClient({ url: o.url, token: o.token });
  let created = 0;
  let updated = 0;
  let next = 0;
  const body = (i: number) => ({
    secret: fleet.secret(i),
    authType: o.auth,
    ...(o.serverSecret !== undefined ? { serverSecret: o.serverSecret } : {}),
    ...(o.serverId !== undefined ? { serverId: o.serverId } : {}),
    ...(o.tags && o.tags.length > 0 ? { tags: [...o.tags] } : {}),
    ...(o.notify?.(i) ? { notify: o.notify(i) } : {}),
  });
  const worker = async () => {
    for (let i = next++; i < fleet.size; i = next++) {
      const id = fleet.deviceId(i);
      try {
        await api.post('/devices', { id, ...body(i) });
        created++;
        o.onDevice?.(i, true);
      } catch (err) {
        if (!(err instanceof ApiRequestError) || err.status !== 409) throw err;
        await api.patch(`/devices/${encodeURIComponent(id)}`, body(i));
        updated++;
        o.onDevice?.(i, false);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, o.parallel ?? 16) }, worker));
  return { created, updated };
}
