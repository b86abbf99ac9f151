// The chaos run: invocations at a steady rate through REST into a controller and process
// workers on private PostgreSQL and Redis, while workers are SIGKILLed every few seconds,
// Redis is killed (and once restarted without its data), PostgreSQL is stopped abruptly
// for a while and the controller is SIGKILLed once. Then every accepted invocation is
// checked: none lost, none stuck, none wrong, none failed, none run twice to the end
// except by a worker that was SIGKILLed right after it. Functions are sandboxed (they see
// nothing of the host), so each reports its start and end over the network to a recorder
// in a network namespace made for the run (allowed with FUNCTION_NETWORK_ALLOW).

import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, openSync } from "node:fs";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { releaseOrphanedScratchSpaces } from "../src/worker/runtimes/scratch-space.js";
import { freePort, PrivatePostgres, PrivateRedis } from "./private-services.js";
import { createRunLog, type RunLog } from "./run-log.js";

const ROOT = new URL("../", import.meta.url).pathname;

export interface ChaosOptions {
  invocations: number;
  /** Invocations submitted per second. */
  rate: number;
  workers: number;
  /** WORKER_RUNTIME_TYPE of the workers (default process). */
  runtime?: "process" | "container";
  /** Called with progress lines (faults, phases). */
  log?: (line: string) => void;
}

export interface ChaosReport {
  accepted: number;
  /** Refused attempts by HTTP status ("connection" when the controller did not answer). */
  refused: Record<string, number>;
  /** Refusals that were not a 503 with a JSON error body (connection refusals aside). */
  refusedBadly: number;
  lost: number;
  stuck: number;
  wrong: number;
  failed: number;
  /** Invocations whose function ran to its end more than once, not explained by a SIGKILLed worker. */
  executedTwice: number;
  /** Of those that ran to the end twice, how many because their worker was SIGKILLed mid-way. */
  rerunAfterKill: number;
  /**
   * Failed as the worker running it stopped responding on its last attempt, every attempt's
   * run cut short (it never ended: its worker was SIGKILLed with it). The dead letter is the
   * promised outcome then (WORKER_MAX_ATTEMPTS bounds the deliveries of a worker-killing
   * invocation), so these are not counted as failed.
   */
  killedEveryAttempt: number;
  drainMs: number;
  faults: string[];
  /**
   * Container runtime only: containers of the run still there once its workers were stopped
   * (SIGTERM) after the drain, whatever state they are in (null: the process runtime).
   */
  containersLeft: number | null;
}

const FUNCTION_PY = `import json, os, time, urllib.request, uuid
n = json.loads(os.environ["FUNCTION_PAYLOAD"])["n"]
tag = uuid.uuid4().hex
log = lambda event: urllib.request.urlopen(f"{os.environ['RUN_LOG']}/{event}?n={n}&tag={tag}", timeout=30).read()
log("start")
time.sleep(0.3)  # work in flight whenever a fault hits
log("end")
print(json.dumps({"n": n, "double": n * 2}))
`;

/**
 * A run that ended this long before a worker SIGKILL may not have had its result written: one
 * lease (WORKER_LEASE below). Under load (2,000 invocations on two cores) a worker took more
 * than 2 s between a run's end and its write. The run log cannot say which worker ran what
 * (pids inside a sandbox mean nothing outside), so this is a window, not a proof.
 */
const KILL_WINDOW_MS = 5000;
/** How long a SIGKILLed worker's sandboxes may still run (the kernel tears the worker down first). */
const DYING_MS = 1000;

