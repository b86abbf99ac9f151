// The contract between the worker and the things that execute user code. Two
// implementations: the process runtime ("process", alias "simple") and the container runtime ("container").

export type FunctionLanguage = "go" | "python" | "nodejs";

export interface RunRequest {
  invocationId: string;
  functionId: string;
  runtime: FunctionLanguage;
  /** The function's single source file, decoded. */
  code: Buffer;
  /** sha256 of `code` (hex); the key of the Go build cache. */
  codeSha256: string;
  /** The JSON payload as text; becomes FUNCTION_PAYLOAD. */
  payload: string;
  /** The invocation's headers; become FUNCTION_HEADERS (a JSON object) when there are any. */
  headers?: Record<string, string>;
  /** The function's own environment; nothing of the platform's environment is added. */
  environment: Record<string, string>;
  timeoutMs: number;
  memoryMb: number;
  /** Whether the function may reach the network (off by default). */
  network: boolean;
  /** Aborted when the worker must give the invocation up (shutdown deadline). */
  signal?: AbortSignal;
}

export type RunOutcome = "completed" | "failed" | "timeout";

export interface RunResult {
  /** completed: exit code 0. failed: non-zero exit, killed, compile error, OOM. timeout: killed at its limit. */
  outcome: RunOutcome;
  exitCode: number | null;
  /** Standard output, capped at the configured size. */
  stdout: string;
  stdoutTruncated: boolean;
  /** Standard error, capped at the configured size (the truncation marker is added by the caller). */
  stderr: string;
  stderrTruncated: boolean;
  durationMs: number;
  /** Human-readable reason when outcome is not "completed" (e.g. "out of memory: limit 128 MiB"). */
  error?: string;
  oomKilled?: boolean;
}

export interface RuntimeLimits {
  maxOutputBytes: number;
  maxLogBytes: number;
}

/**
 * Runs one invocation. Function failures (non-zero exit, timeout, OOM, compile errors,
 * a missing toolchain) are results, never exceptions. An exception means the platform
 * failed (engine down, disk full) and the worker retries the invocation with backoff:
 * throw PlatformError from ../../errors.ts for those.
 */
export interface FunctionRuntime {
  readonly kind: "process" | "container";
  /** Checks prerequisites (engine reachable, images present), cleans leftovers of a crashed worker. */
  start(): Promise<void>;
  /** Kills what is still running. Idempotent. */
  stop(): Promise<void>;
  run(request: RunRequest): Promise<RunResult>;
  /** Removes what is kept for a function (it changed or was deleted); a runtime that keeps nothing has none. */
  retireFunction?(functionId: string): void;
}

/**
 * Grace past an invocation's timeout before a backstop inside the process tree or container
 * kills it on its own: the worker's timer normally fires first; the backstop covers a worker
 * that died mid-run (SIGKILL, OOM), when nobody else would enforce the limit.
 */
export const BACKSTOP_GRACE_SECONDS = 5;

/**
 * The variables the platform itself gives a function, on top of its own environment (they
 * win over it): the payload, and the invocation's headers when it has any.
 */
export function platformVariables(request: Pick<RunRequest, "payload" | "headers">): Record<string, string> {
  const vars: Record<string, string> = { FUNCTION_PAYLOAD: request.payload };
  if (request.headers && Object.keys(request.headers).length > 0)
    vars.FUNCTION_HEADERS = JSON.stringify(request.headers);
  return vars;
}

/** A function that failed before it ran (missing toolchain, unusable environment): a result, not an error. */
export function failedBeforeStart(error: string): RunResult {
  return {
    outcome: "failed",
    exitCode: null,
    stdout: "",
    stdoutTruncated: false,
    stderr: "",
    stderrTruncated: false,
    durationMs: 0,
    error,
  };
}

const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Why a request's environment cannot be handed to a process (a name a shell or execve
 * cannot carry, a NUL byte), or null. The API validates names already; runtimes check
 * again because the row could have been written by anything.
 */
export function environmentProblem(environment: Record<string, string>): string | null {
  for (const [name, value] of Object.entries(environment)) {
    if (!VARIABLE_NAME.test(name) || String(value).includes("\0")) {
      return `invalid environment variable: ${JSON.stringify(name)}`;
    }
  }
  return null;
}
