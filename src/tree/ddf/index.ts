/** DM DDF 1.2: the MgmtTree model, its reader/writer, and the compiled schema the tree checks writes against. */
export * from './model.ts';
export * from './errors.ts';
export { readMgmtTree, type ReadMgmtTreeOptions } from './read.ts';
export { writeMgmtTree, type WriteMgmtTreeOptions } from './write.ts';
export * from './document.ts';
export * from './schema.ts';
export { isValidValue, normalizeValue } from './values.ts';
export { ddfTreeSchema } from './hook.ts';
export * from './install.ts';
