/**
 * Package 0 over WAP Push over SMS, end to end: the server signs Package 0 and submits it through
 * `SmppBearer` to an independently written SMSC (test/fixtures/smsc.pl on Debian's
 * libnet-smpp-perl), which checks every submit_sm and reports each short message as the handset
 * receives it (UDH included). The "handset" side feeds those user-data units — out of order,
 * interleaved with another message — into `SmsReassembler`, takes the WDP payload for port 2948,
 * decodes the WSP push, verifies Package 0 against its DMAcc and opens the Alert 1200 session the
 * trigger names against the server engine over HTTP.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { HttpTransport } from '../../src/binding/http/index.ts';
import {
  ApplicationIdCode,
  ContentTypeCode,
  decodeWspPush,
  SmppBearer,
  SmsReassembler,
  WAP_PUSH_PORT,
} from '../../src/binding/push/index.ts';
import { AAuthLevel, AAuthType } from '../../src/mo/index.ts';
import {
  buildPackage0,
  credentialDigest,
  decodeNonce,
  fallbackNonce,
  type MemoryCommandSource,
  type MemoryCredentialSource,
  receivePackage0,
  TriggerDeduplicator,
  UiMode,
} from '../../src/protocol/index.ts';
import { AlertCode } from '../../src/representation/index.ts';
import { Smsc, type SmscEvent } from '../binding/push-smsc.ts';
import { getCmd } from '../protocol/helpers.ts';
import { type Device, openDevice, package0AccountOf } from './device-harness.ts';
import { type RunningServer, startMemoryDmServer } from './http-harness.ts';

const DEV = 'IMEI:490154203237520';
const MSISDN = '+491701234567';
const SENDER = '+4930123';

let creds: MemoryCredentialSource;
let queue: MemoryCommandSource;
const transport = new HttpTransport({ retries: 0, timeoutMs: 10_000 });
const smsc = new Smsc('omadm', 'secret1');
let bearer: SmppBearer;
let http: RunningServer;
let device: Device;

before(async () => {
  await smsc.start();
  bearer = new SmppBearer({
    host: '127.0.0.1',
    port: smsc.port,
    systemId: 'omadm',
    password: 'secret1',
    sourceAddr: SENDER,
    timeoutMs: 5000,
  });
  ({ creds, queue, http } = await startMemoryDmServer());
  creds.put({ deviceId: DEV, clientSecret: 'dev-sms', serverName: 'omadm', serverSecret: 'srv-sms' });
  device = await openDevice(DEV);
  await device.accounts.put({
    serverId: 'omadm',
    addresses: [{ addr: http.url, addrType: 'URI' }],
    auth: [
      { level: AAuthLevel.Client, type: AAuthType.Digest, name: DEV, secret: 'dev-sms' },
      { level: AAuthLevel.Server, type: AAuthType.Digest, name: 'omadm', secret: 'srv-sms' },
    ],
  });
});
after(async () => {
  await bearer?.close();
  await smsc.stop();
  transport.close();
  await device?.close();
  await http?.close();
});

/** Server side: Package 0 for DEV with the nonce the device issued (fallback before any). */
async function package0(sessionId: number, vendor: Uint8Array): Promise<Uint8Array> {
  const c = await creds.lookup(DEV);
  assert.ok(c?.serverDigest);
  return buildPackage0({
    serverId: c.serverName,
    sessionId,
    uiMode: UiMode.Background,
    credentialDigest: c.serverDigest,
    nonce: c.serverNonce ? decodeNonce(c.serverNonce) : fallbackNonce(),
    vendor,
  });
}

/** The short messages the SMSC got for `id`s, as the handset receives them. */
async function shortMessages(ids: readonly string[], from: number): Promise<SmscEvent[]> {
  const out: SmscEvent[] = [];
  for (const id of ids) out.push(await smsc.next((e) => e.event === 'segment' && e.id === id, from));
  return out;
}

const hexBytes = (h: string | number | undefined) => new Uint8Array(Buffer.from(String(h), 'hex'));

const dedup = new TriggerDeduplicator();
const reassembler = new SmsReassembler();

