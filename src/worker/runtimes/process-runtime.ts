// WORKER_RUNTIME_TYPE=process (alias "simple"): each invocation is a child process of the
// worker, in its own process group and (where the machine allows) memory + pids cgroup.
// With a root worker it runs sealed in a sandbox (process-sandbox.ts): own uid, namespaces,
// read-only system, a size-limited scratch space of its own, seccomp, and no network or a
// firewalled one. Without root it runs as the worker's user in a directory of its own, with
// a warning at start, and networked functions are refused.
//
// Sandboxes are made ahead of their invocations where possible (prepared-sandbox.ts,
// prepared-sandbox-pool.ts): a shape (language, memory, network) used recently has one
// ready, its interpreter started and waiting, so that an invocation pays neither the
// sandbox's set-up nor the interpreter's start. Each still serves exactly one invocation.
//
// With execution environments on (WORKER_KEEP_WARM > 0, root workers with a Go toolchain to
// build the agent), a function version runs in an environment of its own instead
// (process-environment.ts): one sealed sandbox whose agent serves that version's
// invocations one at a time, each as a fresh process, cleaning up between them. Invocations
// whose environment sets variables an interpreter reads only as it starts still get a
// sandbox of their own (prepared or made for them): a started interpreter cannot honour them.

import { createHash, randomUUID } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, realpath, rename, rm, stat, writeFile } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { isAppError, PlatformError } from "../../errors.js";
import type { Logger } from "../../lib/logger.js";
import { agentDirectory } from "./agent-binary.js";
import { type CgroupManager, detectCgroups, type InvocationCgroup } from "./cgroup.js";
import { EnvironmentPool, functionVersion } from "./environment-pool.js";
import { type AgentLauncher, runInEnvironment } from "./execution-environment.js";
import { installFirewall } from "./function-firewall.js";
import { CompileError, GoBuildCache, MINIMAL_PATH } from "./go-build-cache.js";
import { canCloseInherited, PERL } from "./inherited-fds.js";
import { nodeAddonProblem, nodeAddonToolchain } from "./node-addon.js";
import {
  FN_DIR,
  type PreparedSandbox,
  SandboxMaker,
  type SandboxShape,
  safeName,
  shapeKey,
} from "./prepared-sandbox.js";
import { PreparedSandboxPool } from "./prepared-sandbox-pool.js";
import { ENVIRONMENT_HOME, type ProcessEnvironmentSpec, processAgentLauncher } from "./process-environment.js";
import { detectSandbox, FUNCTION_UID_RANGE, networkProblem, type ProcessSandbox } from "./process-sandbox.js";
import { aborted, runProcessTree, TreeLostError, withBackstop } from "./process-tree.js";
import type { FunctionLanguage, FunctionRuntime, RunRequest, RunResult, RuntimeLimits } from "./runtime.js";
import { environmentProblem, failedBeforeStart, platformVariables } from "./runtime.js";
import { environmentBlock, preparedMismatch, SUPERVISOR } from "./sandbox-starters.js";
import { releaseOrphanedScratchSpaces } from "./scratch-space.js";
import { seccompBpf } from "./seccomp.js";
import { isExecutable, resolveToolchains, TOOLCHAIN_PACKAGE, type Toolchains } from "./toolchains.js";
import type { UidFiles } from "./uid-claims.js";

export interface ProcessRuntimeOptions {
  workDir: string;
  /** Go build cache the agent's build shares (GOCACHE); default: the user's, ~/.cache/go-build. */
  goCache?: string;
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
  /** Sandboxes made ahead of their invocations (root workers only). */
  prepared?: PreparedSandboxSettings;
  /** Execution environments, one per function version (root workers only); off when absent. */
  environments?: ProcessEnvironmentSettings;
  /** Where this host gives out uids (checked against the sandboxes' uids at start); default /etc/passwd and /etc/subuid. */
  uidFiles?: UidFiles;
  /** Where the host's workers claim their blocks of uids (uid-blocks.ts); default /run/faas-uid-blocks. */
  uidBlocksDir?: string;
}

