// The metrics against a real Prometheus (Debian's `prometheus`, installed by
// scripts/services.sh): it scrapes a controller and a worker every second, and PromQL over
// its HTTP API sees the invocations this test makes, including the README's example queries.
import { type ChildProcess, spawn } from "node:child_process";
import { access, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { b64, functionBody } from "../support/functions.js";
import { type Platform, startPlatform } from "../support/platform.js";
import { waitFor } from "../support/waiting.js";

const PROMETHEUS = "/usr/bin/prometheus";

/** A port free right now (Prometheus takes its address on the command line). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

const hostPort = (url: string) => new URL(url).host;

interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

let platform: Platform;
let prometheus: ChildProcess | undefined;
let prometheusUrl = "";
let prometheusLog = "";
let dir = "";

/** An instant query; fails the test on a PromQL error. */
async function query(expr: string): Promise<PromSample[]> {
  const res = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const body = (await res.json()) as {
    status: string;
    error?: string;
    data: { resultType: string; result: PromSample[] };
  };
  expect(body.status, `${expr}: ${body.error}`).toBe("success");
  expect(body.data.resultType).toBe("vector");
  return body.data.result;
}

/** Polls `expr` until its single value is `expected` (Prometheus scrapes every second). */
async function eventually(expr: string, expected: number): Promise<void> {
  let last: PromSample[] = [];
  await waitFor(
    `${expr} = ${expected}`,
    async () => {
      last = await query(expr);
      return last.length === 1 && Number(last[0]?.value[1]) === expected;
    },
    { capMs: 60_000, everyMs: 250 },
  ).catch((err: Error) => {
    throw new Error(`${err.message}; last result ${JSON.stringify(last)}`);
  });
}

/** Per-label values of `expr`, once they equal `expected`. */
async function eventuallyBy(expr: string, label: string, expected: Record<string, number>): Promise<void> {
  let last: Record<string, number> = {};
  await waitFor(
    `${expr} = ${JSON.stringify(expected)}`,
    async () => {
      last = Object.fromEntries((await query(expr)).map((s) => [s.metric[label] as string, Number(s.value[1])]));
      return JSON.stringify(Object.entries(last).sort()) === JSON.stringify(Object.entries(expected).sort());
    },
    { capMs: 60_000, everyMs: 250 },
  ).catch((err: Error) => {
    throw new Error(`${err.message}; last result ${JSON.stringify(last)}`);
  });
}

beforeAll(async () => {
  await access(PROMETHEUS).catch(() => {
    throw new Error(
      `${PROMETHEUS} is missing: run \`make services\` (scripts/services.sh installs Debian's prometheus)`,
    );
  });
  platform = await startPlatform();
  const worker = await platform.startWorker({ WORKER_METRICS_ADDR: "127.0.0.1:0" });
  dir = await mkdtemp(join(tmpdir(), "faas-prometheus-"));
  const config = [
    "global:",
    "  scrape_interval: 1s",
    "  scrape_timeout: 1s",
    "scrape_configs:",
    "  - job_name: faas-controller",
    "    static_configs:",
    `      - targets: ["${hostPort(platform.url)}"]`,
    "  - job_name: faas-worker",
    "    static_configs:",
    `      - targets: ["${hostPort(worker.metricsUrl as string)}"]`,
    "",
  ].join("\n");
  await writeFile(join(dir, "prometheus.yml"), config);
  const port = await freePort();
  prometheusUrl = `http://127.0.0.1:${port}`;
  prometheus = spawn(
    PROMETHEUS,
    [
      `--config.file=${join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const keep = (chunk: Buffer) => {
    prometheusLog = (prometheusLog + chunk.toString()).slice(-4000);
  };
  prometheus.stdout?.on("data", keep);
  prometheus.stderr?.on("data", keep);
  await waitFor(
    "Prometheus to scrape the controller and the worker",
    async () => {
      if (prometheus?.exitCode !== null) throw new Error(`prometheus exited: ${prometheusLog}`);
      const res = await fetch(`${prometheusUrl}/api/v1/targets`).catch(() => null);
      if (!res?.ok) return false;
      const { data } = (await res.json()) as {
        data: { activeTargets: { labels: { job: string }; health: string }[] };
      };
      const up = data.activeTargets.filter((t) => t.health === "up").map((t) => t.labels.job);
      return up.includes("faas-controller") && up.includes("faas-worker");
    },
    { capMs: 60_000, everyMs: 200 },
  );
});

afterAll(async () => {
  const child = prometheus;
  if (child && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  }
  await platform?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A Python function that fails (exit 1) when its payload says so. */
const MAYBE_FAIL = [
  "import json, os, sys",
  "p = json.loads(os.environ.get('FUNCTION_PAYLOAD') or '{}') or {}",
  "if p.get('fail'): sys.exit(1)",
  "print(json.dumps({'ok': True}))",
  "",
].join("\n");

async function createFunction(): Promise<string> {
  const res = await platform.request("POST", "/functions", functionBody({ runtime: "python", code: b64(MAYBE_FAIL) }));
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.data.id as string;
}

async function run(functionId: string, fail: boolean): Promise<void> {
  const res = await platform.request("POST", "/invoke?wait=60s", { function_id: functionId, payload: { fail } });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  expect(res.body.data.status).toBe(fail ? "failed" : "completed");
}

describe("Prometheus scraping a controller and a worker", () => {
  let good = "";
  let flaky = "";

  it("counts the invocations in PromQL", async () => {
    good = await createFunction();
    flaky = await createFunction();
    for (let i = 0; i < 3; i++) await run(good, false);
    await run(flaky, true);

    await eventually('sum(faas_executions_total{job="faas-worker", status="completed"})', 3);
    await eventually('sum(faas_executions_total{job="faas-worker", status="failed"})', 1);
    await eventuallyBy('sum by (function) (faas_executions_total{job="faas-worker"})', "function", {
      [good]: 3,
      [flaky]: 1,
    });
    await eventually('sum(faas_executions_total{language="python", runtime="process"})', 4);
    await eventually('sum(faas_execution_duration_seconds_count{job="faas-worker"})', 4);
    await eventually('sum(faas_invocations_accepted_total{job="faas-controller"})', 4);
    await eventually('sum(faas_http_requests_total{route="/invoke", method="POST", status="200"})', 4);
    await eventually('sum(faas_http_requests_total{route="/functions", method="POST", status="201"})', 2);
    await eventually('faas_workers_live{job="faas-controller"}', 1);
    await eventually("faas_worker_slots", 4);
    await eventually("faas_worker_slots_busy", 0);
    await eventuallyBy('faas_queue_messages{job="faas-controller"}', "state", {
      queued: 0,
      processing: 0,
      delayed: 0,
      dead_letter: 0,
    });
  });

  it("answers the README's queries: error rate by function, p99 duration, queue depth", async () => {
    // rate() needs a series seen before it grows: one failure seen, then more of both.
    await run(flaky, false);
    await eventually(`sum(faas_executions_total{function="${flaky}"})`, 2);
    await run(flaky, true);
    await run(flaky, false);
    await run(good, false);
    await eventually(`sum(faas_executions_total{function="${flaky}"})`, 4);

    const errorRate = await query(
      'sum by (function) (rate(faas_executions_total{status!="completed"}[1m])) / sum by (function) (rate(faas_executions_total[1m]))',
    );
    const flakyRate = Number(errorRate.find((s) => s.metric.function === flaky)?.value[1]);
    expect(flakyRate).toBeGreaterThan(0);
    expect(flakyRate).toBeLessThanOrEqual(1);
    expect(errorRate.find((s) => s.metric.function === good)).toBeUndefined(); // it never failed

    const p99 = await query("histogram_quantile(0.99, sum by (le) (rate(faas_execution_duration_seconds_bucket[5m])))");
    expect(p99).toHaveLength(1);
    const seconds = Number(p99[0]?.value[1]);
    expect(seconds).toBeGreaterThan(0);
    expect(seconds).toBeLessThan(60);

    const p99ByFunction = await query(
      "histogram_quantile(0.99, sum by (function, le) (rate(faas_execution_duration_seconds_bucket[5m])))",
    );
    expect(p99ByFunction.map((s) => s.metric.function)).toContain(flaky);

    // Every controller reads the same queue: max, not sum.
    // (A scrape may have caught the last run's message before its ack: hence eventually.)
    await eventuallyBy("max by (state) (faas_queue_messages)", "state", {
      queued: 0,
      processing: 0,
      delayed: 0,
      dead_letter: 0,
    });
    await eventually("sum(faas_worker_slots_busy) / sum(faas_worker_slots)", 0);
  });
});
