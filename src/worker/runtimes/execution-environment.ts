// One execution environment: a started sandbox whose command is the agent
// (runtimes/agent/main.go), bound to one function version once its code is installed, and
// serving that version's invocations one at a time. The agent runs each invocation as a
// fresh process and cleans up after it (processes, /tmp, code, IPC); this side only speaks
// the frames of agent-frames.ts and decides when the environment can no longer be trusted.
//
// What holds the agent is a transport (AgentTransport): a container of the container
// runtime (container-agent.ts), or a sealed sandbox of the process runtime
// (process-environment.ts). It carries the frames, says when the agent is gone and whether
// the memory limit killed something, and removes what it holds.
import { Writable } from "node:stream";
import { PlatformError } from "../../errors.js";
import type { Logger } from "../../lib/logger.js";
import { encodeFrame, FROM_AGENT, type Frame, FrameReader, TO_AGENT } from "./agent-frames.js";
import { completeUtf8Length } from "./output-capture.js";
import { describeEnding, type RunEnding } from "./run-ending.js";
import type { RunRequest, RunResult } from "./runtime.js";

/** Where an agent runs: its stdin, its life, its memory limit's verdict, and its removal. */
export interface AgentTransport {
  /** Writes bytes (frames) to the agent's stdin. */
  write(bytes: Buffer): void;
  /** True once the agent (its sandbox) has ended. */
  readonly exited: boolean;
  /** Settles once the agent (its sandbox) has ended. */
  readonly waited: Promise<unknown>;
  /** Whether the memory limit killed a process of this sandbox (asked after it died, or after an invocation). */
  oomKilled(): Promise<boolean>;
  /**
   * True when the agent cannot see its own memory cgroup (a process sandbox has no /sys):
   * every invocation's OOM verdict then comes from oomKilled().
   */
  readonly oomSeenOutside: boolean;
  /** Kills the agent and removes everything the sandbox held. Idempotent. */
  discard(): Promise<void>;
  /**
   * Called once the agent has said hello, before anything else is sent: where the transport
   * may move the frames to a faster path (container-agent.ts). Never throws.
   */
  afterHello?(): Promise<void>;
  /** Which path the frames take, for tests and logs (e.g. "socket", "attach stream"). */
  readonly framesOver?: string;
}

/** Where an agent's frames (stdout) and diagnostics (stderr) go. */
export interface AgentOutput {
  stdout: Writable;
  stderr: Writable;
}

/** Starts a sandbox of `spec` running the agent, its output going to `output`. */
export type AgentLauncher<Spec> = (spec: Spec, output: AgentOutput) => Promise<AgentTransport>;

/** What the agent reports of one invocation ('X'), with its output. */
export interface AgentExit {
  exitCode: number | null;
  signal: number | null;
  timedOut: boolean;
  oomKilled: boolean;
  durationMs: number;
  stdout: Buffer;
  stderr: Buffer;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
}

export interface AgentInvocation {
  env: Record<string, string>;
  timeoutMs: number;
  stdoutLimit: number;
  stderrLimit: number;
}

/** How an invocation in an environment ended, seen from the worker. */
export type EnvironmentRun =
  | { kind: "exit"; exit: AgentExit }
  /** The agent did not answer by the timeout plus grace: the function overran and the environment is gone. */
  | { kind: "overrun" }
  /** The container died mid-invocation; oomKilled when the engine says the memory limit killed it. */
  | { kind: "died"; oomKilled: boolean; reason: string };

/** Past an invocation's timeout, how long the agent (which enforces it) may take to answer. */
export const AGENT_ANSWER_GRACE_MS = 5000;
/** Most of the agent's own diagnostics kept for the log. */
const AGENT_LOG_BYTES = 8192;

let sequence = 0;

export class ExecutionEnvironment {
  /** A short name for logs and tests. */
  readonly name = `env-${++sequence}`;
  /** The function version it serves (null while generic: started, no code yet). */
  versionKey: string | null = null;
  functionId: string | null = null;
  busy = false;
  /** Set when it must not serve again (a newer version exists, an OOM, a broken stream). */
  retired = false;
  lastUsed = Date.now();
  private readonly frames: Frame[] = [];
  private waiter: ((frame: Frame | Error) => void) | null = null;
  private broken: Error | null = null;
  private agentLog = "";
  private removal: Promise<void> | null = null;

  private constructor(
    readonly transport: AgentTransport,
    readonly genericKey: string,
  ) {
    void transport.waited.then(() => this.fail(new Error("the environment's agent exited")));
  }

