// One container execution for the container runtime: create (hardened), attach, feed
// stdin, collect capped stdout/stderr, enforce the timeout, report exit / OOM, remove.

import { Writable } from "node:stream";
import type Dockerode from "dockerode";
import { PlatformError } from "../../errors.js";
import { AFTER_COLD_START_MS, DelayedTasks } from "../../lib/delayed-tasks.js";
import type { Logger } from "../../lib/logger.js";
import { engineError, engineStatus, removeContainer } from "./docker-client.js";
import { CappedBuffer } from "./output-capture.js";
import { type UidRange, uidCycle } from "./uid-cycle.js";

export const MIB = 1024 * 1024;
/** The user of containers that run no function code of their own uid (Go builds): uid and gid 10001. */
export const SHARED_UID = 10_001;
const USER = `${SHARED_UID}:${SHARED_UID}`;
/**
 * A function container runs as a uid of its own from this range (above the process runtime's
 * 200000-299999; no account, no file of the host), group nogroup. The kernel keeps some
 * budgets per uid across every container of the host (inotify instances and watches, pipe
 * buffers, POSIX message queue bytes): with one uid for all, one tenant's function could use
 * up another's while it runs.
 */
export const FUNCTION_UIDS: UidRange = { base: 300_000, count: 100_000 };
/**
 * The range under an engine that remaps users (dockerd's userns-remap): a container's uids
 * must lie in the 65536 it maps, and they are the remap's own ids on the host anyway.
 */
export const REMAPPED_FUNCTION_UIDS: UidRange = { base: 10_001, count: 50_000 };
const FUNCTION_GID = 65534;

/** Whether the engine remaps containers' users (`docker info`: SecurityOptions "name=userns"). */
export function remapsUsers(info: { SecurityOptions?: unknown }): boolean {
  const options = info.SecurityOptions;
  return Array.isArray(options) && options.some((o) => typeof o === "string" && o.split(",").includes("name=userns"));
}

/** /dev/shm of a function container (a tmpfs counted against its memory). */
const SHM_BYTES = 64 * MIB;
/** How long to wait for the attach stream to drain after the container exited. */
const STREAM_DRAIN_MS = 5000;
/** Exit status of a process killed by SIGKILL (128 + 9): what the OOM killer leaves. */
const SIGKILL_EXIT = 137;
/** How often, and how far apart, to look again for the engine's OOM event after a SIGKILL. */
const OOM_EVENT_LOOKS = 40;
const OOM_EVENT_PAUSE_MS = 50;

/** How to create one hardened container. */
export interface ContainerSpec {
  image: string;
  cmd: string[];
  env: string[];
  labels: Record<string, string>;
  memoryBytes: number;
  pidsLimit: number;
  network: boolean;
  tmpfs: Record<string, string>;
  /**
   * Run as a function user of the container's own (FUNCTION_UIDS, one each in turn), and
   * mount these tmpfs owned by it (their options get its uid and gid); unset: the image's user.
   */
  ownUser?: { ownedTmpfs: Record<string, string> };
  stdoutLimit: number;
  stderrLimit: number;
}

/** Where a started container's output goes instead of its capped buffers (an agent's frames). */
export interface OutputSinks {
  stdout: Writable;
  stderr: Writable;
}

/**
 * Tells from a job's standard output that the job is done (a Go build's framed binary), so
 * its result need not wait for the engine to close the stream and report the exit.
 */
export interface OutputEnd {
  /** Sees every chunk of standard output in order; true once the output is complete. */
  push(chunk: Buffer): boolean;
}

/** What a started container is fed, and how long it may run from then on. */
export interface ContainerInput {
  stdin: Buffer;
  timeoutMs: number;
  signal?: AbortSignal;
  /** When given, the job ends as soon as it says its output is complete (outputComplete). */
  outputEnd?: OutputEnd;
}

/** One container execution: stdin in, capped stdout/stderr out. */
export type ContainerJob = ContainerSpec & ContainerInput;

/** A running container blocked on its standard input (created, attached and started). */
export interface StartedContainer {
  id: string;
  container: Dockerode.Container;
  stream: NodeJS.ReadWriteStream;
  stdout: CappedBuffer;
  stderr: CappedBuffer;
  drained: Promise<void>;
  waited: Promise<{ statusCode: number | null } | { error: unknown }>;
  startedAt: number;
  /** Set once the container has stopped (a warm one must not be handed out then). */
  exited: boolean;
  /** Sees each chunk of standard output after its buffer did (finish() sets it for an OutputEnd). */
  stdoutTap: { listener: ((chunk: Buffer) => void) | null };
}

