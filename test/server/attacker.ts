/**
 * What the trust-boundary tests use to act as a device and as an attacker over real HTTP(S): a
 * client session driven message by message (to capture and replay its bytes), raw posts, forged
 * messages, and a test CA with device certificates (openssl).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { type ClientRequest, DmClientSession } from '../../src/protocol/client-session.ts';
import { syncmlCodec } from '../../src/protocol/default-codec.ts';
import { header, message } from '../../src/protocol/message.ts';
import type { Command, Cred, SyncML } from '../../src/representation/index.ts';
import type { Sender } from './device-sim.ts';

export interface Answer {
  readonly status: number;
  readonly body: Uint8Array;
  readonly headers: { get(name: string): string | null };
}

/** Posts one DM message with fetch (plain HTTP). */
export const httpSender: Sender = async (url, body, headers) => {
  const res = await fetch(url, { method: 'POST', headers, body });
  return { status: res.status, body: new Uint8Array(await res.arrayBuffer()), headers: res.headers };
};

export function post(
  send: Sender,
  url: string,
  req: { readonly body: Uint8Array; readonly contentType?: string; readonly hmac?: string | undefined },
): Promise<Answer> {
  return send(url, req.body, {
    'content-type': req.contentType ?? 'application/vnd.syncml.dm+xml',
    ...(req.hmac ? { 'x-syncml-hmac': req.hmac } : {}),
  });
}

export function decode(bytes: Uint8Array): SyncML {
  return syncmlCodec.decode(bytes, 'xml');
}

/** The answer's Status for our SyncHdr. */
export function headerCode(msg: SyncML): number | undefined {
  const st = msg.SyncBody.commands.find((c) => c.type === 'Status' && c.CmdRef === '0');
  return st?.type === 'Status' ? st.Data : undefined;
}

/** A device's client session, driven one message at a time. */
export function clientSession(o: {
  readonly deviceId: string;
  readonly secret: string;
  readonly auth: 'basic' | 'md5' | 'hmac' | 'transport';
  readonly serverUrl: string;
  readonly serverSecret?: string;
  readonly sessionId?: string;
}): DmClientSession {
  return new DmClientSession({
    codec: syncmlCodec,
    encoding: 'xml',
    deviceId: o.deviceId,
    devInfo: {
      './DevInfo/DevId': o.deviceId,
      './DevInfo/Man': 'omadm-test',
      './DevInfo/Mod': 'attack-1',
      './DevInfo/DmV': '1.2',
      './DevInfo/Lang': 'en-US',
    },
    account: {
      serverId: 'omadm',
      serverUri: o.serverUrl,
      client: { mode: o.auth, name: o.deviceId, secret: o.secret },
      ...(o.serverSecret ? { server: { mode: o.auth, name: 'omadm', secret: o.serverSecret } } : {}),
    },
    handler: {
      execute: async (cmd) =>
        cmd.type === 'Get'
          ? {
              status: 200,
              results: [
                { Source: { LocURI: cmd.Item[0]?.Target?.LocURI ?? '' }, Data: { kind: 'text', text: 'v' } },
              ],
            }
          : { status: 200 },
    },
    ...(o.sessionId !== undefined ? { sessionId: o.sessionId } : {}),
  });
}

/** Runs `session` to its end through `send`; returns every request and answer. */
export async function drive(
  session: DmClientSession,
  send: Sender,
  first?: ClientRequest,
): Promise<{ requests: ClientRequest[]; answers: Answer[] }> {
  const requests: ClientRequest[] = [];
  const answers: Answer[] = [];
  let req: ClientRequest | undefined = first ?? (await session.start());
  while (req) {
    requests.push(req);
    const res = await post(send, req.url, req);
    answers.push(res);
    if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${Buffer.from(res.body).toString()}`);
    req = await session.receive({
      body: res.body,
      contentType: res.headers.get('content-type') ?? undefined,
      hmac: res.headers.get('x-syncml-hmac') ?? undefined,
    });
  }
  return { requests, answers };
}

/** A client message with the given header fields and commands (XML). */
export function forge(o: {
  readonly deviceId: string;
  readonly serverUri: string;
  readonly sessionId: string;
  readonly msgId: number;
  readonly commands: readonly Command[];
  readonly cred?: Cred;
  readonly final?: boolean;
}): Uint8Array {
  const hdr = header({
    VerDTD: '1.2',
    VerProto: 'DM/1.2',
    SessionID: o.sessionId,
    MsgID: o.msgId,
    target: o.serverUri,
    source: o.deviceId,
    ...(o.cred ? { Cred: o.cred } : {}),
  });
  return syncmlCodec.encode(message(hdr, o.commands, o.final ?? true), 'xml');
}

/** A test CA, a server certificate for 127.0.0.1 and one client certificate per device (CN = id). */
export function makeCertificates(dir: string, devices: readonly string[]): void {
  const f = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=omadm test CA',
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.pem'),
  );
  writeFileSync(f('server.ext'), 'subjectAltName=IP:127.0.0.1\n');
  const sign = (name: string, cn: string, ext?: string) => {
    openssl(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      `/CN=${cn}`,
      '-keyout',
      f(`${name}.key`),
      '-out',
      f(`${name}.csr`),
    );
    openssl(
      'x509',
      '-req',
      '-in',
      f(`${name}.csr`),
      '-CA',
      f('ca.pem'),
      '-CAkey',
      f('ca.key'),
      '-CAcreateserial',
      '-days',
      '2',
      ...(ext ? ['-extfile', ext] : []),
      '-out',
      f(`${name}.pem`),
    );
  };
  sign('server', '127.0.0.1', f('server.ext'));
  for (const [i, id] of devices.entries()) sign(`dev${i}`, id);
}

/** POST over HTTPS trusting the test CA, with device `index`'s client certificate or none. */
export function tlsSender(dir: string, index?: number): Sender {
  const f = (name: string) => join(dir, name);
  return (url, body, headers) =>
    new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method: 'POST',
          headers,
          ca: readFileSync(f('ca.pem')),
          agent: false,
          ...(index !== undefined
            ? { cert: readFileSync(f(`dev${index}.pem`)), key: readFileSync(f(`dev${index}.key`)) }
            : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              body: new Uint8Array(Buffer.concat(chunks)),
              headers: { get: (n: string) => (res.headers[n.toLowerCase()] as string | undefined) ?? null },
            }),
          );
        },
      );
      req.on('error', reject);
      req.end(body);
    });
}
