// A sandboxed function lives in PID and cgroup namespaces of its own: the pids and cgroup
// paths it sees mean nothing on the host. Tests find its processes from the host instead,
// by a marker in their environment (every child inherits it), and read their cgroups there.
import { randomUUID } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { waitFor } from "./waiting.js";

export const MARK_VARIABLE = "FAAS_TEST_MARK";

/** A fresh marker and the environment that carries it into a function. */
export function processMark(): { mark: string; environment: Record<string, string> } {
  const mark = randomUUID();
  return { mark, environment: { [MARK_VARIABLE]: mark } };
}

/**
 * Host pids of live (not zombie) processes whose environment carries the marker; with
 * `comm`, only those whose command name starts with it (the function itself, not the
 * platform's wrappers around it, which carry its environment too).
 */
export async function markedProcesses(mark: string, comm?: string): Promise<number[]> {
  const needle = `${MARK_VARIABLE}=${mark}\0`;
  const found: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const environ = await readFile(`/proc/${entry}/environ`, "latin1").catch(() => "");
    if (!`${environ}\0`.includes(needle)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => "");
    if (stat === "" || stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) === "Z") continue;
    if (comm && !stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")).startsWith(comm)) continue;
    found.push(Number(entry));
  }
  return found;
}

/** Waits until a marked process runs; returns the first one found. */
export async function waitForMarkedProcess(mark: string): Promise<number> {
  const pids = await waitFor(`a process marked ${mark}`, async () => {
    const pids = await markedProcesses(mark);
    return pids.length > 0 ? pids : null;
  });
  return pids[0] as number;
}

export interface HostCgroups {
  version: "v1" | "v2";
  /** Group path (as in /proc/<pid>/cgroup) and its directory, for memory and pids. */
  memory: { group: string; dir: string };
  pids: { group: string; dir: string } | null;
}

/** The memory and pids cgroups of a host process, read from the host's view. */
export async function hostCgroupsOf(pid: number): Promise<HostCgroups> {
  const groups = new Map<string, string>();
  for (const line of (await readFile(`/proc/${pid}/cgroup`, "utf8")).trim().split("\n")) {
    const [, controllers = "", path = ""] = line.split(/:(.*?):/);
    for (const c of controllers ? controllers.split(",") : ["unified"]) groups.set(c, path);
  }
  const mounts = (await readFile("/proc/self/mounts", "utf8"))
    .trim()
    .split("\n")
    .map((l) => l.split(" ").slice(1, 4) as [string, string, string]);
  const v1 = (controller: string) => {
    const group = groups.get(controller);
    const mount = mounts.find(([, type, options]) => type === "cgroup" && options.split(",").includes(controller));
    return group !== undefined && mount ? { group, dir: mount[0].replace(/\/$/, "") + group } : null;
  };
  const memory = v1("memory");
  if (memory) return { version: "v1", memory, pids: v1("pids") };
  const root = mounts.find(([, type]) => type === "cgroup2");
  const group = groups.get("unified") ?? "";
  if (!root) throw new Error("no cgroup2 mount and no v1 memory controller");
  const unified = { group, dir: root[0].replace(/\/$/, "") + group };
  return { version: "v2", memory: unified, pids: unified };
}

/**
 * The cgroups of the marked function process `comm` (the wrappers before it may not have
 * joined its cgroup yet), once one lives long enough to be read (a fork bomb's children do not).
 * A process in the root group is skipped: exiting tasks show it.
 */
export async function waitForMarkedCgroups(mark: string, comm = "python3"): Promise<HostCgroups> {
  return waitFor(`the cgroups of a ${comm} process marked ${mark}`, async () => {
    for (const pid of await markedProcesses(mark, comm)) {
      const found = await hostCgroupsOf(pid).catch(() => null);
      // A task that is exiting shows the root group: look at another (if none ever shows a
      // group of its own, the wait gives up and the test fails).
      if (found && found.memory.group !== "/") return found;
    }
    return null;
  });
}