export interface ContainerJobResult {
  /** null when unknown: killed, or the job ended on its complete output (outputComplete). */
  exitCode: number | null;
  /**
   * The input's OutputEnd said the output is complete. The job may have ended on that alone:
   * the container is then removed without its exit being waited for, and every other field
   * but the output says nothing.
   */
  outputComplete: boolean;
  timedOut: boolean;
  oomKilled: boolean;
  stdout: CappedBuffer;
  stderr: CappedBuffer;
  durationMs: number;
}

/** What every function container gets, whatever it runs. */
export interface ContainerHardening {
  cpuShares: number;
  /** The Docker network of networked containers (the others have none). */
  networkName: string;
  /** A seccomp profile (JSON) replacing the engine's, which some engines do not have. */
  seccompProfile?: string;
  /** OCI runtime, e.g. "runsc" (gVisor); undefined: the engine's default. */
  ociRuntime?: string;
}

export class ContainerJobRunner {
  /** Containers created here and not removed yet. */
  private readonly active = new Set<string>();
  /** Removals of finished jobs' containers still under way. */
  private readonly removals = new Set<Promise<void>>();
  /**
   * Removals of containers whose job ended on its complete output (still exiting), put off
   * for AFTER_COLD_START_MS: the job's result (a Go binary) is installed and run meanwhile.
   * stop() removes those containers at once.
   */
  private readonly delayedRemovals = new DelayedTasks();
  private halted = false;
  /** The next function container's uid. */
  private nextFunctionUid = uidCycle(FUNCTION_UIDS);

  constructor(
    private readonly docker: Dockerode,
    private readonly logger: Logger,
    private readonly baseLabels: Record<string, string>,
    private readonly hardening: ContainerHardening,
  ) {}

  get stopped(): boolean {
    return this.halted;
  }

  resume(): void {
    this.halted = false;
  }

  /** Kills and removes every container still running, and waits for removals under way. Idempotent. */
  async stop(): Promise<void> {
    this.halted = true;
    this.delayedRemovals.cancelAll();
    await Promise.all([
      ...this.removals,
      ...[...this.active].map((id) =>
        removeContainer(this.docker, id).catch((err) =>
          this.logger.warn("could not remove container on stop", { containerId: id, err }),
        ),
      ),
    ]);
  }

  async run(job: ContainerJob): Promise<ContainerJobResult> {
    return this.finish(await this.start(job), job);
  }

