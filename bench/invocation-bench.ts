// `make bench`: invocations per second and latency from POST /invoke to terminal status,
// per runtime (process, container), language (Python, Go) and worker slots (1, 4).
// Figures, not assertions: run it on an idle machine and compare runs with each other.
import { b64, functionBody, HELLO } from "../test/support/functions.js";
import { type Platform, startPlatform } from "../test/support/platform.js";

const SEQUENTIAL = Number(process.env.BENCH_SEQUENTIAL ?? 20);
const BURST = Number(process.env.BENCH_BURST ?? 40);

interface Row {
  runtime: string;
  language: string;
  slots: number;
  mode: string;
  n: number;
  perSecond: number;
  p50: number;
  p99: number;
  /** Invocations that did not complete (gVisor's spurious exit status 2; see the README). */
  failed: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

/** Latency of one invocation, or null when it did not complete (counted, not hidden). */
async function invokeOnce(platform: Platform, functionId: string, i: number): Promise<number | null> {
  const started = performance.now();
  const res = await platform.request("POST", "/invoke?wait=120s", {
    function_id: functionId,
    payload: { name: `b${i}` },
  });
  const elapsed = performance.now() - started;
  if (res.body?.data?.status === "completed") return elapsed;
  process.stderr.write(`    not completed: ${JSON.stringify(res.body?.data ?? res.body).slice(0, 200)}\n`);
  return null;
}

async function measure(platform: Platform, functionId: string, mode: "sequential" | "burst", n: number) {
  const outcomes: (number | null)[] = [];
  const started = performance.now();
  if (mode === "sequential") {
    for (let i = 0; i < n; i++) outcomes.push(await invokeOnce(platform, functionId, i));
  } else {
    outcomes.push(...(await Promise.all(Array.from({ length: n }, (_, i) => invokeOnce(platform, functionId, i)))));
  }
  const wall = (performance.now() - started) / 1000;
  const latencies = outcomes.filter((l): l is number => l !== null).sort((a, b) => a - b);
  return {
    perSecond: latencies.length / wall,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    failed: n - latencies.length,
  };
}

type BenchRuntime = "simple" | "container" | "runsc";
const RUNTIME_ENV: Record<BenchRuntime, Record<string, string>> = {
  simple: { WORKER_RUNTIME_TYPE: "simple" },
  container: { WORKER_RUNTIME_TYPE: "container" },
  // gVisor (make runsc): the container runtime with WORKER_OCI_RUNTIME=runsc.
  runsc: { WORKER_RUNTIME_TYPE: "container", WORKER_OCI_RUNTIME: "runsc" },
};
const RUNTIME_NAME: Record<BenchRuntime, string> = {
  simple: "process",
  container: "container",
  runsc: "container (gVisor)",
};

async function benchRuntime(runtime: BenchRuntime, rows: Row[]) {
  const platform = await startPlatform({ env: { ...RUNTIME_ENV[runtime], LOG_LEVEL: "error" } });
  try {
    for (const language of ["python", "go"] as const) {
      const created = await platform.request(
        "POST",
        "/functions",
        functionBody({ runtime: language, code: b64(HELLO[language]), max_concurrency: 100 }),
      );
      const functionId = created.body.data.id as string;
      for (const slots of [1, 4]) {
        const worker = await platform.startWorker({ WORKER_CONCURRENCY: String(slots) });
        for (let i = 0; i < 3; i++) await invokeOnce(platform, functionId, i); // warm: Go build, caches
        for (const mode of ["sequential", "burst"] as const) {
          const n = mode === "sequential" ? SEQUENTIAL : BURST;
          const r = await measure(platform, functionId, mode, n);
          rows.push({ runtime, language, slots, mode, n, ...r });
          process.stderr.write(`  ${runtime} ${language} slots=${slots} ${mode}: ${r.perSecond.toFixed(1)}/s\n`);
        }
        await worker.stop();
      }
    }
  } finally {
    await platform.stop();
  }
}

async function main() {
  const rows: Row[] = [];
  const runtimes = (process.env.BENCH_RUNTIMES ?? "simple,container,runsc").split(",") as BenchRuntime[];
  for (const runtime of runtimes) await benchRuntime(runtime, rows);
  const header = "| runtime | language | slots | mode | n | invocations/s | p50 ms | p99 ms | not completed |";
  const lines = rows.map(
    (r) =>
      `| ${RUNTIME_NAME[r.runtime as BenchRuntime] ?? r.runtime} | ${r.language} | ${r.slots} | ${r.mode} | ${r.n} | ${r.perSecond.toFixed(1)} | ${r.p50.toFixed(0)} | ${r.p99.toFixed(0)} | ${r.failed} |`,
  );
  process.stdout.write(`\n${header}\n|---|---|---|---|---|---|---|---|---|\n${lines.join("\n")}\n\n`);
  process.stdout.write(
    "sequential: one invocation at a time (latency of a warm invocation); burst: all n submitted at once (throughput; latency includes queueing).\n",
  );
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
