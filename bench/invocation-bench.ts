// `make bench`: invocation latency and throughput, end to end through the REST API
// (POST /invoke), with the worker in a process of its own (as in production), per runtime
// (process, container; gVisor with BENCH_RUNTIMES=...,runsc) and language (go, python, nodejs):
//   seed  the seed's design: a fresh container per invocation (WORKER_KEEP_WARM=0, nothing
//         started ahead), container runtime only;
//   cold  the first invocation of a new version (the function updated before each; for Go it
//         includes the compiler);
//   warm  invocations of a version whose environments wait, one per worker slot (started by
//         a concurrent warm-up of BENCH_WARMUP_BURST invocations first); its burst row is the
//         median of BENCH_BURST_REPEAT (3) bursts back to back, all of them listed.
// Then where a warm invocation's time goes, stage by stage; throughput with 1, 2 and 4
// worker processes; and a worker holding 50 idle environments (memory, CPU).
// Figures, not assertions: run it on an idle machine and compare runs with each other.
import type { ChildProcess } from "node:child_process";
import { execFile, execFileSync } from "node:child_process";
import { createServer } from "node:net";
import { join } from "node:path";
import Dockerode from "dockerode";
import { b64, functionBody, HELLO } from "../test/support/functions.js";
import { type Platform, startPlatform } from "../test/support/platform.js";
import { cpuPerInvocation, sampleCpu } from "./cpu-account.js";
import { BenchClient } from "./http-client.js";

const SEQUENTIAL = Number(process.env.BENCH_SEQUENTIAL ?? 200);
const BURST = Number(process.env.BENCH_BURST ?? 1000);
const COLD = Number(process.env.BENCH_COLD ?? 10);
const COLD_PAUSE_MS = 1000;
/** After a new version's first calls, before its warm rows: what a cold start leaves for later is done. */
const SETTLE_MS = 1500;
const SEED_SEQUENTIAL = Number(process.env.BENCH_SEED_SEQUENTIAL ?? 20);
const SEED_BURST = Number(process.env.BENCH_SEED_BURST ?? 100);
const IDLE_ENVIRONMENTS = Number(process.env.BENCH_IDLE_ENVIRONMENTS ?? 50);
/** BENCH_WARM_ONLY=1: the warm rows and the stage table only (no seed, cold, worker scaling or idle environments). */
const WARM_ONLY = process.env.BENCH_WARM_ONLY === "1";
/** Invocations submitted but not finished at once during a burst (the client's own connections). */
const IN_FLIGHT = 200;
/**
 * Invocations run concurrently before a warm measurement: enough for the worker to hold an
 * environment per slot. Without them the warm burst started from the one environment the
 * sequential calls used and started the others (container starts) inside its own measurement.
 */
const WARMUP_BURST = Number(process.env.BENCH_WARMUP_BURST ?? 50);
const ALL_LANGUAGES = ["go", "python", "nodejs"] as const;
const LANGUAGES = ALL_LANGUAGES.filter((l) =>
  (process.env.BENCH_LANGUAGES ?? "go,python,nodejs").split(",").includes(l),
);
type Language = (typeof ALL_LANGUAGES)[number];
const COMMENT: Record<Language, string> = { go: "//", python: "#", nodejs: "//" };

type BenchRuntime = "process" | "container" | "runsc";
const RUNTIME_ENV: Record<BenchRuntime, Record<string, string>> = {
  // BENCH_PROCESS_KEEP_WARM=0: prepared sandboxes, one invocation each, instead of execution environments.
  process: {
    WORKER_RUNTIME_TYPE: "process",
    // The tests' gate directory lies in /tmp, which execution environments empty: they would be off.
    WORKER_SANDBOX_READONLY_PATHS: "",
    ...(process.env.BENCH_PROCESS_KEEP_WARM ? { WORKER_KEEP_WARM: process.env.BENCH_PROCESS_KEEP_WARM } : {}),
  },
  container: { WORKER_RUNTIME_TYPE: "container" },
  runsc: { WORKER_RUNTIME_TYPE: "container", WORKER_OCI_RUNTIME: "runsc" },
};
const RUNTIME_NAME: Record<BenchRuntime, string> = { process: "process", container: "container", runsc: "gVisor" };

