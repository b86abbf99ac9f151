// The process runtime's execution environments (root workers): one sealed sandbox per
// function version, its command the agent (runtimes/agent, built by agent-binary.ts),
// speaking the frames of agent-frames.ts over bwrap's stdin and stdout and serving that
// version's invocations one at a time (execution-environment.ts, environment-pool.ts).
//
// The sandbox is the one a single invocation gets (process-sandbox.ts): a uid of its own
// from the function range, a cgroup with the function's memory and pids limit, a scratch
// tmpfs with the disk limit, seccomp, bwrap's namespaces, no network or pasta's. What
// differs (bwrap.ts, `environment`): the agent is the PID namespace's init, the scratch
// space holds /fn/code, /tmp and /dev/shm (all of which the agent empties or rewrites
// between invocations), /var/tmp is /tmp, POSIX message queues are mounted for the agent to
// empty, and everything else, the root included, is read-only. HOME is /tmp, as in a container.
//
// Between two invocations the agent kills every process but itself and its helper (the
// Python zygote), empties /tmp, /dev/shm and /dev/mqueue, rewrites the code and removes
// SysV IPC objects (runtimes/agent/PROTOCOL.md). The agent cannot see its cgroup (no
// /sys): the worker reads the cgroup's OOM counter after every invocation, and an
// environment whose limit killed anything is replaced.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { open } from "node:fs/promises";
import { AGENT_MOUNT, markAgentBuildUsed } from "./agent-binary.js";
import type { InvocationCgroup } from "./cgroup.js";
import type { AgentLauncher, AgentTransport } from "./execution-environment.js";
import { closingInherited } from "./inherited-fds.js";
import type { SealedSandboxOptions } from "./prepared-sandbox.js";
import { attachScript } from "./process-tree.js";
import type { FunctionLanguage } from "./runtime.js";
import { mountScratchSpace, type ScratchSpace } from "./scratch-space.js";

/** The descriptor bwrap reads the seccomp program from (3 is the cgroup status pipe). */
const SECCOMP_FD = 4;
/** An environment's HOME: writable, and emptied between invocations. */
export const ENVIRONMENT_HOME = "/tmp";

/** What an environment is made for: one language, memory limit and network. */
export interface ProcessEnvironmentSpec {
  language: FunctionLanguage;
  memoryMb: number;
  network: boolean;
  /** The language's toolchain on the host (what the sandbox must see of it besides /usr). */
  tool: string;
}

export interface ProcessAgentOptions extends SealedSandboxOptions {
  /** The directory holding the agent and its helper (agent-binary.ts). */
  agentDir: string;
  /** The agent's own environment (the Python zygote inherits it). */
  environment: Record<string, string>;
}

export function processAgentLauncher(options: ProcessAgentOptions): AgentLauncher<ProcessEnvironmentSpec> {
  return async (spec, output) => {
    const { sandbox, logger } = options;
    const who = sandbox.identity();
    const name = `env-${spec.language}-${who.uid}-${randomBytes(3).toString("hex")}`;
    // In use: another worker's pruning (an upgraded one on this work dir) keeps the build.
    void markAgentBuildUsed(options.agentDir);
    let scratch: ScratchSpace | null = null;
    let cgroup: InvocationCgroup | null = null;
    const release = async () => {
      // The scratch space first: its pages are charged to the cgroup.
      await scratch?.release().catch((err: unknown) => logger.warn("cannot release scratch space", { name, err }));
      await cgroup?.remove().catch((err: unknown) => logger.warn("cannot remove cgroup", { name, err }));
    };
    let seccomp: Awaited<ReturnType<typeof open>> | null = null;
    try {
      scratch = await mountScratchSpace(options.invocationsDir, name, options.diskLimitMb * 1024 * 1024, who);
      // The scratch space's /fn directory holds the code; its /var/tmp directory stays unused.
      const at: Record<string, string> = { "/fn": "/fn/code", "/tmp": "/tmp", "/dev/shm": "/dev/shm" };
      const binds = [
        ...scratch.binds.flatMap((b) => (at[b.target] ? [{ ...b, target: at[b.target] as string }] : [])),
        { source: options.agentDir, target: AGENT_MOUNT, writable: false },
      ];
      cgroup =
        (await options.cgroups?.create(name, {
          memoryBytes: spec.memoryMb * 1024 * 1024,
          pidsMax: options.pidsLimit,
        })) ?? null;
      seccomp = await open(options.seccompFile, "r");
      const command = closingInherited(
        sandbox.wrap([`${AGENT_MOUNT}/agent`, spec.language], {
          who,
          binds,
          cwd: "/fn",
          network: spec.network,
          readOnly: options.readOnly(spec.tool),
          seccompFd: SECCOMP_FD,
          environment: true,
        }),
        [SECCOMP_FD],
      );
      // As a process tree (process-tree.ts): a shell joins the cgroup, then becomes the sandbox.
      const [file, args] = cgroup
        ? ["/bin/sh", ["-c", attachScript(cgroup.procsFiles), "sh", ...command]]
        : [command[0] as string, command.slice(1)];
      const child = spawn(file, args, {
        cwd: "/",
        env: options.environment,
        // detached: its own process group, so -pid kills bwrap (and pasta) with everything below.
        detached: true,
        stdio: ["pipe", "pipe", "pipe", cgroup ? "pipe" : "ignore", seccomp.fd],
      });
      let exited = false;
      const waited = new Promise<void>((resolve) => {
        child.once("close", () => resolve());
        child.once("error", (err) => {
          output.stderr.write(`cannot start the sandbox: ${err.message}\n`);
          resolve();
        });
      });
      child.once("exit", () => {
        exited = true;
      });
      child.once("error", () => {
        exited = true;
      });
      child.stdout?.on("data", (c: Buffer) => output.stdout.write(c));
      child.stderr?.on("data", (c: Buffer) => output.stderr.write(c));
      child.stdio[3]?.on("data", (c: Buffer) => output.stderr.write(c));
      // A write to an agent that is gone: the environment learns of it from `waited`.
      child.stdin?.on("error", () => undefined);
      // bwrap has its own copy once spawn() returned.
      await seccomp.close().catch(() => undefined);
      seccomp = null;
      const held = cgroup;
      let discarding: Promise<void> | null = null;
      const transport: AgentTransport = {
        write: (bytes) => void child.stdin?.write(bytes),
        get exited() {
          return exited;
        },
        waited,
        oomKilled: async () => (held ? held.oomKilled().catch(() => false) : false),
        oomSeenOutside: true,
        discard: () => {
          discarding ??= (async () => {
            if (!exited && child.pid) {
              try {
                process.kill(-child.pid, "SIGKILL");
              } catch {
                // already gone
              }
            }
            // Catches whatever left the process group (the sandbox's processes did: bwrap --new-session).
            await held?.killAll().catch(() => undefined);
            await waited;
            await release();
          })();
          return discarding;
        },
      };
      return transport;
    } catch (err) {
      await seccomp?.close().catch(() => undefined);
      await release();
      throw err;
    }
  };
}
