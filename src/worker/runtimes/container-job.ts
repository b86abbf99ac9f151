// One container execution for the container runtime: create (hardened), attach, feed
// stdin, collect capped stdout/stderr, enforce the timeout, report exit / OOM, remove.
import { Writable } from "node:stream";
import type Dockerode from "dockerode";
import { PlatformError } from "../../errors.js";
import type { Logger } from "../../lib/logger.js";
import { engineError, engineStatus, removeContainer } from "./docker-client.js";
import { CappedBuffer } from "./output-capture.js";

export const MIB = 1024 * 1024;
const USER = "10001:10001";
/** How long to wait for the attach stream to drain after the container exited. */
const STREAM_DRAIN_MS = 5000;

/** One container execution: stdin in, capped stdout/stderr out. */
export interface ContainerJob {
  image: string;
  cmd: string[];
  env: string[];
  labels: Record<string, string>;
  memoryBytes: number;
  pidsLimit: number;
  network: boolean;
  tmpfs: Record<string, string>;
  stdin: Buffer;
  stdoutLimit: number;
  stderrLimit: number;
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface ContainerJobResult {
  exitCode: number | null;
  timedOut: boolean;
  oomKilled: boolean;
  stdout: CappedBuffer;
  stderr: CappedBuffer;
  durationMs: number;
}

export class ContainerJobRunner {
  /** Containers created here and not removed yet. */
  private readonly active = new Set<string>();
  private halted = false;

  constructor(
    private readonly docker: Dockerode,
    private readonly logger: Logger,
    private readonly baseLabels: Record<string, string>,
    private readonly cpuShares: number,
  ) {}

  get stopped(): boolean {
    return this.halted;
  }

  resume(): void {
    this.halted = false;
  }

  /** Kills and removes every container still running. Idempotent. */
  async stop(): Promise<void> {
    this.halted = true;
    await Promise.all(
      [...this.active].map((id) =>
        removeContainer(this.docker, id).catch((err) =>
          this.logger.warn("could not remove container on stop", { containerId: id, err }),
        ),
      ),
    );
  }

  async run(job: ContainerJob): Promise<ContainerJobResult> {
    const stdout = new CappedBuffer(job.stdoutLimit);
    const stderr = new CappedBuffer(job.stderrLimit);
    let container: Dockerode.Container;
    try {
      container = await this.docker.createContainer({
        Image: job.image,
        Cmd: job.cmd,
        Env: job.env,
        User: USER,
        WorkingDir: "/fn",
        Labels: { ...job.labels, ...this.baseLabels },
        AttachStdin: true,
        AttachStdout: true,
        AttachStderr: true,
        OpenStdin: true,
        StdinOnce: true,
        Tty: false,
        NetworkDisabled: !job.network,
        HostConfig: {
          Memory: job.memoryBytes,
          MemorySwap: job.memoryBytes,
          CpuShares: this.cpuShares,
          PidsLimit: job.pidsLimit,
          NetworkMode: job.network ? "bridge" : "none",
          ReadonlyRootfs: true,
          Tmpfs: job.tmpfs,
          CapDrop: ["ALL"],
          SecurityOpt: ["no-new-privileges"],
          // Under host memory pressure, function processes go before the platform's.
          OomScoreAdj: 500,
          // Output is read from the attach stream; nothing is kept on the host's disk.
          LogConfig: { Type: "none", Config: {} },
          AutoRemove: false,
        },
      });
    } catch (err) {
      throw engineError(`creating a container from ${job.image}`, err);
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
      this.docker.modem.demuxStream(attached, sink(stdout), sink(stderr));

      try {
        await container.start();
      } catch (err) {
        throw engineError("starting the container", err);
      }
      const started = performance.now();
      const waited = container.wait().then(
        (r: { StatusCode?: number }) => ({ statusCode: typeof r?.StatusCode === "number" ? r.StatusCode : null }),
        (err: unknown) => ({ error: err }),
      );
      attached.write(job.stdin);
      attached.end();

      let timer: NodeJS.Timeout | undefined;
      let onAbort: (() => void) | undefined;
      const stopReason = await Promise.race([
        waited.then(() => "exited" as const),
        new Promise<"timeout">((resolve) => {
          timer = setTimeout(() => resolve("timeout"), job.timeoutMs);
        }),
        new Promise<"aborted">((resolve) => {
          if (!job.signal) return;
          onAbort = () => resolve("aborted");
          if (job.signal.aborted) onAbort();
          else job.signal.addEventListener("abort", onAbort, { once: true });
        }),
      ]).finally(() => {
        clearTimeout(timer);
        if (onAbort) job.signal?.removeEventListener("abort", onAbort);
      });

      if (stopReason !== "exited") {
        await container.kill({ signal: "SIGKILL" }).catch((err: unknown) => {
          // 409: it exited meanwhile; 404: removed by stop().
          const status = engineStatus(err);
          if (status !== 409 && status !== 404) throw engineError("killing the container", err);
        });
      }
      const exit = await waited;
      const durationMs = Math.round(performance.now() - started);
      if (stopReason === "aborted") throw new PlatformError("invocation aborted: worker shutting down");
      if (this.halted) throw new PlatformError("container runtime stopped");
      if ("error" in exit) throw engineError("waiting for the container", exit.error);

      let state: { OOMKilled?: boolean; ExitCode?: number };
      try {
        state = (await container.inspect()).State;
      } catch (err) {
        throw engineError("inspecting the container", err);
      }
      // All output is in once the engine closes the attach stream (bounded, in case it lingers).
      await Promise.race([drained, new Promise((r) => setTimeout(r, STREAM_DRAIN_MS).unref())]);
      return {
        exitCode: exit.statusCode ?? (typeof state.ExitCode === "number" ? state.ExitCode : null),
        timedOut: stopReason === "timeout",
        oomKilled: state.OOMKilled === true,
        stdout,
        stderr,
        durationMs,
      };
    } finally {
      (stream as unknown as { destroy?: () => void } | undefined)?.destroy?.();
      await removeContainer(this.docker, id).catch((err) =>
        this.logger.warn("could not remove container", { containerId: id, err }),
      );
      this.active.delete(id);
    }
  }
}

function sink(buffer: CappedBuffer): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      buffer.push(chunk);
      callback();
    },
  });
}
