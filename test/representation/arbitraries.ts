/** fast-check arbitraries for text that XML can carry, shared by the representation property tests. */
import fc from 'fast-check';

/** Characters XML 1.0 can carry (no C0 controls except TAB/LF/CR, no U+FFFE/FFFF, no lone surrogates). */
export const xmlSafe = (s: string): boolean =>
  s.isWellFormed() && !/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/.test(s);

/** Pieces that stress escaping: markup characters, CDATA end, entity starts, line ends, non-ASCII. */
const special = fc.constantFrom(
  '<',
  '>',
  '&',
  '"',
  "'",
  '\r',
  '\n',
  '\r\n',
  '\t',
  ' ',
  ']]>',
  '&amp;',
  '&#',
  'é',
  '€',
  '😀',
  'a',
  'Z',
  '0',
  '=',
);

/** Text rich in markup characters, line ends and non-ASCII, or any XML-safe string. */
export function xmlText(length: { minLength?: number; maxLength: number }): fc.Arbitrary<string> {
  return fc.oneof(
    fc.string({ unit: special, ...length }),
    fc.string({ unit: 'binary', ...length }).filter(xmlSafe),
  );
}