  /** Starts a sandbox running the agent; resolves once the agent has said hello. */
  static async start<Spec>(
    launch: AgentLauncher<Spec>,
    spec: Spec,
    genericKey: string,
    helloTimeoutMs: number,
  ): Promise<ExecutionEnvironment> {
    const reader = new FrameReader();
    let env: ExecutionEnvironment | null = null;
    const early: Frame[] = [];
    let earlyError: Error | null = null;
    const stdout = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        try {
          for (const frame of reader.push(chunk)) env ? env.deliver(frame) : early.push(frame);
        } catch (err) {
          if (env) env.fail(err as Error);
          else earlyError = err as Error;
        }
        callback();
      },
    });
    const stderr = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        if (env) env.noteAgentLog(chunk);
        callback();
      },
    });
    const transport = await launch(spec, { stdout, stderr });
    env = new ExecutionEnvironment(transport, genericKey);
    if (earlyError) env.fail(earlyError);
    for (const frame of early) env.deliver(frame);
    try {
      await env.expect(FROM_AGENT.hello, helloTimeoutMs, "start");
      await transport.afterHello?.();
    } catch (err) {
      await env.remove();
      throw err;
    }
    return env;
  }

  get alive(): boolean {
    return this.broken === null && !this.transport.exited;
  }

  /** Installs the function's code (a script, or a Go binary) and binds the environment to its version. */
  async install(versionKey: string, functionId: string, code: Buffer, timeoutMs: number): Promise<void> {
    this.send(TO_AGENT.code, code);
    await this.expect(FROM_AGENT.ready, timeoutMs, "code installation");
    this.versionKey = versionKey;
    this.functionId = functionId;
  }

  /** Runs one invocation; the agent enforces its timeout, this side a backstop past it. */
  async invoke(invocation: AgentInvocation, signal?: AbortSignal): Promise<EnvironmentRun> {
    this.lastUsed = Date.now();
    this.send(TO_AGENT.invoke, JSON.stringify(invocation));
    const deadline = invocation.timeoutMs + AGENT_ANSWER_GRACE_MS;
    const started = performance.now();
    const remaining = () => Math.max(1, deadline - (performance.now() - started));
    try {
      const stdout = await this.expect(FROM_AGENT.stdout, remaining(), "invocation", signal);
      const stderr = await this.expect(FROM_AGENT.stderr, remaining(), "invocation", signal);
      const exit = JSON.parse(
        (await this.expect(FROM_AGENT.exit, remaining(), "invocation", signal)).toString(),
      ) as Omit<AgentExit, "stdout" | "stderr">;
      if (!exit.oomKilled && this.transport.oomSeenOutside) exit.oomKilled = await this.transport.oomKilled();
      this.lastUsed = Date.now();
      return { kind: "exit", exit: { ...exit, stdout, stderr } };
    } catch (err) {
      this.retired = true;
      if (err instanceof AnswerOverdue) return { kind: "overrun" };
      if (signal?.aborted) throw new PlatformError("invocation aborted: worker shutting down");
      if (this.transport.exited) {
        return { kind: "died", oomKilled: await this.transport.oomKilled(), reason: (err as Error).message };
      }
      throw err;
    }
  }

  /** Kills the agent and removes its sandbox. Idempotent. */
  remove(): Promise<void> {
    this.retired = true;
    this.fail(new Error("the environment was removed"));
    this.removal ??= this.transport.discard();
    return this.removal;
  }

  /** The agent's own diagnostics so far (bounded), for a log line when something goes wrong. */
  get diagnostics(): string {
    return this.agentLog.trim();
  }

  private send(type: string, payload: Buffer | string): void {
    if (this.broken) throw new PlatformError(`execution environment unusable: ${this.broken.message}`);
    this.transport.write(encodeFrame(type, payload));
  }

  private deliver(frame: Frame): void {
    if (frame.type === FROM_AGENT.fatal) {
      this.fail(new Error(`agent failed: ${frame.payload.toString().slice(0, 500)}`));
      return;
    }
    const waiter = this.waiter;
    if (waiter) {
      this.waiter = null;
      waiter(frame);
    } else {
      this.frames.push(frame);
    }
  }

  private fail(err: Error): void {
    if (this.broken) return;
    this.broken = err;
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.(err);
  }

  private noteAgentLog(chunk: Buffer): void {
    if (this.agentLog.length < AGENT_LOG_BYTES) this.agentLog += chunk.toString().slice(0, AGENT_LOG_BYTES);
  }

  /** The next frame, which must be of `type`; rejects on timeout, abort, or a broken stream. */
  private async expect(type: string, timeoutMs: number, during: string, signal?: AbortSignal): Promise<Buffer> {
    const frame = await this.nextFrame(timeoutMs, signal).catch((err: unknown) => {
      if (!(err instanceof AnswerOverdue) || during === "invocation") throw err;
      const overdue = new PlatformError(`the agent did not answer within ${timeoutMs} ms (${during})`);
      this.fail(overdue);
      throw overdue;
    });
    if (frame.type !== type) {
      const err = new PlatformError(`agent protocol: expected '${type}' during ${during}, got '${frame.type}'`);
      this.fail(err);
      throw err;
    }
    return frame.payload;
  }

  private nextFrame(timeoutMs: number, signal?: AbortSignal): Promise<Frame> {
    const queued = this.frames.shift();
    if (queued) return Promise.resolve(queued);
    if (this.broken) return Promise.reject(this.failure());
    return new Promise<Frame>((resolve, reject) => {
      const settle = (value: Frame | Error) => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        this.waiter = null;
        if (value instanceof Error) reject(value instanceof AnswerOverdue ? value : this.failure(value));
        else resolve(value);
      };
      const timer = setTimeout(() => settle(new AnswerOverdue()), timeoutMs);
      const onAbort = () => settle(new PlatformError("invocation aborted: worker shutting down"));
      if (signal?.aborted) return onAbort();
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiter = settle;
    });
  }

  private failure(err: Error | null = this.broken): PlatformError {
    if (err instanceof PlatformError) return err;
    const log = this.diagnostics;
    return new PlatformError(
      `execution environment failed: ${err?.message ?? "unknown"}${log ? ` (agent: ${log.slice(-300)})` : ""}`,
    );
  }
}

