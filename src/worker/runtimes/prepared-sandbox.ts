// One sandboxed invocation's resources (process-sandbox.ts): a fresh uid, its scratch space,
// its cgroup, bubblewrap with the seccomp filter (and pasta for a networked one), made
// either on the invocation's path (runFresh) or ahead of it (prepare, then runPrepared).
//
// A prepared sandbox is all of that, already running, with the language's starter inside
// waiting for its go-ahead (sandbox-starters.ts): its uid, scratch space, cgroup and
// namespaces are its own and serve exactly one invocation, which only adds its code to the
// scratch space and sends the go-ahead. Afterwards it is torn down exactly as a fresh one.
import { randomBytes } from "node:crypto";
import { chmod, chown, copyFile, open, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "../../lib/logger.js";
import type { CgroupManager, InvocationCgroup } from "./cgroup.js";
import type { FunctionIdentity, ProcessSandbox } from "./process-sandbox.js";
import { launchProcessTree, type ProcessTree, runProcessTree, withBackstop } from "./process-tree.js";
import type { FunctionLanguage, RunRequest, RunResult, RuntimeLimits } from "./runtime.js";
import { environmentBlock, GO_AHEAD_FD, goAheadMessage, preparedCommand } from "./sandbox-starters.js";
import { mountScratchSpace, type ScratchSpace } from "./scratch-space.js";

/** Where a sandboxed function finds its code, and its HOME. */
export const FN_DIR = "/fn";
/** The descriptor bwrap reads the seccomp program from (3 is the cgroup status pipe). */
const SECCOMP_FD = 4;

/** Longest a sandbox may take to come up before it counts as failed. */
const PREPARE_TIMEOUT_MS = 30_000;

const SOURCE_FILE: Record<Exclude<FunctionLanguage, "go">, string> = { python: "main.py", nodejs: "main.js" };

/** What a prepared sandbox is made for: invocations of this language, memory limit and network. */
export interface SandboxShape {
  language: FunctionLanguage;
  memoryMb: number;
  network: boolean;
}

export function shapeKey(shape: SandboxShape): string {
  return `${shape.language}/${shape.memoryMb}MiB${shape.network ? "/network" : ""}`;
}

export interface PreparedSandbox {
  readonly shape: SandboxShape;
  /** Its scratch space's and cgroup's name (after the worker's owner tag). */
  readonly name: string;
  readonly who: FunctionIdentity;
  readonly scratch: ScratchSpace;
  readonly cgroup: InvocationCgroup | null;
  /** Launched and waiting for its go-ahead. */
  readonly tree: ProcessTree;
}

/** What every sealed sandbox is made with (a prepared or fresh one here, an environment's in process-environment.ts). */
export interface SealedSandboxOptions {
  sandbox: ProcessSandbox;
  cgroups: CgroupManager | null;
  invocationsDir: string;
  seccompFile: string;
  diskLimitMb: number;
  pidsLimit: number;
  /** Host paths a sandbox for `tool` sees read-only besides the system (a toolchain outside /usr, operator paths). */
  readOnly: (tool: string) => string[];
  logger: Logger;
}

export interface SandboxMakerOptions extends SealedSandboxOptions {
  limits: RuntimeLimits;
  /** The environment every function starts from (its own variables come on top). */
  baseEnvironment: Record<string, string>;
}

export class SandboxMaker {
  constructor(private readonly options: SandboxMakerOptions) {}

  /** Makes a sandbox for one invocation and runs it there: everything on the invocation's path. */
  async runFresh(
    tool: string,
    binary: string | null,
    request: RunRequest,
    environment: Record<string, string>,
    signal: AbortSignal,
  ): Promise<RunResult> {
    const { sandbox } = this.options;
    const who = sandbox.identity();
    // Named like the cgroup, not just by invocation id: a redelivered invocation may run
    // twice on one machine, and neither run may touch the other's.
    const name = `${safeName(request.invocationId)}-${who.uid}`;
    let scratch: ScratchSpace | null = null;
    let cgroup: InvocationCgroup | null = null;
    let seccomp: Awaited<ReturnType<typeof open>> | null = null;
    try {
      scratch = await this.mountScratch(name, who);
      await placeCode(scratch, who, request, binary);
      const command = binary ? [`${FN_DIR}/main`] : [tool, sourceFile(request.runtime)];
      cgroup = await this.createCgroup(name, request.memoryMb);
      seccomp = await open(this.options.seccompFile, "r");
      const wrapped = sandbox.wrap(withBackstop(command, request.timeoutMs), {
        who,
        binds: scratch.binds,
        cwd: FN_DIR,
        network: request.network,
        readOnly: this.options.readOnly(tool),
        seccompFd: SECCOMP_FD,
      });
      const result = await runProcessTree({
        command: wrapped,
        cwd: scratch.fnDir,
        env: environment,
        cgroup,
        signal,
        timeoutMs: request.timeoutMs,
        memoryMb: request.memoryMb,
        limits: this.options.limits,
        inheritFds: { [SECCOMP_FD]: seccomp.fd },
        // bwrap reports a function killed by signal N as exit status 128 + N.
        exitStatusCarriesSignal: true,
      });
      return await this.withDiskVerdict(result, scratch);
    } finally {
      await seccomp?.close().catch(() => undefined);
      await this.release(name, scratch, cgroup);
    }
  }

  /** Makes a sandbox of `shape` whose starter (of `tool`) waits for an invocation; settles once it does. */
  async prepare(shape: SandboxShape, tool: string): Promise<PreparedSandbox> {
    const { sandbox } = this.options;
    const who = sandbox.identity();
    const name = `prepared-${shape.language}-${who.uid}-${randomBytes(3).toString("hex")}`;
    let scratch: ScratchSpace | null = null;
    let cgroup: InvocationCgroup | null = null;
    let seccomp: Awaited<ReturnType<typeof open>> | null = null;
    try {
      scratch = await this.mountScratch(name, who);
      cgroup = await this.createCgroup(name, shape.memoryMb);
      seccomp = await open(this.options.seccompFile, "r");
      const command = sandbox.wrap(preparedCommand(shape.language, tool), {
        who,
        binds: scratch.binds,
        cwd: FN_DIR,
        network: shape.network,
        readOnly: this.options.readOnly(tool),
        seccompFd: SECCOMP_FD,
      });
      const tree = launchProcessTree({
        command,
        cwd: scratch.fnDir,
        env: this.options.baseEnvironment,
        cgroup,
        limits: this.options.limits,
        inheritFds: { [SECCOMP_FD]: seccomp.fd },
        goAheadFds: [GO_AHEAD_FD],
        exitStatusCarriesSignal: true,
      });
      // bwrap has its own copy: spawn() returned after the exec.
      await seccomp.close().catch(() => undefined);
      seccomp = null;
      // One that does not come up in time (a stuck interpreter) would hold its place for good.
      const timer = setTimeout(() => void tree.kill(), PREPARE_TIMEOUT_MS);
      const waits = await tree.waiting;
      clearTimeout(timer);
      if (!waits) {
        await tree.kill();
        throw new Error(`the sandbox did not come up: ${tree.lost}`);
      }
      return { shape, name, who, scratch, cgroup, tree };
    } catch (err) {
      await seccomp?.close().catch(() => undefined);
      await this.release(name, scratch, cgroup);
      throw err;
    }
  }

  /**
   * Runs the invocation in a prepared sandbox: its code into the scratch space, then the
   * go-ahead. The sandbox is torn down afterwards, whatever happened. Rejects with
   * TreeLostError when the sandbox turned out dead before its go-ahead (never ran the function).
   */
  async runPrepared(
    prepared: PreparedSandbox,
    binary: string | null,
    request: RunRequest,
    environment: Record<string, string>,
    signal: AbortSignal,
  ): Promise<RunResult> {
    try {
      await placeCode(prepared.scratch, prepared.who, request, binary);
      const result = await prepared.tree.start({
        signal,
        timeoutMs: request.timeoutMs,
        memoryMb: request.memoryMb,
        goAhead: [goAheadMessage(request.timeoutMs, environmentBlock(environment))],
      });
      return await this.withDiskVerdict(result, prepared.scratch);
    } finally {
      await this.discard(prepared);
    }
  }

  /** Ends a prepared sandbox (used or not) and releases what it held. */
  async discard(prepared: PreparedSandbox): Promise<void> {
    await prepared.tree.kill();
    await this.release(prepared.name, prepared.scratch, prepared.cgroup);
  }

  private mountScratch(name: string, who: FunctionIdentity): Promise<ScratchSpace> {
    return mountScratchSpace(this.options.invocationsDir, name, this.options.diskLimitMb * 1024 * 1024, who);
  }

  private async createCgroup(name: string, memoryMb: number): Promise<InvocationCgroup | null> {
    const limits = { memoryBytes: memoryMb * 1024 * 1024, pidsMax: this.options.pidsLimit };
    return (await this.options.cgroups?.create(name, limits)) ?? null;
  }

  /** A run that filled its scratch space failed for that reason, unless it timed out or ran out of memory. */
  private async withDiskVerdict(result: RunResult, scratch: ScratchSpace): Promise<RunResult> {
    if (result.outcome === "timeout" || result.oomKilled || !(await scratch.full())) return result;
    const error = `disk limit exceeded: wrote ${this.options.diskLimitMb} MiB`;
    return { ...result, outcome: "failed", exitCode: null, error };
  }

  private async release(name: string, scratch: ScratchSpace | null, cgroup: InvocationCgroup | null): Promise<void> {
    const { logger } = this.options;
    // The scratch space first: its pages are charged to the cgroup.
    await scratch?.release().catch((err: unknown) => logger.warn("cannot release scratch space", { name, err }));
    await cgroup?.remove().catch((err: unknown) => logger.warn("cannot remove cgroup", { name, err }));
  }
}

function sourceFile(language: FunctionLanguage): string {
  return SOURCE_FILE[language as Exclude<FunctionLanguage, "go">];
}

/** The function's code into its scratch space, readable by its uid only. */
async function placeCode(
  scratch: ScratchSpace,
  who: FunctionIdentity,
  request: RunRequest,
  binary: string | null,
): Promise<void> {
  if (binary) {
    // A copy of its own binary only: the build cache stays closed to every function.
    const copy = join(scratch.fnDir, "main");
    await copyFile(binary, copy);
    await chown(copy, who.uid, who.gid);
    await chmod(copy, 0o500);
    return;
  }
  const file = join(scratch.fnDir, sourceFile(request.runtime));
  await writeFile(file, request.code, { mode: 0o400 });
  await chown(file, who.uid, who.gid);
}

/** A file and cgroup name made from an invocation id (normally a uuid). */
export function safeName(id: string): string {
  return id.replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 64) || "invocation";
}
