// The container runtime (WORKER_RUNTIME_TYPE=container): invocations run in execution
// environments (execution-environment.ts, environment-pool.ts): containers of
// faas-runtime-<language>:<runtimes/VERSION> whose command is the agent
// (runtimes/agent/main.go). An environment serves one function version, one invocation at a
// time, each as a fresh process; it is kept WORKER_KEEP_WARM after its last use.
//
// Isolation of every container: memory limit without extra swap, CPU shares, a pids limit,
// no network unless the function asks for it, a read-only root filesystem (only the /tmp and
// code tmpfs are writable, both counted against the memory limit), all capabilities dropped,
// no-new-privileges, seccomp, a uid of its own (container-job.ts), no host path of the
// platform mounted, logging driver "none". Between two invocations of one environment the
// agent kills every process the first left, empties /tmp and /dev/shm, rewrites the code
// if the invocation touched it, and removes SysV IPC objects.
//
// Transport: length-prefixed frames (agent-frames.ts) over the container's attach stream, so
// no host directory is shared and a remote engine (DOCKER_HOST=tcp://…) works the same; with
// a local engine they move to a Unix socket in the container after the agent's hello
// (container-agent.ts).
//
// Go: compiled once per code sha256 in a build container of the go image (no network,
// read-only rootfs, build in /tmp; go-container-build.ts), one container per build, started
// ahead and waiting for the code when warm containers are on (standby-container.ts). The
// binary comes back on the build's stdout and is
// cached on the host under <workDir>/go-cache-container/<sha256>/main through BuildCache
// (go-build-cache.ts: single-flight per sha256, temp directory + atomic rename, compile
// errors remembered in memory). An environment of a Go function receives the binary.
//
// Leftovers: every container carries faas.managed=true, faas.worker=<worker id> and, when
// the runtime knows it, faas.instance=<REDIS_KEY_PREFIX>. start() and a periodic sweep
// remove the containers of this worker id (a crashed predecessor with the same id), those
// of the same instance whose worker's heartbeat is gone (liveWorkers), and managed
// containers of ANY worker older than orphanMaxAgeMs (default 2 h).

import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type Dockerode from "dockerode";
import { PlatformError } from "../../errors.js";
import { AFTER_COLD_START_MS } from "../../lib/delayed-tasks.js";
import type { Logger } from "../../lib/logger.js";
import { containerAgentLauncher } from "./container-agent.js";
import { RUNTIME_LANGUAGES, runtimeImageName, runtimeImageVersion } from "./container-images.js";
import {
  type ContainerJobResult,
  ContainerJobRunner,
  type ContainerSpec,
  FUNCTION_UIDS,
  MIB,
  REMAPPED_FUNCTION_UIDS,
  remapsUsers,
  SHARED_UID,
} from "./container-job.js";
import { ensureFunctionNetwork, FUNCTION_NETWORK } from "./container-network.js";
import {
  createDockerClient,
  engineError,
  engineStatus,
  errorMessage,
  isLocalEngine,
  LABELS,
  labelFilter,
  pingEngine,
  removeContainer,
  removeContainersByLabels,
} from "./docker-client.js";
import { EnvironmentPool, functionVersion } from "./environment-pool.js";
import { runInEnvironment } from "./execution-environment.js";
import { FUNCTION_BRIDGE, installFirewall } from "./function-firewall.js";
import { BuildCache, CompileError, GO_BINARY_NAME } from "./go-build-cache.js";
import { type GoBuildLimits, goBuildInput, goBuildOutput, goBuildSpec } from "./go-container-build.js";
import type { FunctionLanguage, FunctionRuntime, RunRequest, RunResult, RuntimeLimits } from "./runtime.js";
import { environmentProblem, failedBeforeStart, platformVariables } from "./runtime.js";
import { dockerSeccompProfile } from "./seccomp.js";
import { StandbyContainer } from "./standby-container.js";
import { type TakenUids, takeUids } from "./uid-blocks.js";
import { assertUidsUnclaimed, type UidFiles } from "./uid-claims.js";

