// The Docker network of networked function containers: a bridge of its own (not the
// default one, whose gateway is the host every other container shares), with a fixed
// interface name the firewall (function-firewall.ts) matches on, and no traffic between
// containers on it (a function cannot reach another function).
import type Dockerode from "dockerode";
import { engineError, engineStatus } from "./docker-client.js";
import { FUNCTION_BRIDGE } from "./function-firewall.js";

export const FUNCTION_NETWORK = "faas-functions";

const OPTIONS: Record<string, string> = {
  "com.docker.network.bridge.name": FUNCTION_BRIDGE,
  "com.docker.network.bridge.enable_icc": "false",
  "com.docker.network.bridge.enable_ip_masquerade": "true",
};

/** Creates the network unless it exists; throws when one of that name exists with other options. */
export async function ensureFunctionNetwork(docker: Dockerode): Promise<void> {
  const existing = await docker
    .getNetwork(FUNCTION_NETWORK)
    .inspect()
    .catch((err: unknown) => {
      if (engineStatus(err) === 404) return null;
      throw engineError(`inspecting network ${FUNCTION_NETWORK}`, err);
    });
  if (existing) {
    const options = (existing as { Options?: Record<string, string> }).Options ?? {};
    const wrong = Object.entries(OPTIONS).filter(([key, value]) => options[key] !== value);
    if (wrong.length > 0) {
      throw new Error(
        `Docker network ${FUNCTION_NETWORK} exists with other options (${wrong.map(([k]) => k).join(", ")}): remove it (docker network rm ${FUNCTION_NETWORK})`,
      );
    }
    return;
  }
  await docker
    .createNetwork({
      Name: FUNCTION_NETWORK,
      Driver: "bridge",
      CheckDuplicate: true,
      Options: OPTIONS,
      Labels: { "faas.managed": "true" },
    })
    .catch((err: unknown) => {
      // Another worker created it at the same time.
      if (engineStatus(err) === 409) return;
      throw engineError(`creating network ${FUNCTION_NETWORK}`, err);
    });
}
