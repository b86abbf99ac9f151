// The platform's REST API as the CLI uses it. Every answer is the public envelope
// ({"data": …} or {"error": {code, message, details}}); every failure becomes a CliError
// carrying the exit code its HTTP status means, so commands never look at statuses.
import type { IncomingHttpHeaders } from "node:http";
import type { CliConfig } from "./cli-config.js";
import { CliError, ExitCode } from "./exit-codes.js";
import { exchange, type HttpAnswer } from "./http.js";
import type { FunctionView, InvocationView } from "./views.js";

/** No request of the CLI legitimately takes longer: invoke answers at once, waiting is done live. */
const REQUEST_TIMEOUT_MS = 60_000;

export interface RestOptions {
  body?: unknown;
  headers?: Record<string, string>;
  query?: Record<string, string | number | undefined>;
  /** Statuses whose body is `{"data": …}` although they are not 2xx (GET /health answers 503 so). */
  dataStatuses?: number[];
  /**
   * false: Ctrl-C does not abort this request. For POST /invoke: once sent, the invocation
   * may exist, and the user must learn its id rather than be left guessing.
   */
  interruptible?: boolean;
}

export interface RestAnswer<T> {
  status: number;
  data: T;
  pagination?: { limit: number; next_cursor: string | null };
  headers: IncomingHttpHeaders;
}

interface ErrorEnvelope {
  error: { code?: string; message?: string; details?: unknown };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null;

/** The exit code an API error status stands for. */
export function exitCodeForStatus(status: number): ExitCode {
  if (status === 400 || status === 413) return ExitCode.USAGE;
  if (status === 401 || status === 403) return ExitCode.UNAUTHORIZED;
  if (status === 404) return ExitCode.NOT_FOUND;
  if (status >= 500) return ExitCode.UNAVAILABLE;
  return ExitCode.ERROR;
}

/** Why a connection failed, in the words of the system call ("connect ECONNREFUSED 127.0.0.1:1"). */
export function connectionFailureReason(err: unknown): string {
  if (
    err instanceof Error &&
    (err.name === "TimeoutError" || (err.cause as Error | undefined)?.name === "TimeoutError")
  ) {
    return `no answer within ${REQUEST_TIMEOUT_MS / 1000} s`;
  }
  let cause: unknown = err instanceof Error && err.cause !== undefined ? err.cause : err;
  // "localhost" may resolve to ::1 and 127.0.0.1: Node then reports every attempt in one AggregateError.
  if (cause instanceof AggregateError && cause.message === "" && cause.errors.length > 0) cause = cause.errors[0];
  if (cause instanceof Error) {
    const code = (cause as NodeJS.ErrnoException).code;
    return cause.message || code || String(cause);
  }
  return String(cause);
}

export class PlatformClient {
  constructor(
    readonly config: CliConfig,
    /** Ctrl-C: aborts whatever request is in flight. */
    private readonly signal?: AbortSignal,
  ) {}

  get url(): string {
    return this.config.url;
  }

  /** `Authorization: Bearer <key>` when FAAS_API_KEY is set; the platform may serve loopback clients without. */
  authHeaders(): Record<string, string> {
    return this.config.apiKey ? { authorization: `Bearer ${this.config.apiKey}` } : {};
  }

  unreachable(err: unknown): CliError {
    return new CliError(
      `cannot reach the platform at ${this.config.url}: ${connectionFailureReason(err)}`,
      ExitCode.UNAVAILABLE,
    );
  }

  async rest<T>(method: string, path: string, options: RestOptions = {}): Promise<RestAnswer<T>> {
    const url = new URL(`${this.config.url}${path}`);
    for (const [name, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(name, String(value));
    }
    const interrupt = options.interruptible === false ? undefined : this.signal;
    const signals = [AbortSignal.timeout(REQUEST_TIMEOUT_MS), ...(interrupt ? [interrupt] : [])];
    let res: HttpAnswer;
    try {
      res = await exchange(url, {
        method,
        headers: {
          accept: "application/json",
          ...(options.body !== undefined ? { "content-type": "application/json" } : {}),
          ...this.authHeaders(),
          ...options.headers,
        },
        ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
        signal: AbortSignal.any(signals),
      });
    } catch (err) {
      if (interrupt?.aborted) throw new CliError("interrupted", ExitCode.INTERRUPTED);
      throw this.unreachable(err);
    }
    let body: unknown;
    try {
      body = JSON.parse(res.text);
    } catch {
      body = undefined;
    }
    const ok = (res.status >= 200 && res.status < 300) || options.dataStatuses?.includes(res.status);
    if (ok && isObject(body) && "data" in body) {
      return {
        status: res.status,
        data: body.data as T,
        ...(isObject(body.pagination) ? { pagination: body.pagination as RestAnswer<T>["pagination"] } : {}),
        headers: res.headers,
      };
    }
    throw this.apiError(res.status, body);
  }

  private apiError(status: number, body: unknown): CliError {
    const code = exitCodeForStatus(status);
    const error = isObject(body) ? body.error : undefined;
    if (!isObject(error)) {
      // Not the platform's envelope: a proxy's error page, or FAAS_URL points at something else.
      return new CliError(`unexpected answer from ${this.config.url}: HTTP ${status}`, code, status);
    }
    const { message } = error as ErrorEnvelope["error"];
    let text = typeof message === "string" && message !== "" ? message : `HTTP ${status}`;
    if (status === 401 && !this.config.apiKey) text += " (set FAAS_API_KEY)";
    return new CliError(text, code, status);
  }

  /** Every item of a paginated listing, following `next_cursor` to the end. */
  async listAll<T>(path: string, query: RestOptions["query"] = {}): Promise<T[]> {
    const items: T[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.rest<T[]>("GET", path, { query: { ...query, limit: 100, cursor } });
      items.push(...page.data);
      cursor = page.pagination?.next_cursor ?? undefined;
    } while (cursor);
    return items;
  }

  // The routes, typed.

  getFunction(id: string) {
    return this.rest<FunctionView>("GET", `/functions/${encodeURIComponent(id)}`).then((a) => a.data);
  }

  functionsNamed(name: string): Promise<FunctionView[]> {
    return this.listAll<FunctionView>("/functions", { name });
  }

  getInvocation(id: string) {
    return this.rest<InvocationView>("GET", `/invocations/${encodeURIComponent(id)}`).then((a) => a.data);
  }

  listInvocations(query: { function_id?: string; status?: string; limit: number }): Promise<InvocationView[]> {
    return this.rest<InvocationView[]>("GET", "/invocations", { query }).then((a) => a.data);
  }
}
