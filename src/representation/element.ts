/**
 * The generic element tree: the common ground of the XML and WBXML codecs.
 *
 * Both codecs read into and write from this shape, so a transcode is
 * bytes → Element → bytes, and the typed SyncML model is built from it once.
 * Namespaces are resolved: `ns` is the element's effective namespace URI
 * (inherited from its parent when not declared), which is what picks the WBXML
 * code page (SyncML, MetInf, DM DDF) and what the XML writer compares with the
 * parent's to decide whether to emit `xmlns`.
 */
export interface Element {
  /** Local name without prefix, e.g. `SyncHdr`, `MaxMsgSize`. */
  name: string;
  /** Effective namespace URI, e.g. `SYNCML:SYNCML1.2`, `syncml:metinf`, `syncml:dmddf1.2`; '' when none. */
  ns: string;
  /**
   * Attributes by qualified name (SyncML DM uses none; kept for DDF/other documents). Namespace
   * declarations are not attributes, except that the XML reader keeps `xmlns:p` beside any
   * `p:name` attribute so the element can be written back on its own.
   */
  attrs?: Record<string, string>;
  children: ElementChild[];
}

/** Text content, opaque bytes (WBXML OPAQUE), or a child element. */
export type ElementChild = Element | string | Uint8Array;

export function isElement(child: ElementChild): child is Element {
  return typeof child === 'object' && !(child instanceof Uint8Array);
}
