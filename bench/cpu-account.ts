// Where the CPU of a burst goes, by part of the system: on one 2-core machine every part
// (the benchmark's client, the controller, the worker, PostgreSQL, Redis, Docker, the
// functions' containers) shares the same cores, so throughput is bounded by their sum.
// Read from /proc (per process: user + system time) and from the cgroup v1 or v2
// accounting of Docker's containers; a part that cannot be read (another OS) is left out.
import { readdirSync, readFileSync } from "node:fs";

const TICKS_PER_SECOND = 100; // USER_HZ: 100 on Linux, whatever the kernel's HZ

/** CPU ms of each part so far. */
export type CpuSample = Map<string, number>;

function processCpuMs(pid: number): { comm: string; ms: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // comm sits in parentheses and may itself hold spaces or parentheses: split after the last ")".
    const close = stat.lastIndexOf(")");
    const comm = stat.slice(stat.indexOf("(") + 1, close);
    const fields = stat.slice(close + 2).split(" ");
    // Fields 14 and 15 of stat (utime, stime) are 11 and 12 after comm and state.
    const ticks = Number(fields[11]) + Number(fields[12]);
    return { comm, ms: (ticks * 1000) / TICKS_PER_SECOND };
  } catch {
    return null; // gone meanwhile
  }
}

function containersCpuMs(): number | null {
  for (const path of ["/sys/fs/cgroup/cpuacct/docker/cpuacct.usage", "/sys/fs/cgroup/system.slice"]) {
    try {
      if (path.endsWith("usage")) return Number(readFileSync(path, "utf8")) / 1e6;
      let usec = 0;
      for (const name of readdirSync(path)) {
        if (!name.startsWith("docker-")) continue;
        const stat = readFileSync(`${path}/${name}/cpu.stat`, "utf8");
        usec += Number(/usage_usec (\d+)/.exec(stat)?.[1] ?? 0);
      }
      return usec / 1000;
    } catch {
      // not this layout
    }
  }
  return null;
}

const GROUPS: [string, RegExp][] = [
  ["PostgreSQL", /^postgres$/],
  ["Redis", /^redis-server$/],
  ["Docker engine", /^(dockerd|containerd.*|docker-proxy)$/],
];

/** A sample of every part: `self` is this process, `named` the processes known by pid (the worker). */
export function sampleCpu(self: string, named: Record<string, number | undefined>): CpuSample {
  const sample: CpuSample = new Map();
  const add = (part: string, ms: number) => sample.set(part, (sample.get(part) ?? 0) + ms);
  const known = new Map<number, string>([[process.pid, self]]);
  for (const [part, pid] of Object.entries(named)) if (pid !== undefined) known.set(pid, part);
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    const cpu = processCpuMs(pid);
    if (!cpu) continue;
    const part = known.get(pid) ?? GROUPS.find(([, pattern]) => pattern.test(cpu.comm))?.[0];
    if (part) add(part, cpu.ms);
  }
  const containers = containersCpuMs();
  if (containers !== null) add("containers (agent and functions)", containers);
  return sample;
}

/** CPU ms per invocation of each part between two samples, largest first, with the total. */
export function cpuPerInvocation(before: CpuSample, after: CpuSample, invocations: number): [string, number][] {
  const parts = [...after]
    .map(([part, ms]): [string, number] => [part, (ms - (before.get(part) ?? 0)) / invocations])
    .sort((a, b) => b[1] - a[1]);
  return [...parts, ["all", parts.reduce((sum, [, ms]) => sum + ms, 0)]];
}