class AnswerOverdue extends Error {
  constructor() {
    super("the agent did not answer in time");
  }
}

/** What the Go runtime says as it aborts the agent for want of a thread (the pids limit reached). */
export const THREAD_LIMIT_DEATH = /failed to create new OS thread|pthread_create failed|newosproc/;

/** A result without output (the environment died, or its agent overran). */
export function emptyOutput(durationMs: number): Omit<RunResult, "outcome" | "exitCode"> {
  return { stdout: "", stdoutTruncated: false, stderr: "", stderrTruncated: false, durationMs };
}

/** UTF-8 text of capped output; a multi-byte character cut by the cap is dropped. */
function text(bytes: Buffer, truncated: boolean): string {
  return (truncated ? bytes.subarray(0, completeUtf8Length(bytes)) : bytes).toString("utf8");
}

/** What runInEnvironment needs besides the environment and the invocation. */
export interface EnvironmentRunContext {
  /** The invocation's whole environment (the function's own and the platform's variables). */
  env: Record<string, string>;
  stdoutLimit: number;
  stderrLimit: number;
  /** Named in the failure of a fork bomb that left the agent without a thread. */
  pidsLimit: number;
  logger: Logger;
  /** Ends the invocation early (the request's own, or the runtime's stop). */
  signal: AbortSignal | undefined;
  /** Takes the environment back: reusable unless its invocation was OOM killed or it died. */
  release(env: ExecutionEnvironment, reusable: boolean): void;
}

/**
 * One invocation in an environment (both runtimes), as a RunResult: an agent that overran
 * is a timeout; an environment that died is an OOM kill or a fork bomb (the function's
 * failure), or else a PlatformError (retried).
 */
export async function runInEnvironment(
  env: ExecutionEnvironment,
  request: RunRequest,
  context: EnvironmentRunContext,
): Promise<RunResult> {
  let reusable = false;
  try {
    const run = await env.invoke(
      {
        env: context.env,
        timeoutMs: request.timeoutMs,
        stdoutLimit: context.stdoutLimit,
        stderrLimit: context.stderrLimit,
      },
      context.signal,
    );
    if (run.kind === "overrun") {
      context.logger.warn("an environment's agent did not answer past the timeout; environment removed", {
        invocationId: request.invocationId,
        environment: env.name,
      });
      return { ...emptyOutput(request.timeoutMs), ...describeEnding({ kind: "timeout" }, request) };
    }
    if (run.kind === "died") {
      if (run.oomKilled) return { ...emptyOutput(0), ...describeEnding({ kind: "oom" }, request) };
      // The function used up the pids limit and the agent could not make a thread: the
      // function's doing (a fork bomb), not the platform's; the environment is replaced.
      if (THREAD_LIMIT_DEATH.test(env.diagnostics)) {
        return {
          ...emptyOutput(0),
          outcome: "failed",
          exitCode: null,
          error: `too many processes: the limit is ${context.pidsLimit}`,
        };
      }
      context.logger.warn("an environment died mid-invocation", {
        invocationId: request.invocationId,
        environment: env.name,
        reason: run.reason,
        agent: env.diagnostics,
      });
      throw new PlatformError(`the execution environment died mid-invocation: ${run.reason}`);
    }
    reusable = !run.exit.oomKilled;
    return resultOf(run.exit, request);
  } finally {
    context.release(env, reusable);
  }
}

/** A RunResult from the agent's report of one invocation. */
export function resultOf(exit: AgentExit, request: RunRequest): RunResult {
  const ending: RunEnding = exit.timedOut
    ? { kind: "timeout" }
    : exit.oomKilled
      ? { kind: "oom" }
      : exit.signal !== null
        ? { kind: "signaled", signal: exit.signal }
        : { kind: "exited", exitCode: exit.exitCode ?? 1 };
  return {
    stdout: text(exit.stdout, exit.stdoutTruncated),
    stdoutTruncated: exit.stdoutTruncated,
    stderr: text(exit.stderr, exit.stderrTruncated),
    stderrTruncated: exit.stderrTruncated,
    durationMs: exit.durationMs,
    ...describeEnding(ending, request),
  };
}
