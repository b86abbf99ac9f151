// What a worker tells whoever watches it (the worker's metrics). Every method is optional and
// must not throw: the worker calls it in the middle of its work and does not wait for it.

/** One run of a function, with the final status it gave the invocation. */
export interface ExecutionReport {
  functionId: string;
  /** The function's language: go, python, nodejs. */
  language: string;
  /** The runtime that ran it: process or container. */
  runtime: string;
  /** completed, failed or timeout. */
  status: string;
  durationMs: number;
}

/** Why a message went to the dead-letter list. */
export type DeadLetterReason = "attempts_exhausted" | "worker_lost" | "malformed";

export interface WorkerObserver {
  /** A function ran (or could not start, e.g. an environment no key opens): its outcome. */
  onExecution?(report: ExecutionReport): void;
  /**
   * The platform failed an invocation (not the function): `dependency` when PostgreSQL or
   * Redis was unreachable (the attempt is not spent).
   */
  onPlatformFailure?(failure: { functionId: string; dependency: boolean }): void;
  /** A platform failure is retried as a new attempt. */
  onRetry?(retry: { functionId: string; attempt: number }): void;
  /** `count` messages were moved to the dead-letter list. */
  onDeadLetter?(reason: DeadLetterReason, count?: number): void;
  /**
   * Where the time of one invocation that ran went, in milliseconds per stage, in order:
   * slot (max_concurrency), start (or, the long way, load and mark_running), code, run, store, ack.
   */
  onStages?(stages: Record<string, number>): void;
  /** Slots in use now, of `total` (WORKER_CONCURRENCY). */
  onSlots?(busy: number, total: number): void;
}
