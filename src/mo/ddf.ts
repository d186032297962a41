/**
 * The DDFs of the standard objects, shipped as files in ./ddf/ and read at run time. Keep the
 * files next to the compiled module (the build copies src/mo/ddf/*.xml to dist/mo/ddf/).
 */
import { readFileSync } from 'node:fs';
import { type Ddf, DdfSchema, parseDdf, type SchemaOptions } from '../tree/ddf/index.ts';

/** File names of the shipped DDFs, in the order the standard tree is built. */
export const STANDARD_DDF_FILES = ['DevInfo.xml', 'DevDetail.xml', 'DMAcc.xml', 'Inbox.xml'] as const;
export type StandardDdfFile = (typeof STANDARD_DDF_FILES)[number];

const cache = new Map<string, Ddf>();

/** One shipped DDF, parsed (cached; callers must not mutate it). */
export function loadStandardDdf(file: StandardDdfFile): Ddf {
  let ddf = cache.get(file);
  if (!ddf) {
    ddf = parseDdf(readFileSync(new URL(`./ddf/${file}`, import.meta.url)));
    cache.set(file, ddf);
  }
  return ddf;
}

/** The DDF text of one shipped file (for `omadm` users who want to read or publish it). */
export function standardDdfText(file: StandardDdfFile): string {
  return readFileSync(new URL(`./ddf/${file}`, import.meta.url), 'utf8');
}

export interface StandardSchemaOptions extends SchemaOptions {
  /** Leave Inbox out (it is optional in DM 1.2). Default false. */
  withoutInbox?: boolean;
  /** More DDFs (vendor MOs, FUMO, …) compiled into the same schema. */
  extra?: readonly Ddf[];
}

/** A schema with DevInfo, DevDetail, DMAcc (and Inbox) plus `extra`. More DDFs can be added later with `schema.add(ddf)`. */
export function standardSchema(options: StandardSchemaOptions = {}): DdfSchema {
  const files = STANDARD_DDF_FILES.filter((f) => !(options.withoutInbox && f === 'Inbox.xml'));
  return new DdfSchema([...files.map(loadStandardDdf), ...(options.extra ?? [])], options);
}

/** The FUMO DDF the agent publishes (not part of the standard tree: FUMO is a plugin you mount). */
export function fumoDdf(): Ddf {
  let ddf = cache.get('FUMO.xml');
  if (!ddf) {
    ddf = parseDdf(readFileSync(new URL('./ddf/FUMO.xml', import.meta.url)));
    cache.set('FUMO.xml', ddf);
  }
  return ddf;
}

export function fumoDdfText(): string {
  return readFileSync(new URL('./ddf/FUMO.xml', import.meta.url), 'utf8');
}
