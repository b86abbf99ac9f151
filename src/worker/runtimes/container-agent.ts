// The container runtime's transport for an execution environment (execution-environment.ts):
// a container of the language's runtime image whose command is the agent, its frames on the
// container's attach stream, the engine's word on an OOM kill, removal through the job runner.
import type { Logger } from "../../lib/logger.js";
import type { ContainerJobRunner, ContainerSpec, StartedContainer } from "./container-job.js";
import { engineStatus } from "./docker-client.js";
import type { AgentLauncher, AgentTransport } from "./execution-environment.js";

const SIGKILL_EXIT = 137;
const OOM_EVENT_LOOKS = 20;
const OOM_EVENT_PAUSE_MS = 50;

/** Starts environments as containers of `spec`. */
export function containerAgentLauncher(jobs: ContainerJobRunner, logger: Logger): AgentLauncher<ContainerSpec> {
  return async (spec, output) => {
    const container = await jobs.start(spec, output);
    const transport: AgentTransport = {
      write: (bytes) => void container.stream.write(bytes),
      get exited() {
        return container.exited;
      },
      waited: container.waited,
      oomKilled: () => engineSaysOom(container, logger),
      // The agent reads its container's memory cgroup itself.
      oomSeenOutside: false,
      discard: () => jobs.discard(container),
    };
    return transport;
  };
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
