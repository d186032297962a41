/** TNDS (Tree and Description Serialization): parse and write subtrees with their properties, XML and WBXML. */
export * from './codec.ts';
export * from './subtree.ts';
export * from './list.ts';
export * from './apply.ts';
export * from './handler.ts';
