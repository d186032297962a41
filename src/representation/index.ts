/**
 * omadm/representation: the SyncML DM message model, its status/alert codes, the generic element
 * tree shared by the codecs, and the errors they raise.
 */
export type { Element, ElementChild } from './element.ts';
export { isElement } from './element.ts';
export * from './model.ts';
export * from './codes.ts';
export * from './errors.ts';
