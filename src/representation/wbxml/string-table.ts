/**
 * The string table the encoder writes when asked to, built the way libwbxml 0.11.8 builds it
 * (`wbxml_strtbl_initialize`), so our bytes match xml2wbxml's default output:
 *  1. texts longer than 3 bytes, in document order; those seen more than once enter the table
 *     in order of first appearance;
 *  2. the texts seen once are split into whitespace-separated words; words longer than 3 bytes
 *     seen more than once enter the table too;
 *  3. each text is then written as runs: every occurrence of a table entry (taken in table
 *     order) becomes STR_T, the rest STR_I.
 * LITERAL tag names and the FPI of an unregistered public id are entries too.
 */
import { utf8Bytes, utf8Length } from './byte-writer.ts';

/** Strings of at most this many bytes never go into the table (libwbxml's WBXML_ENCODER_STRING_TABLE_MIN). */
const STRING_TABLE_MIN = 3;

interface Entry {
  readonly str: string;
  readonly offset: number;
}

// C isspace() in the "C" locale.
const SPACE = /[ \t\n\v\f\r]+/;
const ONLY_SPACE = /^[ \t\n\v\f\r]*$/;

export function isBlank(s: string): boolean {
  return ONLY_SPACE.test(s);
}

export class StringTable {
  private readonly entries: Entry[] = [];
  private readonly byString = new Map<string, number>();
  private length = 0;

  get size(): number {
    return this.length;
  }

  /** Adds `s` (if absent) and returns its byte offset. */
  add(s: string): number {
    const known = this.byString.get(s);
    if (known !== undefined) return known;
    const offset = this.length;
    this.entries.push({ str: s, offset });
    this.byString.set(s, offset);
    this.length += utf8Length(s) + 1;
    return offset;
  }

  /** Steps 1 and 2 above, on the texts the encoder will write inline, in document order. */
  collect(texts: readonly string[]): void {
    const once = this.addRepeated(texts.filter((t) => !isBlank(t) && utf8Length(t) > STRING_TABLE_MIN));
    const words: string[] = [];
    for (const t of once) for (const w of t.split(SPACE)) if (w !== '') words.push(w);
    this.addRepeated(words);
  }

  /** Adds the strings seen more than once (and long enough); returns those seen once. */
  private addRepeated(strings: readonly string[]): string[] {
    const counts = new Map<string, number>();
    for (const s of strings) counts.set(s, (counts.get(s) ?? 0) + 1);
    const once: string[] = [];
    for (const [s, n] of counts) {
      if (n > 1 && utf8Length(s) > STRING_TABLE_MIN) this.add(s);
      else once.push(s);
    }
    return once;
  }

  /** Step 3: `text` as runs of inline strings and table offsets. */
  split(text: string): (string | number)[] {
    const runs: (string | number)[] = [text];
    for (const e of this.entries) {
      for (let i = 0; i < runs.length; i++) {
        const run = runs[i]!;
        if (typeof run !== 'string') continue;
        const at = run.indexOf(e.str);
        if (at < 0) continue;
        const rest = run.slice(at + e.str.length);
        runs[i] = run.slice(0, at);
        if (rest.length > 0) runs.splice(i + 1, 0, e.offset, rest);
        else runs.splice(i + 1, 0, e.offset);
      }
    }
    return runs;
  }

  /** The table's bytes: each entry as UTF-8 followed by NUL. */
  bytes(): Uint8Array {
    const out = new Uint8Array(this.length);
    let p = 0;
    for (const e of this.entries) {
      const b = utf8Bytes(e.str);
      out.set(b, p);
      p += b.length + 1;
    }
    return out;
  }
}
