// Per-invocation cgroups for the process runtime: a hard memory limit without swap, a
// process-count limit (fork bombs), OOM detection and a reliable "kill everything" that
// also reaches processes which left the process group with setsid().
//
// Both layouts exist in the wild: cgroup v2 (one unified hierarchy, cgroup.kill) and v1
// (one mount per controller: memory and pids are separate directories). Groups live in
// `<hierarchy>/faas/<name>`.
import { constants } from "node:fs";
import { access, mkdir, readdir, readFile, rmdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { isRunning, procStat, startTimeOf } from "./proc-stat.js";

export interface CgroupLimits {
  memoryBytes: number;
  pidsMax: number;
}

export interface InvocationCgroup {
  /** The cgroup.procs files a process writes its own pid into to join the group (one per hierarchy). */
  readonly procsFiles: readonly string[];
  /** Directories of the group, one per hierarchy. */
  readonly dirs: readonly string[];
  /** Processes currently in the group. */
  pids(): Promise<number[]>;
  /** SIGKILLs every process in the group and waits until it is empty. */
  killAll(): Promise<void>;
  /** Whether the kernel OOM killer killed a process of this group. */
  oomKilled(): Promise<boolean>;
  /** Kills what is left and removes the group. Idempotent. */
  remove(): Promise<void>;
}

export interface CgroupManager {
  readonly version: "v1" | "v2";
  /** False when only the memory controller is usable (no fork-bomb protection). */
  readonly pidsLimited: boolean;
  create(name: string, limits: CgroupLimits): Promise<InvocationCgroup>;
  /** Kills and removes groups left by a worker that died; returns how many were removed. */
  reapOrphans(): Promise<number>;
}

export type CgroupDetection = { manager: CgroupManager; reason?: undefined } | { manager: null; reason: string };

const BASE = "faas";
const NAME = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$/;

/**
 * Every group a worker creates is named after it: `w<pid>-<start time>_<name>`. The pid and
 * the process's start time (clock ticks since boot, field 22 of /proc/<pid>/stat) identify a
 * process for as long as it lives, so another worker on the host can tell a group whose
 * worker is gone (removed at its start) from one whose worker still runs (left alone).
 */
const OWNED = /^w(\d+)-(\d+)_/;

let ownTag: Promise<string> | undefined;
/** This process's owner tag, the prefix of every group it creates. */
export function ownerTag(): Promise<string> {
  ownTag ??= startTimeOf(process.pid).then((start) => `w${process.pid}-${start ?? 0}`);
  return ownTag;
}

/** True while the process named in an owned group's name still runs; null for a name without an owner. */
export async function ownerAlive(name: string): Promise<boolean | null> {
  const owner = OWNED.exec(name);
  if (!owner) return null;
  return isRunning(Number(owner[1]), owner[2] as string);
}

/** Finds a writable hierarchy with a memory controller (v2 first, then v1) and proves it by creating a probe group. */
export async function detectCgroups(mountsFile = "/proc/self/mounts"): Promise<CgroupDetection> {
  let mounts: Mount[];
  try {
    mounts = parseMounts(await readFile(mountsFile, "utf8"));
  } catch (err) {
    return { manager: null, reason: `cannot read ${mountsFile}: ${(err as Error).message}` };
  }
  const problems: string[] = [];
  for (const m of mounts.filter((m) => m.type === "cgroup2")) {
    try {
      const manager = await setUpV2(m.dir);
      if (manager) return { manager };
    } catch (err) {
      problems.push(`v2 at ${m.dir}: ${(err as Error).message}`);
    }
  }
  const memory = mounts.find((m) => m.type === "cgroup" && m.options.includes("memory"));
  if (memory) {
    try {
      const pids = mounts.find((m) => m.type === "cgroup" && m.options.includes("pids"));
      return { manager: await setUpV1(memory.dir, pids?.dir) };
    } catch (err) {
      problems.push(`v1 at ${memory.dir}: ${(err as Error).message}`);
    }
  }
  return { manager: null, reason: problems.join("; ") || "no memory cgroup controller mounted" };
}

interface Mount {
  dir: string;
  type: string;
  options: string[];
}

function parseMounts(text: string): Mount[] {
  // Mount points escape spaces and friends as octal (\040).
  const decodeOctal = (s: string) =>
    s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
  return text
    .split("\n")
    .map((line) => line.split(" "))
    .filter((f) => f.length >= 4)
    .map((f) => ({ dir: decodeOctal(f[1] as string), type: f[2] as string, options: (f[3] as string).split(",") }));
}

// ---------------------------------------------------------------------------- v2

async function setUpV2(mount: string): Promise<CgroupManager | null> {
  const controllers = (await readFile(join(mount, "cgroup.controllers"), "utf8")).trim().split(/\s+/);
  if (!controllers.includes("memory")) return null;
  const wanted = ["memory", ...(controllers.includes("pids") ? ["pids"] : [])];
  const base = join(mount, BASE);
  // Controllers must be enabled on every level down to our groups. This fails with EBUSY
  // on a non-root cgroup that holds processes itself (cgroup v2's "no internal processes").
  await enableControllers(mount, wanted);
  await mkdir(base, { recursive: true });
  await enableControllers(base, wanted);
  const manager = new V2Manager(base, wanted.includes("pids"));
  const probe = await manager.create(`_probe-${process.pid}`, { memoryBytes: 64 << 20, pidsMax: 8 });
  await probe.remove();
  return manager;
}

async function enableControllers(dir: string, controllers: string[]): Promise<void> {
  const file = join(dir, "cgroup.subtree_control");
  const enabled = (await readFile(file, "utf8")).trim().split(/\s+/);
  const missing = controllers.filter((c) => !enabled.includes(c));
  if (missing.length > 0) await writeFile(file, missing.map((c) => `+${c}`).join(" "));
}

class V2Manager implements CgroupManager {
  readonly version = "v2";
  constructor(
    private readonly base: string,
    readonly pidsLimited: boolean,
  ) {}

  async create(name: string, limits: CgroupLimits): Promise<InvocationCgroup> {
    const dir = join(this.base, checkName(`${await ownerTag()}_${name}`));
    const group = new V2Group(dir);
    await group.remove(); // a leftover of an earlier attempt of the same invocation
    await mkdir(dir);
    await writeFile(join(dir, "memory.max"), String(limits.memoryBytes));
    await writeIfExists(join(dir, "memory.swap.max"), "0");
    // Kill the whole group on OOM, not just the biggest process: the invocation is over.
    await writeIfExists(join(dir, "memory.oom.group"), "1");
    if (this.pidsLimited) await writeFile(join(dir, "pids.max"), String(limits.pidsMax));
    return group;
  }

  reapOrphans(): Promise<number> {
    return reapOrphans([this.base], (name) => new V2Group(join(this.base, name)));
  }
}

class V2Group implements InvocationCgroup {
  readonly procsFiles: readonly string[];
  readonly dirs: readonly string[];
  constructor(private readonly dir: string) {
    this.procsFiles = [join(dir, "cgroup.procs")];
    this.dirs = [dir];
  }

  pids(): Promise<number[]> {
    return readPids(this.procsFiles);
  }

  async killAll(): Promise<void> {
    // cgroup.kill (Linux 5.14) kills atomically, forks in flight included.
    if (await writeIfExists(join(this.dir, "cgroup.kill"), "1")) await waitEmpty(this);
    else await killLoop(this);
  }

  async oomKilled(): Promise<boolean> {
    const events = await readFile(join(this.dir, "memory.events"), "utf8").catch(() => "");
    return counter(events, "oom_kill") > 0 || counter(events, "oom_group_kill") > 0;
  }

  remove(): Promise<void> {
    return removeGroup(this);
  }
}

// ---------------------------------------------------------------------------- v1

async function setUpV1(memoryMount: string, pidsMount: string | undefined): Promise<CgroupManager> {
  const memoryBase = join(memoryMount, BASE);
  await mkdir(memoryBase, { recursive: true });
  let pidsBase: string | null = null;
  if (pidsMount) {
    try {
      await mkdir(join(pidsMount, BASE), { recursive: true });
      pidsBase = join(pidsMount, BASE);
    } catch {
      // Memory limits still work; pidsLimited tells the caller fork bombs are not contained.
    }
  }
  let manager = new V1Manager(memoryBase, pidsBase);
  const probeName = `_probe-${process.pid}`;
  try {
    await (await manager.create(probeName, { memoryBytes: 64 << 20, pidsMax: 8 })).remove();
  } catch (err) {
    if (!pidsBase) throw err;
    // Retry without the pids hierarchy: it may be the part that is not writable.
    await new V1Group(join(memoryBase, probeName), null).remove();
    manager = new V1Manager(memoryBase, null);
    await (await manager.create(probeName, { memoryBytes: 64 << 20, pidsMax: 8 })).remove();
  }
  return manager;
}

class V1Manager implements CgroupManager {
  readonly version = "v1";
  readonly pidsLimited: boolean;
  constructor(
    private readonly memoryBase: string,
    private readonly pidsBase: string | null,
  ) {
    this.pidsLimited = pidsBase !== null;
  }

  private group(name: string): V1Group {
    return new V1Group(join(this.memoryBase, name), this.pidsBase ? join(this.pidsBase, name) : null);
  }

  async create(name: string, limits: CgroupLimits): Promise<InvocationCgroup> {
    const group = this.group(checkName(`${await ownerTag()}_${name}`));
    await group.remove(); // fresh limits: memsw must never be written below the memory limit
    const [memoryDir, pidsDir] = group.dirs as [string, string | undefined];
    await mkdir(memoryDir);
    await writeFile(join(memoryDir, "memory.limit_in_bytes"), String(limits.memoryBytes));
    // memory+swap equal to memory forbids swapping; the file exists only with swap accounting.
    if (!(await writeIfExists(join(memoryDir, "memory.memsw.limit_in_bytes"), String(limits.memoryBytes)))) {
      await writeIfExists(join(memoryDir, "memory.swappiness"), "0");
    }
    if (pidsDir) {
      await mkdir(pidsDir);
      await writeFile(join(pidsDir, "pids.max"), String(limits.pidsMax));
    }
    return group;
  }

  reapOrphans(): Promise<number> {
    return reapOrphans([this.memoryBase, ...(this.pidsBase ? [this.pidsBase] : [])], (name) => this.group(name));
  }
}

class V1Group implements InvocationCgroup {
  readonly procsFiles: readonly string[];
  readonly dirs: readonly string[];
  constructor(
    private readonly memoryDir: string,
    pidsDir: string | null,
  ) {
    this.dirs = pidsDir ? [memoryDir, pidsDir] : [memoryDir];
    this.procsFiles = this.dirs.map((d) => join(d, "cgroup.procs"));
  }

  pids(): Promise<number[]> {
    return readPids(this.procsFiles);
  }

  killAll(): Promise<void> {
    return killLoop(this);
  }

  async oomKilled(): Promise<boolean> {
    const read = (f: string) => readFile(join(this.memoryDir, f), "utf8").catch(() => "");
    const control = await read("memory.oom_control");
    // `oom_kill N` exists since Linux 4.13; older kernels only count limit hits.
    if (/^oom_kill /m.test(control)) return counter(control, "oom_kill") > 0;
    const failcnt = Number((await read("memory.memsw.failcnt")) || (await read("memory.failcnt")) || 0);
    return failcnt > 0;
  }

  remove(): Promise<void> {
    return removeGroup(this);
  }
}

// ---------------------------------------------------------------------------- shared

function checkName(name: string): string {
  if (!NAME.test(name)) throw new Error(`invalid cgroup name: ${JSON.stringify(name)}`);
  return name;
}

async function writeIfExists(file: string, value: string): Promise<boolean> {
  try {
    await access(file, constants.W_OK);
  } catch {
    return false;
  }
  await writeFile(file, value);
  return true;
}

function counter(text: string, key: string): number {
  const m = new RegExp(`^${key} (\\d+)$`, "m").exec(text);
  return m ? Number(m[1]) : 0;
}

async function readPids(files: readonly string[]): Promise<number[]> {
  const all = new Set<number>();
  for (const f of files) {
    const text = await readFile(f, "utf8").catch(() => "");
    for (const line of text.split("\n")) if (line) all.add(Number(line));
  }
  return [...all];
}

// Without cgroup.kill a fork bomb can add processes between reading the list and killing
// it; the pids limit bounds how many, so repeating until the group is empty converges.
async function killLoop(group: InvocationCgroup): Promise<void> {
  for (let round = 0; round < 200; round++) {
    const pids = await group.pids();
    if (pids.length === 0) return;
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    await delay(round < 10 ? 1 : 10);
  }
}

async function waitEmpty(group: InvocationCgroup): Promise<void> {
  for (let round = 0; round < 200 && (await group.pids()).length > 0; round++) await delay(round < 10 ? 1 : 10);
}

async function removeGroup(group: InvocationCgroup): Promise<void> {
  await group.killAll();
  for (const dir of group.dirs) {
    // A killed task leaves the group a moment after its death; rmdir says EBUSY until then.
    for (let round = 0; ; round++) {
      try {
        await rmdir(dir);
        break;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "ENOENT") break;
        if (code !== "EBUSY" || round >= 100) throw err;
        await delay(10);
      }
    }
  }
}

