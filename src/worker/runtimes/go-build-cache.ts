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
import { constants } from "node:fs";
import {
  chmod,
  chown,
  copyFile,
  lchown,
  lstat,
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
import { dirname, join, resolve } from "node:path";
import { formatDuration } from "../../lib/duration.js";
import type { Logger } from "../../lib/logger.js";
import { BWRAP, bwrapArgs, USR_MERGE_LINKS } from "./bwrap.js";
import { closingInherited } from "./inherited-fds.js";
import { CappedBuffer } from "./output-capture.js";
import { isExecutable } from "./toolchains.js";

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

  constructor(
    private readonly options: {
      dir: string;
      logger: Logger;
      /** Mode of a finished artifact directory. Default 0755. */
      artifactMode?: number;
    },
  ) {}

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
    // mkdtemp makes 0700 directories, opened to artifactMode once complete.
    await mkdir(this.options.dir, { recursive: true });
    const temp = await mkdtemp(join(this.options.dir, `${TEMP_PREFIX}${key}-`));
    try {
      this.builds++;
      const started = Date.now();
      await build(temp);
      await chmod(temp, this.options.artifactMode ?? 0o755);
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

// The user's Go code is untrusted, and so is its build: `go build` runs, when the worker is
// root, as a uid of its own (no capabilities, no-new-privs) inside bubblewrap, with no
// network, no module downloads (GOPROXY=off: the standard library only) and no cgo. It sees
// the system directories read-only, its own staging directory at /build and the shared tool
// cache (GOCACHE, GOPATH) at /cache, nothing else of the worker's.
//
// <workDir>/go-cache/   root, 0700: the finished binaries, <sha256>/main (0700 dir, 0700 file).
//                        Only the worker reaches them; an invocation gets a copy of its own.
// <workDir>/go-build/   root, 0711: the builder's directories, which bwrap (running as the
//                        builder) must reach by path, hence outside the closed go-cache:
//   cache/               GO_BUILDER_UID, 0700: GOCACHE (cache/gocache) and GOPATH (cache/gopath);
//   tmp-XXXXXX/          GO_BUILDER_UID, 0700: one build's main.go, go.mod and output.
// A successful build's binary is handed back to root (0700) and moved into the BuildCache's
// temp directory, which is renamed to go-cache/<sha256> as before.

/**
 * The uid `go build` runs as: just below the function uids of process-sandbox.ts
 * (FUNCTION_UID_BASE = 200000 and up), so it is no function's, and, like them, in a range
 * Debian never allocates. It owns the tool cache and the staging directories, nothing else.
 */
export const GO_BUILDER_UID = 199_999;
/** nogroup, like the functions. */
export const GO_BUILDER_GID = 65534;

const SETPRIV = "/usr/bin/setpriv";
/** Where the build sees its staging directory and the tool cache. */
const SANDBOX_BUILD_DIR = "/build";
const SANDBOX_CACHE_DIR = "/cache";
/** In the staging directory: the go tool's temp files (TMPDIR), as the sandbox has no /tmp. */
const BUILD_TMP = ".tmp";
const STAGING_PREFIX = "tmp-";
const STALE_STAGING_MS = 3_600_000;

/** No -trimpath: it marks the toolchain's precompiled standard library stale, turning a 0.5 s
 * first build into 5-20 s of recompiling std into an empty GOCACHE. */
export const GO_BUILD_ARGS = ["build", "-ldflags=-s -w", "-o", GO_BINARY_NAME, "."];

/** How a sandboxed build runs (see goBuildCommand). */
export interface GoBuildSandbox {
  uid: number;
  gid: number;
  /** Read-only host paths beyond bwrap's SYSTEM_PATHS: a GOROOT outside /usr. */
  readOnly: string[];
  /** The root's merged-/usr symlinks to recreate. */
  symlinks: Record<string, string>;
}

export interface GoBuildCommandOptions {
  /** The go tool, symlinks resolved. */
  goBinary: string;
  /** Host directory holding main.go, go.mod and BUILD_TMP; receives the binary. */
  buildDir: string;
  /** Host directory holding GOCACHE and GOPATH. */
  toolCacheDir: string;
  /** null: the build runs unsandboxed, as the worker (not root, or bwrap or setpriv missing). */
  sandbox: GoBuildSandbox | null;
}

export interface GoBuildCommand {
  argv: string[];
  env: Record<string, string>;
  /** Host working directory to spawn argv in. */
  cwd: string;
}

/** The command line and environment of one `go build`. Pure. */
export function goBuildCommand(options: GoBuildCommandOptions): GoBuildCommand {
  const { sandbox } = options;
  const buildDir = sandbox ? SANDBOX_BUILD_DIR : options.buildDir;
  const cacheDir = sandbox ? SANDBOX_CACHE_DIR : options.toolCacheDir;
  const env = {
    PATH: MINIMAL_PATH,
    HOME: buildDir,
    TMPDIR: join(buildDir, BUILD_TMP),
    GOCACHE: join(cacheDir, "gocache"),
    GOPATH: join(cacheDir, "gopath"),
    // The standard library only: an import of anything else fails at once, with no attempt
    // to reach a module proxy, a checksum database or a VCS server.
    GOPROXY: "off",
    GOSUMDB: "off",
    GOFLAGS: "-mod=mod",
    // No go.work or go env file of the host's.
    GOWORK: "off",
    GOENV: "off",
    CGO_ENABLED: "0",
    GOTOOLCHAIN: "local",
  };
  const go = [options.goBinary, ...GO_BUILD_ARGS];
  if (!sandbox) return { argv: go, env, cwd: options.buildDir };
  const { uid, gid } = sandbox;
  const drop = [
    SETPRIV,
    `--reuid=${uid}`,
    `--regid=${gid}`,
    "--clear-groups",
    "--no-new-privs",
    "--inh-caps=-all",
    "--bounding-set=-all",
    "--",
  ];
  const sandboxArgs = bwrapArgs({
    uid,
    gid,
    readOnly: sandbox.readOnly,
    symlinks: sandbox.symlinks,
    binds: [
      { source: options.buildDir, target: SANDBOX_BUILD_DIR, writable: true },
      { source: options.toolCacheDir, target: SANDBOX_CACHE_DIR, writable: true },
    ],
    cwd: SANDBOX_BUILD_DIR,
    shareNetwork: false,
  });
  return { argv: [...drop, ...sandboxArgs, ...go], env, cwd: options.buildDir };
}

export type GoBuildSandboxDetection =
  | { goBinary: string; sandbox: GoBuildSandbox; reason?: undefined }
  | { goBinary: string; sandbox: null; reason: string };

/** Whether builds can be sandboxed here, and the go tool with its symlinks resolved. */
export async function detectGoBuildSandbox(goBinary: string): Promise<GoBuildSandboxDetection> {
  const real = await realpath(goBinary).catch(() => goBinary);
  if (process.getuid?.() !== 0) return { goBinary: real, sandbox: null, reason: "the worker does not run as root" };
  if (!(await isExecutable(BWRAP)) || !(await isExecutable(SETPRIV))) {
    return {
      goBinary: real,
      sandbox: null,
      reason: `${BWRAP} or ${SETPRIV} missing (Debian packages bubblewrap, util-linux)`,
    };
  }
  const symlinks: Record<string, string> = {};
  for (const [link, target] of Object.entries(USR_MERGE_LINKS)) {
    if ((await lstat(link).catch(() => null))?.isSymbolicLink()) symlinks[link] = target;
  }
  // <GOROOT>/bin/go: a toolchain outside /usr (which bwrap binds anyway) is bound read-only.
  const readOnly = real.startsWith("/usr/") ? [] : [dirname(dirname(real))];
  return { goBinary: real, sandbox: { uid: GO_BUILDER_UID, gid: GO_BUILDER_GID, readOnly, symlinks } };
}

export interface GoBuildOptions {
  /** The go tool, symlinks resolved. */
  goBinary: string;
  /** Holds GOCACHE and GOPATH (shared by all builds, concurrency-safe by Go's design). */
  toolCacheDir: string;
  /** Where each build gets its own staging directory. */
  stagingDir: string;
  sandbox: GoBuildSandbox | null;
  /** Cap on the compiler output kept for the user. */
  maxOutputBytes: number;
  /** A build that takes longer is killed and reported as a platform failure (retried). */
  timeoutMs: number;
}

/** The build step for the process runtime: `go build` of one main.go with a minimal go.mod. */
export function goBuildStep(code: Buffer, options: GoBuildOptions): BuildStep {
  return async (outDir) => {
    const buildDir = await mkdtemp(join(options.stagingDir, STAGING_PREFIX));
    try {
      const source = join(buildDir, "main.go");
      const mod = join(buildDir, "go.mod");
      const tmp = join(buildDir, BUILD_TMP);
      await writeFile(source, code, { mode: 0o600 });
      await writeFile(mod, GO_MOD, { mode: 0o600 });
      await mkdir(tmp, { mode: 0o700 });
      const { sandbox } = options;
      if (sandbox) for (const path of [source, mod, tmp, buildDir]) await chown(path, sandbox.uid, sandbox.gid);
      const command = goBuildCommand({
        goBinary: options.goBinary,
        buildDir,
        toolCacheDir: options.toolCacheDir,
        sandbox: options.sandbox,
      });
      const { code: exit, signal, output, timedOut } = await runBuild(command, options);
      if (timedOut) throw new Error(`go build timed out after ${formatDuration(options.timeoutMs)}`);
      if (signal) throw new Error(`go build killed by ${signal}`);
      if (exit !== 0) {
        const text = output.toString();
        // The sandbox itself failed (bad bind, no user namespaces): ours, not the user's code.
        if (options.sandbox && /^(bwrap|setpriv): /.test(text)) throw new Error(`go build sandbox failed: ${text}`);
        throw new CompileError(text, output.truncated);
      }
      await takeBinary(join(buildDir, GO_BINARY_NAME), join(outDir, GO_BINARY_NAME));
    } finally {
      await rm(buildDir, { recursive: true, force: true });
    }
  };
}

/**
 * Moves the builder's output into the worker's own (0700) directory, owned by the worker
 * (root) with mode 0700 first: no function uid can read it. Through a descriptor opened
 * without following symlinks, so the builder cannot point the chown elsewhere.
 */
async function takeBinary(source: string, target: string): Promise<void> {
  const file = await open(source, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const s = await file.stat();
    if (!s.isFile() || s.nlink !== 1) throw new Error("go build did not leave a regular file");
    if (process.getuid?.() === 0) await file.chown(0, 0);
    await file.chmod(0o700);
  } finally {
    await file.close();
  }
  await rename(source, target).catch(async (err: NodeJS.ErrnoException) => {
    if (err.code !== "EXDEV") throw err;
    await copyFile(source, target);
    await chmod(target, 0o700);
  });
}

function runBuild(
  command: GoBuildCommand,
  options: { maxOutputBytes: number; timeoutMs: number },
): Promise<{ code: number | null; signal: NodeJS.Signals | null; output: CappedBuffer; timedOut: boolean }> {
  if (command.argv.length === 0) return Promise.reject(new Error("empty go build command"));
  // The compiler reads tenant code: it sees none of the worker's inherited descriptors either.
  const [file, ...args] = closingInherited(command.argv) as [string, ...string[]];
  return new Promise((resolve, reject) => {
    const output = new CappedBuffer(options.maxOutputBytes);
    // Own process group, so a timeout also kills the compiler and linker children (in the
    // sandbox, bwrap's --die-with-parent takes its PID namespace down with it).
    const child = spawn(file, args, {
      cwd: command.cwd,
      env: command.env,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
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

export interface GoBuildSetup {
  /** Whether builds run in the sandbox; if not, why. */
  sandboxed: boolean;
  reason?: string;
}

/** Go binaries by code sha256 under `<workDir>/go-cache/<sha256>/main`. */
export class GoBuildCache {
  readonly cache: BuildCache;
  /** `<workDir>/go-cache`: the binaries. */
  readonly dir: string;
  /** `<workDir>/go-build`: the builder's directories. */
  readonly buildRoot: string;
  /** `<workDir>/go-build/cache`: GOCACHE and GOPATH. */
  readonly toolCacheDir: string;
  private readonly logger: Logger;
  private setup: Promise<GoBuildSetup> | null = null;
  private detected: GoBuildSandboxDetection | null = null;

  constructor(
    private readonly options: {
      workDir: string;
      goBinary: string;
      logger: Logger;
      maxOutputBytes: number;
      buildTimeoutMs?: number;
    },
  ) {
    const workDir = resolve(options.workDir);
    this.dir = join(workDir, "go-cache");
    this.buildRoot = join(workDir, "go-build");
    this.toolCacheDir = join(this.buildRoot, "cache");
    this.logger = options.logger.child({ component: "go-build-cache" });
    this.cache = new BuildCache({ dir: this.dir, logger: this.logger, artifactMode: 0o700 });
    // At once, not at the first Go invocation: a cache left world-readable by an older
    // version is closed before functions run. Failures are logged; binary() tries again.
    this.prepare().catch(() => {});
  }

  get buildCount(): number {
    return this.cache.buildCount;
  }

  /**
   * Detects the sandbox and sets the owners and modes of the directories, also those an older
   * version left open. Idempotent; runs once (again only after a failure). binary() waits for it.
   */
  prepare(): Promise<GoBuildSetup> {
    this.setup ??= this.runPrepare().catch((err: unknown) => {
      this.setup = null;
      this.logger.error("cannot prepare the go build cache", { err });
      throw err;
    });
    return this.setup;
  }

  /** Path of the compiled binary; throws CompileError when the code does not compile. */
  async binary(codeSha256: string, code: Buffer): Promise<string> {
    await this.prepare();
    const detected = this.detected as GoBuildSandboxDetection;
    const step = goBuildStep(code, {
      goBinary: detected.goBinary,
      toolCacheDir: this.toolCacheDir,
      stagingDir: this.buildRoot,
      sandbox: detected.sandbox,
      maxOutputBytes: this.options.maxOutputBytes,
      timeoutMs: this.options.buildTimeoutMs ?? 300_000,
    });
    return join(await this.cache.getOrBuild(codeSha256, step), GO_BINARY_NAME);
  }

  private async runPrepare(): Promise<GoBuildSetup> {
    const detected = await detectGoBuildSandbox(this.options.goBinary);
    const { sandbox } = detected;
    const root = process.getuid?.() === 0;
    if (sandbox) {
      const blocked = await blockingAncestor(this.buildRoot);
      if (blocked) {
        throw new Error(
          `the go builder (uid ${sandbox.uid}) cannot reach ${this.buildRoot}: ${blocked} lacks o+x; run chmod o+x ${blocked}`,
        );
      }
    } else {
      this.logger.warn("go builds are NOT sandboxed: they run as the worker's user (module downloads are off)", {
        reason: detected.reason,
      });
    }
    await closeBinaries(this.dir, root);
    await ensureDir(this.buildRoot, root ? { uid: 0, gid: 0 } : null, sandbox ? 0o711 : 0o700);
    const builder = sandbox ? { uid: sandbox.uid, gid: sandbox.gid } : null;
    await mkdir(this.toolCacheDir, { recursive: true, mode: 0o700 });
    const tool = await lstat(this.toolCacheDir);
    // Made by an unsandboxed build (older version, or bwrap installed since): hand it over.
    if (builder && (tool.uid !== builder.uid || tool.gid !== builder.gid)) {
      await chownTree(this.toolCacheDir, builder.uid, builder.gid);
    }
    await chmod(this.toolCacheDir, 0o700);
    await this.removeStaleStaging();
    this.detected = detected;
    return sandbox ? { sandboxed: true } : { sandboxed: false, reason: detected.reason };
  }

  /** Staging directories of builds that died with their process. */
  private async removeStaleStaging(): Promise<void> {
    for (const name of await readdir(this.buildRoot)) {
      if (!name.startsWith(STAGING_PREFIX)) continue;
      const path = join(this.buildRoot, name);
      const s = await lstat(path).catch(() => null);
      if (s && Date.now() - s.mtimeMs > STALE_STAGING_MS) await rm(path, { recursive: true, force: true });
    }
  }
}

/** mkdir -p, then the owner (if given) and mode, also of an existing directory. */
async function ensureDir(path: string, owner: { uid: number; gid: number } | null, mode: number): Promise<void> {
  await mkdir(path, { recursive: true, mode });
  const s = await lstat(path);
  if (!s.isDirectory()) throw new Error(`${path} is not a directory`);
  if (owner && (s.uid !== owner.uid || s.gid !== owner.gid)) await chown(path, owner.uid, owner.gid);
  if ((s.mode & 0o7777) !== mode) await chmod(path, mode);
}

/**
 * go-cache and everything in it: root's, 0700. Older versions left it all world-readable;
 * cheap when already right (one lstat per entry). Entries vanishing meanwhile (a stale temp
 * directory being removed) are skipped.
 */
async function closeBinaries(dir: string, root: boolean): Promise<void> {
  const owner = root ? { uid: 0, gid: 0 } : null;
  await ensureDir(dir, owner, 0o700);
  const close = async (path: string, isDir: boolean) => {
    const s = await lstat(path).catch(() => null);
    if (!s || (isDir ? !s.isDirectory() : !s.isFile())) return;
    try {
      if (owner && (s.uid !== 0 || s.gid !== 0)) await chown(path, 0, 0);
      if ((s.mode & 0o777) !== 0o700) await chmod(path, 0o700);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
  };
  for (const name of await readdir(dir)) {
    // <sha256> directories; also .tmp-* of builds in progress and .gocache/.gopath of older versions.
    await close(join(dir, name), true);
    if (!name.startsWith(".")) await close(join(dir, name, GO_BINARY_NAME), false);
  }
}

/** chown -R without following symlinks; the top directory last, so its owner says the whole tree is done. */
async function chownTree(path: string, uid: number, gid: number): Promise<void> {
  const s = await lstat(path);
  if (s.isDirectory()) for (const name of await readdir(path)) await chownTree(join(path, name), uid, gid);
  await lchown(path, uid, gid);
}

/** The first ancestor of `path` that does not let other users through (no o+x), or null. */
async function blockingAncestor(path: string): Promise<string | null> {
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    const s = await stat(dir).catch(() => null);
    if (s && (s.mode & 0o001) === 0) return dir;
    if (dirname(dir) === dir) return null;
  }
}
