/**
 * Management-tree URIs (protocol.md §6.1): `./A/B`, `A/B` (relative to the root) and `.` for the
 * root, with an optional `?prop=<Property>` or `?list=<Struct|StructData|TNDS…>` suffix.
 *
 * Node names are kept decoded in the tree; URIs carry them %-escaped. Limits follow
 * `./DevDetail/URI/{MaxDepth,MaxTotLen,MaxSegLen}` (0 = unlimited); exceeding one is a 414.
 */
import { StatusCode } from '../representation/index.ts';
import { TreeError, TreeErrorCode } from './errors.ts';

/** Segments from the root, decoded; the root is `[]`. */
export type NodePath = readonly string[];

/** URI limits, as published in `./DevDetail/URI`. 0 means unlimited. */
export interface UriLimits {
  /** Maximum number of segments below the root. */
  readonly maxDepth: number;
  /** Maximum characters of the whole URI in its canonical `./A/B` form (escaped). */
  readonly maxTotLen: number;
  /** Maximum characters of one (decoded) node name. */
  readonly maxSegLen: number;
}

export const DEFAULT_URI_LIMITS: UriLimits = Object.freeze({ maxDepth: 20, maxTotLen: 512, maxSegLen: 128 });

/** A `?list=` request: `name` is `Struct`, `StructData`, `TNDS`, …; `args` the rest (`+ACL+Value`). */
export interface ListQuery {
  readonly name: string;
  readonly args: string;
}

export interface ParsedUri {
  readonly path: NodePath;
  /** Property named by `?prop=`. */
  readonly prop?: string;
  /** Retrieval mode named by `?list=`. */
  readonly list?: ListQuery;
}

function invalid(uri: string, why: string): TreeError {
  return new TreeError(
    TreeErrorCode.UriInvalid,
    `invalid URI ${JSON.stringify(uri)}: ${why}`,
    StatusCode.BadRequest,
  );
}

function tooLong(uri: string, why: string): TreeError {
  return new TreeError(TreeErrorCode.UriTooLong, `URI ${JSON.stringify(uri)} ${why}`, StatusCode.UriTooLong);
}

/** Checks a decoded node name (an Add target, a rename). Returns why it is invalid, or undefined. */
export function nodeNameProblem(name: string): string | undefined {
  if (name === '') return 'empty node name';
  if (name === '.' || name === '..') return `node name ${JSON.stringify(name)} is reserved`;
  if (name.includes('/')) return 'node name contains "/"';
  return undefined;
}

/** Parses a tree URI. Throws TreeError (status 400 or 414). Liberal: one trailing `/` is ignored. */
export function parseUri(uri: string, limits: UriLimits = DEFAULT_URI_LIMITS): ParsedUri {
  let pathPart = uri;
  let prop: string | undefined;
  let list: ListQuery | undefined;
  const q = uri.indexOf('?');
  if (q >= 0) {
    pathPart = uri.slice(0, q);
    const query = uri.slice(q + 1);
    const eq = query.indexOf('=');
    const key = eq < 0 ? query : query.slice(0, eq);
    const value = eq < 0 ? '' : query.slice(eq + 1);
    if (key === 'prop') {
      if (value === '') throw invalid(uri, 'empty ?prop=');
      prop = value;
    } else if (key === 'list') {
      if (value === '') throw invalid(uri, 'empty ?list=');
      const cut = value.search(/[+-]/);
      list = cut < 0 ? { name: value, args: '' } : { name: value.slice(0, cut), args: value.slice(cut) };
    } else {
      throw new TreeError(
        TreeErrorCode.UriInvalid,
        `unsupported URI query ${JSON.stringify(query)}`,
        StatusCode.OptionalFeatureNotSupported,
      );
    }
  }
  let rest: string;
  if (pathPart === '.' || pathPart === './' || pathPart === '') {
    if (pathPart === '') throw invalid(uri, 'empty');
    rest = '';
  } else if (pathPart.startsWith('./')) {
    rest = pathPart.slice(2);
  } else if (pathPart.startsWith('/')) {
    throw invalid(uri, 'absolute "/" form');
  } else {
    rest = pathPart;
  }
  if (rest.endsWith('/')) rest = rest.slice(0, -1);
  const path: string[] = [];
  if (rest !== '') {
    const raw = rest.split('/');
    if (limits.maxDepth > 0 && raw.length > limits.maxDepth) {
      throw tooLong(uri, `is ${raw.length} segments deep (MaxDepth ${limits.maxDepth})`);
    }
    for (const seg of raw) {
      if (seg === '') throw invalid(uri, 'empty segment');
      if (seg === '.' || seg === '..') throw invalid(uri, `"${seg}" segment`);
      let name = seg;
      if (seg.includes('%')) {
        try {
          name = decodeURIComponent(seg);
        } catch {
          throw invalid(uri, 'bad %-escape');
        }
        const problem = nodeNameProblem(name);
        if (problem) throw invalid(uri, problem);
      }
      if (limits.maxSegLen > 0 && name.length > limits.maxSegLen) {
        throw tooLong(uri, `has a ${name.length}-character segment (MaxSegLen ${limits.maxSegLen})`);
      }
      path.push(name);
    }
  }
  if (limits.maxTotLen > 0) {
    const total = formatUri(path).length;
    if (total > limits.maxTotLen)
      throw tooLong(uri, `is ${total} characters (MaxTotLen ${limits.maxTotLen})`);
  }
  const parsed: { path: NodePath; prop?: string; list?: ListQuery } = { path };
  if (prop !== undefined) parsed.prop = prop;
  if (list !== undefined) parsed.list = list;
  return parsed;
}

/** Throws the 414 TreeError when `path` is outside the limits (used for names created by rename/copy). */
export function checkLimits(path: NodePath, limits: UriLimits): void {
  const uri = formatUri(path);
  if (limits.maxDepth > 0 && path.length > limits.maxDepth) throw tooLong(uri, 'is too deep');
  if (limits.maxSegLen > 0 && path.some((s) => s.length > limits.maxSegLen))
    throw tooLong(uri, 'has a long segment');
  if (limits.maxTotLen > 0 && uri.length > limits.maxTotLen) throw tooLong(uri, 'is too long');
}

// Characters a node name may hold but a URI segment may not carry raw.
const NEEDS_ESCAPE = /[%/?#\u0000-\u0020\u007f]/;

/** %-escapes the characters of a node name that would break a URI (`%`, `/`, `?`, `#`, space, controls). */
export function escapeSegment(name: string): string {
  if (!NEEDS_ESCAPE.test(name)) return name;
  let out = '';
  for (const ch of name) {
    out += NEEDS_ESCAPE.test(ch) ? encodeURIComponent(ch) : ch;
  }
  return out;
}

/** The canonical URI of a path: `.` for the root, `./A/B` otherwise. */
export function formatUri(path: NodePath): string {
  if (path.length === 0) return '.';
  let out = '.';
  for (const seg of path) out += `/${escapeSegment(seg)}`;
  return out;
}

/** Joins a path and child name. */
export function childPath(path: NodePath, name: string): NodePath {
  return [...path, name];
}

/** True when `inner` equals `outer` or lies below it. */
export function isWithin(inner: NodePath, outer: NodePath): boolean {
  if (inner.length < outer.length) return false;
  for (let i = 0; i < outer.length; i++) if (inner[i] !== outer[i]) return false;
  return true;
}