export interface ProcessEnvironmentSettings {
  /** An idle environment is removed this long after its last invocation (WORKER_KEEP_WARM); 0 turns them off. */
  keepWarmMs: number;
  /** Most environments bound to a function version at once (WORKER_MAX_ENVIRONMENTS). Default 12. */
  maxEnvironments?: number;
  /** Environments started ahead (agent up, no code yet) per (language, memory, network). Default 1. */
  genericPerKey?: number;
  /** A directory holding an agent built already (agent-binary.ts); default: built into the work dir. */
  agentDir?: string;
}

export interface PreparedSandboxSettings {
  /** Ready sandboxes kept per shape (language, memory, network) used recently; 0 turns preparing off. Default 1. */
  perShape?: number;
  /** Most prepared sandboxes, all shapes together (each holds an idle interpreter). Default 6. */
  max?: number;
  /** A prepared sandbox nobody took for this long is torn down. Default 60 s. */
  idleMs?: number;
  /** Memory of the shapes prepared at start (Python, Node.js, Go without network); null: none. Default 128. */
  startMemoryMb?: number | null;
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
  private maker: SandboxMaker | null = null;
  private pool: PreparedSandboxPool | null = null;
  private environments: EnvironmentPool<ProcessEnvironmentSpec> | null = null;
  private launchAgent: AgentLauncher<ProcessEnvironmentSpec> | null = null;
  /** Why the agent cannot fork Node.js invocations here (node-addon.ts), or null when it can. */
  private nodeZygoteProblem: string | null = "the process runtime has not started";
  private preparedRuns = 0;
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

  /** Invocations that ran in a sandbox prepared ahead of them. */
  get preparedRunCount(): number {
    return this.preparedRuns;
  }

  /** Environments bound to a function version, busy or idle. */
  get environmentCount(): number {
    return this.environments?.size ?? 0;
  }

  /** Environments started ahead, waiting for a version's code. */
  get genericEnvironmentCount(): number {
    return this.environments?.genericReady ?? 0;
  }

  /** Starts served by an environment of the version (warm) and by a new one (cold). */
  get environmentStarts(): { warm: number; cold: number } {
    return { ...(this.environments?.starts ?? { warm: 0, cold: 0 }) };
  }

  /** Whether invocations run in execution environments on this worker. */
  get environmentsOn(): boolean {
    return this.launchAgent !== null;
  }

  /** Prepared sandboxes ready for an invocation now. */
  get preparedSandboxCount(): number {
    return this.pool?.readyCount ?? 0;
  }

  /** Settles when no sandbox is being prepared (tests and benchmarks wait for this). */
  async whenPrepared(): Promise<void> {
    await this.ready;
    await this.pool?.whenPrepared();
  }

  start(): Promise<void> {
    this.stopped = false;
    this.pool?.resume();
    if (this.environments?.closed && this.launchAgent) this.environments = this.environmentPool(this.launchAgent);
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
    // After the runs: a run that ends meanwhile asks for another to be prepared.
    await this.pool?.stop();
    await this.environments?.close();
    // No sandbox of this runtime is left: its uids may go to another worker.
    await this.sandbox?.release();
  }

