// Runs one function as a process tree and collects how it ended: spawned as the leader of
// its own session and process group (so -pid kills the whole tree), joined to its cgroup
// before its first instruction when there is one, killed at its timeout or on abort, with
// capped output. The process runtime decides what to run; this decides how.
//
// Two phases, so that a tree can be made ahead of its invocation (prepared-sandbox.ts):
// launchProcessTree() spawns it, and it may then wait, blocked on descriptors of its own
// (its go-ahead), for as long as it likes; start() writes the go-ahead and only from then on
// counts the timeout and the duration. runProcessTree() does both at once.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import type { Socket } from "node:net";
import { PlatformError } from "../../errors.js";
import type { InvocationCgroup } from "./cgroup.js";
import { closingInherited } from "./inherited-fds.js";
import { CappedBuffer } from "./output-capture.js";
import { describeEnding, type RunEnding, shellStatusEnding, signalNumber } from "./run-ending.js";
import { BACKSTOP_GRACE_SECONDS, type RunResult, type RuntimeLimits } from "./runtime.js";

/** After the main process exits, how long inherited pipes may stay open before we stop reading. */
const PIPE_GRACE_MS = 2_000;
/** Exit code of the wrapper when it could not join the cgroup (reported on fd 3 as well). */
export const ATTACH_FAILED = 125;

/** What to spawn. */
export interface ProcessTreeLaunch {
  /** The program and its arguments (already wrapped by the sandbox and the backstop). */
  command: string[];
  cwd: string;
  env: Record<string, string>;
  cgroup: InvocationCgroup | null;
  limits: RuntimeLimits;
  /** Open descriptors the tree inherits, by the number it sees them as (4 and up). */
  inheritFds?: Record<number, number>;
  /**
   * Descriptors (by the number the tree sees them as, 4 and up) on which the tree waits for
   * its go-ahead: each is a socket whose other end start() writes one message to, then closes.
   * A waiter writes a byte to its socket once it waits (see `waiting`). A tree whose end of
   * one closes before its go-ahead is dead (its waiter went away).
   */
  goAheadFds?: number[];
  /** The command reports a function killed by signal N as exit status 128 + N (bwrap, shells). */
  exitStatusCarriesSignal?: boolean;
}

/** The invocation, known when the tree starts. */
export interface ProcessTreeRun {
  signal: AbortSignal;
  timeoutMs: number;
  memoryMb: number;
  /** One message per goAheadFds entry, in the same order. */
  goAhead?: Buffer[];
}

export type ProcessTreeSpec = ProcessTreeLaunch & ProcessTreeRun;

/** A launched tree ended (or its waiter went away) before its go-ahead: it never ran the function. */
export class TreeLostError extends PlatformError {}

export function runProcessTree(spec: ProcessTreeSpec): Promise<RunResult> {
  // An abort that came during setup fired before our listener existed.
  if (spec.signal.aborted) return Promise.reject(aborted());
  let tree: ProcessTree;
  try {
    tree = launchProcessTree(spec);
  } catch (err) {
    return Promise.reject(err);
  }
  return tree.start(spec);
}

/** Spawns the tree; it runs until it blocks on its go-ahead (or, without goAheadFds, runs at once). */
export function launchProcessTree(spec: ProcessTreeLaunch): ProcessTree {
  return new ProcessTree(spec);
}

export class ProcessTree {
  /** Settles when the tree has ended and its output is read, before or after its start. */
  readonly ended: Promise<void>;
  /** True once every waiter said it waits for its go-ahead; false when the tree was lost first. */
  readonly waiting: Promise<boolean>;
  private settleWaiting: (waits: boolean) => void = () => undefined;
  private readonly child: ChildProcess;
  private readonly stdout: CappedBuffer;
  private readonly stderr: CappedBuffer;
  private readonly attach = new CappedBuffer(4096);
  private readonly goAheadSockets: Socket[];
  private started = false;
  private readonly launchedAt = performance.now();
  private startedAt = 0;
  private exitedAt = 0;
  /** Why the tree never ran the function: it ended, or a waiter went away, before reading its go-ahead. */
  private lostWhy: string | null = null;
  private closed: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  private spawnError: Error | null = null;
  private onClosed: (() => void) | null = null;
  private graceTimer: NodeJS.Timeout | undefined;

