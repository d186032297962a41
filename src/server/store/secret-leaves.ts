/**
 * Which management-tree leaves hold secrets: their values are sealed at rest in the command queue,
 * never cached in the tree cache, and redacted in API answers, traces and logs.
 *
 * A leaf is secret by its DDF (a leaf the device never lets anyone Get: AccessType without Get,
 * e.g. DMAcc AAuthSecret and AAuthData) or by the configurable list. Each entry of the list is a
 * leaf name (`AAuthSecret`, matched as the last URI segment anywhere in the tree) or a URI pattern
 * with `/` in it, where `*` stands for one segment (`./Vendor/X/*\/Key`).
 */
import { loadStandardDdf, STANDARD_DDF_FILES } from '../../mo/ddf.ts';
import type { MgmtNode } from '../../tree/ddf/index.ts';

/** Secret leaves of older DMAcc forms and common key leaves, on top of what the DDFs say. */
export const DEFAULT_SECRET_LEAVES: readonly string[] = [
  'ServerPW',
  'ClientPW',
  'ServerNonce',
  'ClientNonce',
];

/** Leaf names the shipped DDFs mark as never readable (no Get in their AccessType). */
function writeOnlyLeafNames(): string[] {
  const out = new Set<string>();
  const walk = (n: MgmtNode) => {
    const df = n.df;
    if (
      df &&
      n.children.length === 0 &&
      n.name !== '' &&
      df.format !== 'node' &&
      !df.accessType.includes('Get')
    )
      out.add(n.name);
    for (const c of n.children) walk(c);
  };
  for (const file of STANDARD_DDF_FILES) for (const n of loadStandardDdf(file).nodes) walk(n);
  return [...out].sort();
}

let ddfNames: readonly string[] | undefined;

export class SecretLeaves {
  readonly #names: ReadonlySet<string>;
  readonly #patterns: readonly RegExp[];
  /** Byte strings whose presence in a message means it may carry a secret value (cheap pre-check). */
  readonly markers: readonly string[];

  /** `extra`: more leaf names or URI patterns (see the module doc); the DDF-derived names always apply. */
  constructor(extra: readonly string[] = DEFAULT_SECRET_LEAVES) {
    ddfNames ??= writeOnlyLeafNames();
    const names = new Set<string>(ddfNames);
    const patterns: RegExp[] = [];
    const markers = new Set<string>(ddfNames);
    for (const e of extra) {
      const entry = e.trim();
      if (entry === '') continue;
      if (!entry.includes('/')) {
        names.add(entry);
        markers.add(entry);
        continue;
      }
      const segs = normalize(entry).split('/');
      const rx = segs.map((s) => (s === '*' ? '[^/]+' : s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('/');
      patterns.push(new RegExp(`^${rx}$`));
      const literal = [...segs].reverse().find((s) => s !== '*' && s !== '.');
      if (literal) markers.add(literal);
    }
    this.#names = names;
    this.#patterns = patterns;
    this.markers = [...markers];
  }

  /** True when the value at `uri` is a secret. */
  isSecret(uri: string): boolean {
    const u = normalize(uri);
    const last = u.slice(u.lastIndexOf('/') + 1);
    if (this.#names.has(last)) return true;
    return this.#patterns.some((p) => p.test(u));
  }

  /** True when `text` mentions a secret leaf (e.g. a TNDS document that provisions an account). */
  mentions(text: string): boolean {
    return this.markers.some((m) => text.includes(m));
  }
}

/** `./A/B/`, `A/B` → `./A/B` (query and trailing slashes dropped). */
function normalize(uri: string): string {
  let u = uri.split('?')[0] ?? '';
  u = u.replace(/\/+$/, '');
  if (!u.startsWith('./') && u !== '.') u = `./${u}`;
  return u;
}
