// The container runtime's images for tests that start containers, and what runs in them.
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import type Dockerode from "dockerode";
import { ROOT } from "./platform.js";
import { waitFor } from "./waiting.js";

/** Builds the runtime images when missing or stale (from scratch: a few minutes), else returns at once. */
export async function ensureRuntimeImages(): Promise<void> {
  await promisify(execFile)("bash", [join(ROOT, "scripts/build-runtime-images.sh")], {
    cwd: ROOT,
    maxBuffer: 16 * 1024 * 1024,
  });
}

/** A function that starts a `sleep 123` child (what processRunning looks for), then waits. */
export const SLEEPER = "import subprocess, time\nsubprocess.Popen(['sleep', '123'])\ntime.sleep(60)\n";

/** The id of the first of `containers()` running a process whose command line contains `marker`. */
export function containerRunning(
  docker: Dockerode,
  containers: () => Promise<Dockerode.ContainerInfo[]>,
  marker = "sleep 123",
): Promise<string> {
  return waitFor("the invocation running", async () => {
    for (const c of await containers()) {
      const top = await docker
        .getContainer(c.Id)
        .top()
        .catch(() => null);
      if (top?.Processes?.some((p: string[]) => p.join(" ").includes(marker))) return c.Id;
    }
    return null;
  });
}