  /**
   * Creates, attaches and starts a container; it then waits for its standard input. Done
   * ahead of time, this takes the engine's start-up cost off an invocation's path.
   */
  async start(spec: ContainerSpec, sinks?: OutputSinks): Promise<StartedContainer> {
    const stdout = new CappedBuffer(spec.stdoutLimit);
    const stderr = new CappedBuffer(spec.stderrLimit);
    let container: Dockerode.Container;
    const { user, tmpfs } = this.identity(spec);
    try {
      container = await this.docker.createContainer({
        Image: spec.image,
        Cmd: spec.cmd,
        Env: spec.env,
        User: user,
        WorkingDir: "/fn",
        Labels: { ...spec.labels, ...this.baseLabels },
        AttachStdin: true,
        AttachStdout: true,
        AttachStderr: true,
        OpenStdin: true,
        StdinOnce: true,
        Tty: false,
        NetworkDisabled: !spec.network,
        HostConfig: {
          Memory: spec.memoryBytes,
          MemorySwap: spec.memoryBytes,
          CpuShares: this.hardening.cpuShares,
          PidsLimit: spec.pidsLimit,
          NetworkMode: spec.network ? this.hardening.networkName : "none",
          ReadonlyRootfs: true,
          Tmpfs: tmpfs,
          ShmSize: SHM_BYTES,
          CapDrop: ["ALL"],
          SecurityOpt: [
            "no-new-privileges",
            ...(this.hardening.seccompProfile ? [`seccomp=${this.hardening.seccompProfile}`] : []),
          ],
          ...(this.hardening.ociRuntime ? { Runtime: this.hardening.ociRuntime } : {}),
          // Under host memory pressure, function processes go before the platform's.
          OomScoreAdj: 500,
          // Output is read from the attach stream; nothing is kept on the host's disk.
          LogConfig: { Type: "none", Config: {} },
          AutoRemove: false,
        },
      });
    } catch (err) {
      throw engineError(`creating a container from ${spec.image}`, err);
    }
    const id = container.id;
    this.active.add(id);
    let stream: NodeJS.ReadWriteStream | undefined;
    try {
      // stop() ran while this container was being created: it did not see it.
      if (this.halted) throw new PlatformError("container runtime stopped");
      try {
        stream = (await container.attach({
          stream: true,
          stdin: true,
          stdout: true,
          stderr: true,
          hijack: true,
        })) as NodeJS.ReadWriteStream;
      } catch (err) {
        throw engineError("attaching to the container", err);
      }
      const attached = stream;
      const drained = new Promise<void>((resolve) => {
        attached.once("end", resolve);
        attached.once("close", resolve);
        // A write into a container that already died fails with EPIPE: not our concern here.
        attached.on("error", () => resolve());
      });
      const stdoutTap: StartedContainer["stdoutTap"] = { listener: null };
      this.docker.modem.demuxStream(
        attached,
        sinks?.stdout ?? sink(stdout, (chunk) => stdoutTap.listener?.(chunk)),
        sinks?.stderr ?? sink(stderr),
      );
      try {
        await container.start();
      } catch (err) {
        throw engineError("starting the container", err);
      }
      const waited = container.wait().then(
        (r: { StatusCode?: number }) => ({ statusCode: typeof r?.StatusCode === "number" ? r.StatusCode : null }),
        (err: unknown) => ({ error: err }),
      );
      const started: StartedContainer = {
        id,
        container,
        stream: attached,
        stdout,
        stderr,
        drained,
        waited,
        startedAt: Date.now(),
        exited: false,
        stdoutTap,
      };
      void waited.then(() => {
        started.exited = true;
      });
      return started;
    } catch (err) {
      await this.remove(id, stream);
      throw err;
    }
  }

  /**
   * Feeds a started container, enforces the timeout from now on, reports and removes it. With
   * an OutputEnd, complete output ends the job at once: what follows (the stream's end, the
   * exit) is left to the removal.
   */
  async finish(started: StartedContainer, input: ContainerInput): Promise<ContainerJobResult> {
    const { id, container, stream: attached, stdout, stderr, drained, waited } = started;
    let endedOnOutput = false;
    try {
      if (this.halted) throw new PlatformError("container runtime stopped");
      const began = performance.now();
      const output = watchOutput(started, input.outputEnd);
      attached.write(input.stdin);
      attached.end();

      let timer: NodeJS.Timeout | undefined;
      let onAbort: (() => void) | undefined;
      const stopReason = await Promise.race([
        output.completed.then(() => "complete" as const),
        waited.then(() => "exited" as const),
        new Promise<"timeout">((resolve) => {
          timer = setTimeout(() => resolve("timeout"), input.timeoutMs);
        }),
        new Promise<"aborted">((resolve) => {
          if (!input.signal) return;
          onAbort = () => resolve("aborted");
          if (input.signal.aborted) onAbort();
          else input.signal.addEventListener("abort", onAbort, { once: true });
        }),
      ]).finally(() => {
        clearTimeout(timer);
        if (onAbort) input.signal?.removeEventListener("abort", onAbort);
      });

      if (stopReason === "complete") {
        if (this.halted) throw new PlatformError("container runtime stopped");
        endedOnOutput = true;
        const durationMs = Math.round(performance.now() - began);
        return { exitCode: null, outputComplete: true, timedOut: false, oomKilled: false, stdout, stderr, durationMs };
      }
      if (stopReason !== "exited") {
        await container.kill({ signal: "SIGKILL" }).catch((err: unknown) => {
          // 409: it exited meanwhile; 404: removed by stop().
          const status = engineStatus(err);
          if (status !== 409 && status !== 404) throw engineError("killing the container", err);
        });
      }
      const exit = await waited;
      const durationMs = Math.round(performance.now() - began);
      if (stopReason === "aborted") throw new PlatformError("invocation aborted: worker shutting down");
      if (this.halted) throw new PlatformError("container runtime stopped");
      if ("error" in exit) throw engineError("waiting for the container", exit.error);

      const inspectState = async (): Promise<{ OOMKilled?: boolean; ExitCode?: number }> => {
        try {
          return (await container.inspect()).State;
        } catch (err) {
          throw engineError("inspecting the container", err);
        }
      };
      // A clean exit needs no look at the engine's state: only a failure can be an OOM kill's doing.
      let state = exit.statusCode === 0 && stopReason === "exited" ? {} : await inspectState();
      // The engine learns of an OOM kill from a separate event that can arrive after the exit
      // (cgroup v1): a SIGKILL we did not send is looked at again, briefly, before it is
      // reported as a plain signal.
      for (let look = 0; look < OOM_EVENT_LOOKS && stopReason === "exited" && !state.OOMKilled; look++) {
        if ((exit.statusCode ?? state.ExitCode) !== SIGKILL_EXIT) break;
        await new Promise((r) => setTimeout(r, OOM_EVENT_PAUSE_MS));
        state = await inspectState();
      }
      // All output is in once the engine closes the attach stream (bounded, in case it lingers).
      await Promise.race([drained, new Promise((r) => setTimeout(r, STREAM_DRAIN_MS).unref())]);
      return {
        exitCode: exit.statusCode ?? (typeof state.ExitCode === "number" ? state.ExitCode : null),
        outputComplete: output.isComplete(),
        timedOut: stopReason === "timeout",
        oomKilled: state.OOMKilled === true,
        stdout,
        stderr,
        durationMs,
      };
    } finally {
      // Off the caller's path: stop() waits for it, so nothing outlives the runner.
      if (endedOnOutput) this.removeLater(id, attached);
      else this.removeInBackground(id, attached);
    }
  }