/** Handset side: one received SMS → maybe a complete WAP push → maybe a session. */
async function onSms(e: SmscEvent): Promise<'incomplete' | 'ignored' | { sessionId: string }> {
  const done = reassembler.push(String(e.source), hexBytes(e.ud));
  if (!done) return 'incomplete';
  assert.equal(done.ports?.destination, WAP_PUSH_PORT);
  const push = decodeWspPush(done.payload);
  assert.equal(push.contentType.code, ContentTypeCode.Notification);
  assert.equal(push.applicationId, ApplicationIdCode.SyncmlDm);
  const d = await receivePackage0(push.body, package0AccountOf(device), dedup);
  if (d.action !== 'start') return 'ignored';
  const r = await device.session(d.serverId, transport, { sessionId: Number.parseInt(d.sessionId, 16) });
  assert.equal(r.outcome, 'completed');
  return { sessionId: r.sessionId };
}

test('one-SMS Package 0 → handset → Alert 1200 session with its SessionID', async () => {
  const get = queue.enqueue(DEV, getCmd('./DevDetail/SwV'));
  const from = smsc.events.length;
  const sent = await bearer.send(MSISDN, await package0(0x0abc, new Uint8Array()));
  assert.equal(sent.accepted, true);
  assert.equal(sent.parts, 1);
  const [sms] = await shortMessages(sent.ids, from);
  assert.equal(sms?.source, SENDER.slice(1), 'international number: + becomes TON 1');
  assert.deepEqual(await onSms(sms!), { sessionId: 'ABC' });
  assert.deepEqual(queue.sessions.at(-1)?.ref, {
    deviceId: DEV,
    sessionId: 'ABC',
    initiator: AlertCode.ServerInitiatedMgmt,
    // It ended with its command answered: nothing left for the queue to release.
    heldNothing: true,
  });
  assert.equal(queue.records.get(get)?.outcome?.status, 200);
});

test('a Package 0 long enough for three SMS, received out of order beside another message, starts one session', async () => {
  const get = queue.enqueue(DEV, getCmd('./DevInfo/Mod'));
  // Vendor data makes the push PDU longer than two segments' worth of payload.
  const vendor = new Uint8Array(300).map((_, i) => i & 0xff);
  const from = smsc.events.length;
  const sent = await bearer.send(MSISDN, await package0(0xbeef, vendor));
  assert.equal(sent.accepted, true);
  assert.equal(sent.parts, 3);
  const parts = await shortMessages(sent.ids, from);
  // The SMSC reassembled it too (its own implementation of the UDH rules).
  const whole = await smsc.next((e) => e.event === 'message' && e.parts === 3, from);
  assert.equal(whole.dest, MSISDN.slice(1));

  // Another sender's concatenated message with the same reference is kept apart.
  const other = { ...parts[0]!, source: '+4915199999999' };
  assert.equal(await onSms(other), 'incomplete');
  assert.equal(await onSms(parts[2]!), 'incomplete');
  assert.equal(await onSms(parts[0]!), 'incomplete');
  assert.deepEqual(await onSms(parts[1]!), { sessionId: 'BEEF' });
  assert.equal(queue.sessions.at(-1)?.ref.sessionId, 'BEEF');
  assert.equal(queue.records.get(get)?.outcome?.status, 200);

  // The network delivers the same SMS again: the push reassembles once more but starts nothing.
  const before = queue.sessions.length;
  for (const p of parts.slice(0, 2)) assert.equal(await onSms(p), 'incomplete');
  assert.equal(await onSms(parts[2]!), 'ignored');
  assert.equal(queue.sessions.length, before);
});

test('a trigger signed with the wrong secret arrives intact over SMS and starts nothing', async () => {
  const c = await creds.lookup(DEV);
  const forged = buildPackage0({
    serverId: 'omadm',
    sessionId: 0x0bad,
    uiMode: UiMode.Background,
    credentialDigest: credentialDigest('omadm', 'guessed'),
    nonce: c?.serverNonce ? decodeNonce(c.serverNonce) : fallbackNonce(),
  });
  const from = smsc.events.length;
  const before = queue.sessions.length;
  const sent = await bearer.send(MSISDN, forged);
  const [sms] = await shortMessages(sent.ids, from);
  assert.equal(await onSms(sms!), 'ignored');
  assert.equal(queue.sessions.length, before);
});
