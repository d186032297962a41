/**
 * WAP Push envelope for bootstrap messages (objects.md §7.3–7.5): the body
 * with its content type (0x42 DM WBXML, 0x36 CP WBXML) and the SEC (0x11,
 * Short-integer) and MAC (0x12, text) parameters. Send it with a WDP bearer's
 * `sendPush` (SMS via SMPP, UDP).
 */
import {
  type BootstrapProfile,
  type BootstrapSecurity,
  CP_SEC_VALUES,
} from '../../protocol/bootstrap/index.ts';
import {
  ApplicationIdCode,
  ContentTypeCode,
  encodeWspPush,
  WspParam,
  type WspParamValue,
  type WspPush,
} from './wsp.ts';

export interface BootstrapPushInput {
  profile: BootstrapProfile;
  /** Security type; omit for an unprotected push. */
  sec?: BootstrapSecurity;
  /** HMAC-SHA1 hex from `signBootstrap` (absent for USERPINMAC). */
  mac?: string;
  body: Uint8Array;
  transactionId?: number;
  /**
   * X-Wap-Application-Id. Default: `x-wap-application:syncml.dm` (0x07) for the DM profile,
   * `x-wap-application:wml.ua` (0x02) for CP, as CP pushes are commonly routed ([UNVERIFIED]).
   */
  applicationId?: number | string;
}

/**
 * Builds the WSP Push PDU of a bootstrap message. SEC is written as the CP
 * integer in both profiles (the binary form knows no names; for the DM
 * profile this mapping is [UNVERIFIED]).
 */
export function encodeBootstrapPush(input: BootstrapPushInput): Uint8Array {
  const params: [number, WspParamValue][] = [];
  if (input.sec !== undefined) params.push([WspParam.Sec, CP_SEC_VALUES[input.sec]]);
  if (input.mac !== undefined) params.push([WspParam.Mac, input.mac.toUpperCase()]);
  return encodeWspPush({
    transactionId: input.transactionId,
    contentType: input.profile === 'dm' ? ContentTypeCode.DmWbxml : ContentTypeCode.ConnectivityWbxml,
    contentTypeParams: params,
    applicationId:
      input.applicationId ?? (input.profile === 'dm' ? ApplicationIdCode.SyncmlDm : ApplicationIdCode.WmlUa),
    body: input.body,
  });
}

/** A bootstrap as a device takes it from a WSP push: what `verifyBootstrap` / an installer needs. */
export interface ReceivedBootstrap {
  profile: BootstrapProfile;
  /** SEC as sent (the CP integer), absent when the push carried none (unprotected: refuse it). */
  sec?: number | string;
  /** MAC (40 hex digits), absent for USERPINMAC or an unprotected push. */
  mac?: string;
  body: Uint8Array;
}

/**
 * Device side: recognises a bootstrap push (content type 0x42 / `application/vnd.syncml.dm+wbxml`
 * for the DM profile, 0x36 / `application/vnd.wap.connectivity-wbxml` for CP) and returns its
 * profile, SEC, MAC and body; undefined for any other push. Nothing is verified here.
 */
export function bootstrapFromPush(push: WspPush): ReceivedBootstrap | undefined {
  const ct = push.contentType;
  const media = ct.media.toLowerCase();
  let profile: BootstrapProfile;
  if (ct.code === ContentTypeCode.DmWbxml || media === 'application/vnd.syncml.dm+wbxml') profile = 'dm';
  else if (
    ct.code === ContentTypeCode.ConnectivityWbxml ||
    media === 'application/vnd.wap.connectivity-wbxml'
  )
    profile = 'cp';
  else return undefined;
  const sec = ct.params.get(WspParam.Sec) ?? ct.params.get('sec');
  const mac = ct.params.get(WspParam.Mac) ?? ct.params.get('mac');
  return {
    profile,
    ...(sec !== undefined ? { sec } : {}),
    ...(mac !== undefined ? { mac: String(mac) } : {}),
    body: push.body,
  };
}
