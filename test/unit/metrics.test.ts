// The pieces of the metrics that need no platform: the capped function label, route labels
// from the REST patterns, the worker's registry and its small HTTP server.
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { createLogger } from "../../src/lib/logger.js";
import { FunctionLabel, OTHER_FUNCTIONS } from "../../src/metrics/function-label.js";
import { routeLabel } from "../../src/metrics/route-label.js";
import { startWorkerMetrics, WorkerMetrics } from "../../src/metrics/worker-metrics.js";

const logger = createLogger("warn");

describe("FunctionLabel", () => {
  it("keeps the first METRICS_MAX_FUNCTIONS ids and puts the rest in `other`, for good", () => {
    const label = new FunctionLabel({ perFunction: true, maxFunctions: 2 });
    expect(label.of("a")).toBe("a");
    expect(label.of("b")).toBe("b");
    expect(label.of("c")).toBe(OTHER_FUNCTIONS);
    expect(label.of("a")).toBe("a");
    expect(label.of("b")).toBe("b");
    expect(label.of("d")).toBe(OTHER_FUNCTIONS);
    expect(label.of("c")).toBe(OTHER_FUNCTIONS);
    expect(label.labels("a")).toEqual({ function: "a" });
    expect(label.labels("e")).toEqual({ function: OTHER_FUNCTIONS });
  });

  it("gives no label at all when per-function metrics are off", () => {
    const label = new FunctionLabel({ perFunction: false, maxFunctions: 100 });
    expect(label.enabled).toBe(false);
    expect(label.labels("a")).toEqual({});
  });
});

describe("routeLabel", () => {
  it("is the REST pattern with {id} for each group, never a path", () => {
    expect(routeLabel(/^\/health$/)).toBe("/health");
    expect(routeLabel(/^\/functions$/)).toBe("/functions");
    expect(routeLabel(/^\/functions\/([^/]+)$/)).toBe("/functions/{id}");
    expect(routeLabel(/^\/api-keys\/([^/]+)$/)).toBe("/api-keys/{id}");
    expect(routeLabel(/^\/openapi\.json$/)).toBe("/openapi.json");
    expect(routeLabel(/^\/a\/([^/]+)\/b\/([^/]+)$/)).toBe("/a/{id}/b/{id}");
  });
});