  constructor(private readonly spec: ProcessTreeLaunch) {
    const { command, cwd, env, cgroup, limits } = spec;
    this.stdout = new CappedBuffer(limits.maxOutputBytes);
    this.stderr = new CappedBuffer(limits.maxLogBytes);
    // Nothing the worker inherited reaches the tree: only 0-2 and the descriptors handed
    // to it on purpose (inherited-fds.ts).
    const handed = [...Object.keys(spec.inheritFds ?? {}).map(Number), ...(spec.goAheadFds ?? [])];
    const closed = closingInherited(command, handed);
    // With a cgroup, a shell joins it and then exec()s the function: the limit applies
    // from the function's first instruction, with no window for it to fork outside.
    const [file, args] = cgroup
      ? ["/bin/sh", ["-c", attachScript(cgroup.procsFiles), "sh", ...closed]]
      : [closed[0] as string, closed.slice(1)];
    const stdio: ("ignore" | "pipe" | number)[] = ["ignore", "pipe", "pipe", cgroup ? "pipe" : "ignore"];
    const place = (target: number, what: "pipe" | number) => {
      while (stdio.length <= target) stdio.push("ignore");
      stdio[target] = what;
    };
    for (const [target, fd] of Object.entries(spec.inheritFds ?? {})) place(Number(target), fd);
    // node makes each "pipe" beyond 2 a socket pair: a duplex socket on our side.
    for (const target of spec.goAheadFds ?? []) place(target, "pipe");
    try {
      // detached: the child leads a new session and process group, so -pid kills its tree.
      this.child = spawn(file, args, { cwd, env, detached: true, stdio });
    } catch (err) {
      throw new PlatformError(`cannot start the function: ${(err as Error).message}`);
    }
    const child = this.child;
    this.goAheadSockets = (spec.goAheadFds ?? []).map((target) => child.stdio[target] as Socket);
    this.ended = new Promise<void>((resolve) => {
      child.once("close", () => resolve());
      child.once("error", () => resolve());
    });
    child.stdout?.on("data", (c: Buffer) => this.stdout.push(c));
    child.stderr?.on("data", (c: Buffer) => this.stderr.push(c));
    child.stdio[3]?.on("data", (c: Buffer) => this.attach.push(c));
    this.waiting = new Promise<boolean>((resolve) => {
      this.settleWaiting = resolve;
    });
    let silent = this.goAheadSockets.length;
    if (silent === 0) this.settleWaiting(true);
    for (const socket of this.goAheadSockets) {
      // A waiter says once that it waits; anything else it writes means nothing. Before the
      // go-ahead, its end closing means the tree is dead. After it, a clean end is the waiter
      // done reading; an error is not: EPIPE (it was gone when we wrote) or ECONNRESET (it
      // went away with our message unread, which a Unix socket reports as such) both mean
      // it never got it.
      let said = false;
      socket.on("data", () => {
        if (said) return;
        said = true;
        if (--silent === 0) this.settleWaiting(this.lostWhy === null);
      });
      socket.on("end", () => this.lose("it went away before its go-ahead"));
      socket.on("error", (err: NodeJS.ErrnoException) => {
        if (!this.started) this.lose(`it went away before its go-ahead (${err.code ?? err.message})`);
        else this.lostWhy ??= `it went away without reading its go-ahead (${err.code ?? err.message})`;
      });
    }
    child.on("error", (err) => {
      this.spawnError = err;
      this.killTree();
      this.lose(`cannot start: ${err.message}`);
      this.settleWaiting(false);
      this.onClosed?.();
    });
    child.on("exit", () => {
      this.exitedAt = performance.now();
      if (!this.started) this.lostWhy ??= "it ended before its go-ahead";
      this.settleWaiting(false);
      // The invocation is over: background processes it left would keep our pipes open.
      this.killTree();
      this.graceTimer = setTimeout(() => {
        for (const s of [child.stdout, child.stderr, child.stdio[3]]) s?.destroy();
      }, PIPE_GRACE_MS);
    });
    child.on("close", (code, signal) => {
      clearTimeout(this.graceTimer);
      for (const socket of this.goAheadSockets) socket.destroy();
      this.closed = { code, signal };
      this.onClosed?.();
    });
  }

  /** Why the tree can no longer run a function (it ended or lost a waiter before its go-ahead), or null. */
  get lost(): string | null {
    if (this.lostWhy === null) return null;
    const said = this.stderr.toString().trim() || this.attach.toString().trim();
    return said ? `${this.lostWhy}: ${said.slice(0, 500)}` : this.lostWhy;
  }

