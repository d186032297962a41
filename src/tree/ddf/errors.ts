/** Stable codes of DDF/TNDS document errors; `status` is the DM status a command fails with. */
export const MgmtTreeErrorCode = {
  /** Root element is not `MgmtTree`. */
  NotMgmtTree: 'ddf.not-mgmttree',
  /** A mandatory element is missing (NodeName, DFProperties, AccessType, DFFormat, DFType…). */
  MissingElement: 'ddf.missing-element',
  /** An element holds a value outside its grammar (unknown format, bad Occurrence n…). */
  BadValue: 'ddf.bad-value',
  /** The document does not decode as XML/WBXML. */
  Malformed: 'ddf.malformed',
  /** A size, depth or node-count limit was exceeded. */
  TooLarge: 'ddf.too-large',
  /** Two sibling nodes with the same name, or a Path that leads nowhere. */
  BadStructure: 'ddf.bad-structure',
} as const;
export type MgmtTreeErrorCode = (typeof MgmtTreeErrorCode)[keyof typeof MgmtTreeErrorCode];

/** A DDF or TNDS document that cannot be used. */
export class MgmtTreeError extends Error {
  readonly code: MgmtTreeErrorCode;
  /** DM status to answer a command carrying this document with (400 malformed, 413 too large). */
  readonly status: 400 | 413;
  /** Where in the document (element path like `MgmtTree/Node[2]/DFProperties`), when known. */
  readonly where: string | undefined;
  constructor(code: MgmtTreeErrorCode, message: string, where?: string) {
    super(where ? `${message} (at ${where})` : message);
    this.name = 'MgmtTreeError';
    this.code = code;
    this.where = where;
    this.status = code === MgmtTreeErrorCode.TooLarge ? 413 : 400;
  }
}
