/**
 * MgmtTree model → Element, shared by the DDF and TNDS writers. Elements are
 * emitted in DTD order so the output validates against DM DDF 1.2.
 */
import type { Element, ElementChild } from '../../representation/element.ts';
import type { DfProperties, MgmtNode, MgmtTree, NodeType, Occurrence, RtProperties } from './model.ts';

export interface WriteMgmtTreeOptions {
  /** Namespace for every element: `syncml:dmddf1.2` (TNDS, default) or '' (DDF files as OMA publishes them). */
  ns?: string;
}

function el(name: string, ns: string, children: ElementChild[] = []): Element {
  return { name, ns, children };
}

function textEl(name: string, ns: string, value: string): Element {
  return el(name, ns, value === '' ? [] : [value]);
}

function typeEl(name: string, ns: string, type: NodeType): Element {
  if ('ddfName' in type) return el(name, ns, [textEl('DDFName', ns, type.ddfName)]);
  return el(
    name,
    ns,
    type.mime.map((m) => textEl('MIME', ns, m)),
  );
}

function occurrenceEl(ns: string, occurrence: Occurrence): Element {
  const inner =
    'n' in occurrence ? textEl(occurrence.kind, ns, String(occurrence.n)) : el(occurrence.kind, ns);
  return el('Occurrence', ns, [inner]);
}

function dfEl(ns: string, df: DfProperties): Element {
  const kids: Element[] = [
    el(
      'AccessType',
      ns,
      df.accessType.map((a) => el(a, ns)),
    ),
  ];
  if (df.defaultValue !== undefined) kids.push(textEl('DefaultValue', ns, df.defaultValue));
  if (df.description !== undefined) kids.push(textEl('Description', ns, df.description));
  kids.push(el('DFFormat', ns, [el(df.format, ns)]));
  if (df.occurrence) kids.push(occurrenceEl(ns, df.occurrence));
  if (df.scope) kids.push(el('Scope', ns, [el(df.scope, ns)]));
  if (df.title !== undefined) kids.push(textEl('DFTitle', ns, df.title));
  kids.push(typeEl('DFType', ns, df.type));
  if (df.caseSense) kids.push(el('CaseSense', ns, [el(df.caseSense, ns)]));
  return el('DFProperties', ns, kids);
}

function rtEl(ns: string, rt: RtProperties): Element {
  const kids: Element[] = [];
  if (rt.acl !== undefined) kids.push(textEl('ACL', ns, rt.acl));
  if (rt.format !== undefined) kids.push(el('Format', ns, [el(rt.format, ns)]));
  if (rt.name !== undefined) kids.push(textEl('Name', ns, rt.name));
  if (rt.size !== undefined) kids.push(textEl('Size', ns, rt.size));
  if (rt.title !== undefined) kids.push(textEl('Title', ns, rt.title));
  if (rt.tstamp !== undefined) kids.push(textEl('TStamp', ns, rt.tstamp));
  // Type is mandatory in RTProperties; an unknown type is written as an empty DDFName.
  kids.push(typeEl('Type', ns, rt.type ?? { ddfName: '' }));
  if (rt.verNo !== undefined) kids.push(textEl('VerNo', ns, rt.verNo));
  return el('RTProperties', ns, kids);
}

function nodeEl(ns: string, node: MgmtNode): Element {
  const kids: Element[] = [textEl('NodeName', ns, node.name)];
  if (node.path !== undefined) kids.push(textEl('Path', ns, node.path));
  if (node.rt) kids.push(rtEl(ns, node.rt));
  if (node.df) kids.push(dfEl(ns, node.df));
  for (const c of node.children) kids.push(nodeEl(ns, c));
  if (node.value !== undefined && node.children.length === 0) {
    kids.push(el('Value', ns, node.value instanceof Uint8Array || node.value !== '' ? [node.value] : []));
  }
  return el('Node', ns, kids);
}

/** Build the `MgmtTree` element of a DDF or TNDS document. */
export function writeMgmtTree(tree: MgmtTree, options: WriteMgmtTreeOptions = {}): Element {
  const ns = options.ns ?? 'syncml:dmddf1.2';
  const kids: Element[] = [textEl('VerDTD', ns, tree.verDtd)];
  if (tree.man !== undefined) kids.push(textEl('Man', ns, tree.man));
  if (tree.mod !== undefined) kids.push(textEl('Mod', ns, tree.mod));
  for (const node of tree.nodes) kids.push(nodeEl(ns, node));
  return el('MgmtTree', ns, kids);
}
