// One execution environment: a started container whose command is the agent
// (runtimes/agent/main.go), bound to one function version once its code is installed, and
// serving that version's invocations one at a time. The agent runs each invocation as a
// fresh process and cleans up after it (processes, /tmp, code, IPC); this side only speaks
// the frames of agent-frames.ts and decides when the environment can no longer be trusted.
import { Writable } from "node:stream";
import { PlatformError } from "../../errors.js";
import type { Logger } from "../../lib/logger.js";
import { encodeFrame, FROM_AGENT, type Frame, FrameReader, TO_AGENT } from "./agent-frames.js";
import type { ContainerJobRunner, ContainerSpec, StartedContainer } from "./container-job.js";
import { engineStatus } from "./docker-client.js";

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
const SIGKILL_EXIT = 137;
const OOM_EVENT_LOOKS = 20;
const OOM_EVENT_PAUSE_MS = 50;
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
    readonly container: StartedContainer,
    readonly genericKey: string,
    private readonly jobs: ContainerJobRunner,
    private readonly logger: Logger,
  ) {
    void container.waited.then(() => this.fail(new Error("the environment's container exited")));
  }

  /** Starts a container running the agent; resolves once the agent has said hello. */
  static async start(
    jobs: ContainerJobRunner,
    spec: ContainerSpec,
    genericKey: string,
    logger: Logger,
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
    const container = await jobs.start(spec, { stdout, stderr });
    env = new ExecutionEnvironment(container, genericKey, jobs, logger);
    if (earlyError) env.fail(earlyError);
    for (const frame of early) env.deliver(frame);
    try {
      await env.expect(FROM_AGENT.hello, helloTimeoutMs, "start");
    } catch (err) {
      await env.remove();
      throw err;
    }
    return env;
  }

  get alive(): boolean {
    return this.broken === null && !this.container.exited;
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
      this.lastUsed = Date.now();
      return { kind: "exit", exit: { ...exit, stdout, stderr } };
    } catch (err) {
      this.retired = true;
      if (err instanceof AnswerOverdue) return { kind: "overrun" };
      if (signal?.aborted) throw new PlatformError("invocation aborted: worker shutting down");
      if (this.container.exited) {
        return { kind: "died", oomKilled: await this.engineSaysOom(), reason: (err as Error).message };
      }
      throw err;
    }
  }

  /** Kills and removes the container. Idempotent. */
  remove(): Promise<void> {
    this.retired = true;
    this.fail(new Error("the environment was removed"));
    this.removal ??= this.jobs.discard(this.container);
    return this.removal;
  }

  /** The agent's own diagnostics so far (bounded), for a log line when something goes wrong. */
  get diagnostics(): string {
    return this.agentLog.trim();
  }

  private send(type: string, payload: Buffer | string): void {
    if (this.broken) throw new PlatformError(`execution environment unusable: ${this.broken.message}`);
    this.container.stream.write(encodeFrame(type, payload));
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

  /**
   * Whether the engine recorded the memory limit killing this container. It learns of an OOM
   * kill from an event that can arrive after the exit (cgroup v1): a SIGKILL is looked at again, briefly.
   */
  private async engineSaysOom(): Promise<boolean> {
    try {
      for (let look = 0; ; look++) {
        const state = (await this.container.container.inspect()).State as { OOMKilled?: boolean; ExitCode?: number };
        if (state.OOMKilled === true) return true;
        if (state.ExitCode !== SIGKILL_EXIT || look >= OOM_EVENT_LOOKS) return false;
        await new Promise((r) => setTimeout(r, OOM_EVENT_PAUSE_MS));
      }
    } catch (err) {
      if (engineStatus(err) === 404) return false;
      this.logger.warn("cannot inspect a dead environment", { environment: this.name, err });
      return false;
    }
  }
}

class AnswerOverdue extends Error {
  constructor() {
    super("the agent did not answer in time");
  }
}
