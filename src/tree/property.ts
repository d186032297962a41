/** Node properties a server may address with `?prop=` (protocol.md §6.3). */

/** Properties a node may have at run time (protocol.md §6.3). */
export const Property = {
  ACL: 'ACL',
  Format: 'Format',
  Name: 'Name',
  Size: 'Size',
  Title: 'Title',
  TStamp: 'TStamp',
  Type: 'Type',
  VerNo: 'VerNo',
  CaseSense: 'CaseSense',
} as const;
export type Property = (typeof Property)[keyof typeof Property];
export const PROPERTIES: ReadonlySet<string> = new Set(Object.values(Property));
export const MAX_TITLE_BYTES = 255;
