/**
 * The typed model of an OMA DM `MgmtTree` document (DM DDF 1.2 / TNDS 1.2).
 *
 * DDF (Device Description Framework) and TNDS (Tree and Description
 * Serialization) share one DTD: a DDF describes what a tree may hold
 * (DFProperties on every node), a TNDS carries an actual subtree (RTProperties
 * and Values). One model serves both; the readers decide what is mandatory.
 * Optional elements stay optional here (undefined = absent) so a document
 * round-trips unchanged; use the `…Of` helpers for the spec defaults.
 */

/** Namespace of DDF/TNDS elements (`syncml:dmddf1.2`); DDF files are often written without it. */
export const DDF_NAMESPACE = 'syncml:dmddf1.2';
/** Public identifier of the DM DDF 1.2 DTD (DOCTYPE and WBXML string-table FPI). */
export const DDF_PUBLIC_ID = '-//OMA//DTD-DM-DDF 1.2//EN';
/** System identifier OMA publishes for the DDF 1.2 DTD. */
export const DDF_SYSTEM_ID = 'http://www.openmobilealliance.org/tech/DTD/dm_ddf-v1_2.dtd';
/** MIME types of TNDS documents. */
export const TNDS_XML_TYPE = 'application/vnd.syncml.dmtnds+xml';
export const TNDS_WBXML_TYPE = 'application/vnd.syncml.dmtnds+wbxml';

/** Node formats (`DFFormat` / run-time `Format`), lower case as on the wire. */
export const NodeFormats = [
  'b64',
  'bin',
  'bool',
  'chr',
  'int',
  'node',
  'null',
  'xml',
  'date',
  'time',
  'float',
] as const;
export type NodeFormat = (typeof NodeFormats)[number];

/** DDF AccessType entries: what the device can do on a node, independent of ACLs. */
export const AccessTypes = ['Add', 'Copy', 'Delete', 'Exec', 'Get', 'Replace'] as const;
export type AccessType = (typeof AccessTypes)[number];

/** How many instances of a node its parent may hold. `n` for the `…OrN` forms is 2..65536. */
export type Occurrence =
  | { readonly kind: 'One' | 'ZeroOrOne' | 'ZeroOrMore' | 'OneOrMore' }
  | { readonly kind: 'ZeroOrN' | 'OneOrN'; readonly n: number };
export const OccurrenceKinds = ['One', 'ZeroOrOne', 'ZeroOrMore', 'OneOrMore', 'ZeroOrN', 'OneOrN'] as const;

export const Scopes = ['Permanent', 'Dynamic'] as const;
export type Scope = (typeof Scopes)[number];

export const CaseSenses = ['CS', 'CIS'] as const;
export type CaseSense = (typeof CaseSenses)[number];

/**
 * `DFType` / run-time `Type`: MIME types for a leaf, an MO identifier (`DDFName`,
 * possibly empty) for an interior node. A DDF leaf may list several MIME types.
 */
export type NodeType = { readonly mime: readonly string[] } | { readonly ddfName: string };

/** DFProperties: the static description of a node. */
export interface DfProperties {
  accessType: AccessType[];
  defaultValue?: string;
  description?: string;
  format: NodeFormat;
  /** Absent = `One`. */
  occurrence?: Occurrence;
  /** Absent = `Dynamic`. */
  scope?: Scope;
  title?: string;
  type: NodeType;
  caseSense?: CaseSense;
}

/**
 * RTProperties: run-time properties. In a TNDS they carry values; in a DDF
 * their presence declares which properties the node supports (values may be
 * empty strings there).
 */
export interface RtProperties {
  acl?: string;
  format?: NodeFormat;
  name?: string;
  size?: string;
  title?: string;
  tstamp?: string;
  type?: NodeType;
  verNo?: string;
}

/** One `Node` element. */
export interface MgmtNode {
  /** `NodeName`; '' = a run-time named node (a placeholder, drawn `<x>`). */
  name: string;
  /** `Path`: URI of the parent, for nodes described at top level (continuation). */
  path?: string;
  rt?: RtProperties;
  df?: DfProperties;
  children: MgmtNode[];
  /** `Value`: a string, or raw bytes when a WBXML document carried it as OPAQUE. */
  value?: string | Uint8Array;
}

/** A whole `MgmtTree` document. */
export interface MgmtTree {
  /** `VerDTD`, `1.2` for DDF/TNDS 1.2. */
  verDtd: string;
  man?: string;
  mod?: string;
  nodes: MgmtNode[];
}

/** A DDF node: DFProperties are mandatory. */
export interface DdfNode extends MgmtNode {
  df: DfProperties;
  children: DdfNode[];
}

/** A DDF document. */
export interface Ddf extends MgmtTree {
  nodes: DdfNode[];
}

/** Lower and upper bounds of an Occurrence (`max` = Infinity for unbounded). Absent = One. */
export function occurrenceBounds(occurrence: Occurrence | undefined): { min: number; max: number } {
  if (!occurrence) return { min: 1, max: 1 };
  switch (occurrence.kind) {
    case 'One':
      return { min: 1, max: 1 };
    case 'ZeroOrOne':
      return { min: 0, max: 1 };
    case 'ZeroOrMore':
      return { min: 0, max: Number.POSITIVE_INFINITY };
    case 'OneOrMore':
      return { min: 1, max: Number.POSITIVE_INFINITY };
    case 'ZeroOrN':
      return { min: 0, max: occurrence.n };
    case 'OneOrN':
      return { min: 1, max: occurrence.n };
  }
}

/** The effective Scope (absent = Dynamic). */
export function scopeOf(df: DfProperties): Scope {
  return df.scope ?? 'Dynamic';
}

/** The type string a node carries at run time: the first MIME type of a leaf, the DDFName of an interior node. */
export function typeString(type: NodeType | undefined): string {
  if (!type) return '';
  return 'ddfName' in type ? type.ddfName : (type.mime[0] ?? '');
}

export function isNodeFormat(value: string): value is NodeFormat {
  return (NodeFormats as readonly string[]).includes(value);
}

export function isAccessType(value: string): value is AccessType {
  return (AccessTypes as readonly string[]).includes(value);
}