class Part {
  child: ChildProcess | undefined;
  /** Being killed and started again: not a target for another SIGKILL until it is back. */
  restarting = false;
  constructor(
    readonly command: "controller" | "worker",
    private readonly env: Record<string, string>,
    /** Its log lines (JSON, every incarnation appended), for reading after a bad run. */
    private readonly logFile: string,
  ) {}
  start(): void {
    const out = openSync(this.logFile, "a");
    this.child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "src/main.ts"), this.command], {
      cwd: ROOT,
      env: this.env,
      stdio: ["ignore", out, out],
    });
    closeSync(out); // the child has its own copy
  }
  get pid(): number | undefined {
    return this.child?.pid;
  }
  /** SIGTERM, and SIGKILL should it not have exited after `graceMs`. */
  async stop(graceMs: number): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await exited;
    clearTimeout(timer);
  }
  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill(signal);
    await exited;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const log = options.log ?? (() => undefined);
  const base = await mkdtemp(join(tmpdir(), "faas-chaos-"));
  await chmod(base, 0o755);
  // Kept after the run (the run's other files are not): what the platform said during it.
  const logDir = await mkdtemp(join(tmpdir(), "faas-chaos-logs-"));
  log(`process logs: ${logDir}`);
  const runLog: RunLog = await createRunLog();
  const runtime = options.runtime ?? "process";
  const instance = `chaos-${randomBytes(4).toString("hex")}`;
  const postgres = await PrivatePostgres.create(base);
  const redis = await PrivateRedis.create(base);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    DATABASE_URL: postgres.url,
    REDIS_ADDR: `127.0.0.1:${redis.port}`,
    SERVER_ADDR: `127.0.0.1:${port}`,
    STORAGE_BASE_DIR: join(base, "functions"),
    WORKER_WORK_DIR: join(base, "work"),
    WORKER_RUNTIME_TYPE: runtime,
    // The run's own instance: its containers carry this label, and only this run's.
    REDIS_KEY_PREFIX: instance,
    WORKER_LEASE: "5s",
    WORKER_RETRY_BASE_DELAY: "200ms",
    WORKER_RECOVERY_INTERVAL: "5s",
    WORKER_CONCURRENCY: "4",
    FUNCTION_NETWORK_ALLOW: runLog.allow,
    LOG_LEVEL: "warn",
    // The load is the point here: one loopback client sends thousands of invocations.
    RATE_LIMIT_REQUESTS_PER_SECOND: "0",
    RATE_LIMIT_INVOCATIONS_PER_SECOND: "0",
    RATE_LIMIT_MAX_WAITING: "0",
    SECRETS_KEY: randomBytes(32).toString("base64"),
    WORKER_METRICS_ADDR: "off",
  };
  const parts: Part[] = [];
  const db = new pg.Client({ connectionString: postgres.url });
  const faults: string[] = [];
  const fault = (what: string) => {
    faults.push(what);
    log(`fault: ${what}`);
  };
  try {
    await new Promise<void>((resolve, reject) => {
      const m = spawn(process.execPath, ["--import", "tsx", join(ROOT, "src/main.ts"), "migrate"], {
        cwd: ROOT,
        env,
        stdio: "ignore",
      });
      m.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`migrate exited ${code}`))));
    });
    const controller = new Part("controller", env, join(logDir, "controller.log"));
    controller.start();
    parts.push(controller);
    const workers = Array.from(
      { length: options.workers },
      (_, i) => new Part("worker", { ...env, WORKER_ID: `chaos-${i}` }, join(logDir, `worker-${i}.log`)),
    );
    for (const w of workers) {
      w.start();
      parts.push(w);
    }
    while (
      !(await fetch(`${url}/health`)
        .then((r) => r.ok)
        .catch(() => false))
    )
      await sleep(200);
    const created = await fetch(`${url}/functions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        name: "chaos",
        runtime: "python",
        code: Buffer.from(FUNCTION_PY).toString("base64"),
        timeout: "30s",
        network: true,
        environment: { RUN_LOG: runLog.url },
      }),
    }).then((r) => r.json() as Promise<{ data: { id: string } }>);
    const functionId = created.data.id;
    log(`controller and ${options.workers} workers up; submitting ${options.invocations} at ${options.rate}/s`);

    // The client: each invocation is retried with its Idempotency-Key until accepted.
    const accepted = new Map<number, string>();
    const refused: Record<string, number> = {};
    let refusedBadly = 0;
    const submit = async (n: number) => {
      for (const startedAt = Date.now(); Date.now() - startedAt < 300_000; await sleep(250)) {
        let res: Response;
        try {
          res = await fetch(`${url}/invoke`, {
            method: "POST",
            headers: { "content-type": "application/json", "idempotency-key": `chaos-${n}` },
            body: JSON.stringify({ function_id: functionId, payload: { n } }),
          });
        } catch {
          refused.connection = (refused.connection ?? 0) + 1;
          continue;
        }
        const text = await res.text();
        if (res.status === 202 || res.status === 200) {
          accepted.set(n, (JSON.parse(text) as { data: { id: string } }).data.id);
          return;
        }
        refused[res.status] = (refused[res.status] ?? 0) + 1;
        let error: { code?: unknown; message?: unknown } | undefined;
        try {
          error = JSON.parse(text)?.error;
        } catch {}
        const json = typeof error?.code === "string";
        if (res.status !== 503 || !json) refusedBadly += 1;
        noteRefusal(json ? `${res.status} ${error?.code}: ${error?.message}` : `${res.status} ${text.slice(0, 120)}`);
      }
    };
    /** Each distinct refusal: when it was first and last seen, how often (logged at its first and at the end). */
    const refusals = new Map<string, { first: number; last: number; count: number }>();
    const noteRefusal = (reason: string) => {
      const seen = refusals.get(reason);
      if (seen) {
        seen.last = Date.now();
        seen.count += 1;
        return;
      }
      refusals.set(reason, { first: Date.now(), last: Date.now(), count: 1 });
      log(`refused: ${reason}`);
    };

    const killedAt: number[] = [];
    const postgresDown: [number, number][] = [];
    const killWorker = async () => {
      // A worker still coming back from the last SIGKILL is left alone: killing it again would
      // start a second process for it and lose track of the first.
      const up = workers.filter((w) => !w.restarting);
      const w = up[Math.floor(Math.random() * up.length)];
      if (!w) return;
      w.restarting = true;
      killedAt.push(Date.now());
      await w.kill();
      fault(`SIGKILL worker ${w.pid}`);
      await sleep(500);
      w.start();
      w.restarting = false;
      log(`worker restarted as ${w.pid}`);
    };
    const plan: [number, string, () => Promise<void>][] = [
      [
        0.2,
        "Redis kill -9, restarted from its AOF",
        async () => {
          await redis.kill();
          await sleep(1000);
          await redis.start();
        },
      ],
      [
        0.4,
        "PostgreSQL stopped -m immediate for 10 s",
        async () => {
          const down = Date.now();
          await postgres.crash();
          await sleep(10_000);
          await postgres.start();
          postgresDown.push([down, Date.now()]);
        },
      ],
      [
        0.6,
        "controller SIGKILL, restarted",
        async () => {
          await controller.kill();
          await sleep(1000);
          controller.start();
        },
      ],
      [
        0.75,
        "Redis restarted without its data",
        async () => {
          await redis.wipe();
          await sleep(500);
          await redis.start();
        },
      ],
    ];

    const submissions: Promise<void>[] = [];
    const faultRuns: Promise<void>[] = [];
    let nextWorkerKill = Date.now() + 5000;
    const began = Date.now();
    for (let n = 0; n < options.invocations; n++) {
      const due = began + (n * 1000) / options.rate;
      if (due > Date.now()) await sleep(due - Date.now());
      submissions.push(submit(n));
      const progress = n / options.invocations;
      while (plan.length > 0 && (plan[0] as [number, string, () => Promise<void>])[0] <= progress) {
        const [, what, act] = plan.shift() as [number, string, () => Promise<void>];
        fault(what);
        faultRuns.push(act());
      }
      if (Date.now() >= nextWorkerKill) {
        nextWorkerKill = Date.now() + 5000;
        faultRuns.push(killWorker());
      }
    }
    await Promise.all(faultRuns);
    await Promise.all(submissions);
    for (const [reason, { first, last, count }] of refusals) {
      const at = (t: number) => new Date(t).toISOString().slice(11, 23);
      log(`refused ${count}× from ${at(first)} to ${at(last)}: ${reason}`);
    }
    log(`submitted: ${accepted.size} accepted; draining`);

    // Drain: every accepted invocation reaches a final status (or is counted stuck).
    await db.connect();
    const drainStart = Date.now();
    const ids = [...accepted.values()];
    let rows: {
      id: string;
      status: string;
      result: unknown;
      error: string | null;
      attempts: number;
      logs: string | null;
    }[] = [];
    for (;;) {
      rows = (
        await db.query("SELECT id, status, result, error, attempts, logs FROM invocations WHERE id = ANY($1)", [ids])
      ).rows;
      const active = rows.filter((r) => r.status === "pending" || r.status === "running").length;
      if (active === 0 || Date.now() - drainStart > 300_000) break;
      await sleep(500);
    }
    const drainMs = Date.now() - drainStart;
    const byId = new Map(rows.map((r) => [r.id, r]));
    let lost = 0;
    let stuck = 0;
    let wrong = 0;
    let failed = 0;
    let killedEveryAttempt = 0;
    for (const [n, id] of accepted) {
      const row = byId.get(id);
      if (!row) lost += 1;
      else if (row.status === "pending" || row.status === "running") stuck += 1;
      else if (row.status !== "completed") {
        const events = await runLog.events(String(n));
        const ended = new Set(events.filter(([e]) => e === "end").map(([, tag]) => tag));
        const cutShort = new Set(events.filter(([e, tag]) => e === "start" && !ended.has(tag)).map(([, tag]) => tag));
        const workerDied = /^the worker running it stopped responding on attempt (\d+) of \1;/.exec(row.error ?? "");
        if (workerDied && cutShort.size >= row.attempts) {
          killedEveryAttempt += 1;
          log(
            `dead-lettered: invocation ${id} (n=${n}): ${cutShort.size} runs, each cut short by its worker's SIGKILL`,
          );
          continue;
        }
        failed += 1;
        log(`failed: invocation ${id} (n=${n}) ${row.status} after ${row.attempts} attempt(s): ${row.error}`);
        if (row.logs) log(`  its logs: ${JSON.stringify(row.logs.slice(-600))}`);
        // Each run of it (start/end as the function reported them) against the worker SIGKILLs.
        const at = (t: number) => new Date(t).toISOString().slice(11, 23);
        const runs = events.map(([e, tag, t]) => `${e} ${tag.slice(0, 6)} ${at(t)}`);
        log(`  its runs: ${runs.join(", ") || "none"}`);
        const first = Math.min(...events.map(([, , t]) => t));
        log(
          `  SIGKILLs since its first run: ${killedAt
            .filter((k) => k >= first - DYING_MS)
            .map(at)
            .join(", ")}`,
        );
      } else if (JSON.stringify(row.result) !== JSON.stringify({ n, double: n * 2 })) wrong += 1;
    }

    // Runs to the end, per invocation. A worker SIGKILL takes its sandboxes with it (bwrap
    // --die-with-parent), so a run cut short never ends. A second end is explained only when
    // the worker holding the first run's result was killed before writing it: just after the
    // run ended, or while PostgreSQL was down (the worker keeps a result through an outage).
    // A SIGKILL is sent (and recorded) a moment before the worker and its sandboxes are gone:
    // a run may still report its end just after.
    const heldUntilKilled = (end: number) =>
      killedAt.some(
        (k) =>
          k >= end - DYING_MS &&
          (k - end <= KILL_WINDOW_MS || postgresDown.some(([from, to]) => end >= from - KILL_WINDOW_MS && k <= to)),
      );
    let executedTwice = 0;
    let rerunAfterKill = 0;
    for (const [n, endedAt] of await runLog.ends()) {
      if (endedAt.length < 2) continue;
      const explained = endedAt.slice(0, -1).filter(heldUntilKilled).length;
      if (endedAt.length - explained <= 1) rerunAfterKill += 1;
      else {
        executedTwice += 1;
        const events = (await runLog.events(n)).map(
          ([e, tag, t]) => `${e} ${tag.slice(0, 6)} ${new Date(t).toISOString().slice(11, 23)}`,
        );
        log(`invocation ${n} ran to the end ${endedAt.length} times: ${events.join(", ")}`);
      }
    }
    // Stopped as an operator would: every environment of the run must go with its worker.
    for (const p of parts.filter((part) => part.command === "worker")) await p.stop(30_000);
    const containersLeft = runtime === "container" ? (await runContainers(instance)).length : null;
    if (containersLeft) log(`containers left after the workers stopped: ${containersLeft}`);
    return {
      accepted: accepted.size,
      refused,
      refusedBadly,
      lost,
      stuck,
      wrong,
      failed,
      executedTwice,
      rerunAfterKill,
      killedEveryAttempt,
      drainMs,
      faults,
      containersLeft,
    };
  } finally {
    await db.end().catch(() => undefined);
    for (const p of parts) await p.kill().catch(() => undefined);
    if (runtime === "container") {
      const left = await runContainers(instance).catch(() => []);
      if (left.length) await promisify(execFile)("docker", ["rm", "-f", ...left]).catch(() => undefined);
    }
    await redis.remove().catch(() => undefined);
    await postgres.remove().catch(() => undefined);
    await runLog.remove().catch(() => undefined);
    // A SIGKILLed worker leaves the scratch mounts of its prepared sandboxes behind (the next
    // worker on the work dir would release them): released here, or the directory stays busy.
    await releaseOrphanedScratchSpaces(join(base, "work", "invocations"));
    await rm(base, { recursive: true, force: true });
  }
}

/** Ids of the containers (any state) of the run's instance. */
async function runContainers(instance: string): Promise<string[]> {
  const { stdout } = await promisify(execFile)("docker", [
    "ps",
    "--all",
    "--quiet",
    "--filter",
    `label=faas.instance=${instance}`,
  ]);
  return stdout.split("\n").filter(Boolean);
}

/** The one line `make chaos` prints. */
export function summary(report: ChaosReport, submitted: number): string {
  const refused = Object.entries(report.refused)
    .map(([status, count]) => `${status}: ${count}`)
    .join(", ");
  return (
    `chaos: submitted ${submitted}, accepted ${report.accepted}, refused {${refused}} (not a JSON 503: ${report.refusedBadly}), ` +
    `lost ${report.lost}, stuck ${report.stuck}, wrong result ${report.wrong}, failed ${report.failed} ` +
    `(+${report.killedEveryAttempt} dead-lettered: every attempt's worker SIGKILLed), ` +
    `executed more than once ${report.executedTwice} (+${report.rerunAfterKill} cut short by a worker SIGKILL), ` +
    `drain ${(report.drainMs / 1000).toFixed(1)} s` +
    (report.containersLeft === null ? "" : `, containers left ${report.containersLeft}`)
  );
}
