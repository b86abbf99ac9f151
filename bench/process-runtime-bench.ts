// Latency of the process runtime alone (ProcessRuntime.run, no queue, no HTTP): hello world
// in Python, Node.js and Go, BENCH_RUNS sequential runs each, p50 / p95 / p99.
// Two rhythms: "paced" leaves BENCH_GAP_MS between runs (requests that do not arrive back to
// back: a prepared sandbox is ready for each), "back to back" starts each run as soon as the
// previous one answered. Run as root for the sandbox. Figures, not assertions.
// BENCH_KEEP_WARM_MS > 0 runs each function version in an execution environment of its own
// (WORKER_KEEP_WARM); 0 (the default here) in prepared sandboxes, one invocation each.
import { randomUUID } from "node:crypto";
import { chmod, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { createLogger } from "../src/lib/logger.js";
import { ProcessRuntime } from "../src/worker/runtimes/process-runtime.js";
import type { FunctionLanguage } from "../src/worker/runtimes/runtime.js";
import { runRequest } from "../test/support/run-request.js";

const RUNS = Number(process.env.BENCH_RUNS ?? 200);
const GAP_MS = Number(process.env.BENCH_GAP_MS ?? 150);
const LANGUAGES = (process.env.BENCH_LANGUAGES ?? "python,nodejs,go").split(",") as FunctionLanguage[];
/** Prepared sandboxes kept per shape (the runtime's default: 1). */
const PER_SHAPE = process.env.BENCH_PREPARED_PER_SHAPE ? Number(process.env.BENCH_PREPARED_PER_SHAPE) : undefined;

/** Execution environments' keep-warm time; 0: none (prepared sandboxes only). */
const KEEP_WARM_MS = Number(process.env.BENCH_KEEP_WARM_MS ?? 0);

const FIXTURE: Record<FunctionLanguage, string> = { python: "hello.py", nodejs: "hello.js", go: "hello.go" };

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

async function measure(
  runtime: ProcessRuntime,
  language: FunctionLanguage,
  code: string,
  gapMs: number,
  functionId: string,
) {
  const latencies: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    if (gapMs > 0) await delay(gapMs);
    const started = performance.now();
    const result = await runtime.run(runRequest(language, code, { functionId }));
    latencies.push(performance.now() - started);
    if (result.outcome !== "completed") throw new Error(`${language} run ${i}: ${result.error}\n${result.stderr}`);
  }
  latencies.sort((a, b) => a - b);
  return { p50: percentile(latencies, 50), p95: percentile(latencies, 95), p99: percentile(latencies, 99) };
}

async function main() {
  const workDir = await mkdtemp(join(tmpdir(), "faas-process-bench-"));
  await chmod(workDir, 0o755);
  const runtime = new ProcessRuntime({
    workDir,
    limits: { maxOutputBytes: 64 * 1024, maxLogBytes: 64 * 1024 },
    logger: createLogger("error"),
    prepared: { perShape: PER_SHAPE },
    environments: KEEP_WARM_MS > 0 ? { keepWarmMs: KEEP_WARM_MS } : undefined,
  });
  const lines: string[] = [];
  try {
    await runtime.start();
    for (const language of LANGUAGES) {
      // The quick reference's hello world (test/support/functions.ts would start a whole platform).
      const code = await readFile(join(import.meta.dirname, "../test/fixtures/functions", FIXTURE[language]), "utf8");
      // Go builds once; every language's first run (and its first preparation) stays out of the figures.
      const functionId = randomUUID();
      for (let i = 0; i < 3; i++) await runtime.run(runRequest(language, code, { functionId }));
      for (const [rhythm, gap] of [
        ["paced", GAP_MS],
        ["back to back", 0],
      ] as const) {
        const r = await measure(runtime, language, code, gap, functionId);
        const line = `| ${language} | ${rhythm} | ${RUNS} | ${r.p50.toFixed(1)} | ${r.p95.toFixed(1)} | ${r.p99.toFixed(1)} |`;
        process.stderr.write(`${line}\n`);
        lines.push(line);
      }
    }
  } finally {
    await runtime.stop();
    await rm(workDir, { recursive: true, force: true });
  }
  process.stdout.write(
    `\n| language | rhythm | runs | p50 ms | p95 ms | p99 ms |\n|---|---|---|---|---|---|\n${lines.join("\n")}\n\n`,
  );
  process.stdout.write(
    `paced: ${GAP_MS} ms between runs; back to back: none. Prepared sandboxes per shape: ${PER_SHAPE ?? "default"}. Execution environments: ${KEEP_WARM_MS > 0 ? `kept ${KEEP_WARM_MS} ms` : "off"}.\n`,
  );
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
