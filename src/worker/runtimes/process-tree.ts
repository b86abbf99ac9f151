// Runs one function as a process tree and collects how it ended: spawned as the leader of
// its own session and process group (so -pid kills the whole tree), joined to its cgroup
// before its first instruction when there is one, killed at its timeout or on abort, with
// capped output. The process runtime decides what to run; this decides how.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { PlatformError } from "../../errors.js";
import type { InvocationCgroup } from "./cgroup.js";
import { CappedBuffer } from "./output-capture.js";
import { describeEnding, type RunEnding, shellStatusEnding, signalNumber } from "./run-ending.js";
import { BACKSTOP_GRACE_SECONDS, type RunResult, type RuntimeLimits } from "./runtime.js";

/** After the main process exits, how long inherited pipes may stay open before we stop reading. */
const PIPE_GRACE_MS = 2_000;
/** Exit code of the wrapper when it could not join the cgroup (reported on fd 3 as well). */
const ATTACH_FAILED = 125;

export interface ProcessTreeSpec {
  /** The program and its arguments (already wrapped by the sandbox and the backstop). */
  command: string[];
  cwd: string;
  env: Record<string, string>;
  cgroup: InvocationCgroup | null;
  signal: AbortSignal;
  timeoutMs: number;
  memoryMb: number;
  limits: RuntimeLimits;
  /** Open descriptors the tree inherits, by the number it sees them as (4 and up). */
  inheritFds?: Record<number, number>;
  /** The command reports a function killed by signal N as exit status 128 + N (bwrap, shells). */
  exitStatusCarriesSignal?: boolean;
}

export function runProcessTree(spec: ProcessTreeSpec): Promise<RunResult> {
  const { command, cwd, env, cgroup, signal, limits } = spec;
  const request = { timeoutMs: spec.timeoutMs, memoryMb: spec.memoryMb };
  return new Promise<RunResult>((resolvePromise, rejectPromise) => {
    const stdout = new CappedBuffer(limits.maxOutputBytes);
    const stderr = new CappedBuffer(limits.maxLogBytes);
    const attach = new CappedBuffer(4096);
    // With a cgroup, a shell joins it and then exec()s the function: the limit applies
    // from the function's first instruction, with no window for it to fork outside.
    const [file, args] = cgroup
      ? ["/bin/sh", ["-c", attachScript(cgroup.procsFiles), "sh", ...command]]
      : [command[0] as string, command.slice(1)];
    // An abort that came during setup fired before our listener existed.
    if (signal.aborted) return rejectPromise(aborted());
    const started = performance.now();
    const stdio: ("ignore" | "pipe" | number)[] = ["ignore", "pipe", "pipe", cgroup ? "pipe" : "ignore"];
    for (const [target, fd] of Object.entries(spec.inheritFds ?? {})) {
      while (stdio.length <= Number(target)) stdio.push("ignore");
      stdio[Number(target)] = fd;
    }
    let child: ChildProcess;
    try {
      // detached: the child leads a new session and process group, so -pid kills its tree.
      child = spawn(file, args, { cwd, env, detached: true, stdio });
    } catch (err) {
      rejectPromise(new PlatformError(`cannot start the function: ${(err as Error).message}`));
      return;
    }
    let timedOut = false;
    let wasAborted = false;
    let settled = false;
    let exitedAt = 0;
    let graceTimer: NodeJS.Timeout | undefined;

    const killTree = () => {
      try {
        if (child.pid) process.kill(-child.pid, "SIGKILL");
      } catch {
        // the group is already gone
      }
      // Catches processes that left the process group with setsid().
      cgroup?.killAll().catch(() => undefined);
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killTree();
    }, request.timeoutMs);
    const onAbort = () => {
      wasAborted = true;
      killTree();
    };
    signal.addEventListener("abort", onAbort, { once: true });
    const finish = (settle: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(graceTimer);
      signal.removeEventListener("abort", onAbort);
      settle();
    };

    child.stdout?.on("data", (c: Buffer) => stdout.push(c));
    child.stderr?.on("data", (c: Buffer) => stderr.push(c));
    child.stdio[3]?.on("data", (c: Buffer) => attach.push(c));
    child.on("error", (err) => {
      killTree();
      finish(() => rejectPromise(new PlatformError(`cannot start the function: ${err.message}`)));
    });
    child.on("exit", () => {
      exitedAt = performance.now();
      // The invocation is over: background processes it left would keep our pipes open.
      killTree();
      graceTimer = setTimeout(() => {
        for (const s of [child.stdout, child.stderr, child.stdio[3]]) s?.destroy();
      }, PIPE_GRACE_MS);
    });
    child.on("close", (code, sig) => {
      const durationMs = Math.round((exitedAt || performance.now()) - started);
      const base = {
        stdout: stdout.toString(),
        stdoutTruncated: stdout.truncated,
        stderr: stderr.toString(),
        stderrTruncated: stderr.truncated,
        durationMs,
      };
      if (wasAborted) return finish(() => rejectPromise(aborted()));
      if (code === ATTACH_FAILED && attach.totalBytes > 0) {
        const why = attach.toString().trim();
        return finish(() => rejectPromise(new PlatformError(`cannot move the function into its cgroup: ${why}`)));
      }
      const ended = (ending: RunEnding) =>
        finish(() => resolvePromise({ ...base, ...describeEnding(ending, request) }));
      if (timedOut) return ended({ kind: "timeout" });
      if (code === 0) return ended({ kind: "exited", exitCode: 0 });
      // Read before the caller removes the group.
      void (cgroup ? cgroup.oomKilled() : Promise.resolve(false))
        .catch(() => false)
        .then((oom) =>
          ended(
            oom
              ? { kind: "oom" }
              : sig
                ? { kind: "signaled", signal: signalNumber(sig) }
                : spec.exitStatusCarriesSignal
                  ? shellStatusEnding(code ?? 0)
                  : { kind: "exited", exitCode: code ?? 0 },
          ),
        );
    });
  });
}

/**
 * Joins the cgroup(s), closes the status pipe (fd 3) and becomes the function. The shell
 * exports PWD on its own; unset so the function sees exactly the environment we built.
 */
function attachScript(procsFiles: readonly string[]): string {
  const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  const join = procsFiles.map((f) => `echo $$ > ${quote(f)}`).join(" && ");
  return `{ ${join}; } 2>&3 || { echo "cannot write cgroup.procs" >&3; exit ${ATTACH_FAILED}; }; unset PWD OLDPWD; exec "$@" 3>&-`;
}

const TIMEOUT_BINARY = "/usr/bin/timeout";
const hasTimeoutBinary = existsSync(TIMEOUT_BINARY);

/**
 * If the worker dies (SIGKILL, OOM) nobody is left to enforce the timeout: coreutils'
 * `timeout` kills the function's process group a little after its limit regardless.
 */
export function withBackstop(command: string[], timeoutMs: number): string[] {
  if (!hasTimeoutBinary) return command;
  const seconds = Math.ceil(timeoutMs / 1000) + BACKSTOP_GRACE_SECONDS;
  return [TIMEOUT_BINARY, "-s", "KILL", `${seconds}s`, ...command];
}

export function aborted(): PlatformError {
  return new PlatformError("invocation aborted: worker shutting down");
}