interface Figures {
  n: number;
  perSecond: number;
  p50: number;
  p99: number;
  failed: number;
}

const rows: string[] = [];
/** Each warm row's bursts, in the order they ran: "<runtime> <language> a, b, c". */
const bursts: string[] = [];
const notes: string[] = [];

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

function figures(latencies: (number | null)[], wallMs: number): Figures {
  const ok = latencies.filter((l): l is number => l !== null).sort((a, b) => a - b);
  return {
    n: latencies.length,
    perSecond: ok.length / (wallMs / 1000),
    p50: percentile(ok, 50),
    p99: percentile(ok, 99),
    failed: latencies.length - ok.length,
  };
}

const log = (line: string) => process.stderr.write(`  ${line}\n`);

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

const clients = new WeakMap<Platform, BenchClient>();
function clientOf(platform: Platform): BenchClient {
  const client = clients.get(platform) ?? new BenchClient(platform.url);
  clients.set(platform, client);
  return client;
}

/** One invocation, waited for by the API (?wait): its latency, or null when it did not complete. */
async function invokeWaiting(platform: Platform, functionId: string, i: number): Promise<number | null> {
  const outcome = await clientOf(platform).invokeWaiting(functionId, i);
  if (outcome.ms === null) log(`not completed: ${outcome.answer}`);
  return outcome.ms;
}

async function sequential(platform: Platform, functionId: string, n: number): Promise<Figures> {
  const latencies: (number | null)[] = [];
  const started = performance.now();
  for (let i = 0; i < n; i++) latencies.push(await invokeWaiting(platform, functionId, i));
  return figures(latencies, performance.now() - started);
}

/** CPU ms the burst clients' processes used during the bursts since this was last zeroed. */
let burstClientMs = 0;
/** Warm bursts run this many times back to back; the row shows the median (this machine's bursts vary by 10-20 %). */
const BURST_REPEAT = Number(process.env.BENCH_BURST_REPEAT ?? 3);

/** BURST_REPEAT bursts of `n`: the one of median throughput, and every throughput, in order. */
async function medianBurst(platform: Platform, functionId: string, n: number): Promise<Figures & { all: number[] }> {
  const runs: Figures[] = [];
  for (let i = 0; i < BURST_REPEAT; i++) runs.push(await burst(platform, functionId, n));
  const sorted = [...runs].sort((a, b) => a.perSecond - b.perSecond);
  const median = sorted[Math.floor((sorted.length - 1) / 2)] as Figures;
  return { ...median, all: runs.map((r) => r.perSecond) };
}

/**
 * `n` invocations submitted as fast as the client can (at most IN_FLIGHT unfinished):
 * throughput. The client is a process of its own (bench/burst-client.ts).
 */
async function burst(platform: Platform, functionId: string, n: number): Promise<Figures> {
  const output = await new Promise<string>((resolve, reject) => {
    execFile(
      process.execPath,
      [
        "--import",
        "tsx",
        join(import.meta.dirname, "burst-client.ts"),
        platform.url,
        functionId,
        `${n}`,
        `${IN_FLIGHT}`,
      ],
      { maxBuffer: 64 << 20 },
      (err, stdout, stderr) => (err ? reject(new Error(`burst client: ${err.message} ${stderr}`)) : resolve(stdout)),
    );
  });
  const run = JSON.parse(output) as {
    latencies: (number | null)[];
    elapsedMs: number;
    cpuMs: number;
    notCompleted: string[];
  };
  for (const answer of run.notCompleted) log(`not completed: ${answer}`);
  burstClientMs += run.cpuMs;
  return figures(run.latencies, run.elapsedMs);
}

async function createFunction(platform: Platform, language: Language, code = HELLO[language]): Promise<string> {
  const created = await platform.request(
    "POST",
    "/functions",
    functionBody({ runtime: language, code: b64(code), max_concurrency: 1000 }),
  );
  if (created.status !== 201) throw new Error(`create: ${JSON.stringify(created.body)}`);
  return created.body.data.id as string;
}