/**
 * A group named after its worker is a leftover exactly when that worker is gone. A group
 * without an owner in its name (made by an older version) is one when all its processes
 * were re-parented to init or when it has been empty for a while.
 */
async function reapOrphans(bases: string[], group: (name: string) => InvocationCgroup): Promise<number> {
  const names = new Set<string>();
  for (const base of bases) {
    for (const entry of await readdir(base, { withFileTypes: true }).catch(() => [])) {
      if (entry.isDirectory() && NAME.test(entry.name)) names.add(entry.name);
    }
  }
  let removed = 0;
  for (const name of names) {
    const g = group(name);
    const alive = await ownerAlive(name);
    if (alive === true) continue; // its worker still runs: its invocations are its business
    if (alive === false) {
      await g.remove().then(
        () => removed++,
        () => undefined,
      );
      continue;
    }
    const pids = await g.pids();
    const orphaned =
      pids.length > 0
        ? (await Promise.all(pids.map(parentPid))).every((ppid) => ppid === 1 || pids.includes(ppid))
        : await olderThan(g.dirs, 60_000);
    if (!orphaned) continue;
    await g.remove().then(
      () => removed++,
      () => undefined,
    );
  }
  return removed;
}

async function parentPid(pid: number): Promise<number> {
  return Number((await procStat(pid))?.[1] ?? 0);
}

async function olderThan(dirs: readonly string[], ms: number): Promise<boolean> {
  for (const dir of dirs) {
    const s = await stat(dir).catch(() => null);
    if (s && Date.now() - s.mtimeMs < ms) return false;
  }
  return true;
}
