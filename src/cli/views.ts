// The REST shapes the CLI reads (the public contract: README "REST API"). Declared here rather
// than imported from the server so the CLI stays a client of the API and nothing more.

export const RUNTIMES = ["go", "python", "nodejs"] as const;
export type Runtime = (typeof RUNTIMES)[number];

export const INVOCATION_STATUSES = ["pending", "running", "completed", "failed", "timeout"] as const;
export type InvocationStatus = (typeof INVOCATION_STATUSES)[number];

export const TERMINAL_STATUSES: ReadonlySet<string> = new Set(["completed", "failed", "timeout"]);

export interface FunctionView {
  id: string;
  name: string;
  version: string;
  runtime: Runtime;
  handler: string;
  code_sha256: string;
  code_size: number;
  timeout: string;
  timeout_ms: number;
  memory_mb: number;
  max_concurrency: number;
  network: boolean;
  /** null for roles that may not see secrets. */
  environment: Record<string, string> | null;
  metadata: Record<string, unknown>;
  created_at: string;
  updated_at: string;
}

export interface InvocationView {
  id: string;
  invocation_id: string;
  function_id: string;
  status: InvocationStatus;
  payload: unknown;
  headers: Record<string, string>;
  result: unknown;
  error: string | null;
  logs: string | null;
  exit_code: number | null;
  attempts: number;
  worker_id: string | null;
  duration_ms: number | null;
  timeout: string;
  code_sha256: string;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
}

export interface HealthView {
  status: "ok" | "degraded";
  checks: { postgres: string; redis: string };
  queue?: { queued: number; processing: number; delayed: number; dead_letter: number };
  workers?: { live: number };
}