/** The container of an execution environment: the agent of `shape.runtime`'s image, nothing of a function. */
export function environmentContainerSpec(
  image: string,
  shape: Pick<RunRequest, "runtime" | "memoryMb" | "network">,
  pidsLimit: number,
): ContainerSpec {
  return {
    image,
    cmd: [AGENT, shape.runtime],
    env: [`PATH=${PATH}`, `HOME=${HOME}`],
    labels: { [LABELS.purpose]: "environment" },
    memoryBytes: shape.memoryMb * MIB,
    pidsLimit,
    network: shape.network,
    tmpfs: { "/tmp": TMP_TMPFS },
    ownUser: { ownedTmpfs: { [CODE_DIR]: CODE_TMPFS } },
    stdoutLimit: 0,
    stderrLimit: 0,
  };
}

export interface ContainerRuntimeOptions {
  /** Engine client; default: the local engine (DOCKER_HOST or /var/run/docker.sock). */
  docker?: Dockerode;
  workerId: string;
  /** Image name prefix (RUNTIME_IMAGE_PREFIX), e.g. "faas-runtime". */
  imagePrefix: string;
  /** Worker-owned directory; the Go binary cache lives in <workDir>/go-cache-container. */
  workDir: string;
  limits: RuntimeLimits;
  cpuShares: number;
  pidsLimit: number;
  logger: Logger;
  /** Extra labels on every container this instance creates (tests tag their runs). */
  extraLabels?: Record<string, string>;
  /** Where this host gives out uids (checked against the containers' uids at start); default /etc/passwd and /etc/subuid. */
  uidFiles?: UidFiles;
  /** Where the host's workers claim their blocks of uids (uid-blocks.ts); default /run/faas-uid-blocks. */
  uidBlocksDir?: string;
  /** Image tag; default runtimes/VERSION. */
  imageVersion?: string;
  /** Managed containers of any worker older than this are removed by start(); 0 disables. Default 2 h. */
  orphanMaxAgeMs?: number;
  /**
   * Generic environments (agent started, no code yet) kept per (language, memory, network),
   * so a cold start skips the container's and the interpreter's start-up; 0 (the default
   * here) starts one when a version needs it. WORKER_WARM_CONTAINERS.
   */
  warmPerKey?: number;
  /** An idle environment is removed this long after its last invocation (WORKER_KEEP_WARM). Default 10 min. */
  keepWarmMs?: number;
  /** Most environments bound to a function version at once (WORKER_MAX_ENVIRONMENTS). Default 12. */
  maxEnvironments?: number;
  /** Memory of the generic environments started at start(), one per language (FUNCTION_DEFAULT_MEMORY_MB). */
  prestartMemoryMb?: number;
  /** The platform instance (REDIS_KEY_PREFIX): containers of its workers whose heartbeat is gone are orphans. */
  instance?: string;
  /** Ids of the instance's workers with a live heartbeat (the orphan sweep keeps their containers). */
  liveWorkers?: () => Promise<Set<string>>;
  /** Go build container limits. Defaults: 1024 MiB, 120 s, 512 pids (the compiler is multi-threaded). */
  goBuildMemoryMb?: number;
  goBuildTimeoutMs?: number;
  goBuildPidsLimit?: number;
  /**
   * Keep one Go build container started and waiting for code, so a first invocation of a Go
   * version skips the container's start. Default: on when warmPerKey > 0.
   */
  goBuildStandby?: boolean;
  /** OCI runtime for function containers, e.g. "runsc" (WORKER_OCI_RUNTIME); "" or undefined: the engine's default. */
  ociRuntime?: string;
  /** CIDRs networked functions may reach although private (FUNCTION_NETWORK_ALLOW). */
  networkAllow?: readonly string[];
  /**
   * Environments' frames over a Unix socket in the container (container-agent.ts) rather than
   * the attach stream. Default: when the engine is on this host (a Unix socket) and runs
   * containers in the host's kernel (no OCI runtime such as gVisor set).
   */
  agentSocket?: boolean;
}