  /**
   * Sends the go-ahead and runs the function to its end: the timeout and the duration count
   * from here. Rejects with TreeLostError when the tree was lost before its go-ahead.
   */
  start(run: ProcessTreeRun): Promise<RunResult> {
    if (this.started) return Promise.reject(new Error("a process tree starts once"));
    this.started = true;
    const request = { timeoutMs: run.timeoutMs, memoryMb: run.memoryMb };
    const { signal } = run;
    return new Promise<RunResult>((resolvePromise, rejectPromise) => {
      if (this.spawnError)
        return rejectPromise(new PlatformError(`cannot start the function: ${this.spawnError.message}`));
      if (this.lostWhy !== null) {
        // Once it closed, its pid may be another process's.
        if (this.closed === null) this.killTree();
        return rejectPromise(new TreeLostError(`the process tree was lost: ${this.lost}`));
      }
      if (signal.aborted) {
        this.killTree();
        return rejectPromise(aborted());
      }
      let timedOut = false;
      let wasAborted = false;
      let settled = false;
      const timer = setTimeout(() => {
        timedOut = true;
        this.killTree();
      }, request.timeoutMs);
      const onAbort = () => {
        wasAborted = true;
        this.killTree();
      };
      const finish = (settle: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        settle();
      };
      this.onClosed = () => {
        if (this.spawnError) {
          const why = this.spawnError.message;
          return finish(() => rejectPromise(new PlatformError(`cannot start the function: ${why}`)));
        }
        const { code, signal: sig } = this.closed as { code: number | null; signal: NodeJS.Signals | null };
        const durationMs = Math.round((this.exitedAt || performance.now()) - this.startedAt);
        const base = {
          stdout: this.stdout.toString(),
          stdoutTruncated: this.stdout.truncated,
          stderr: this.stderr.toString(),
          stderrTruncated: this.stderr.truncated,
          durationMs,
        };
        if (wasAborted) return finish(() => rejectPromise(aborted()));
        if (code === ATTACH_FAILED && this.attach.totalBytes > 0) {
          const why = this.attach.toString().trim();
          return finish(() => rejectPromise(new PlatformError(`cannot move the function into its cgroup: ${why}`)));
        }
        const ended = (ending: RunEnding) =>
          finish(() => resolvePromise({ ...base, ...describeEnding(ending, request) }));
        // The function had its whole time from the go-ahead, whatever became of the waiter.
        if (timedOut) return ended({ kind: "timeout" });
        if (this.lostWhy !== null) {
          return finish(() => rejectPromise(new TreeLostError(`the process tree was lost: ${this.lost}`)));
        }
        if (code === 0) return ended({ kind: "exited", exitCode: 0 });
        const cgroup = this.spec.cgroup;
        // Read before the caller removes the group.
        void (cgroup ? cgroup.oomKilled() : Promise.resolve(false))
          .catch(() => false)
          .then((oom) =>
            ended(
              oom
                ? { kind: "oom" }
                : sig
                  ? { kind: "signaled", signal: signalNumber(sig) }
                  : this.spec.exitStatusCarriesSignal
                    ? shellStatusEnding(code ?? 0)
                    : { kind: "exited", exitCode: code ?? 0 },
            ),
          );
      };
      signal.addEventListener("abort", onAbort, { once: true });
      // A tree with nothing to wait for started running when it was spawned.
      this.startedAt = this.goAheadSockets.length > 0 ? performance.now() : this.launchedAt;
      const messages = run.goAhead ?? [];
      this.goAheadSockets.forEach((socket, i) => {
        socket.end(messages[i] ?? Buffer.alloc(0));
      });
    });
  }

  /** Kills the tree (one never started cannot be any more); settles when it has ended. */
  kill(): Promise<void> {
    if (!this.started) this.lostWhy ??= "it was discarded";
    this.settleWaiting(false);
    // Once it closed, its pid may be another process's.
    if (this.closed === null) this.killTree();
    return this.ended;
  }

  private lose(why: string): void {
    if (this.started || this.lostWhy !== null) return;
    this.lostWhy = why;
    this.settleWaiting(false);
    // A tree that cannot run a function any more has nothing left to wait for.
    this.killTree();
  }

  private killTree(): void {
    try {
      if (this.child.pid) process.kill(-this.child.pid, "SIGKILL");
    } catch {
      // the group is already gone
    }
    // Catches processes that left the process group with setsid().
    this.spec.cgroup?.killAll().catch(() => undefined);
  }
}

/**
 * Joins the cgroup(s), closes the status pipe (fd 3) and becomes the function. The shell
 * exports PWD on its own; unset so the function sees exactly the environment we built.
 */
export function attachScript(procsFiles: readonly string[]): string {
  const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  const join = procsFiles.map((f) => `echo $$ > ${quote(f)}`).join(" && ");
  return `{ ${join}; } 2>&3 || { echo "cannot write cgroup.procs" >&3; exit ${ATTACH_FAILED}; }; unset PWD OLDPWD; exec "$@" 3>&-`;
}

const TIMEOUT_BINARY = "/usr/bin/timeout";
const hasTimeoutBinary = existsSync(TIMEOUT_BINARY);

/** How long after its start a backstop ends a function whose worker is gone. */
export function backstopSeconds(timeoutMs: number): number {
  return Math.ceil(timeoutMs / 1000) + BACKSTOP_GRACE_SECONDS;
}

/**
 * If the worker dies (SIGKILL, OOM) nobody is left to enforce the timeout: coreutils'
 * `timeout` kills the function's process group a little after its limit regardless.
 */
export function withBackstop(command: string[], timeoutMs: number): string[] {
  if (!hasTimeoutBinary) return command;
  return [TIMEOUT_BINARY, "-s", "KILL", `${backstopSeconds(timeoutMs)}s`, ...command];
}

export function aborted(): PlatformError {
  return new PlatformError("invocation aborted: worker shutting down");
}
