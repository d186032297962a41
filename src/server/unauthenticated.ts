/**
 * What the server keeps of DM messages whose sender did not authenticate: bounded metadata in
 * memory (count, first and last time, last source, reason, a short sample without credentials),
 * never the message, a trace, a session row or a device row change. Oldest entries go first.
 */

export interface UnauthenticatedContact {
  /** The DevId the message claimed (SyncHdr Source LocURI), not a proven identity. */
  readonly deviceId: string;
  count: number;
  readonly firstAt: number;
  lastAt: number;
  lastSource: string | undefined;
  lastReason: string;
  /** The last message's first characters (XML; Cred removed) or its size (WBXML). */
  sample: string;
}

/** Largest sample kept per device, in characters. */
const SAMPLE_CHARS = 256;

function sampleOf(body: Uint8Array, contentType: string | undefined): string {
  if (contentType?.includes('wbxml') || body[0] !== 0x3c /* < */)
    return `(${body.byteLength} bytes of WBXML)`;
  const text = Buffer.from(body.subarray(0, 4 * SAMPLE_CHARS))
    .toString('utf8')
    .replace(/<Cred\b[\s\S]*?(<\/Cred>|$)/g, '<Cred>…</Cred>');
  return text.length > SAMPLE_CHARS ? `${text.slice(0, SAMPLE_CHARS)}…` : text;
}

export class UnauthenticatedContacts {
  readonly #byDevice = new Map<string, UnauthenticatedContact>();
  readonly #max: number;

  constructor(max = 1000) {
    this.#max = max;
  }

  /** Notes one refused message; returns the device's entry (after the update). */
  note(input: {
    readonly deviceId: string;
    readonly source: string | undefined;
    readonly reason: string;
    readonly body: Uint8Array;
    readonly contentType: string | undefined;
    readonly at: number;
  }): UnauthenticatedContact {
    const { deviceId, at } = input;
    let c = this.#byDevice.get(deviceId);
    if (c) this.#byDevice.delete(deviceId); // re-inserted last: the most recent stay
    c ??= { deviceId, count: 0, firstAt: at, lastAt: at, lastSource: undefined, lastReason: '', sample: '' };
    c.count++;
    c.lastAt = at;
    c.lastSource = input.source;
    c.lastReason = input.reason;
    c.sample = sampleOf(input.body, input.contentType);
    this.#byDevice.set(deviceId, c);
    if (this.#byDevice.size > this.#max) {
      const oldest = this.#byDevice.keys().next().value;
      if (oldest !== undefined) this.#byDevice.delete(oldest);
    }
    return c;
  }

  /** Most recent first. */
  list(): readonly Readonly<UnauthenticatedContact>[] {
    return [...this.#byDevice.values()].reverse().map((c) => ({ ...c }));
  }

  get size(): number {
    return this.#byDevice.size;
  }
}