/**
 * Cold starts: the function updated to a new version before each invocation, COLD_PAUSE_MS
 * apart (a worker refills its generic environments meanwhile; new versions back to back
 * outrun the refill and each pays a container start, about 300 ms here).
 */
async function cold(platform: Platform, language: Language, n: number): Promise<Figures> {
  const id = await createFunction(platform, language);
  const latencies: (number | null)[] = [];
  for (let i = 0; i < n; i++) {
    const code = `${HELLO[language]}\n${COMMENT[language]} version ${i} ${Date.now()}\n`;
    const updated = await platform.request("PUT", `/functions/${id}`, { code: b64(code) });
    if (updated.status !== 200) throw new Error(`update: ${JSON.stringify(updated.body)}`);
    await new Promise((r) => setTimeout(r, COLD_PAUSE_MS));
    latencies.push(await invokeWaiting(platform, id, i));
  }
  // Throughput means nothing here (the pauses): the column shows the rate of the runs alone.
  const ran = latencies.filter((l): l is number => l !== null);
  return figures(
    latencies,
    ran.reduce((a, b) => a + b, 0),
  );
}

interface WorkerProcess {
  child: ChildProcess;
  metricsUrl: string;
  stop(): Promise<void>;
}

let workerCount = 0;

async function spawnWorker(platform: Platform, env: Record<string, string>): Promise<WorkerProcess> {
  const port = await freePort();
  const id = `bench-${process.pid}-${++workerCount}`;
  const child = platform.spawnWorker({
    WORKER_ID: id,
    WORKER_METRICS_ADDR: `127.0.0.1:${port}`,
    LOG_LEVEL: "error",
    // BENCH_WORKER_NODE_OPTIONS: e.g. `--require ./profile.cjs` to profile the workers (`--cpu-prof` is not allowed there).
    ...(process.env.BENCH_WORKER_NODE_OPTIONS ? { NODE_OPTIONS: process.env.BENCH_WORKER_NODE_OPTIONS } : {}),
    ...env,
  });
  const metricsUrl = `http://127.0.0.1:${port}/metrics`;
  // Started once its first heartbeat is in.
  for (let i = 0; !(await platform.app.redis.hexists(platform.app.keys.workers, id)); i++) {
    if (i > 600 || child.exitCode !== null) throw new Error(`worker ${id} did not start`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    child,
    metricsUrl,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}

type StageTotals = Map<string, { sum: number; count: number }>;

/** Sums and counts by stage of a stage histogram (faas_worker_stage_seconds, faas_invoke_stage_seconds) at `metricsUrl`. */
async function stageTotals(metricsUrl: string, histogram: string): Promise<StageTotals> {
  const text = await (await fetch(metricsUrl)).text();
  const totals: StageTotals = new Map();
  const line = new RegExp(`^${histogram}_(sum|count)\\{stage="([a-z_]+)"\\} ([0-9.e+-]+)$`, "gm");
  for (const m of text.matchAll(line)) {
    const entry = totals.get(m[2] as string) ?? { sum: 0, count: 0 };
    if (m[1] === "sum") entry.sum = Number(m[3]);
    else entry.count = Number(m[3]);
    totals.set(m[2] as string, entry);
  }
  return totals;
}

/** Mean ms per stage between two readings of a stage histogram, in the histogram's order. */
function stageMeans(before: StageTotals, after: StageTotals): [string, number][] {
  const means: [string, number][] = [];
  for (const [stage, t] of after) {
    const b = before.get(stage) ?? { sum: 0, count: 0 };
    const count = t.count - b.count;
    if (count > 0) means.push([stage, ((t.sum - b.sum) / count) * 1000]);
  }
  return means;
}

const fmt = (f: Figures) =>
  `${f.n} | ${f.p50.toFixed(1)} | ${f.p99.toFixed(1)} | ${f.perSecond.toFixed(1)} | ${f.failed}`;

async function benchRuntime(runtime: BenchRuntime): Promise<void> {
  const platform = await startPlatform({ env: { ...RUNTIME_ENV[runtime], LOG_LEVEL: "error" } });
  try {
    const seed = new Map<Language, { seq: Figures; burst: Figures }>();
    if (runtime !== "process" && !WARM_ONLY) {
      // The seed's design: every invocation a container of its own, made, started and removed.
      const worker = await spawnWorker(platform, { WORKER_KEEP_WARM: "0", WORKER_WARM_CONTAINERS: "0" });
      for (const language of LANGUAGES) {
        const id = await createFunction(platform, language);
        await invokeWaiting(platform, id, 0); // the Go build
        const seq = await sequential(platform, id, SEED_SEQUENTIAL);
        const b = await burst(platform, id, SEED_BURST);
        seed.set(language, { seq, burst: b });
        rows.push(
          `| ${RUNTIME_NAME[runtime]} | ${language} | seed: container per invocation | sequential | ${fmt(seq)} | 1.0 |`,
        );
        rows.push(
          `| ${RUNTIME_NAME[runtime]} | ${language} | seed: container per invocation | burst | ${fmt(b)} | 1.0 |`,
        );
        log(`${runtime} ${language} seed: p50 ${seq.p50.toFixed(1)} ms, burst ${b.perSecond.toFixed(1)}/s`);
      }
      await worker.stop();
    }

    const worker = await spawnWorker(platform, {});
    /** The function of the stage table: python's, or the first language's when python is not measured. */
    const staged: { id?: string; language?: Language } = {};
    const cpu = new Map<Language, [string, number][]>();
    for (const language of LANGUAGES) {
      const c = WARM_ONLY ? null : await cold(platform, language, COLD);
      const id = await createFunction(platform, language);
      if (language === "python" || staged.id === undefined) Object.assign(staged, { id, language });
      for (let i = 0; i < 5; i++) await invokeWaiting(platform, id, i); // the Go build, the environment
      if (WARMUP_BURST > 0) await burst(platform, id, WARMUP_BURST); // an environment per slot
      // The first calls' work left for after them (the generic environments they took replaced,
      // the Go build container removed and another started, 250 ms on) is done before measuring.
      await new Promise((r) => setTimeout(r, SETTLE_MS));
      const seq = await sequential(platform, id, SEQUENTIAL);
      const cpuBefore = sampleCpu("controller", { worker: worker.child.pid });
      burstClientMs = 0;
      const b = await medianBurst(platform, id, BURST);
      cpu.set(
        language,
        cpuPerInvocation(cpuBefore, sampleCpu("controller", { worker: worker.child.pid }), b.n * BURST_REPEAT, {
          "the bench's client (a process of its own)": burstClientMs,
        }),
      );
      const base = seed.get(language);
      const ratio = (now: number, then: number | undefined) => (then ? `${(now / then).toFixed(1)}` : "-");
      if (c) rows.push(`| ${RUNTIME_NAME[runtime]} | ${language} | cold: new version | sequential | ${fmt(c)} | - |`);
      rows.push(
        `| ${RUNTIME_NAME[runtime]} | ${language} | warm | sequential | ${fmt(seq)} | ${base ? (base.seq.p50 / seq.p50).toFixed(1) : "-"} |`,
      );
      rows.push(
        `| ${RUNTIME_NAME[runtime]} | ${language} | warm | burst | ${fmt(b)} | ${ratio(b.perSecond, base?.burst.perSecond)} |`,
      );
      bursts.push(`${RUNTIME_NAME[runtime]} ${language} ${b.all.map((r) => r.toFixed(1)).join(", ")}`);
      log(
        `${runtime} ${language}: cold p50 ${c ? c.p50.toFixed(1) : "-"}, warm p50 ${seq.p50.toFixed(1)} ms, burst ${b.all.map((r) => r.toFixed(1)).join(" / ")}/s`,
      );
    }

    if (cpu.size > 0) {
      const parts = [...new Set([...cpu.values()].flatMap((list) => list.map(([part]) => part)))];
      notes.push(
        `\nCPU per invocation of the warm bursts (${RUNTIME_NAME[runtime]}), ms, by part of the system (all share the 2 cores):\n`,
        `| part | ${[...cpu.keys()].join(" | ")} |`,
        `|---|${[...cpu.keys()].map(() => "---|").join("")}`,
        ...parts.map(
          (part) =>
            `| ${part} | ${[...cpu.values()].map((list) => (list.find(([p]) => p === part)?.[1] ?? 0).toFixed(2)).join(" | ")} |`,
        ),
      );
    }

    // Where a warm invocation's time goes (Python hello world), stage by stage.
    const apiMetrics = `${platform.url}/metrics`;
    const read = () =>
      Promise.all([
        stageTotals(apiMetrics, "faas_invoke_stage_seconds"),
        stageTotals(worker.metricsUrl, "faas_worker_stage_seconds"),
      ]);
    const [apiBefore, workerBefore] = await read();
    const e2e = await sequential(platform, staged.id as string, SEQUENTIAL);
    const [apiAfter, workerAfter] = await read();
    const api = stageMeans(apiBefore, apiAfter);
    const inWorker = stageMeans(workerBefore, workerAfter);
    const sum = (stages: [string, number][], skip: string[] = []) =>
      stages.filter(([stage]) => !skip.includes(stage)).reduce((total, [, ms]) => total + ms, 0);
    const apiWait = api.find(([stage]) => stage === "wait")?.[1] ?? 0;
    const run = inWorker.find(([stage]) => stage === "run")?.[1] ?? 0;
    // The ack follows the result's event (sent first, on the same connection): off the answer's path.
    const workerToResult = sum(inWorker, ["ack"]);
    notes.push(
      `\nWhere a warm invocation's time goes (${RUNTIME_NAME[runtime]}, ${staged.language} hello world, ${SEQUENTIAL} sequential; stages are means, the end-to-end figure a p50):\n`,
      "| stage | ms |",
      "|---|---|",
      ...api.map(([stage, ms]) => `| API: ${stage} | ${ms.toFixed(2)} |`),
      ...inWorker.map(
        ([stage, ms]) =>
          `| worker: ${stage}${stage === "ack" ? " (after the result's event)" : ""} | ${ms.toFixed(2)} |`,
      ),
      `| queue wake-up and the result's event (API wait − worker stages to the store) | ${(apiWait - workerToResult).toFixed(2)} |`,
      `| HTTP in and out (end to end − API stages) | ${(e2e.p50 - sum(api)).toFixed(2)} |`,
      `| end to end (POST /invoke?wait to the answer), p50 | ${e2e.p50.toFixed(2)} |`,
      `| control plane: end to end − the worker's run stage | ${(e2e.p50 - run).toFixed(2)} |`,
    );
    await worker.stop();
    if (WARM_ONLY) return;

    // Throughput with 1, 2 and 4 worker processes (the stage table's language, warm).
    const scaling: string[] = [];
    for (const count of [1, 2, 4]) {
      const workers = [];
      for (let i = 0; i < count; i++) workers.push(await spawnWorker(platform, {}));
      for (let i = 0; i < 4 * count; i++) await invokeWaiting(platform, staged.id as string, i);
      if (WARMUP_BURST > 0) {
        await burst(platform, staged.id as string, WARMUP_BURST * count); // an environment per slot of each worker
        await new Promise((r) => setTimeout(r, SETTLE_MS));
      }
      const b = await medianBurst(platform, staged.id as string, BURST);
      scaling.push(
        `| ${count} | ${b.perSecond.toFixed(1)} | ${b.p50.toFixed(1)} | ${b.p99.toFixed(1)} | ${b.failed} |`,
      );
      log(`${runtime} ${count} workers: ${b.perSecond.toFixed(1)}/s`);
      await Promise.all(workers.map((w) => w.stop()));
    }
    notes.push(
      `\nWorker processes (${RUNTIME_NAME[runtime]}, ${staged.language}, burst of ${BURST}):\n`,
      "| workers | invocations/s | p50 ms | p99 ms | not completed |",
      "|---|---|---|---|---|",
      ...scaling,
    );

    if (runtime === "container") await idleEnvironments(platform);
  } finally {
    clientOf(platform).close();
    await platform.stop();
  }
}

/** A worker holding IDLE_ENVIRONMENTS idle environments: its memory, theirs, and their CPU while idle. */
async function idleEnvironments(platform: Platform): Promise<void> {
  const worker = await spawnWorker(platform, {
    WORKER_MAX_ENVIRONMENTS: String(IDLE_ENVIRONMENTS + 10),
    WORKER_CONCURRENCY: "4",
  });
  const docker = new Dockerode();
  try {
    const ids = [];
    for (let i = 0; i < IDLE_ENVIRONMENTS; i++) ids.push(await createFunction(platform, "python"));
    for (const [i, id] of ids.entries()) await invokeWaiting(platform, id, i);
    const rssKb = Number(
      execFileSync("ps", ["-o", "rss=", "-p", String(worker.child.pid)])
        .toString()
        .trim(),
    );
    const list = await docker.listContainers({ filters: { label: [`faas.instance=${platform.prefix}`] } });
    const stats = await Promise.all(
      list.map(
        (c) =>
          docker.getContainer(c.Id).stats({ stream: false }) as Promise<{
            memory_stats: { usage?: number; stats?: { cache?: number; total_inactive_file?: number } };
            cpu_stats: { cpu_usage: { total_usage: number } };
          }>,
      ),
    );
    const memory = stats.reduce(
      (sum, s) => sum + (s.memory_stats.usage ?? 0) - (s.memory_stats.stats?.total_inactive_file ?? 0),
      0,
    );
    const cpuBefore = stats.reduce((sum, s) => sum + s.cpu_stats.cpu_usage.total_usage, 0);
    await new Promise((r) => setTimeout(r, 10_000));
    const later = await Promise.all(
      list.map(
        (c) =>
          docker.getContainer(c.Id).stats({ stream: false }) as Promise<{
            cpu_stats: { cpu_usage: { total_usage: number } };
          }>,
      ),
    );
    const cpuAfter = later.reduce((sum, s) => sum + s.cpu_stats.cpu_usage.total_usage, 0);
    notes.push(
      `\n${IDLE_ENVIRONMENTS} idle Python environments (plus ${list.length - IDLE_ENVIRONMENTS} generic ones started ahead) on one worker:`,
      `worker process RSS ${(rssKb / 1024).toFixed(0)} MiB; the containers' memory ${(memory / 1024 / 1024).toFixed(0)} MiB in all (${(memory / 1024 / 1024 / list.length).toFixed(1)} MiB each); their CPU over 10 s idle: ${((cpuAfter - cpuBefore) / 1e6).toFixed(1)} ms in all.`,
    );
  } finally {
    await worker.stop();
  }
}

async function main() {
  const runtimes = (process.env.BENCH_RUNTIMES ?? "process,container").split(",") as BenchRuntime[];
  for (const runtime of runtimes) {
    if (!(runtime in RUNTIME_ENV)) throw new Error(`BENCH_RUNTIMES: unknown runtime ${runtime}`);
    await benchRuntime(runtime);
  }
  process.stdout.write(
    [
      "",
      "| runtime | language | start | mode | n | p50 ms | p99 ms | invocations/s | not completed | × seed |",
      "|---|---|---|---|---|---|---|---|---|---|",
      ...rows,
      "",
      "sequential: one invocation at a time, POST /invoke?wait to the answer; burst: n invocations with up to",
      `${IN_FLIGHT} unfinished at once (throughput; latency includes queueing). × seed: the seed design's p50 over this p50`,
      "(sequential) or this throughput over the seed's (burst). One worker process (WORKER_CONCURRENCY 4) unless said.",
      `Warm bursts and worker-scaling rows: the median of ${BURST_REPEAT} bursts back to back (the seed's: one); each warm row's bursts, in order, /s:`,
      ...bursts.map((line) => `  ${line}`),
      `PostgreSQL: ${new URL(process.env.TEST_DATABASE_URL ?? "postgresql://127.0.0.1").searchParams.get("host") ?? "TCP"}; Redis: ${process.env.TEST_REDIS_ADDR ?? "127.0.0.1:6379"} (make bench takes the Unix sockets when they exist).`,
      ...notes,
      "",
    ].join("\n"),
  );
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