/** Where an environment keeps the function's code (a tmpfs; the agent writes it there). */
const CODE_DIR = "/fn/code";
const PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const HOME = "/tmp";
const TMP_TMPFS = "rw,nosuid,nodev,size=64m";
/**
 * The code (and a Go binary): exec allowed, owned by the container's function user (its uid
 * and gid are added as the container is made). Its pages count against the container's
 * memory limit, so the size is only a ceiling.
 */
const CODE_TMPFS = "rw,exec,nosuid,nodev,size=256m,mode=0700";
const DEFAULT_ORPHAN_MAX_AGE_MS = 2 * 60 * 60 * 1000;
/** A standby Go build container is replaced after this long, well within the orphan sweep's age limit. */
const GO_BUILD_STANDBY_MAX_AGE_MS = 30 * 60_000;
/** How often leftovers of dead workers are looked for while running. */
const ORPHAN_SWEEP_MS = 60_000;
/** How often the runtime images are looked at for a rebuild under the same tag. */
const IMAGE_CHECK_MS = 30_000;

type GoBuild = { ok: true; binary: Buffer } | { ok: false; result: RunResult };
/** What start() reads of `docker info`. */
type EngineInfo = { Runtimes?: Record<string, { runtimeArgs?: string[] }>; SecurityOptions?: unknown };

/** The agent's path in every runtime image (runtimes/agent). */
const AGENT = "/opt/faas/agent";

export class ContainerRuntime implements FunctionRuntime {
  readonly kind = "container" as const;
  readonly docker: Dockerode;
  readonly imageVersion: string;
  private readonly opts: ContainerRuntimeOptions;
  private readonly logger: Logger;
  /** Runs (and on stop, kills) this instance's containers. */
  private readonly jobs: ContainerJobRunner;
  /** The execution environments (null before start()). */
  private pool: EnvironmentPool<ContainerSpec> | null = null;
  private orphanSweep: NodeJS.Timeout | null = null;
  private imageCheck: NodeJS.Timeout | null = null;
  /** The function uids this runtime hands out (a local engine: a block of them, if it could claim one), or null. */
  private uidBlock: TakenUids | null = null;
  /** The image id behind each language's tag: part of every environment's key. */
  private readonly imageIds = new Map<FunctionLanguage, string>();
  /** Why networked functions cannot run here, or null. */
  private networkUnavailable: string | null = "the container runtime has not started";

  /** Generic environments ready to take a function version (Docker shows one "running" a little before). */
  get warmReady(): number {
    return this.pool?.genericReady ?? 0;
  }

  /** Environments bound to a function version, busy or idle. */
  get environmentCount(): number {
    return this.pool?.size ?? 0;
  }

  /** Bound environments by the path of their frames ("socket", "attach stream"). */
  get environmentFramesOver(): Record<string, number> {
    return this.pool?.framesOver ?? {};
  }

