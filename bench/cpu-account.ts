// Where the CPU of a burst goes, by part of the system: on one 2-core machine every part
// (the benchmark's client, the controller, the worker, PostgreSQL, Redis, Docker, the
// functions' containers) shares the same cores, so throughput is bounded by their sum.
// Read from /proc (per process: user + system time) and from the cgroup v1 or v2
// accounting of Docker's containers; a part that cannot be read (another OS) is left out.
import { readdirSync, readFileSync } from "node:fs";

const TICKS_PER_SECOND = 100; // USER_HZ: 100 on Linux, whatever the kernel's HZ

/** CPU ms of each part so far. */
export type CpuSample = Map<string, number>;

interface ProcessCpu {
  comm: string;
  ppid: number;
  /** Its own CPU. */
  ms: number;
  /** The CPU of its children that exited and that it waited for (theirs in turn included). */
  reapedMs: number;
}

function processCpu(pid: number): ProcessCpu | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // comm sits in parentheses and may itself hold spaces or parentheses: split after the last ")".
    const close = stat.lastIndexOf(")");
    const comm = stat.slice(stat.indexOf("(") + 1, close);
    const fields = stat.slice(close + 2).split(" ");
    // Fields 4 (ppid) and 14 to 17 of stat (utime, stime, cutime, cstime) are 1 and 11 to 14 after comm.
    const ms = (field: number) => (Number(fields[field]) * 1000) / TICKS_PER_SECOND;
    return { comm, ppid: Number(fields[1]), ms: ms(11) + ms(12), reapedMs: ms(13) + ms(14) };
  } catch {
    return null; // gone meanwhile
  }
}

/** cgroup v1: the docker parent's counter, which keeps what removed containers used. */
function dockerCgroupV1Ms(): number | null {
  try {
    return Number(readFileSync("/sys/fs/cgroup/cpuacct/docker/cpuacct.usage", "utf8")) / 1e6;
  } catch {
    return null;
  }
}

/** cgroup v2 (systemd driver): the sum over the containers there now. */
function dockerCgroupV2Ms(): number | null {
  const slice = "/sys/fs/cgroup/system.slice";
  try {
    let usec = 0;
    for (const name of readdirSync(slice).filter((n) => n.startsWith("docker-"))) {
      usec += Number(/usage_usec (\d+)/.exec(readFileSync(`${slice}/${name}/cpu.stat`, "utf8"))?.[1] ?? 0);
    }
    return usec / 1000;
  } catch {
    return null;
  }
}

const GROUPS: [string, RegExp][] = [
  ["PostgreSQL", /^postgres$/],
  ["Redis", /^redis-server$/],
  ["Docker engine", /^(dockerd|containerd.*|docker-proxy)$/],
];

/**
 * A sample of every part: `self` is this process, `named` the processes known by pid (the
 * worker). What a named process starts (the process runtime's sandboxes and functions) is a
 * part of its own, "<name>'s children": the live ones' CPU and what the named process and
 * they reaped of those that ended.
 */
export function sampleCpu(self: string, named: Record<string, number | undefined>): CpuSample {
  const sample: CpuSample = new Map();
  const add = (part: string, ms: number) => sample.set(part, (sample.get(part) ?? 0) + ms);
  const known = new Map<number, string>([[process.pid, self]]);
  for (const [part, pid] of Object.entries(named)) if (pid !== undefined) known.set(pid, part);
  const all = new Map<number, ProcessCpu>();
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    const cpu = processCpu(pid);
    if (cpu) all.set(pid, cpu);
  }
  /** The named process a pid descends from, if any (not `self`: the controller starts none that matter). */
  const ancestor = (pid: number): string | undefined => {
    for (let p = all.get(pid)?.ppid, hops = 0; p !== undefined && p > 1 && hops < 64; p = all.get(p)?.ppid, hops++) {
      if (p !== process.pid && known.has(p)) return known.get(p);
    }
    return undefined;
  };
  for (const [pid, cpu] of all) {
    const part = known.get(pid);
    if (part) {
      add(part, cpu.ms);
      if (pid !== process.pid) add(`${part}'s children`, cpu.reapedMs);
      continue;
    }
    const parent = ancestor(pid);
    if (parent) {
      add(`${parent}'s children`, cpu.ms + cpu.reapedMs);
      continue;
    }
    const group = GROUPS.find(([, pattern]) => pattern.test(cpu.comm))?.[0];
    if (group) add(group, cpu.ms);
  }
  const containers = dockerCgroupV1Ms() ?? dockerCgroupV2Ms();
  if (containers !== null) add("containers (agent and functions)", containers);
  return sample;
}

/**
 * CPU ms per invocation of each part between two samples, largest first, with the total;
 * `measured`: parts measured otherwise, in ms over the same stretch (a process that ended in it).
 */
export function cpuPerInvocation(
  before: CpuSample,
  after: CpuSample,
  invocations: number,
  measured: Record<string, number> = {},
): [string, number][] {
  const parts = [...after, ...Object.entries(measured)]
    .map(([part, ms]): [string, number] => [part, (ms - (before.get(part) ?? 0)) / invocations])
    .sort((a, b) => b[1] - a[1]);
  return [...parts, ["all", parts.reduce((sum, [, ms]) => sum + ms, 0)]];
}
