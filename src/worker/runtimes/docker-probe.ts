import Docker from "dockerode";

/** True when a Docker engine answers on the default socket within the timeout. */
export async function dockerReachable(timeoutMs = 2000): Promise<boolean> {
  const docker = new Docker({ timeout: timeoutMs });
  try {
    await docker.ping();
    return true;
  } catch {
    return false;
  }
}