  /** Invocations that found their version's environment waiting (warm) or needed a new one (cold). */
  get environmentStarts(): { warm: number; cold: number } {
    return { ...(this.pool?.starts ?? { warm: 0, cold: 0 }) };
  }
  /** Go binaries by sha256: single-flight per key, atomic rename, compile errors remembered. */
  private readonly goCache: BuildCache;
  private readonly goBuildLimits: GoBuildLimits;
  /** The Go build container started ahead (each build takes its own). */
  private readonly goBuildStandby: StandbyContainer;
  /** Go builds that found a build container waiting. */
  get goBuildStandbyTaken(): number {
    return this.goBuildStandby.taken;
  }
  /** Go builds run by this runtime (cache hits do not count): faas_worker_go_builds_total. */
  get goBuildCount(): number {
    return this.goCache.buildCount;
  }
  constructor(opts: ContainerRuntimeOptions) {
    this.opts = opts;
    this.docker = opts.docker ?? createDockerClient();
    this.imageVersion = opts.imageVersion ?? runtimeImageVersion();
    this.logger = opts.logger.child({ component: "container-runtime" });
    this.goCache = new BuildCache({ dir: this.goCacheDir, logger: this.logger.child({ component: "go-build-cache" }) });
    const baseLabels = {
      ...(opts.extraLabels ?? {}),
      ...(opts.instance ? { [LABELS.instance]: opts.instance } : {}),
      [LABELS.managed]: "true",
      [LABELS.worker]: opts.workerId,
    };
    this.jobs = new ContainerJobRunner(this.docker, this.logger, baseLabels, {
      cpuShares: opts.cpuShares,
      networkName: FUNCTION_NETWORK,
      seccompProfile: dockerSeccompProfile(),
      ociRuntime: opts.ociRuntime || undefined,
    });
    this.goBuildLimits = {
      memoryMb: opts.goBuildMemoryMb ?? 1024,
      pidsLimit: opts.goBuildPidsLimit ?? 512,
      maxLogBytes: opts.limits.maxLogBytes,
    };
    const orphanMaxAge = opts.orphanMaxAgeMs ?? DEFAULT_ORPHAN_MAX_AGE_MS;
    this.goBuildStandby = new StandbyContainer({
      jobs: this.jobs,
      logger: this.logger,
      spec: () => goBuildSpec(this.imageFor("go"), PATH, this.goBuildLimits),
      enabled: opts.goBuildStandby ?? (opts.warmPerKey ?? 0) > 0,
      refillDelayMs: AFTER_COLD_START_MS,
      maxAgeMs:
        orphanMaxAge > 0 ? Math.min(GO_BUILD_STANDBY_MAX_AGE_MS, orphanMaxAge / 2) : GO_BUILD_STANDBY_MAX_AGE_MS,
    });
  }

  /** faas-runtime-<runtime>:<version> for this instance's prefix and version. */
  imageFor(runtime: FunctionLanguage): string {
    return runtimeImageName(this.opts.imagePrefix, runtime, this.imageVersion);
  }

  get goCacheDir(): string {
    return join(this.opts.workDir, "go-cache-container");
  }

  async start(): Promise<void> {
    this.jobs.resume();
    await pingEngine(this.docker);
    const info = (await this.docker.info().catch((err: unknown) => {
      throw engineError("reading the engine's information", err);
    })) as EngineInfo;
    const remapped = remapsUsers(info);
    const uids = remapped ? REMAPPED_FUNCTION_UIDS : FUNCTION_UIDS;
    // A remote engine's host is not ours to read, nor are its other workers ours to meet.
    if (isLocalEngine(this.docker)) {
      if (!remapped) {
        // Without a remap, the containers' uids are this host's own.
        await assertUidsUnclaimed(
          [
            { range: FUNCTION_UIDS, what: "the container runtime's function uids" },
            { range: { base: SHARED_UID, count: 1 }, what: "the uid of Go build containers" },
          ],
          this.opts.uidFiles,
        );
      }
      await this.uidBlock?.release();
      this.uidBlock = await takeUids(uids, this.opts.uidBlocksDir, this.logger);
    }
    this.jobs.useFunctionUids(this.uidBlock?.range ?? uids);
    const runtimeNetworkless = this.checkOciRuntime(info);
    this.networkUnavailable = runtimeNetworkless ?? (await this.prepareNetwork());
    if (this.networkUnavailable) {
      this.logger.warn("networked functions refused on this worker", { reason: this.networkUnavailable });
    }
    const missing: string[] = [];
    for (const runtime of RUNTIME_LANGUAGES) {
      const image = this.imageFor(runtime);
      try {
        this.imageIds.set(runtime, (await this.docker.getImage(image).inspect()).Id);
      } catch (err) {
        if (engineStatus(err) === 404) missing.push(image);
        else throw engineError(`inspecting image ${image}`, err);
      }
    }
    if (missing.length > 0) {
      throw new PlatformError(
        `container runtime images missing: ${missing.join(", ")}: build them with make build-runtime-images (scripts/build-runtime-images.sh)`,
        { missing },
      );
    }
    const removed = await this.removeOrphans();
    if (removed > 0) this.logger.info("removed leftover containers", { count: removed });
    await mkdir(this.goCacheDir, { recursive: true });
    await this.goCache.removeStaleTemps();
    const perKey = this.opts.warmPerKey ?? 0;
    this.pool = new EnvironmentPool({
      launch: containerAgentLauncher(
        this.jobs,
        this.logger,
        this.opts.agentSocket ?? (isLocalEngine(this.docker) && !this.opts.ociRuntime),
      ),
      logger: this.logger,
      keepWarmMs: this.opts.keepWarmMs ?? 10 * 60_000,
      maxEnvironments: this.opts.maxEnvironments ?? 12,
      genericPerKey: perKey,
      maxGeneric: Math.max(4, perKey * 8),
    });
    if (perKey > 0) {
      for (const language of RUNTIME_LANGUAGES) {
        const shape = { runtime: language, memoryMb: this.opts.prestartMemoryMb ?? 128, network: false };
        this.pool.refillGeneric(this.genericKey(shape), this.environmentSpec(shape));
      }
    }
    this.goBuildStandby.open();
    this.orphanSweep = setInterval(() => {
      this.removeOrphans().catch((err: unknown) => this.logger.warn("orphan sweep failed", { err }));
    }, ORPHAN_SWEEP_MS);
    this.orphanSweep.unref();
    this.imageCheck = setInterval(() => {
      this.refreshImages().catch((err: unknown) => this.logger.warn("image check failed", { err }));
    }, IMAGE_CHECK_MS);
    this.imageCheck.unref();
  }

