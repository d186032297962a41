/**
 * The one small interface every notification bearer implements, so an
 * operator can add theirs (a vendor SMS API, an MQTT topic, …) and the
 * server treats them alike.
 */

export interface DeliveryResult {
  /** Name of the bearer that handled it (`sms-smpp`, `pap`, `sip`, `udp`, …). */
  bearer: string;
  /** The target as given. */
  target: string;
  /**
   * True when the next hop accepted the message (SMSC submit_sm_resp OK,
   * PPG response code 1xxx, SIP 2xx, UDP datagram handed to the OS). It does
   * not prove the device received it.
   */
  accepted: boolean;
  /** Identifiers from the next hop: SMSC message ids, PAP push-id, SIP Call-ID. */
  ids: string[];
  /** Number of transport units sent (SMS segments, datagrams). */
  parts: number;
  /** The peer's status when it refused or answered with one (e.g. `SMPP 0x0000000b`, `SIP 415`, `PAP 2002`). */
  status?: string;
  /** Human-readable detail. */
  detail?: string;
}

export interface SendOptions {
  /** Aborts the attempt (rejects with the signal's reason). */
  signal?: AbortSignal;
}

export interface NotificationBearer {
  /** Stable name, used in logs and in the server's record of attempts. */
  readonly name: string;
  /**
   * Delivers Package 0 bytes to `target` (an address in the bearer's own
   * form: MSISDN for SMS/PAP, `sip:` URI for SIP, `host:port` for UDP).
   * Resolves with the outcome; rejects with `PushError` when the next hop
   * could not be reached or understood.
   */
  send(target: string, package0: Uint8Array, options?: SendOptions): Promise<DeliveryResult>;
  /** Releases connections/sockets. Idempotent. */
  close(): Promise<void>;
}
