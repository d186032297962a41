/**
 * Notification bearers for Package 0 (and the WAP push envelope bootstrap
 * messages use): one `NotificationBearer` interface; SMS via SMPP, PAP to a
 * PPG, SIP MESSAGE, UDP. See docs/notification.md.
 */
export type { DeliveryResult, NotificationBearer, SendOptions } from './bearer.ts';
export {
  type BootstrapPushInput,
  bootstrapFromPush,
  encodeBootstrapPush,
  type ReceivedBootstrap,
} from './bootstrap-push.ts';
export { PushError, PushErrorCode } from './errors.ts';
export {
  type PapBearerOptions,
  PapBearer,
  papControlEntity,
  papRequestBody,
  parsePapResponse,
} from './pap.ts';
export {
  buildSipMessage,
  parseSipMessage,
  parseSipUri,
  SipBearer,
  type SipBearerOptions,
  type SipMessage,
  type SipMessageInput,
  type SipUri,
} from './sip.ts';
export {
  DEFAULT_SOURCE_PORT,
  parseUserDataHeader,
  type ReassemblerOptions,
  SMS_USER_DATA_BYTES,
  SmsReassembler,
  segmentWdpSms,
  UdhIe,
  type UserDataHeader,
  WAP_PUSH_PORT,
  type WdpSmsOptions,
} from './sms.ts';
export { msisdnAddress, SmppBearer, type SmppBearerOptions } from './sms-smpp.ts';
export { type SmppConnectOptions, SmppSession } from './smpp-client.ts';
export {
  type BindParams,
  encodeBindTransmitter,
  encodePdu,
  encodeSubmitSm,
  PduFramer,
  SmppCommand,
  type SmppPdu,
  SmppStatus,
  type SubmitSmParams,
} from './smpp-pdu.ts';
export {
  listenUdpPush,
  package0FromDatagram,
  parseHostPort,
  UdpBearer,
  type UdpBearerOptions,
  type UdpFraming,
  type UdpPushListenerOptions,
} from './udp.ts';
export {
  ApplicationIdCode,
  applicationIdUri,
  ContentTypeCode,
  decodeWspPush,
  encodeContentType,
  encodeNotificationPush,
  encodeUintvar,
  encodeWspPush,
  MAX_WSP_PUSH_BYTES,
  WSP_APPLICATION_IDS,
  WSP_CONTENT_TYPES,
  WspParam,
  type WspParamValue,
  WspPduType,
  type WspContentType,
  type WspPush,
  type WspPushInput,
} from './wsp.ts';
export {
  buildChannelHeader,
  CHANNEL_HEADER,
  CHANNEL_NOT_BEFORE_HEADER,
  type ChannelAuth,
  channelMac,
  MAX_CHANNEL_HEADER_CHARS,
  NOTIFICATION_MEDIA_TYPE,
  parseChannelHeader,
  verifyChannelMac,
} from './http-channel.ts';