  /** Function containers take their uids from `range` from now on (set before the first: ContainerRuntime.start). */
  useFunctionUids(range: UidRange): void {
    this.nextFunctionUid = uidCycle(range);
  }

  /** The container's user and tmpfs mounts: the next function uid of the range for an ownUser spec. */
  private identity(spec: ContainerSpec): { user: string; tmpfs: Record<string, string> } {
    if (!spec.ownUser) return { user: USER, tmpfs: spec.tmpfs };
    const uid = this.nextFunctionUid();
    const tmpfs = { ...spec.tmpfs };
    for (const [path, options] of Object.entries(spec.ownUser.ownedTmpfs)) {
      tmpfs[path] = `${options},uid=${uid},gid=${FUNCTION_GID}`;
    }
    return { user: `${uid}:${FUNCTION_GID}`, tmpfs };
  }

  private removeLater(id: string, stream: NodeJS.ReadWriteStream): void {
    this.delayedRemovals.later(AFTER_COLD_START_MS, () => this.removeInBackground(id, stream));
  }

  private removeInBackground(id: string, stream: NodeJS.ReadWriteStream): void {
    const removal = this.remove(id, stream).finally(() => this.removals.delete(removal));
    this.removals.add(removal);
  }

  /** Removes a started container that will not be used (an idle warm one). */
  discard(started: StartedContainer): Promise<void> {
    return this.remove(started.id, started.stream);
  }

  private async remove(id: string, stream: NodeJS.ReadWriteStream | undefined): Promise<void> {
    (stream as unknown as { destroy?: () => void } | undefined)?.destroy?.();
    await removeContainer(this.docker, id).catch((err) =>
      this.logger.warn("could not remove container", { containerId: id, err }),
    );
    this.active.delete(id);
  }
}

/**
 * Shows a job's standard output to its OutputEnd (also what arrived before, though a job
 * reads its input first); `completed` settles once that says the output is complete, after
 * which it sees nothing more, so the output it judged complete is the one reported.
 */
function watchOutput(
  started: StartedContainer,
  end: OutputEnd | undefined,
): { completed: Promise<void>; isComplete: () => boolean } {
  let complete = false;
  if (!end) return { completed: new Promise<void>(() => {}), isComplete: () => false };
  const completed = new Promise<void>((resolve) => {
    const see = (chunk: Buffer) => {
      if (complete || !end.push(chunk)) return;
      complete = true;
      started.stdoutTap.listener = null;
      resolve();
    };
    if (started.stdout.totalBytes > 0) see(started.stdout.toBuffer());
    if (!complete) started.stdoutTap.listener = see;
  });
  return { completed, isComplete: () => complete };
}

function sink(buffer: CappedBuffer, tap?: (chunk: Buffer) => void): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      buffer.push(chunk);
      tap?.(chunk);
      callback();
    },
  });
}
