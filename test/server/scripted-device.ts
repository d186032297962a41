/**
 * A scripted device for conformance tests: it sends exactly the SyncML messages a test writes (XML
 * text, sent as XML or transcoded to WBXML) to a running `omadm server` over real HTTP, follows the
 * RespURI, and hands back each answer as bytes and decoded model. Nothing of omadm's client engine
 * is involved, so the server is judged against the messages a strict or quirky device really sends.
 */
import assert from 'node:assert/strict';
import { syncmlCodec } from '../../src/protocol/default-codec.ts';
import type { Command, Status, SyncML } from '../../src/representation/index.ts';

export interface ScriptedOptions {
  readonly deviceId: string;
  /** Basic client credentials (the device is provisioned with authType basic). */
  readonly secret: string;
  readonly encoding?: 'xml' | 'wbxml';
  readonly sessionId?: string;
}

export interface Answer {
  readonly http: number;
  readonly bytes: Uint8Array;
  readonly msg: SyncML;
  readonly final: boolean;
  /** Commands other than Status. */
  readonly commands: readonly Command[];
  readonly statuses: readonly Status[];
}

export class ScriptedDevice {
  readonly #o: ScriptedOptions;
  readonly sessionId: string;
  #url: string;
  #msgId = 0;
  /** The last answer's MsgID (what the next message's Statuses refer to). */
  serverMsgId = '0';
  readonly answers: Answer[] = [];

  constructor(serverUrl: string, options: ScriptedOptions) {
    this.#o = options;
    this.#url = serverUrl;
    this.sessionId = options.sessionId ?? '1A';
  }

  get msgId(): number {
    return this.#msgId;
  }

  /** SyncHdr for the next message; `meta` is inner MetInf XML (e.g. MaxMsgSize). */
  header(options: { cred?: boolean; meta?: string } = {}): string {
    const id = this.#o.deviceId;
    const cred = options.cred
      ? `<Cred><Meta><Format xmlns="syncml:metinf">b64</Format><Type xmlns="syncml:metinf">syncml:auth-basic</Type></Meta>` +
        `<Data>${Buffer.from(`${id}:${this.#o.secret}`).toString('base64')}</Data></Cred>`
      : '';
    const meta = options.meta ? `<Meta>${options.meta}</Meta>` : '';
    return (
      `<SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>${this.sessionId}</SessionID>` +
      `<MsgID>${this.#msgId + 1}</MsgID><Target><LocURI>${this.#url.replace(/&/g, '&amp;')}</LocURI></Target>` +
      `<Source><LocURI>${id}</LocURI><LocName>${id}</LocName></Source>${cred}${meta}</SyncHdr>`
    );
  }

  /** Package 1: Alert 1201 and DevInfo, with basic credentials. */
  package1(options: { meta?: string; extra?: string } = {}): string {
    const id = this.#o.deviceId;
    const leaf = (n: string, v: string) =>
      `<Item><Source><LocURI>./DevInfo/${n}</LocURI></Source><Data>${v}</Data></Item>`;
    return this.message(
      this.header({ cred: true, ...(options.meta ? { meta: options.meta } : {}) }),
      `<Alert><CmdID>1</CmdID><Data>1201</Data></Alert>` +
        `<Replace><CmdID>2</CmdID>${leaf('DevId', id)}${leaf('Man', 'strict')}${leaf('Mod', 'S-1')}` +
        `${leaf('DmV', '1.2')}${leaf('Lang', 'en')}</Replace>${options.extra ?? ''}`,
      true,
    );
  }

  message(hdr: string, body: string, final: boolean): string {
    return `<SyncML xmlns="SYNCML:SYNCML1.2">${hdr}<SyncBody>${body}${final ? '<Final/>' : ''}</SyncBody></SyncML>`;
  }

  /** Status element for the server's last SyncHdr. */
  hdrStatus(cmdId = 1): string {
    return this.status(cmdId, '0', 'SyncHdr', 200);
  }

  status(cmdId: number, cmdRef: string, cmd: string, code: number, extra = ''): string {
    return (
      `<Status><CmdID>${cmdId}</CmdID><MsgRef>${this.serverMsgId}</MsgRef><CmdRef>${cmdRef}</CmdRef>` +
      `<Cmd>${cmd}</Cmd>${extra}<Data>${code}</Data></Status>`
    );
  }

  /** Posts one message (XML text) and decodes the answer; asserts HTTP 200. */
  async send(xml: string): Promise<Answer> {
    const a = await this.post(xml);
    assert.equal(a.http, 200, `HTTP ${a.http}`);
    return a;
  }

  async post(xml: string): Promise<Answer> {
    const encoding = this.#o.encoding ?? 'xml';
    const xmlBytes = new Uint8Array(Buffer.from(xml, 'utf8'));
    const body =
      encoding === 'xml' ? xmlBytes : syncmlCodec.encode(syncmlCodec.decode(xmlBytes, 'xml'), 'wbxml');
    this.#msgId++;
    const res = await fetch(this.#url, {
      method: 'POST',
      headers: {
        'content-type':
          encoding === 'xml' ? 'application/vnd.syncml.dm+xml' : 'application/vnd.syncml.dm+wbxml',
      },
      body,
    });
    const bytes = new Uint8Array(await res.arrayBuffer());
    if (res.status !== 200) {
      return {
        http: res.status,
        bytes,
        msg: undefined as unknown as SyncML,
        final: false,
        commands: [],
        statuses: [],
      };
    }
    const msg = syncmlCodec.decode(bytes, encoding);
    if (msg.SyncHdr.RespURI) this.#url = msg.SyncHdr.RespURI;
    this.serverMsgId = msg.SyncHdr.MsgID;
    const answer: Answer = {
      http: res.status,
      bytes,
      msg,
      final: msg.SyncBody.Final === true,
      commands: msg.SyncBody.commands.filter((c) => c.type !== 'Status'),
      statuses: msg.SyncBody.commands.filter((c): c is Status => c.type === 'Status'),
    };
    this.answers.push(answer);
    return answer;
  }
}
