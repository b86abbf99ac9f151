// The container runtime (WORKER_RUNTIME_TYPE=container): every invocation runs in a fresh
// container of faas-runtime-<runtime>:<runtimes/VERSION>, removed afterwards.
//
// Isolation: memory limit without extra swap, CPU shares, a pids limit, no network unless
// the function asks for it, a read-only root filesystem (only the /tmp and code tmpfs are
// writable, both counted against the memory limit), all capabilities dropped,
// no-new-privileges, uid 10001, no host path of the platform mounted, logging driver "none"
// (output is read from the attach stream, nothing piles up on the host's disk).
//
// Code delivery: the engine refuses putArchive into a container whose root filesystem is
// read-only ("container rootfs is marked read-only"), and a tmpfs only exists once the
// container runs. So the invocation goes in through the container's standard input: the
// launcher (container-launch.ts) reads the environment and the code into the /fn/code
// tmpfs and exec's the interpreter (or the Go binary) with stdin from /dev/null. The
// function's environment holds only FUNCTION_PAYLOAD (and FUNCTION_HEADERS), PATH, HOME
// and its own variables. Because nothing invocation-specific is in the container's
// configuration, containers can be started ahead of time (container-pool.ts); each still
// runs exactly one invocation.
//
// Go: compiled once per code sha256 in a build container of the go image (no network,
// read-only rootfs, build in /tmp), the binary comes back on the build's stdout and is
// cached on the host under <workDir>/go-cache-container/<sha256>/main through BuildCache
// (go-build-cache.ts: single-flight per sha256, temp directory + atomic rename, compile
// errors remembered in memory).
//
// Leftovers: every container carries faas.managed=true and faas.worker=<worker id>.
// start() removes the containers of this worker id (a crashed predecessor with the same
// id) and managed containers of ANY worker older than orphanMaxAgeMs (default 2 h): no
// legitimate run lives that long (runs end at their timeout, builds at goBuildTimeoutMs),
// so such a container belongs to a worker that died. Younger containers of other worker
// ids are left alone: they may belong to a live worker on the same engine.

import { createHash } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type Dockerode from "dockerode";
import { PlatformError } from "../../errors.js";
import { formatDuration } from "../../lib/duration.js";
import type { Logger } from "../../lib/logger.js";
import { RUNTIME_LANGUAGES, runtimeImageName, runtimeImageVersion } from "./container-images.js";
import { ContainerJobRunner, type ContainerSpec, MIB } from "./container-job.js";
import {
  CODE_DIR,
  DELIVERY_FAILED_EXIT,
  DELIVERY_FAILED_MARK,
  launcherCommand,
  launchInput,
} from "./container-launch.js";
import { ensureFunctionNetwork, FUNCTION_NETWORK } from "./container-network.js";
import { WarmPool } from "./container-pool.js";
import {
  createDockerClient,
  engineError,
  engineStatus,
  errorMessage,
  LABELS,
  pingEngine,
  removeContainersByLabels,
} from "./docker-client.js";
import { FUNCTION_BRIDGE, installFirewall } from "./function-firewall.js";
import { BuildCache, CompileError, GO_BINARY_NAME, GO_MOD } from "./go-build-cache.js";
import { describeEnding, type RunEnding, shellStatusEnding } from "./run-ending.js";
import type { FunctionLanguage, FunctionRuntime, RunRequest, RunResult, RuntimeLimits } from "./runtime.js";
import { environmentProblem, failedBeforeStart } from "./runtime.js";
import { dockerSeccompProfile } from "./seccomp.js";

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
  /** Image tag; default runtimes/VERSION. */
  imageVersion?: string;
  /** Managed containers of any worker older than this are removed by start(); 0 disables. Default 2 h. */
  orphanMaxAgeMs?: number;
  /**
   * Warm containers kept started per (runtime, memory, network), so an invocation skips the
   * engine's start-up; 0 (the default here) starts a container per invocation.
   */
  warmPerKey?: number;
  /** Go build container limits. Defaults: 1024 MiB, 120 s, 512 pids (the compiler is multi-threaded). */
  goBuildMemoryMb?: number;
  goBuildTimeoutMs?: number;
  goBuildPidsLimit?: number;
  /** OCI runtime for function containers, e.g. "runsc" (WORKER_OCI_RUNTIME); "" or undefined: the engine's default. */
  ociRuntime?: string;
  /** CIDRs networked functions may reach although private (FUNCTION_NETWORK_ALLOW). */
  networkAllow?: readonly string[];
}

const PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const HOME = "/tmp";
const TMP_TMPFS = "rw,nosuid,nodev,size=64m";
/**
 * The code (and a Go binary): exec allowed, owned by the function user. Its pages count
 * against the container's memory limit, so the size is only a ceiling.
 */
const CODE_TMPFS = "rw,exec,nosuid,nodev,size=256m,uid=10001,gid=10001,mode=0700";
/** Go build cache of the standard library baked into the go image. */
const GO_CACHE_SEED = "/opt/faas/go-cache";
const MAX_GO_BINARY_BYTES = 512 * MIB;
/** Read as the exit status when the engine reports none: the container was killed (128 + SIGKILL). */
const SIGKILL_STATUS = 137;

type GoBuild = { ok: true; binary: Buffer } | { ok: false; result: RunResult };

export class ContainerRuntime implements FunctionRuntime {
  readonly kind = "container" as const;
  readonly docker: Dockerode;
  readonly imageVersion: string;
  private readonly opts: ContainerRuntimeOptions;
  private readonly logger: Logger;
  /** Runs (and on stop, kills) this instance's containers. */
  private readonly jobs: ContainerJobRunner;
  /** Started containers waiting for an invocation; null when warmPerKey is 0. */
  private pool: WarmPool | null = null;
  /** Why networked functions cannot run here, or null. */
  private networkUnavailable: string | null = "the container runtime has not started";

