/**
 * A small client of the operator REST API for the CLI (and scripts): fetch with a bearer token,
 * JSON in and out, and failures turned into `CliError`s with the exit codes of src/cli/errors.ts:
 * the server unreachable or refusing the token → 69, a request the server rejects as invalid → 2,
 * anything else the server refuses → 1.
 */
import { CliError, ExitCode } from '../errors.ts';

export interface ApiClientOptions {
  /** Base URL of the server (`http://127.0.0.1:8080`); `/api/v1` is appended when missing. */
  readonly url: string;
  readonly token?: string | undefined;
  /** Per-request timeout in milliseconds (long-polls add their wait time). Default 30 s. */
  readonly timeoutMs?: number;
}

/** The error body every API error has. */
interface ErrorBody {
  readonly error?: { readonly code?: string; readonly message?: string; readonly details?: unknown };
}

/** An error answer of the API, kept for callers that want the code. */
export class ApiRequestError extends CliError {
  readonly status: number;
  readonly code: string;
  readonly details: unknown;
  constructor(status: number, code: string, message: string, details: unknown, exitCode: ExitCode) {
    super(message, exitCode);
    this.name = 'ApiRequestError';
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export class ApiClient {
  readonly base: string;
  readonly #token: string | undefined;
  readonly #timeoutMs: number;

  constructor(options: ApiClientOptions) {
    let base: URL;
    try {
      base = new URL(options.url);
    } catch {
      throw new CliError(`not a URL: ${options.url}`, ExitCode.BadInput);
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:') {
      throw new CliError(`the server URL must be http or https: ${options.url}`, ExitCode.BadInput);
    }
    let path = base.pathname.replace(/\/+$/, '');
    if (!path.endsWith('/api/v1')) path += '/api/v1';
    this.base = `${base.origin}${path}`;
    this.#token = options.token;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
  }

  get<T>(
    path: string,
    query?: Readonly<Record<string, string | number | boolean | undefined>>,
    extraMs = 0,
  ): Promise<T> {
    return this.request<T>('GET', path, undefined, query, extraMs);
  }
  post<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('POST', path, body);
  }
  patch<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PATCH', path, body);
  }
  delete(path: string): Promise<void> {
    return this.request<void>('DELETE', path);
  }

  async request<T>(
    method: string,
    path: string,
    body?: unknown,
    query?: Readonly<Record<string, string | number | boolean | undefined>>,
    extraMs = 0,
  ): Promise<T> {
    const url = new URL(this.base + path);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(this.#timeoutMs + extraMs),
      });
    } catch (err) {
      const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : String(err);
      const why = err instanceof Error && err.name === 'TimeoutError' ? 'timed out' : cause;
      throw new CliError(`cannot reach the server at ${url.origin}: ${why}`, ExitCode.Unavailable);
    }
    const text = await res.text();
    if (res.ok) return (text ? JSON.parse(text) : undefined) as T;
    let parsed: ErrorBody = {};
    try {
      parsed = JSON.parse(text) as ErrorBody;
    } catch {
      // Not our server, or a proxy page: report the status line.
    }
    const code = parsed.error?.code ?? `http_${res.status}`;
    let message = parsed.error?.message ?? `${res.status} ${res.statusText}`;
    const details = parsed.error?.details;
    if (Array.isArray(details) && details.length > 0) {
      const first = details[0] as { path?: string; message?: string };
      if (first?.message) message += ` (${first.path ? `${first.path}: ` : ''}${first.message})`;
    }
    const exit =
      res.status === 401 || res.status === 403 || res.status >= 500
        ? ExitCode.Unavailable
        : res.status === 400 ||
            res.status === 404 ||
            res.status === 409 ||
            res.status === 413 ||
            res.status === 422
          ? ExitCode.BadInput
          : ExitCode.Failed;
    if (res.status === 401) message += ' — give a token with --token or OMADM_TOKEN';
    throw new ApiRequestError(res.status, code, message, details, exit);
  }
}

/** Options every API-talking command takes. */
export interface ConnectionOptions {
  readonly url?: string;
  readonly token?: string;
}

/** The client for a command's `--url`/`--token`, falling back to OMADM_URL/OMADM_TOKEN. */
export function clientFrom(opts: ConnectionOptions, env: NodeJS.ProcessEnv = process.env): ApiClient {
  const url = opts.url ?? env.OMADM_URL ?? 'http://127.0.0.1:8080';
  const token = opts.token ?? env.OMADM_TOKEN;
  return new ApiClient({ url, token });
}
