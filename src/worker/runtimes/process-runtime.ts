// WORKER_RUNTIME_TYPE=process (alias "simple"): each invocation is a child process of the
// worker, in its own process group and (where the machine allows) memory + pids cgroup.
// With a root worker it runs sealed in a sandbox (process-sandbox.ts): own uid, namespaces,
// read-only system, a size-limited scratch space of its own, seccomp, and no network or a
// firewalled one. Without root it runs as the worker's user in a directory of its own, with
// a warning at start, and networked functions are refused.

import { createHash, randomUUID } from "node:crypto";
import {
  chmod,
  chown,
  copyFile,
  mkdir,
  mkdtemp,
  open,
  readdir,
  realpath,
  rename,
  rm,
  stat,
  writeFile,
} from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { isAppError, PlatformError } from "../../errors.js";
import type { Logger } from "../../lib/logger.js";
import { type CgroupManager, detectCgroups, type InvocationCgroup } from "./cgroup.js";
import { installFirewall } from "./function-firewall.js";
import { CompileError, GoBuildCache, MINIMAL_PATH } from "./go-build-cache.js";
import { detectSandbox, FUNCTION_UID_RANGE, networkProblem, type ProcessSandbox } from "./process-sandbox.js";
import { aborted, runProcessTree, withBackstop } from "./process-tree.js";
import type { FunctionLanguage, FunctionRuntime, RunRequest, RunResult, RuntimeLimits } from "./runtime.js";
import { environmentProblem, failedBeforeStart, platformVariables } from "./runtime.js";
import { mountScratchSpace, releaseOrphanedScratchSpaces, type ScratchSpace } from "./scratch-space.js";
import { seccompBpf } from "./seccomp.js";
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
  /** Most a sandboxed invocation may write (its directory, /tmp, /var/tmp, /dev/shm together). Default 64. */
  diskLimitMb?: number;
  /** CIDRs networked functions may reach although private (FUNCTION_NETWORK_ALLOW). */
  networkAllow?: readonly string[];
  /** Host paths sandboxed functions may read (WORKER_SANDBOX_READONLY_PATHS). */
  readOnlyPaths?: readonly string[];
}

