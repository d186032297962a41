/** MO identifiers (the Type of an MO's root node) of the standard objects (protocol.md §7). */
export const MoId = {
  DMAcc: 'urn:oma:mo:oma-dm-dmacc:1.0',
  /** Older DMAcc identifier seen in bootstrap TNDS. */
  DMAccW7: 'org.openmobilealliance/1.0/w7',
  /** Windows' DMAcc identifier. */
  DMAcc11: 'urn:oma:mo:oma-dm-dmacc:1.1',
  DevInfo: 'urn:oma:mo:oma-dm-devinfo:1.0',
  DevDetail: 'urn:oma:mo:oma-dm-devdetail:1.0',
  Inbox: 'urn:oma:mo:oma-dm-inbox:1.0',
} as const;
export type MoId = (typeof MoId)[keyof typeof MoId];

/** Where the standard objects live. */
export const StandardUri = {
  DMAcc: './DMAcc',
  DevInfo: './DevInfo',
  DevDetail: './DevDetail',
  Inbox: './Inbox',
} as const;