  /**
   * Looks whether a runtime image was rebuilt under its tag: the environments of the old
   * image are retired at once (idle ones removed, busy ones after their invocation) and new
   * ones start from the new image. Every IMAGE_CHECK_MS; tests call it directly.
   */
  async refreshImages(): Promise<void> {
    for (const runtime of RUNTIME_LANGUAGES) {
      const before = this.imageIds.get(runtime);
      const now = await this.docker
        .getImage(this.imageFor(runtime))
        .inspect()
        .then((info) => info.Id as string)
        .catch(() => before);
      if (!now || now === before) continue;
      this.imageIds.set(runtime, now);
      this.logger.info("runtime image rebuilt: its environments are retired", { image: this.imageFor(runtime) });
      if (before) this.pool?.retireGeneric((key) => key.endsWith(`|${before}`));
      if (runtime === "go") this.goBuildStandby.retire();
    }
  }

  /**
   * Throws unless the engine knows WORKER_OCI_RUNTIME. Returns why networked functions
   * cannot run under it (gVisor started with --network=none), or null.
   */
  private checkOciRuntime(info: EngineInfo): string | null {
    const name = this.opts.ociRuntime;
    if (!name) return null;
    const known = info.Runtimes ?? {};
    if (!(name in known)) {
      throw new PlatformError(
        `WORKER_OCI_RUNTIME=${name}: the Docker engine has no such runtime (it knows ${Object.keys(known).join(", ")}); add it to "runtimes" in /etc/docker/daemon.json (make runsc does it for gVisor) and reload dockerd`,
      );
    }
    const args = known[name]?.runtimeArgs ?? [];
    return args.includes("--network=none") ? `the ${name} runtime runs with --network=none` : null;
  }

  /** The functions' network and its firewall; returns why networked functions cannot run, or null. */
  private async prepareNetwork(): Promise<string | null> {
    try {
      await ensureFunctionNetwork(this.docker);
      await installFirewall(this.opts.networkAllow ?? [], { bridge: FUNCTION_BRIDGE });
      return null;
    } catch (err) {
      return `cannot set up the firewalled function network: ${errorMessage(err).split("\n")[0]}`;
    }
  }

