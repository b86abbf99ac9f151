// Go is compiled once per code version (sha256), not per invocation.
//
// BuildCache holds the caching and locking, independent of how an artifact is built, so the
// container runtime can reuse it with a build step that runs inside a container:
//  - in-process: concurrent requests for one key share a single build (promise map);
//  - across processes: each build writes into its own temp directory that is renamed to
//    `<dir>/<key>` when complete. rename() is atomic, so the final directory either does
//    not exist or is complete; a loser of the race throws its copy away.
// A compile error is remembered in memory for that key only: another process, or this one
// after a restart, tries again.
import { spawn } from "node:child_process";
import { chmod, mkdir, mkdtemp, readdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { formatDuration } from "../../lib/duration.js";
import type { Logger } from "../../lib/logger.js";
import { CappedBuffer } from "./output-capture.js";

/** The user's code does not compile: a function failure, reported with the compiler output. */
export class CompileError extends Error {
  constructor(
    readonly output: string,
    readonly outputTruncated: boolean,
  ) {
    super("compilation failed");
    this.name = "CompileError";
  }
}

/** Builds the artifact into `outDir` (an empty, private directory). Throws CompileError for bad code. */
export type BuildStep = (outDir: string) => Promise<void>;

const KEY = /^[A-Za-z0-9_-]{1,128}$/;
const TEMP_PREFIX = ".tmp-";
const MAX_REMEMBERED_FAILURES = 256;

export class BuildCache {
  private readonly inFlight = new Map<string, Promise<string>>();
  private readonly failures = new Map<string, CompileError>();
  private builds = 0;

  constructor(private readonly options: { dir: string; logger: Logger }) {}

  /** How many builds this instance ran (cache hits and shared builds do not count). */
  get buildCount(): number {
    return this.builds;
  }

  /** The directory holding the artifact of `key`, built by `build` unless already there. */
  getOrBuild(key: string, build: BuildStep): Promise<string> {
    if (!KEY.test(key)) return Promise.reject(new Error(`invalid build cache key: ${JSON.stringify(key)}`));
    const failed = this.failures.get(key);
    if (failed) return Promise.reject(failed);
    let pending = this.inFlight.get(key);
    if (!pending) {
      pending = this.lookupOrBuild(key, build).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, pending);
    }
    return pending;
  }

  /** Removes temp directories of builds that died with their process. */
  async removeStaleTemps(olderThanMs = 3_600_000): Promise<void> {
    const entries = await readdir(this.options.dir).catch(() => [] as string[]);
    for (const name of entries.filter((n) => n.startsWith(TEMP_PREFIX))) {
      const path = join(this.options.dir, name);
      const s = await stat(path).catch(() => null);
      if (s && Date.now() - s.mtimeMs > olderThanMs) await rm(path, { recursive: true, force: true });
    }
  }

  private async lookupOrBuild(key: string, build: BuildStep): Promise<string> {
    const final = join(this.options.dir, key);
    if (
      await stat(final).then(
        () => true,
        () => false,
      )
    )
      return final;
    // mkdtemp makes 0700 directories; the artifact is run by an unprivileged function user.
    await mkdir(this.options.dir, { recursive: true });
    const temp = await mkdtemp(join(this.options.dir, `${TEMP_PREFIX}${key}-`));
    try {
      this.builds++;
      const started = Date.now();
      await build(temp);
      await chmod(temp, 0o755);
      this.options.logger.info("build finished", { key, durationMs: Date.now() - started });
      await rename(temp, final).catch((err: NodeJS.ErrnoException) => {
        // Another process finished the same build first; its copy is as good as ours.
        if (err.code !== "ENOTEMPTY" && err.code !== "EEXIST") throw err;
      });
      return final;
    } catch (err) {
      if (err instanceof CompileError) this.rememberFailure(key, err);
      throw err;
    } finally {
      await rm(temp, { recursive: true, force: true });
    }
  }

  private rememberFailure(key: string, err: CompileError): void {
    this.failures.set(key, err);
    // Bounded: forget the oldest (Map keeps insertion order).
    if (this.failures.size > MAX_REMEMBERED_FAILURES) {
      const oldest = this.failures.keys().next().value;
      if (oldest !== undefined) this.failures.delete(oldest);
    }
  }
}

