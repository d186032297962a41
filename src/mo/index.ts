/**
 * omadm/mo: the standard management objects (DMAcc, DevInfo, DevDetail, Inbox) with their DDFs,
 * and the standard tree built from them.
 */
export * from './ids.ts';
export * from './ddf.ts';
export * from './devinfo.ts';
export * from './dmacc.ts';
export * from './inbox.ts';
export * from './standard.ts';
export * from './fumo-codes.ts';
export * from './fumo-dd.ts';
export * from './fumo.ts';