  /**
   * Removes every managed container labelled with this worker id (leftovers of a crashed
   * worker with the same id) and managed containers of any worker older than
   * orphanMaxAgeMs. Returns how many were removed.
   */
  async removeOrphans(): Promise<number> {
    try {
      let removed = 0;
      // At start only: later, this worker id's containers are its own live environments.
      if (!this.pool) {
        removed += await removeContainersByLabels(this.docker, {
          [LABELS.managed]: "true",
          [LABELS.worker]: this.opts.workerId,
        });
      }
      removed += await this.removeContainersOfDeadWorkers();
      const maxAge = this.opts.orphanMaxAgeMs ?? DEFAULT_ORPHAN_MAX_AGE_MS;
      if (maxAge > 0) removed += await removeContainersByLabels(this.docker, { [LABELS.managed]: "true" }, maxAge);
      return removed;
    } catch (err) {
      throw engineError("removing leftover containers", err);
    }
  }

  /** Containers of this instance whose worker has no live heartbeat (SIGKILLed, its host gone): no age threshold. */
  private async removeContainersOfDeadWorkers(): Promise<number> {
    const { instance, liveWorkers } = this.opts;
    if (!instance || !liveWorkers) return 0;
    const list = await this.docker.listContainers({
      all: true,
      filters: { label: labelFilter({ [LABELS.managed]: "true", [LABELS.instance]: instance }) },
    });
    if (list.length === 0) return 0;
    const live = await liveWorkers();
    live.add(this.opts.workerId);
    const victims = list.filter((c) => !live.has(c.Labels?.[LABELS.worker] ?? ""));
    await Promise.all(victims.map((c) => removeContainer(this.docker, c.Id)));
    return victims.length;
  }

  /** Removes ALL managed containers carrying every label in `labels` (tests clean up with it). */
  static async removeManagedContainers(docker: Dockerode, labels: Record<string, string>): Promise<number> {
    return removeContainersByLabels(docker, { ...labels, [LABELS.managed]: "true" });
  }

  async stop(): Promise<void> {
    if (this.orphanSweep) clearInterval(this.orphanSweep);
    if (this.imageCheck) clearInterval(this.imageCheck);
    this.orphanSweep = null;
    this.imageCheck = null;
    await this.pool?.close();
    await this.goBuildStandby.close();
    await this.jobs.stop();
    // No container of this runtime is left: its uids may go to another worker.
    await this.uidBlock?.release();
    this.uidBlock = null;
  }

  /** Removes a function's environments (deleted or changed): idle ones now, busy ones after their invocation. */
  retireFunction(functionId: string): void {
    this.pool?.retireFunction(functionId);
  }

  async run(request: RunRequest): Promise<RunResult> {
    this.assertRunnable(request.signal);
    const pool = this.pool;
    if (!pool) throw new PlatformError("container runtime not started");
    const badEnv = environmentProblem(request.environment);
    if (badEnv) return failedBeforeStart(badEnv);
    if (request.network && this.networkUnavailable) {
      return failedBeforeStart(`network: true is not available on this worker: ${this.networkUnavailable}`);
    }
    const { sha, key: versionKey } = functionVersion(request.functionId, request.code, this.genericKey(request));
    // Warm: an idle environment of this version. Cold: the code first (a Go build can fail:
    // that is a result), then a new environment.
    let env = pool.takeIdle(versionKey);
    if (!env) {
      const built = await this.installableCode(request, sha);
      if (!built.ok) return built.result;
      this.assertRunnable(request.signal);
      env = await pool.acquireNew({
        versionKey,
        functionId: request.functionId,
        genericKey: this.genericKey(request),
        spec: this.environmentSpec(request),
        code: built.code,
      });
    }
    return runInEnvironment(env, request, {
      env: { PATH, HOME, ...request.environment, ...platformVariables(request) },
      stdoutLimit: this.opts.limits.maxOutputBytes,
      stderrLimit: this.opts.limits.maxLogBytes,
      pidsLimit: this.opts.pidsLimit,
      logger: this.logger,
      signal: request.signal,
      release: (e, reusable) => pool.release(e, reusable),
    });
  }

  /** (language, memory, network, image): the generic environments that fit a request. */
  private genericKey(shape: Pick<RunRequest, "runtime" | "memoryMb" | "network">): string {
    return [shape.runtime, shape.memoryMb, shape.network, this.imageIds.get(shape.runtime) ?? ""].join("|");
  }