/** The value of the one sample `name{labels}` in exposition text (labels in the registry's order). */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe("WorkerMetrics", () => {
  const config = (env: Record<string, string> = {}) => loadConfig({ WORKER_CONCURRENCY: "5", ...env });
  const run = (functionId: string, status = "completed", durationMs = 20) => ({
    functionId,
    language: "python",
    runtime: "process",
    status,
    durationMs,
  });

  it("labels executions by function (capped), language, runtime and status, with their duration", async () => {
    const metrics = new WorkerMetrics(config({ METRICS_MAX_FUNCTIONS: "2" }));
    const { observer } = metrics;
    for (const id of ["f1", "f2", "f3", "f1", "f4"]) observer.onExecution?.(run(id));
    observer.onExecution?.(run("f2", "timeout", 1500));
    const text = await metrics.registry.metrics();
    const series = (fn: string, status = "completed") =>
      `faas_executions_total{function="${fn}",language="python",runtime="process",status="${status}"}`;
    expect(sample(text, series("f1"))).toBe(2);
    expect(sample(text, series("f2"))).toBe(1);
    expect(sample(text, series("f2", "timeout"))).toBe(1);
    expect(sample(text, series("other"))).toBe(2);
    expect(text).not.toContain('function="f3"');
    expect(text).not.toContain('function="f4"');
    const bucket = (le: string) =>
      `faas_execution_duration_seconds_bucket{le="${le}",function="f2",language="python",runtime="process",status="timeout"}`;
    expect(sample(text, bucket("1"))).toBe(0);
    expect(sample(text, bucket("2.5"))).toBe(1);
    expect(
      sample(
        text,
        'faas_execution_duration_seconds_sum{function="f2",language="python",runtime="process",status="timeout"}',
      ),
    ).toBeCloseTo(1.5);
  });

  it("has no function label with METRICS_PER_FUNCTION=false", async () => {
    const metrics = new WorkerMetrics(config({ METRICS_PER_FUNCTION: "false" }));
    metrics.observer.onExecution?.(run("f1"));
    const text = await metrics.registry.metrics();
    expect(sample(text, 'faas_executions_total{language="python",runtime="process",status="completed"}')).toBe(1);
    expect(text).not.toContain("function=");
  });

  it("counts platform failures, retries, dead letters and slots", async () => {
    const metrics = new WorkerMetrics(config());
    const { observer } = metrics;
    let text = await metrics.registry.metrics();
    expect(sample(text, "faas_worker_slots")).toBe(5);
    expect(sample(text, "faas_worker_slots_busy")).toBe(0);
    observer.onPlatformFailure?.({ functionId: "f", dependency: false });
    observer.onPlatformFailure?.({ functionId: "f", dependency: true });
    observer.onPlatformFailure?.({ functionId: "f", dependency: false });
    observer.onRetry?.({ functionId: "f", attempt: 2 });
    observer.onDeadLetter?.("attempts_exhausted");
    observer.onDeadLetter?.("worker_lost", 3);
    observer.onSlots?.(2, 5);
    text = await metrics.registry.metrics();
    expect(sample(text, 'faas_worker_platform_failures_total{cause="error"}')).toBe(2);
    expect(sample(text, 'faas_worker_platform_failures_total{cause="dependency"}')).toBe(1);
    expect(sample(text, "faas_worker_retries_total")).toBe(1);
    expect(sample(text, 'faas_worker_dead_letters_total{reason="attempts_exhausted"}')).toBe(1);
    expect(sample(text, 'faas_worker_dead_letters_total{reason="worker_lost"}')).toBe(3);
    expect(sample(text, "faas_worker_slots_busy")).toBe(2);
  });

  it("reads the runtime's Go build count when scraped", async () => {
    const runtime = { goBuildCount: 0 };
    const metrics = new WorkerMetrics(config(), runtime);
    expect(sample(await metrics.registry.metrics(), "faas_worker_go_builds_total")).toBe(0);
    runtime.goBuildCount = 2;
    expect(sample(await metrics.registry.metrics(), "faas_worker_go_builds_total")).toBe(2);
    runtime.goBuildCount = 3;
    expect(sample(await metrics.registry.metrics(), "faas_worker_go_builds_total")).toBe(3);
  });

  it("counts what garbage collection removed", async () => {
    const metrics = new WorkerMetrics(config());
    metrics.onGcReport({ invocationsDeleted: 1520, codeFilesDeleted: 3 });
    metrics.onGcReport({ invocationsDeleted: 2, codeFilesDeleted: 0 });
    const text = await metrics.registry.metrics();
    expect(sample(text, "faas_gc_invocations_deleted_total")).toBe(1522);
    expect(sample(text, "faas_gc_code_files_deleted_total")).toBe(3);
  });

  it("keeps a registry of its own: two workers in one process do not add up", async () => {
    const a = new WorkerMetrics(config());
    const b = new WorkerMetrics(config());
    a.observer.onRetry?.({ functionId: "f", attempt: 2 });
    expect(sample(await a.registry.metrics(), "faas_worker_retries_total")).toBe(1);
    expect(sample(await b.registry.metrics(), "faas_worker_retries_total")).toBe(0);
  });
});

describe("the worker's metrics server", () => {
  it("serves GET /metrics on WORKER_METRICS_ADDR, nothing else; stop is idempotent", async () => {
    const running = await startWorkerMetrics(loadConfig({ WORKER_METRICS_ADDR: "127.0.0.1:0" }), undefined, logger);
    const url = running.url as string;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    try {
      running.metrics.observer.onRetry?.({ functionId: "f", attempt: 2 });
      const res = await fetch(url);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
      expect(sample(await res.text(), "faas_worker_retries_total")).toBe(1);
      expect((await fetch(url.replace(/\/metrics$/, "/other"))).status).toBe(404);
      expect((await fetch(url, { method: "POST" })).status).toBe(405);
    } finally {
      await running.stop();
    }
    await running.stop();
    await expect(fetch(url)).rejects.toThrow();
  });

  it("is not started with WORKER_METRICS_ADDR=off", async () => {
    const running = await startWorkerMetrics(loadConfig({ WORKER_METRICS_ADDR: "off" }), undefined, logger);
    expect(running.url).toBeNull();
    await running.stop();
  });

  it("names WORKER_METRICS_ADDR when it cannot listen there", async () => {
    const first = await startWorkerMetrics(loadConfig({ WORKER_METRICS_ADDR: "127.0.0.1:0" }), undefined, logger);
    try {
      const port = new URL(first.url as string).port;
      await expect(
        startWorkerMetrics(loadConfig({ WORKER_METRICS_ADDR: `127.0.0.1:${port}` }), undefined, logger),
      ).rejects.toThrow(/^WORKER_METRICS_ADDR: cannot listen on 127\.0\.0\.1:\d+ .*EADDRINUSE/);
    } finally {
      await first.stop();
    }
  });
});
