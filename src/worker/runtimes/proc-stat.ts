// A process as the kernel shows it in /proc/<pid>/stat. A pid alone may be reused; a pid
// with its start time names one process for as long as the machine runs, which is how a
// worker's cgroups (cgroup.ts) and its uid-block claims (uid-blocks.ts) name their owner.
import { readFile } from "node:fs/promises";

/**
 * The fields of /proc/<pid>/stat after "(comm)": [0] is field 3 (state), [1] the parent pid,
 * [19] field 22 (start time). comm may contain spaces and parentheses. Null when the
 * process does not exist.
 */
export async function procStat(pid: number): Promise<string[] | null> {
  const text = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => null);
  return text === null ? null : text.slice(text.lastIndexOf(")") + 2).split(" ");
}

/** The process's start time in clock ticks since boot (field 22); null when it does not exist. */
export async function startTimeOf(pid: number): Promise<string | null> {
  return (await procStat(pid))?.[19] ?? null;
}

/** Whether process `pid` runs and is the one that started at `startTime` (not a reuse of its pid). */
export async function isRunning(pid: number, startTime: string): Promise<boolean> {
  return (await startTimeOf(pid)) === startTime;
}