  /** The code an environment installs: the source, or the Go binary (built once per sha256). */
  private async installableCode(
    request: RunRequest,
    sha: string,
  ): Promise<{ ok: true; code: Buffer } | { ok: false; result: RunResult }> {
    if (request.runtime !== "go") return { ok: true, code: request.code };
    const build = await this.goBinary(request, sha);
    return build.ok ? { ok: true, code: build.binary } : build;
  }

  /** Everything about an environment's container; nothing of a function or an invocation is in it. */
  private environmentSpec(shape: Pick<RunRequest, "runtime" | "memoryMb" | "network">): ContainerSpec {
    return environmentContainerSpec(this.imageFor(shape.runtime), shape, this.opts.pidsLimit);
  }

  private assertRunnable(signal: AbortSignal | undefined): void {
    if (this.jobs.stopped) throw new PlatformError("container runtime stopped");
    if (signal?.aborted) throw new PlatformError("invocation aborted: worker shutting down");
  }

  // ---- Go build cache -------------------------------------------------------------------

  private async goBinary(request: RunRequest, sha: string): Promise<GoBuild> {
    const started = performance.now();
    if (request.codeSha256 && request.codeSha256 !== sha) {
      this.logger.warn("codeSha256 does not match the code; using the computed hash", {
        invocationId: request.invocationId,
      });
    }
    try {
      // A build run for this request hands its binary over as soon as it is out of the build
      // container: the cache's copy (written, then renamed into place) is finished meanwhile,
      // off the invocation's path (2-5 ms here). Anyone else reads that copy.
      let handOver: (binary: Buffer) => void = () => {};
      const built = new Promise<Buffer>((resolve) => {
        handOver = resolve;
      });
      const cached = this.goCache.getOrBuild(sha, (outDir) => this.buildGo(request, outDir, handOver));
      const first = await Promise.race([built, cached]);
      if (typeof first !== "string") {
        cached.catch((err: unknown) =>
          this.logger.warn("could not keep a Go binary in the build cache", {
            invocationId: request.invocationId,
            err,
          }),
        );
        return { ok: true, binary: first };
      }
      return { ok: true, binary: await readFile(join(first, GO_BINARY_NAME)) };
    } catch (err) {
      if (err instanceof CompileError) {
        return {
          ok: false,
          result: {
            outcome: "failed",
            exitCode: null,
            stdout: "",
            stdoutTruncated: false,
            stderr: err.output,
            stderrTruncated: err.outputTruncated,
            durationMs: Math.round(performance.now() - started),
            error: "compilation failed",
          },
        };
      }
      if (err instanceof PlatformError) throw err;
      throw new PlatformError(`Go build failed: ${errorMessage(err)}`);
    }
  }

  /**
   * The BuildCache step: compiles in a go build container (the standby, else a fresh one),
   * hands the binary over, then writes it to outDir/main.
   */
  private async buildGo(request: RunRequest, outDir: string, handOver: (binary: Buffer) => void): Promise<void> {
    const timeoutMs = this.opts.goBuildTimeoutMs ?? 120_000;
    const memoryMb = this.goBuildLimits.memoryMb;
    let job: ContainerJobResult;
    const { stdin, output } = goBuildInput(request.code);
    try {
      const container = await this.goBuildStandby.take({
        [LABELS.invocation]: request.invocationId,
        [LABELS.function]: request.functionId,
      });
      this.logger.debug("go build container", { invocationId: request.invocationId, containerId: container.id });
      job = await this.jobs.finish(container, {
        stdin,
        timeoutMs,
        signal: request.signal,
        outputEnd: output,
      });
    } finally {
      // Not during the build nor while its binary is installed and run: starting a container
      // competes with them for CPU (about 10 ms of a cold start on 2 cores).
      this.goBuildStandby.fillLater();
    }
    const binary = goBuildOutput(job, output, { memoryMb, timeoutMs });
    handOver(binary);
    await writeFile(join(outDir, GO_BINARY_NAME), binary, { mode: 0o755 });
    this.logger.info("go binary built", { invocationId: request.invocationId, bytes: binary.length });
  }
}