  /** Warm containers ready to take an invocation (Docker shows one "running" a little before). */
  get warmReady(): number {
    return this.pool?.readyCount() ?? 0;
  }
  /** Go binaries by sha256: single-flight per key, atomic rename, compile errors remembered. */
  private readonly goCache: BuildCache;
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
    const baseLabels = { ...(opts.extraLabels ?? {}), [LABELS.managed]: "true", [LABELS.worker]: opts.workerId };
    this.jobs = new ContainerJobRunner(this.docker, this.logger, baseLabels, {
      cpuShares: opts.cpuShares,
      networkName: FUNCTION_NETWORK,
      seccompProfile: dockerSeccompProfile(),
      ociRuntime: opts.ociRuntime || undefined,
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
    const perKey = this.opts.warmPerKey ?? 0;
    this.pool = perKey > 0 ? new WarmPool(this.jobs, perKey, Math.max(4, perKey * 8), this.logger) : null;
    await pingEngine(this.docker);
    const runtimeNetworkless = await this.checkOciRuntime();
    this.networkUnavailable = runtimeNetworkless ?? (await this.prepareNetwork());
    if (this.networkUnavailable) {
      this.logger.warn("networked functions refused on this worker", { reason: this.networkUnavailable });
    }
    const missing: string[] = [];
    for (const runtime of RUNTIME_LANGUAGES) {
      const image = this.imageFor(runtime);
      try {
        await this.docker.getImage(image).inspect();
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
  }

  /**
   * Throws unless the engine knows WORKER_OCI_RUNTIME. Returns why networked functions
   * cannot run under it (gVisor started with --network=none), or null.
   */
  private async checkOciRuntime(): Promise<string | null> {
    const name = this.opts.ociRuntime;
    if (!name) return null;
    const info = (await this.docker.info().catch((err: unknown) => {
      throw engineError("reading the engine's runtimes", err);
    })) as { Runtimes?: Record<string, { runtimeArgs?: string[] }> };
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
      let removed = await removeContainersByLabels(this.docker, {
        [LABELS.managed]: "true",
        [LABELS.worker]: this.opts.workerId,
      });
      const maxAge = this.opts.orphanMaxAgeMs ?? 2 * 60 * 60 * 1000;
      if (maxAge > 0) removed += await removeContainersByLabels(this.docker, { [LABELS.managed]: "true" }, maxAge);
      return removed;
    } catch (err) {
      throw engineError("removing leftover containers", err);
    }
  }

  /** Removes ALL managed containers carrying every label in `labels` (tests clean up with it). */
  static async removeManagedContainers(docker: Dockerode, labels: Record<string, string>): Promise<number> {
    return removeContainersByLabels(docker, { ...labels, [LABELS.managed]: "true" });
  }

  async stop(): Promise<void> {
    await this.pool?.close();
    await this.jobs.stop();
  }

  async run(request: RunRequest): Promise<RunResult> {
    this.assertRunnable(request.signal);
    let code = request.code;
    if (request.runtime === "go") {
      const build = await this.goBinary(request);
      if (!build.ok) return build.result;
      code = build.binary;
    }
    this.assertRunnable(request.signal);

    const badEnv = environmentProblem(request.environment);
    if (badEnv) return failedBeforeStart(badEnv);
    if (request.network && this.networkUnavailable) {
      return failedBeforeStart(`network: true is not available on this worker: ${this.networkUnavailable}`);
    }
    const input = launchInput(request, code);
    const spec = this.runSpec(request);
    const key = `${request.runtime}|${request.memoryMb}|${request.network}`;
    // A warm container if one is ready; a cold one otherwise (labelled with the invocation).
    const started =
      this.pool?.take(key) ??
      (await this.jobs.start({
        ...spec,
        labels: { ...spec.labels, [LABELS.invocation]: request.invocationId, [LABELS.function]: request.functionId },
      }));
    this.pool?.refill(key, spec);
    const job = await this.jobs.finish(started, { stdin: input, timeoutMs: request.timeoutMs, signal: request.signal });

    if (job.exitCode === DELIVERY_FAILED_EXIT && job.stderr.toString().startsWith(DELIVERY_FAILED_MARK)) {
      throw new PlatformError("code delivery into the container failed");
    }

    const base = {
      stdout: job.stdout.toString(),
      stdoutTruncated: job.stdout.truncated,
      stderr: job.stderr.toString(),
      stderrTruncated: job.stderr.truncated,
      durationMs: job.durationMs,
    };
    const ending: RunEnding = job.timedOut
      ? { kind: "timeout" }
      : job.oomKilled
        ? { kind: "oom" }
        : shellStatusEnding(job.exitCode ?? SIGKILL_STATUS);
    return { ...base, ...describeEnding(ending, request) };
  }

  /** Everything about a function container that does not depend on the invocation. */
  private runSpec(request: RunRequest): ContainerSpec {
    return {
      image: this.imageFor(request.runtime),
      cmd: launcherCommand(request.runtime),
      env: [`PATH=${PATH}`, `HOME=${HOME}`],
      labels: { [LABELS.purpose]: "run" },
      memoryBytes: request.memoryMb * MIB,
      pidsLimit: this.opts.pidsLimit,
      network: request.network,
      tmpfs: { "/tmp": TMP_TMPFS, [CODE_DIR]: CODE_TMPFS },
      stdoutLimit: this.opts.limits.maxOutputBytes,
      stderrLimit: this.opts.limits.maxLogBytes,
    };
  }

  private assertRunnable(signal: AbortSignal | undefined): void {
    if (this.jobs.stopped) throw new PlatformError("container runtime stopped");
    if (signal?.aborted) throw new PlatformError("invocation aborted: worker shutting down");
  }

  // ---- Go build cache -------------------------------------------------------------------

  private async goBinary(request: RunRequest): Promise<GoBuild> {
    const started = performance.now();
    // Key by the hash of the bytes we actually compile, whatever the caller passed.
    const sha = createHash("sha256").update(request.code).digest("hex");
    if (request.codeSha256 && request.codeSha256 !== sha) {
      this.logger.warn("codeSha256 does not match the code; using the computed hash", {
        invocationId: request.invocationId,
      });
    }
    try {
      const dir = await this.goCache.getOrBuild(sha, (outDir) => this.buildGo(request, outDir));
      return { ok: true, binary: await readFile(join(dir, GO_BINARY_NAME)) };
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

  /** The BuildCache step: compiles in a go container, writes the binary to outDir/main. */
  private async buildGo(request: RunRequest, outDir: string): Promise<void> {
    const script = [
      "set -e; mkdir -p /tmp/build; cd /tmp/build;",
      // The image's pre-compiled standard library (see runtimes/go/Dockerfile), if present.
      `if [ -d ${GO_CACHE_SEED} ]; then cp -r ${GO_CACHE_SEED} /tmp/go-cache; fi;`,
      'head -c "$1" > main.go;',
      `[ "$(wc -c < main.go)" -eq "$1" ] || { echo "${DELIVERY_FAILED_MARK}" >&2; exit ${DELIVERY_FAILED_EXIT}; };`,
      `printf '%s' '${GO_MOD}' > go.mod;`,
      // Compiler output goes to stderr; stdout carries nothing but the binary.
      `go build -trimpath -ldflags='-s -w' -o ${GO_BINARY_NAME} . >&2;`,
      `cat ${GO_BINARY_NAME}`,
    ].join(" ");
    const timeoutMs = this.opts.goBuildTimeoutMs ?? 120_000;
    const memoryMb = this.opts.goBuildMemoryMb ?? 1024;
    const job = await this.jobs.run({
      image: this.imageFor("go"),
      cmd: ["/bin/sh", "-c", script, "faas-go-build", String(request.code.length)],
      env: [
        `PATH=${PATH}`,
        `HOME=${HOME}`,
        "GOCACHE=/tmp/go-cache",
        "GOPATH=/tmp/go",
        "GOTMPDIR=/tmp",
        "CGO_ENABLED=0",
        "GOFLAGS=-mod=mod",
        "GOPROXY=off",
        "GOTOOLCHAIN=local",
      ],
      labels: {
        [LABELS.invocation]: request.invocationId,
        [LABELS.function]: request.functionId,
        [LABELS.purpose]: "go-build",
      },
      memoryBytes: memoryMb * MIB,
      pidsLimit: this.opts.goBuildPidsLimit ?? 512,
      network: false,
      // The build tree and Go's cache live in this tmpfs (counted against memoryMb).
      tmpfs: { "/tmp": "rw,exec,nosuid,nodev,size=768m" },
      stdin: request.code,
      stdoutLimit: MAX_GO_BINARY_BYTES,
      stderrLimit: this.opts.limits.maxLogBytes,
      timeoutMs,
      signal: request.signal,
    });
    const stderr = job.stderr.toString();
    if (job.exitCode === DELIVERY_FAILED_EXIT && stderr.startsWith(DELIVERY_FAILED_MARK)) {
      throw new PlatformError("code delivery into the Go build container failed");
    }
    // Like the process runtime: a build that cannot finish is a platform failure (retried),
    // code that does not compile is the function's failure (remembered per sha256).
    if (job.timedOut) throw new PlatformError(`go build timed out after ${formatDuration(timeoutMs)}`);
    if (job.oomKilled) throw new PlatformError(`go build ran out of memory (${memoryMb} MiB)`);
    if (job.exitCode !== 0) throw new CompileError(stderr, job.stderr.truncated);
    if (job.stdout.truncated) throw new CompileError(`compiled binary exceeds ${MAX_GO_BINARY_BYTES / MIB} MiB`, false);
    const binary = job.stdout.toBuffer();
    if (binary.length === 0) throw new PlatformError("go build produced no binary");
    await writeFile(join(outDir, GO_BINARY_NAME), binary, { mode: 0o755 });
    this.logger.info("go binary built", { invocationId: request.invocationId, bytes: binary.length });
  }
}