export const GO_MOD = "module fn\n\ngo 1.19\n";
export const GO_BINARY_NAME = "main";
export const MINIMAL_PATH = "/usr/local/bin:/usr/bin:/bin";

export interface GoBuildOptions {
  /** Absolute path of the go tool. */
  goBinary: string;
  /** Holds GOCACHE and GOPATH (shared by all builds, concurrency-safe by Go's design). */
  toolCacheDir: string;
  /** Cap on the compiler output kept for the user. */
  maxOutputBytes: number;
  /** A build that takes longer is killed and reported as a platform failure (retried). */
  timeoutMs: number;
}

/** The build step for the process runtime: `go build` of one main.go with a minimal go.mod. */
export function goBuildStep(code: Buffer, options: GoBuildOptions): BuildStep {
  return async (outDir) => {
    await writeFile(join(outDir, "main.go"), code);
    await writeFile(join(outDir, "go.mod"), GO_MOD);
    const env = {
      PATH: MINIMAL_PATH,
      HOME: outDir,
      GOCACHE: join(options.toolCacheDir, ".gocache"),
      GOPATH: join(options.toolCacheDir, ".gopath"),
      GOFLAGS: "-mod=mod",
      CGO_ENABLED: "0",
      GOTOOLCHAIN: "local",
    };
    // No -trimpath: it marks the toolchain's precompiled standard library stale, turning a
    // 0.5 s first build into 5-20 s of recompiling std into an empty GOCACHE.
    const args = ["build", "-ldflags=-s -w", "-o", GO_BINARY_NAME, "."];
    const { code: exit, signal, output, timedOut } = await runBuild(options.goBinary, args, outDir, env, options);
    if (timedOut) throw new Error(`go build timed out after ${formatDuration(options.timeoutMs)}`);
    if (signal) throw new Error(`go build killed by ${signal}`);
    if (exit !== 0) throw new CompileError(output.toString(), output.truncated);
  };
}

function runBuild(
  command: string,
  args: string[],
  cwd: string,
  env: Record<string, string>,
  options: GoBuildOptions,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; output: CappedBuffer; timedOut: boolean }> {
  return new Promise((resolve, reject) => {
    const output = new CappedBuffer(options.maxOutputBytes);
    // Own process group, so a timeout also kills the compiler and linker children.
    const child = spawn(command, args, { cwd, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-(child.pid as number), "SIGKILL");
      } catch {
        // already gone
      }
    }, options.timeoutMs);
    child.stdout.on("data", (c: Buffer) => output.push(c));
    child.stderr.on("data", (c: Buffer) => output.push(c));
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output, timedOut });
    });
  });
}

/** Go binaries by code sha256 under `<workDir>/go-cache/<sha256>/main`. */
export class GoBuildCache {
  readonly cache: BuildCache;
  private readonly dir: string;

  constructor(
    private readonly options: {
      workDir: string;
      goBinary: string;
      logger: Logger;
      maxOutputBytes: number;
      buildTimeoutMs?: number;
    },
  ) {
    this.dir = join(options.workDir, "go-cache");
    this.cache = new BuildCache({ dir: this.dir, logger: options.logger.child({ component: "go-build-cache" }) });
  }

  get buildCount(): number {
    return this.cache.buildCount;
  }

  /** Path of the compiled binary; throws CompileError when the code does not compile. */
  async binary(codeSha256: string, code: Buffer): Promise<string> {
    const step = goBuildStep(code, {
      goBinary: this.options.goBinary,
      toolCacheDir: this.dir,
      maxOutputBytes: this.options.maxOutputBytes,
      timeoutMs: this.options.buildTimeoutMs ?? 300_000,
    });
    return join(await this.cache.getOrBuild(codeSha256, step), GO_BINARY_NAME);
  }
}
