// Everything a sandboxed process invocation may write lives in one tmpfs of its own, mounted
// by the worker: its code directory (/fn, also HOME), /tmp, /var/tmp and /dev/shm are
// subdirectories of it. One mount gives one quota (WORKER_DISK_LIMIT_MB) over all of them,
// the pages count against the function's memory cgroup (it writes them), nothing outlives
// the invocation, and the worker can tell afterwards whether the quota was hit (statfs).
// Mount points are named after the worker (w<pid>-<starttime>_...), like cgroups, so a
// worker that starts finds and unmounts those of dead workers without touching live ones.
import { execFile } from "node:child_process";
import { chmod, chown, mkdir, readFile, rm, statfs } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { ownerAlive, ownerTag } from "./cgroup.js";

const run = promisify(execFile);
const SUBDIRS = ["fn", "tmp", "var-tmp", "shm"] as const;

export interface ScratchSpace {
  /** The mount point on the host. */
  root: string;
  /** Host directory bound as /fn (the code, cwd and HOME). */
  fnDir: string;
  /** bwrap binds for /fn, /tmp, /var/tmp and /dev/shm. */
  binds: { source: string; target: string; writable: true }[];
  /** True when the function filled its quota (checked before unmounting). */
  full(): Promise<boolean>;
  /** Unmounts and removes the directory. Idempotent. */
  release(): Promise<void>;
}

const TARGET: Record<(typeof SUBDIRS)[number], string> = {
  fn: "/fn",
  tmp: "/tmp",
  "var-tmp": "/var/tmp",
  shm: "/dev/shm",
};

/** Mounts a `limitBytes` tmpfs at `<parent>/<owner tag>_<name>`, owned by the function's uid. */
export async function mountScratchSpace(
  parent: string,
  name: string,
  limitBytes: number,
  who: { uid: number; gid: number },
): Promise<ScratchSpace> {
  const root = join(parent, `${await ownerTag()}_${name}`);
  await mkdir(root, { mode: 0o700 });
  let mounted = false;
  const release = async () => {
    if (mounted) {
      mounted = false;
      // Lazy: a process that escaped the kill still holding a file must not block cleanup.
      await run("/usr/bin/umount", ["--lazy", root]).catch(() => undefined);
    }
    await rm(root, { recursive: true, force: true });
  };
  try {
    // nr_inodes bounds the file count (a quota of many empty files); mode 0700: only the function's uid.
    const inodes = Math.max(1024, Math.floor(limitBytes / 4096));
    await run("/usr/bin/mount", [
      "-t",
      "tmpfs",
      "-o",
      `size=${limitBytes},nr_inodes=${inodes},mode=0700,uid=${who.uid},gid=${who.gid},nosuid,nodev`,
      "faas-scratch",
      root,
    ]);
    mounted = true;
    for (const sub of SUBDIRS) {
      const dir = join(root, sub);
      await mkdir(dir);
      await chown(dir, who.uid, who.gid);
      await chmod(dir, sub === "fn" ? 0o700 : 0o1777);
    }
  } catch (err) {
    await release();
    throw err;
  }
  return {
    root,
    fnDir: join(root, "fn"),
    binds: SUBDIRS.map((sub) => ({ source: join(root, sub), target: TARGET[sub], writable: true as const })),
    async full() {
      if (!mounted) return false;
      const s = await statfs(root).catch(() => null);
      return s !== null && (s.bavail === 0 || s.ffree === 0);
    },
    release,
  };
}

/** Unmounts and removes scratch spaces under `parent` whose worker is gone; returns how many. */
export async function releaseOrphanedScratchSpaces(parent: string): Promise<number> {
  const mountInfo = await readFile("/proc/self/mountinfo", "utf8").catch(() => "");
  const prefix = `${parent}/`;
  let released = 0;
  for (const line of mountInfo.split("\n")) {
    const mountPoint = line.split(" ")[4];
    if (!mountPoint?.startsWith(prefix)) continue;
    const name = mountPoint.slice(prefix.length);
    if (name.includes("/") || (await ownerAlive(name)) !== false) continue;
    await run("/usr/bin/umount", ["--lazy", mountPoint]).catch(() => undefined);
    await rm(mountPoint, { recursive: true, force: true });
    released++;
  }
  return released;
}