/** Where a sandboxed function finds its code, and its HOME. */
const FN_DIR = "/fn";
/** The descriptor bwrap reads the seccomp program from (3 is the cgroup status pipe). */
const SECCOMP_FD = 4;

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
  private seccompFile = "";
  /** Per toolchain path, what a sandbox must see of it besides /usr (resolved once, at start). */
  private readonly toolchainRoots = new Map<string, string[]>();
  /** Why networked functions cannot run here, or null. */
  private networkUnavailable: string | null = "the process runtime has not started";

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
    for (const tool of Object.values(this.toolchains)) this.toolchainRoots.set(tool, await toolchainRoot(tool));
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
      this.networkUnavailable = `no process sandbox on this worker (${detected.reason})`;
      this.logger.warn("functions run with the worker's user and file system: no process sandbox", {
        reason: detected.reason,
      });
    } else {
      const released = await releaseOrphanedScratchSpaces(this.invocationsDir);
      if (released > 0) this.logger.info("unmounted scratch spaces left by a dead worker", { count: released });
      this.seccompFile = join(this.workDir, "seccomp.bpf");
      // Workers sharing WORKER_WORK_DIR each write it as they start. Written aside and renamed
      // into place, so a sandbox starting meanwhile reads a whole program, never a file being
      // rewritten (bwrap refused that with EINVAL and the invocation failed: found by make chaos).
      const temp = `${this.seccompFile}.${process.pid}.${randomUUID()}.tmp`;
      await writeFile(temp, seccompBpf(), { mode: 0o600 });
      await rename(temp, this.seccompFile);
      this.networkUnavailable = await this.prepareNetwork(detected.sandbox);
      if (this.networkUnavailable) {
        this.logger.warn("networked functions refused on this worker", { reason: this.networkUnavailable });
      }
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
      sandbox: this.sandbox ? "bubblewrap" : "none",
      functionNetwork: this.networkUnavailable ? "refused" : "firewalled",
    });
  }

  /** Installs the firewall for pasta's sockets; returns why networked functions cannot run, or null. */
  private async prepareNetwork(sandbox: ProcessSandbox): Promise<string | null> {
    const problem = await networkProblem(sandbox);
    if (problem) return problem;
    try {
      await installFirewall(this.options.networkAllow ?? [], { uidRange: FUNCTION_UID_RANGE });
      return null;
    } catch (err) {
      return `cannot install the function firewall: ${(err as Error).message.split("\n")[0]}`;
    }
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
    if (request.network && this.networkUnavailable) {
      return failedBeforeStart(`network: true is not available on this worker: ${this.networkUnavailable}`);
    }
    let binary: string | null = null;
    if (request.runtime === "go") {
      const built = await this.goBinary(request, signal);
      if ("outcome" in built) return built;
      binary = built.path;
    }
    const sandbox = this.sandbox;
    return sandbox
      ? this.runSandboxed(sandbox, tool, binary, request, signal)
      : this.runUnsandboxed(tool, binary, request, signal);
  }

  private async runSandboxed(
    sandbox: ProcessSandbox,
    tool: string,
    binary: string | null,
    request: RunRequest,
    signal: AbortSignal,
  ): Promise<RunResult> {
    const who = sandbox.identity();
    const diskLimitMb = this.options.diskLimitMb ?? 64;
    // Named like the cgroup, not just by invocation id: a redelivered invocation may run
    // twice on one machine, and neither run may touch the other's.
    const name = `${safeName(request.invocationId)}-${who.uid}`;
    let scratch: ScratchSpace | null = null;
    let cgroup: InvocationCgroup | null = null;
    let seccomp: Awaited<ReturnType<typeof open>> | null = null;
    try {
      scratch = await mountScratchSpace(this.invocationsDir, name, diskLimitMb * 1024 * 1024, who);
      let command: string[];
      if (binary) {
        // A copy of its own binary only: the build cache stays closed to every function.
        const copy = join(scratch.fnDir, "main");
        await copyFile(binary, copy);
        await chown(copy, who.uid, who.gid);
        await chmod(copy, 0o500);
        command = [`${FN_DIR}/main`];
      } else {
        const file = SOURCE_FILE[request.runtime as Exclude<FunctionLanguage, "go">];
        await writeFile(join(scratch.fnDir, file), request.code, { mode: 0o400 });
        await chown(join(scratch.fnDir, file), who.uid, who.gid);
        command = [tool, file];
      }
      cgroup = await this.createCgroup(name, request);
      seccomp = await open(this.seccompFile, "r");
      const wrapped = sandbox.wrap(withBackstop(command, request.timeoutMs), {
        who,
        binds: scratch.binds,
        cwd: FN_DIR,
        network: request.network,
        readOnly: [...(this.toolchainRoots.get(tool) ?? []), ...(this.options.readOnlyPaths ?? [])],
        seccompFd: SECCOMP_FD,
      });
      const result = await runProcessTree({
        command: wrapped,
        cwd: scratch.fnDir,
        env: this.environment(request, FN_DIR),
        cgroup,
        signal,
        timeoutMs: request.timeoutMs,
        memoryMb: request.memoryMb,
        limits: this.options.limits,
        inheritFds: { [SECCOMP_FD]: seccomp.fd },
        // bwrap reports a function killed by signal N as exit status 128 + N.
        exitStatusCarriesSignal: true,
      });
      if (result.outcome === "timeout" || result.oomKilled || !(await scratch.full())) return result;
      return { ...result, outcome: "failed", exitCode: null, error: `disk limit exceeded: wrote ${diskLimitMb} MiB` };
    } finally {
      await seccomp?.close().catch(() => undefined);
      // The scratch space first: its pages are charged to the cgroup.
      await scratch?.release().catch((err: unknown) => this.logger.warn("cannot release scratch space", { name, err }));
      await cgroup?.remove().catch((err: unknown) => this.logger.warn("cannot remove cgroup", { name, err }));
    }
  }

  /** Without root: the worker's user, a directory of its own, no other isolation. */
  private async runUnsandboxed(
    tool: string,
    binary: string | null,
    request: RunRequest,
    signal: AbortSignal,
  ): Promise<RunResult> {
    const dir = await mkdtemp(join(this.invocationsDir, `${safeName(request.invocationId)}-`));
    let cgroup: InvocationCgroup | null = null;
    try {
      let command: string[];
      if (binary) {
        command = [binary];
      } else {
        const file = SOURCE_FILE[request.runtime as Exclude<FunctionLanguage, "go">];
        await writeFile(join(dir, file), request.code);
        command = [tool, file];
      }
      cgroup = await this.createCgroup(basename(dir), request);
      return await runProcessTree({
        command: withBackstop(command, request.timeoutMs),
        cwd: dir,
        env: this.environment(request, dir),
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

  private async createCgroup(name: string, request: RunRequest): Promise<InvocationCgroup | null> {
    return (
      (await this.cgroups?.create(name, { memoryBytes: request.memoryMb * 1024 * 1024, pidsMax: this.pidsLimit })) ??
      null
    );
  }

  private environment(request: RunRequest, home: string): Record<string, string> {
    return { PATH: MINIMAL_PATH, HOME: home, LANG: "C.UTF-8", ...request.environment, ...platformVariables(request) };
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

/** A toolchain installed outside /usr (which every sandbox sees) must be bound in: its root. */
async function toolchainRoot(tool: string): Promise<string[]> {
  const real = await realpath(tool).catch(() => tool);
  return real.startsWith("/usr/") ? [] : [dirname(dirname(real))];
}
