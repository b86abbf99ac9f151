// A worker's metrics: what it ran, how long that took, what the platform got wrong, how busy
// it is. One registry per worker (tests run several workers in one process), served on
// WORKER_METRICS_ADDR by a MetricsServer.

import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Config } from "../config.js";
import type { GcReport } from "../gc/garbage-collector.js";
import type { Logger } from "../lib/logger.js";
import { STAGE_BUCKETS_SECONDS } from "../lib/stage-clock.js";
import { FunctionLabel } from "./function-label.js";
import { MetricsServer } from "./metrics-server.js";
import type { DeadLetterReason, ExecutionReport, WorkerObserver } from "./worker-observer.js";

/** Function runs last from milliseconds (a warm Python print) to FUNCTION_MAX_TIMEOUT (15 min). */
const EXECUTION_BUCKETS_SECONDS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900];

/** What the worker's runtime may tell at scrape time (the process runtime counts its Go builds). */
interface CountsGoBuilds {
  readonly goBuildCount: number;
}

const countsGoBuilds = (runtime: unknown): runtime is CountsGoBuilds =>
  typeof (runtime as Partial<CountsGoBuilds> | null)?.goBuildCount === "number";

/** A runtime with execution environments tells how its invocations' environments started. */
interface CountsStarts {
  readonly environmentStarts: { warm: number; cold: number };
}

const countsStarts = (runtime: unknown): runtime is CountsStarts =>
  typeof (runtime as Partial<CountsStarts> | null)?.environmentStarts === "object";

export class WorkerMetrics {
  readonly registry = new Registry();
  /** Hand this to the Worker. */
  readonly observer: WorkerObserver;
  /** Hand this to the GarbageCollector (its onReport). */
  readonly onGcReport: (report: GcReport) => void;
  private readonly functions: FunctionLabel;

  constructor(config: Config, runtime?: unknown) {
    const registers = [this.registry];
    this.functions = new FunctionLabel(config.metrics);
    const fn = this.functions.enabled ? (["function"] as const) : ([] as const);
    const executions = new Counter({
      name: "faas_executions_total",
      help: "Function runs by final status (completed, failed, timeout).",
      labelNames: [...fn, "language", "runtime", "status"],
      registers,
    });
    const duration = new Histogram({
      name: "faas_execution_duration_seconds",
      help: "How long function runs took, as stored on the invocation (duration_ms).",
      labelNames: [...fn, "language", "runtime", "status"],
      buckets: EXECUTION_BUCKETS_SECONDS,
      registers,
    });
    const platformFailures = new Counter({
      name: "faas_worker_platform_failures_total",
      help: 'Invocations the platform failed (not the function); cause="dependency": PostgreSQL or Redis unreachable, no attempt spent.',
      labelNames: ["cause"],
      registers,
    });
    const retries = new Counter({
      name: "faas_worker_retries_total",
      help: "Platform failures retried as a new attempt (with backoff).",
      registers,
    });
    const deadLetters = new Counter({
      name: "faas_worker_dead_letters_total",
      help: "Messages this worker moved to the dead-letter list, by reason.",
      labelNames: ["reason"],
      registers,
    });
    const busy = new Gauge({
      name: "faas_worker_slots_busy",
      help: "Invocations this worker is handling now.",
      registers,
    });
    const slots = new Gauge({
      name: "faas_worker_slots",
      help: "Invocations this worker handles at once at most (WORKER_CONCURRENCY).",
      registers,
    });
    slots.set(config.worker.concurrency);
    busy.set(0);
    const startsSeen = { warm: 0, cold: 0 };
    new Counter({
      name: "faas_worker_starts_total",
      help: 'Invocations by how their execution environment started: start="warm" (one of its version waited), "cold" (a new one). Container runtime.',
      labelNames: ["start"],
      registers,
      collect() {
        if (!countsStarts(runtime)) return;
        const now = runtime.environmentStarts;
        for (const start of ["warm", "cold"] as const) {
          if (now[start] > startsSeen[start]) this.inc({ start }, now[start] - startsSeen[start]);
          startsSeen[start] = now[start];
        }
      },
    });
    let goBuildsSeen = 0;
    new Counter({
      name: "faas_worker_go_builds_total",
      help: "Go builds this worker ran (cache hits do not count; compile errors do).",
      registers,
      collect() {
        if (!countsGoBuilds(runtime)) return;
        const now = runtime.goBuildCount;
        if (now > goBuildsSeen) this.inc(now - goBuildsSeen);
        goBuildsSeen = now;
      },
    });

    const gcInvocations = new Counter({
      name: "faas_gc_invocations_deleted_total",
      help: "Terminal invocations deleted by this worker's garbage collection (INVOCATION_RETENTION).",
      registers,
    });
    const gcCode = new Counter({
      name: "faas_gc_code_files_deleted_total",
      help: "Stored code files deleted by this worker's garbage collection (unused for CODE_GC_GRACE).",
      registers,
    });
    this.onGcReport = (report) => {
      gcInvocations.inc(report.invocationsDeleted);
      gcCode.inc(report.codeFilesDeleted);
    };

    const stages = new Histogram({
      name: "faas_worker_stage_seconds",
      help: "Where an invocation's time in the worker went, by stage: slot (max_concurrency), start (mark running and read the invocation with its function, one statement), or on the long way load and mark_running, then code, run (the runtime, environment included), store, ack.",
      labelNames: ["stage"],
      buckets: STAGE_BUCKETS_SECONDS,
      registers,
    });

    this.observer = {
      onStages: (laps: Record<string, number>) => {
        for (const [stage, ms] of Object.entries(laps)) stages.observe({ stage }, ms / 1000);
      },
      onExecution: (report: ExecutionReport) => {
        const labels = {
          ...this.functions.labels(report.functionId),
          language: report.language,
          runtime: report.runtime,
          status: report.status,
        };
        executions.inc(labels);
        duration.observe(labels, report.durationMs / 1000);
      },
      onPlatformFailure: ({ dependency }) => platformFailures.inc({ cause: dependency ? "dependency" : "error" }),
      onRetry: () => retries.inc(),
      onDeadLetter: (reason: DeadLetterReason, count = 1) => deadLetters.inc({ reason }, count),
      onSlots: (inUse: number, total: number) => {
        busy.set(inUse);
        slots.set(total);
      },
    };
  }
}

/** A worker's metrics and, unless WORKER_METRICS_ADDR=off, the server that exposes them. */
export interface RunningWorkerMetrics {
  metrics: WorkerMetrics;
  /** Where Prometheus scrapes them; null when off. */
  url: string | null;
  stop(): Promise<void>;
}

/** Builds the worker's metrics and starts their server on config.metrics.workerAddr (if on). */
export async function startWorkerMetrics(
  config: Config,
  runtime: unknown,
  logger: Logger,
): Promise<RunningWorkerMetrics> {
  const metrics = new WorkerMetrics(config, runtime);
  const addr = config.metrics.workerAddr;
  if (!addr) return { metrics, url: null, stop: async () => {} };
  const server = new MetricsServer(metrics.registry, addr, logger);
  try {
    const { url } = await server.start();
    return { metrics, url, stop: () => server.stop() };
  } catch (err) {
    throw new Error(
      `WORKER_METRICS_ADDR: cannot listen on ${addr.host}:${addr.port} (${(err as Error).message}); set another address, or "off"`,
    );
  }
}
