// The container runtime's transport for an execution environment (execution-environment.ts):
// a container of the language's runtime image whose command is the agent, its frames on the
// container's attach stream, the engine's word on an OOM kill, removal through the job runner.
//
// When the engine runs on this host, the frames move to a Unix socket once the agent has
// said hello (runtimes/agent/socket.go): the agent listens at a path only this launch knows,
// in the container's /tmp, and the worker connects to it through /proc/<agent pid>/root.
// Each frame then skips dockerd and containerd-shim (two processes, four copies) both ways.
// The attach stream stays open: it carries the agent's diagnostics, and its end (the worker
// gone) still ends the agent. Where the socket cannot be reached (a remote engine, a worker
// without access to the agent's /proc entry, gVisor's own kernel) the frames stay on the
// attach stream, which works everywhere.
import { randomBytes } from "node:crypto";
import { connect, type Socket } from "node:net";
import type { Logger } from "../../lib/logger.js";
import type { ContainerJobRunner, ContainerSpec, StartedContainer } from "./container-job.js";
import { engineStatus } from "./docker-client.js";
import type { AgentLauncher, AgentTransport } from "./execution-environment.js";

const SIGKILL_EXIT = 137;
const OOM_EVENT_LOOKS = 20;
const OOM_EVENT_PAUSE_MS = 50;
/** The agent's variable naming its socket (socketEnv in runtimes/agent/socket.go). */
export const AGENT_SOCKET_ENV = "FAAS_AGENT_SOCKET";

/** Starts environments as containers of `spec`; `socket`: try the Unix socket after hello. */
export function containerAgentLauncher(
  jobs: ContainerJobRunner,
  logger: Logger,
  socket: boolean,
): AgentLauncher<ContainerSpec> {
  let fallbackLogged = false;
  return async (spec, output) => {
    const socketPath = socket ? `/tmp/.faas-agent-${randomBytes(12).toString("hex")}.sock` : null;
    const container = await jobs.start(
      socketPath === null ? spec : { ...spec, env: [...spec.env, `${AGENT_SOCKET_ENV}=${socketPath}`] },
      output,
    );
    let connection: Socket | null = null;
    // The agent is the container's PID 1 and closes its end of the socket only by exiting:
    // the container's exit says when the agent is gone, whichever path the frames take.
    const transport: AgentTransport = {
      write: (bytes) => void (connection ?? container.stream).write(bytes),
      get exited() {
        return container.exited;
      },
      waited: container.waited,
      oomKilled: () => engineSaysOom(container, logger),
      // The agent reads its container's memory cgroup itself.
      oomSeenOutside: false,
      discard: () => {
        connection?.destroy();
        return jobs.discard(container);
      },
      get framesOver() {
        return connection ? "socket" : "attach stream";
      },
    };
    if (socketPath !== null) {
      transport.afterHello = async () => {
        let opened: Socket;
        try {
          opened = await connectAgentSocket(container, socketPath);
        } catch (err) {
          if (!fallbackLogged) {
            fallbackLogged = true;
            logger.info("agent socket unreachable: frames go over the attach stream", {
              reason: (err as Error).message,
            });
          }
          return;
        }
        opened.on("data", (chunk: Buffer) => output.stdout.write(chunk));
        // A write after the agent's exit fails; the container's exit reports that exit.
        opened.on("error", () => undefined);
        connection = opened;
      };
    }
    return transport;
  };
}

/** Connects to the agent's socket in its container's /tmp, through the agent's /proc entry. */
async function connectAgentSocket(container: StartedContainer, socketPath: string): Promise<Socket> {
  const pid = ((await container.container.inspect()).State as { Pid?: number }).Pid;
  if (!pid) throw new Error("the engine gave no pid for the agent");
  return new Promise((resolve, reject) => {
    const opened = connect({ path: `/proc/${pid}/root${socketPath}` });
    opened.once("error", reject);
    opened.once("connect", () => {
      opened.off("error", reject);
      resolve(opened);
    });
  });
}

/**
 * Whether the engine recorded the memory limit killing this container. It learns of an OOM
 * kill from an event that can arrive after the exit (cgroup v1): a SIGKILL is looked at again, briefly.
 */
async function engineSaysOom(container: StartedContainer, logger: Logger): Promise<boolean> {
  try {
    for (let look = 0; ; look++) {
      const state = (await container.container.inspect()).State as { OOMKilled?: boolean; ExitCode?: number };
      if (state.OOMKilled === true) return true;
      if (state.ExitCode !== SIGKILL_EXIT || look >= OOM_EVENT_LOOKS) return false;
      await new Promise((r) => setTimeout(r, OOM_EVENT_PAUSE_MS));
    }
  } catch (err) {
    if (engineStatus(err) === 404) return false;
    logger.warn("cannot inspect a dead environment", { container: container.id, err });
    return false;
  }
}