  /** A function changed or went away: its environments serve no more (idle ones go now, busy ones after their invocation). */
  retireFunction(functionId: string): void {
    this.environments?.retireFunction(functionId);
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
    if (!canCloseInherited) {
      this.logger.error(
        `${PERL} missing (Debian package perl-base): functions may see descriptors the worker inherited`,
      );
    }
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
    const detected = await detectSandbox(this.workDir, { ...this.options, logger: this.logger });
    this.sandbox = detected.sandbox;
    if (!detected.sandbox) {
      this.networkUnavailable = `no process sandbox on this worker (${detected.reason})`;
      this.logger.warn("functions run with the worker's user and file system: no process sandbox", {
        reason: detected.reason,
      });
    } else {
      const released = await releaseOrphanedScratchSpaces(this.invocationsDir);
      if (released > 0) this.logger.info("unmounted scratch spaces left by a dead worker", { count: released });
      const seccompFile = join(this.workDir, "seccomp.bpf");
      // Workers sharing WORKER_WORK_DIR each write it as they start. Written aside and renamed
      // into place, so a sandbox starting meanwhile reads a whole program, never a file being
      // rewritten (bwrap refused that with EINVAL and the invocation failed: found by make chaos).
      const temp = `${seccompFile}.${process.pid}.${randomUUID()}.tmp`;
      await writeFile(temp, seccompBpf(), { mode: 0o600 });
      await rename(temp, seccompFile);
      this.maker = new SandboxMaker({
        sandbox: detected.sandbox,
        cgroups: this.cgroups,
        invocationsDir: this.invocationsDir,
        seccompFile,
        diskLimitMb: this.options.diskLimitMb ?? 64,
        pidsLimit: this.pidsLimit,
        limits: this.options.limits,
        baseEnvironment: baseEnvironment(FN_DIR),
        readOnly: (tool) => [...(this.toolchainRoots.get(tool) ?? []), ...(this.options.readOnlyPaths ?? [])],
        logger: this.logger,
      });
      this.pool = await this.preparedSandboxPool(this.maker);
      this.launchAgent = await this.agentLauncher(detected.sandbox, seccompFile);
      if (this.launchAgent) this.environments = this.environmentPool(this.launchAgent);
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
    const startMemoryMb =
      this.options.prepared?.startMemoryMb === undefined ? 128 : this.options.prepared.startMemoryMb;
    if (startMemoryMb !== null) {
      for (const language of ["python", "nodejs", "go"] as const) {
        const tool = this.toolchains[language];
        if (!tool) continue;
        // With environments, a cold start takes an environment started ahead; prepared
        // sandboxes are made only for the invocations environments cannot serve.
        if (this.environments && this.agentRuns(language)) {
          const spec = { language, memoryMb: startMemoryMb, network: false, tool };
          this.environments.refillGeneric(genericKey(spec), spec);
        } else {
          this.pool?.fill({ language, memoryMb: startMemoryMb, network: false });
        }
      }
    }
    this.logger.info("process runtime ready", {
      toolchains: this.toolchains,
      missing: (Object.keys(TOOLCHAIN_PACKAGE) as FunctionLanguage[]).filter((l) => !this.toolchains[l]),
      cgroup: this.cgroups?.version ?? "none",
      pidsLimit: this.cgroups?.pidsLimited ? this.pidsLimit : "none",
      functionUser: this.sandbox ? "own uid per invocation" : "worker's own",
      sandbox: this.sandbox ? "bubblewrap" : "none",
      preparedSandboxes: this.pool ? "on" : "off",
      executionEnvironments: this.launchAgent ? "on" : "off",
      functionNetwork: this.networkUnavailable ? "refused" : "firewalled",
    });
  }

  /** The pool of sandboxes made ahead, or null when preparing is off or impossible here. */
  private async preparedSandboxPool(maker: SandboxMaker): Promise<PreparedSandboxPool | null> {
    const settings = this.options.prepared ?? {};
    if ((settings.perShape ?? 1) <= 0) return null;
    if (!(await isExecutable(SUPERVISOR))) {
      this.logger.warn(`sandboxes are not prepared ahead: ${SUPERVISOR} missing (Debian package perl-base)`);
      return null;
    }
    return new PreparedSandboxPool({
      perShape: settings.perShape ?? 1,
      max: settings.max ?? 6,
      idleMs: settings.idleMs ?? 60_000,
      prepare: (shape) => maker.prepare(shape, this.toolchains[shape.language] as string),
      discard: (sandbox) => maker.discard(sandbox),
      logger: this.logger,
    });
  }

  /** The launcher of execution environments, or null when they are off or impossible here. */
  private async agentLauncher(
    sandbox: ProcessSandbox,
    seccompFile: string,
  ): Promise<AgentLauncher<ProcessEnvironmentSpec> | null> {
    const settings = this.options.environments;
    if (!settings || settings.keepWarmMs <= 0) return null;
    // The agent empties these between invocations; a read-only bind inside one it cannot
    // empty, and it gives up (every environment would serve one invocation, slowly).
    const cleaned = ["/tmp", "/var/tmp", "/dev/shm", "/fn"];
    const shown = [...(this.options.readOnlyPaths ?? []), ...[...this.toolchainRoots.values()].flat()];
    const inside = shown.find((path) => cleaned.some((dir) => path === dir || path.startsWith(`${dir}/`)));
    if (inside) {
      this.logger.warn(
        `no execution environments: ${inside} (WORKER_SANDBOX_READONLY_PATHS or a toolchain) lies in a directory the agent empties between invocations`,
      );
      return null;
    }
    const nodeTool = this.toolchains.nodejs;
    const node = nodeTool ? await nodeAddonToolchain(nodeTool) : "no Node.js toolchain";
    let agentDir = settings.agentDir;
    if (!agentDir) {
      const go = this.toolchains.go;
      if (!go) {
        this.logger.warn("no execution environments: no Go toolchain to build the agent (install golang-go)");
        return null;
      }
      const began = performance.now();
      try {
        agentDir = await agentDirectory(this.workDir, go, {
          goCache: this.options.goCache,
          node: typeof node === "string" ? undefined : node,
        });
      } catch (err) {
        this.logger.warn("no execution environments: cannot build the agent", { err });
        return null;
      }
      this.logger.debug("agent ready", { agentDir, ms: Math.round(performance.now() - began) });
    }
    this.nodeZygoteProblem = await nodeAddonProblem(agentDir, node);
    if (this.nodeZygoteProblem) {
      this.logger.warn("Node.js functions run in prepared sandboxes, not in execution environments", {
        reason: this.nodeZygoteProblem,
      });
    }
    return processAgentLauncher({
      sandbox,
      cgroups: this.cgroups,
      invocationsDir: this.invocationsDir,
      seccompFile,
      diskLimitMb: this.options.diskLimitMb ?? 64,
      pidsLimit: this.pidsLimit,
      agentDir,
      environment: baseEnvironment(ENVIRONMENT_HOME),
      readOnly: (tool) => [...(this.toolchainRoots.get(tool) ?? []), ...(this.options.readOnlyPaths ?? [])],
      logger: this.logger,
    });
  }

  private environmentPool(launch: AgentLauncher<ProcessEnvironmentSpec>): EnvironmentPool<ProcessEnvironmentSpec> {
    const settings = this.options.environments as ProcessEnvironmentSettings;
    const perKey = settings.genericPerKey ?? 1;
    return new EnvironmentPool({
      launch,
      logger: this.logger,
      keepWarmMs: settings.keepWarmMs,
      maxEnvironments: settings.maxEnvironments ?? 12,
      genericPerKey: perKey,
      maxGeneric: Math.max(4, perKey * 8),
    });
  }

  /**
   * Whether the agent runs this language's toolchain: it starts the interpreter it finds at
   * its own fixed paths, which must be the one the worker found.
   */
  private agentRuns(language: FunctionLanguage): boolean {
    if (language === "go") return true;
    // The agent forks Node.js invocations from a zygote through a native addon, built for
    // the host's node with the agent (node-addon.ts).
    if (language === "nodejs") return this.nodeZygoteProblem === null;
    const tool = this.toolchains.python;
    return tool !== undefined && AGENT_PYTHON.includes(tool);
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
    const maker = this.maker;
    return maker
      ? this.runSandboxed(maker, tool, binary, request, signal)
      : this.runUnsandboxed(tool, binary, request, signal);
  }

  /** In a prepared sandbox when one is ready and fits, else in one made now; the shape is prepared for next time. */
  private async runSandboxed(
    maker: SandboxMaker,
    tool: string,
    binary: string | null,
    request: RunRequest,
    signal: AbortSignal,
  ): Promise<RunResult> {
    const environments = this.environments;
    if (environments && this.agentRuns(request.runtime)) {
      const environment = this.environment(request, ENVIRONMENT_HOME);
      const mismatch = preparedMismatch(
        request.runtime,
        environment,
        baseEnvironment(ENVIRONMENT_HOME),
        environmentBlock(environment),
      );
      if (!mismatch) return this.runInVersionEnvironment(environments, tool, binary, request, environment, signal);
      this.logger.debug("runs outside an environment", { invocationId: request.invocationId, mismatch });
    }
    const environment = this.environment(request, FN_DIR);
    const pool = this.pool;
    const mismatch = preparedMismatch(
      request.runtime,
      environment,
      baseEnvironment(FN_DIR),
      environmentBlock(environment),
    );
    if (mismatch) this.logger.debug("runs in a sandbox made for it", { invocationId: request.invocationId, mismatch });
    if (!pool || mismatch) return maker.runFresh(tool, binary, request, environment, signal);
    const shape: SandboxShape = { language: request.runtime, memoryMb: request.memoryMb, network: request.network };
    const prepared = pool.take(shape);
    try {
      if (!prepared) return await maker.runFresh(tool, binary, request, environment, signal);
      return await this.runPrepared(maker, prepared, tool, binary, request, environment, signal);
    } finally {
      // After the run, not during it: preparing forks the worker (mount, bwrap), which would
      // hold up this invocation's own events (measured here: warm p50 13 ms, 26 ms while preparing).
      if (!this.stopped) pool.fill(shape);
    }
  }

  /** In the version's environment when one is idle (warm), else in a new one (cold); kept for the next invocation. */
  private async runInVersionEnvironment(
    environments: EnvironmentPool<ProcessEnvironmentSpec>,
    tool: string,
    binary: string | null,
    request: RunRequest,
    environment: Record<string, string>,
    signal: AbortSignal,
  ): Promise<RunResult> {
    const spec: ProcessEnvironmentSpec = {
      language: request.runtime,
      memoryMb: request.memoryMb,
      network: request.network,
      tool,
    };
    const generic = genericKey(spec);
    const versionKey = functionVersion(request.functionId, request.code, generic).key;
    let env = environments.takeIdle(versionKey);
    if (!env) {
      const code = binary ? await readFile(binary) : request.code;
      if (signal.aborted) throw aborted();
      env = await environments.acquireNew({
        versionKey,
        functionId: request.functionId,
        genericKey: generic,
        spec,
        code,
      });
    }
    return runInEnvironment(env, request, {
      env: environment,
      stdoutLimit: this.options.limits.maxOutputBytes,
      stderrLimit: this.options.limits.maxLogBytes,
      pidsLimit: this.pidsLimit,
      logger: this.logger,
      signal,
      release: (e, reusable) => environments.release(e, reusable),
    });
  }

  /** A prepared sandbox found dead at its go-ahead is the platform's problem: one more, fresh, then a PlatformError. */
  private async runPrepared(
    maker: SandboxMaker,
    prepared: PreparedSandbox,
    tool: string,
    binary: string | null,
    request: RunRequest,
    environment: Record<string, string>,
    signal: AbortSignal,
  ): Promise<RunResult> {
    let sandbox = prepared;
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await maker.runPrepared(sandbox, binary, request, environment, signal);
        this.preparedRuns++;
        return result;
      } catch (err) {
        if (!(err instanceof TreeLostError)) throw err;
        const shape = shapeKey(sandbox.shape);
        if (attempt >= 2) {
          throw new PlatformError(
            `process runtime: prepared sandboxes (${shape}) died before their go-ahead: ${err.message}`,
          );
        }
        this.logger.warn("a prepared sandbox died before its go-ahead: trying a fresh one", {
          invocationId: request.invocationId,
          shape,
          err: err.message,
        });
      }
      if (signal.aborted) throw aborted();
      sandbox = await maker.prepare(sandbox.shape, tool);
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
    return { ...baseEnvironment(home), ...request.environment, ...platformVariables(request) };
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

/** The Python the agent starts (runtimes/agent/langs.go looks for it there). */
const AGENT_PYTHON = ["/usr/bin/python3", "/usr/local/bin/python3"];

/** (language, memory, network): which environments started ahead fit. */
function genericKey(spec: Pick<ProcessEnvironmentSpec, "language" | "memoryMb" | "network">): string {
  return `${spec.language}|${spec.memoryMb}|${spec.network}`;
}

/** What every function's environment starts from; its own variables and the platform's come on top. */
function baseEnvironment(home: string): Record<string, string> {
  return { PATH: MINIMAL_PATH, HOME: home, LANG: "C.UTF-8" };
}

/** A toolchain installed outside /usr (which every sandbox sees) must be bound in: its root. */
async function toolchainRoot(tool: string): Promise<string[]> {
  const real = await realpath(tool).catch(() => tool);
  return real.startsWith("/usr/") ? [] : [dirname(dirname(real))];
}
