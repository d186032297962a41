/** Limits applied while reading XML; every one is checked before memory is spent on it. */
export interface XmlLimits {
  /** Largest accepted input, in bytes (UTF-8 size for string input). */
  readonly maxBytes: number;
  /** Deepest element nesting (the root is depth 1). */
  readonly maxDepth: number;
  /** Most elements in one document. */
  readonly maxElements: number;
  /** Most attributes (namespace declarations included) on one element. */
  readonly maxAttributes: number;
  /** Longest text node or attribute value, in characters. */
  readonly maxTextLength: number;
}

/**
 * Defaults sized for DM traffic: messages are bounded by MaxMsgSize (typically 3.5 KB–1 MB); a
 * TNDS tree nests Node elements as deep as the management tree.
 */
export const DEFAULT_XML_LIMITS: XmlLimits = Object.freeze({
  maxBytes: 16 * 1024 * 1024,
  maxDepth: 256,
  maxElements: 500_000,
  maxAttributes: 64,
  maxTextLength: 16 * 1024 * 1024,
});

export interface XmlReadOptions extends Partial<XmlLimits> {
  /**
   * Strict mode rejects what the liberal default accepts from real peers: a bare `&` that starts
   * no entity reference (`MAXDT=15&DR=1`). Everything else is checked in both modes.
   */
  readonly strict?: boolean;
  /**
   * Character encoding from the transport (the `charset` of the Content-Type); it takes precedence
   * over the XML declaration. UTF-8 (default), US-ASCII and ISO-8859-1/windows-1252 are read.
   */
  readonly charset?: string;
}
