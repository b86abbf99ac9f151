// WORKER_RUNTIME_TYPE=process (alias "simple"): each invocation is a child process of the worker, in its own
// directory, process group and (where the machine allows) memory + pids cgroup. With a root
// worker it also runs as a uid of its own, without capabilities, and in an empty network
// namespace unless allowed (process-sandbox.ts). It still sees the host's file system
// (read-only where permissions say so): the container runtime is the isolating one.

import { createHash } from "node:crypto";
import { chown, mkdir, mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { isAppError, PlatformError } from "../../errors.js";
import type { Logger } from "../../lib/logger.js";
import { type CgroupManager, detectCgroups, type InvocationCgroup } from "./cgroup.js";
import { CompileError, GoBuildCache, MINIMAL_PATH } from "./go-build-cache.js";
import { detectSandbox, type ProcessSandbox } from "./process-sandbox.js";
import { aborted, runProcessTree, withBackstop } from "./process-tree.js";
import type { FunctionLanguage, FunctionRuntime, RunRequest, RunResult, RuntimeLimits } from "./runtime.js";
import { environmentProblem, failedBeforeStart, platformVariables } from "./runtime.js";
import { isExecutable, resolveToolchains, TOOLCHAIN_PACKAGE, type Toolchains } from "./toolchains.js";

export interface ProcessRuntimeOptions {
  workDir: string;
  limits: RuntimeLimits;
  logger: Logger;
  /** Most processes (threads included) one invocation may have; contains fork bombs. Default 64. */
  pidsLimit?: number;
  /** Absolute toolchain paths replacing discovery; a path that does not exist makes that runtime unavailable. */
  toolchains?: Toolchains;
  /** Longest a Go build may take before it counts as a platform failure. Default 5 minutes. */
  goBuildTimeoutMs?: number;
}

const SOURCE_FILE: Record<Exclude<FunctionLanguage, "go">, string> = { python: "main.py", nodejs: "main.js" };
const STALE_DIR_MS = 24 * 3_600_000;

interface Running {
  controller: AbortController;
  done: Promise<unknown>;
}

export class ProcessRuntime implements FunctionRuntime {
  readonly kind = "process";
  private readonly workDir: string;
  private readonly invocationsDir: string;
  private readonly logger: Logger;
  private readonly running = new Set<Running>();
  private ready: Promise<void> | null = null;
  private stopped = false;
  private toolchains: Toolchains = {};
  private sandbox: ProcessSandbox | null = null;
  private cgroups: CgroupManager | null = null;
  private goCache: GoBuildCache | null = null;

  constructor(private readonly options: ProcessRuntimeOptions) {
    // Children run elsewhere (cwd = their own directory): every path handed to them is absolute.
    this.workDir = resolve(options.workDir);
    this.invocationsDir = join(this.workDir, "invocations");
    this.logger = options.logger.child({ component: "process-runtime" });
  }

  /** Which cgroup version limits memory, or null when limits are not enforced. Valid after start(). */
  get cgroupVersion(): "v1" | "v2" | null {
    return this.cgroups?.version ?? null;
  }

  /** Go builds run by this runtime (cache hits do not count). */
  get goBuildCount(): number {
    return this.goCache?.buildCount ?? 0;
  }

  start(): Promise<void> {
    this.stopped = false;
    this.ready ??= this.init().catch((err: unknown) => {
      this.ready = null;
      throw err;
    });
    return this.ready;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const running = [...this.running];
    for (const r of running) r.controller.abort();
    await Promise.allSettled(running.map((r) => r.done));
  }

  async run(request: RunRequest): Promise<RunResult> {
    // Not start(): a run after stop() must not silently revive the runtime.
    await (this.ready ?? this.start());
    if (this.stopped) throw new PlatformError("process runtime is stopped");
    if (request.signal?.aborted) throw aborted();
    const controller = new AbortController();
    const forward = () => controller.abort();
    request.signal?.addEventListener("abort", forward, { once: true });
    const done = this.runGuarded(request, controller.signal);
    const entry = { controller, done };
    this.running.add(entry);
    try {
      return await done;
    } finally {
      this.running.delete(entry);
      request.signal?.removeEventListener("abort", forward);
    }
  }

  private async init(): Promise<void> {
    await mkdir(this.invocationsDir, { recursive: true });
    this.toolchains = await resolveToolchains(this.options.toolchains);
    const detection = await detectCgroups();
    this.cgroups = detection.manager;
    if (!detection.manager) {
      this.logger.warn(
        "memory limits NOT enforced: no writable memory cgroup; run the worker as root or use the container runtime",
        { reason: detection.reason },
      );
    } else {
      const reaped = await detection.manager.reapOrphans();
      if (reaped > 0) this.logger.info("removed cgroups left by a dead worker", { count: reaped });
      if (!detection.manager.pidsLimited) this.logger.warn("process count NOT limited: no writable pids cgroup");
    }
    const detected = await detectSandbox(this.workDir);
    this.sandbox = detected.sandbox;
    if (!detected.sandbox) {
      this.logger.warn("functions run with the worker's user and network: no process sandbox", {
        reason: detected.reason,
      });
    }
    const go = this.toolchains.go;
    this.goCache = go
      ? new GoBuildCache({
          workDir: this.workDir,
          goBinary: go,
          logger: this.logger,
          maxOutputBytes: this.options.limits.maxLogBytes,
          buildTimeoutMs: this.options.goBuildTimeoutMs,
        })
      : null;
    await this.goCache?.cache.removeStaleTemps();
    await this.removeStaleInvocationDirs();
    this.logger.info("process runtime ready", {
      toolchains: this.toolchains,
      missing: (Object.keys(TOOLCHAIN_PACKAGE) as FunctionLanguage[]).filter((l) => !this.toolchains[l]),
      cgroup: this.cgroups?.version ?? "none",
      pidsLimit: this.cgroups?.pidsLimited ? this.pidsLimit : "none",
      functionUser: this.sandbox ? "own uid per invocation" : "worker's own",
      networkIsolation: this.sandbox !== null,
    });
  }

  private get pidsLimit(): number {
    return this.options.pidsLimit ?? 64;
  }

  /** Function failures come back as results; anything unexpected becomes a PlatformError (retried). */
  private async runGuarded(request: RunRequest, signal: AbortSignal): Promise<RunResult> {
    try {
      return await this.runInvocation(request, signal);
    } catch (err) {
      if (isAppError(err)) throw err;
      this.logger.error("invocation failed on the platform side", { invocationId: request.invocationId, err });
      throw new PlatformError(`process runtime: ${(err as Error).message}`);
    }
  }

  private async runInvocation(request: RunRequest, signal: AbortSignal): Promise<RunResult> {
    const tool = this.toolchains[request.runtime];
    if (!tool || !(await isExecutable(tool))) {
      return failedBeforeStart(`runtime not found: ${request.runtime} (install ${TOOLCHAIN_PACKAGE[request.runtime]})`);
    }
    const badEnv = environmentProblem(request.environment);
    if (badEnv) return failedBeforeStart(badEnv);

    let command: string[];
    if (request.runtime === "go") {
      const built = await this.goBinary(request, signal);
      if ("outcome" in built) return built;
      command = [built.path];
    } else {
      command = [tool, SOURCE_FILE[request.runtime]];
    }

    const dir = await mkdtemp(join(this.invocationsDir, `${safeName(request.invocationId)}-`));
    let cgroup: InvocationCgroup | null = null;
    try {
      if (request.runtime !== "go") await writeFile(join(dir, SOURCE_FILE[request.runtime]), request.code);
      // Named like the directory, not just by invocation id: a redelivered invocation may run
      // twice on one machine, and neither run may kill the other's processes.
      cgroup =
        (await this.cgroups?.create(basename(dir), {
          memoryBytes: request.memoryMb * 1024 * 1024,
          pidsMax: this.pidsLimit,
        })) ?? null;
      const env: Record<string, string> = {
        PATH: MINIMAL_PATH,
        HOME: dir,
        LANG: "C.UTF-8",
        ...request.environment,
        ...platformVariables(request),
      };
      const guarded = withBackstop(command, request.timeoutMs);
      let full = guarded;
      if (this.sandbox) {
        const who = this.sandbox.identity();
        await chown(dir, who.uid, who.gid); // its HOME: writable by it, closed to the others
        full = this.sandbox.wrap(guarded, who, request.network);
      }
      return await runProcessTree({
        command: full,
        cwd: dir,
        env,
        cgroup,
        signal,
        timeoutMs: request.timeoutMs,
        memoryMb: request.memoryMb,
        limits: this.options.limits,
      });
    } finally {
      await cgroup?.remove().catch((err: unknown) => this.logger.warn("cannot remove cgroup", { dir, err }));
      await rm(dir, { recursive: true, force: true });
    }
  }

  private async goBinary(request: RunRequest, signal: AbortSignal): Promise<{ path: string } | RunResult> {
    const started = performance.now();
    // Keyed by the hash of what we actually compile, whatever the caller claims.
    const sha = createHash("sha256").update(request.code).digest("hex");
    if (sha !== request.codeSha256) this.logger.warn("code sha256 mismatch", { invocationId: request.invocationId });
    try {
      return { path: await abortable((this.goCache as GoBuildCache).binary(sha, request.code), signal) };
    } catch (err) {
      if (!(err instanceof CompileError)) throw err;
      return {
        ...failedBeforeStart("compilation failed"),
        stderr: err.output,
        stderrTruncated: err.outputTruncated,
        durationMs: Math.round(performance.now() - started),
      };
    }
  }

  private async removeStaleInvocationDirs(): Promise<void> {
    // Directories of invocations a crashed worker never cleaned up. Age-based, because other
    // workers on this machine may share the directory and be running right now.
    for (const name of await readdir(this.invocationsDir).catch(() => [] as string[])) {
      const path = join(this.invocationsDir, name);
      const s = await stat(path).catch(() => null);
      if (s && Date.now() - s.mtimeMs > STALE_DIR_MS) await rm(path, { recursive: true, force: true });
    }
  }
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(aborted());
  return new Promise<T>((ok, fail) => {
    const onAbort = () => fail(aborted());
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        ok(v);
      },
      (e: unknown) => {
        signal.removeEventListener("abort", onAbort);
        fail(e);
      },
    );
  });
}

/** A file and cgroup name made from an invocation id (normally a uuid). */
function safeName(id: string): string {
  return id.replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 64) || "invocation";
}
