// A process worker's start-up cleanup removes the cgroups of workers that are gone, and only
// those: a live worker's groups (and the functions in them) on the same host are left alone,
// even when their processes look orphaned (re-parented to init, as a daemonizing function's are).
import { spawn, spawnSync } from "node:child_process";
import { mkdir, readFile, rmdir, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { detectCgroups } from "../../src/worker/runtimes/cgroup.js";

/** Field 22 of /proc/<pid>/stat, read here independently of the code under test. */
async function startTime(pid: number): Promise<string> {
  const text = await readFile(`/proc/${pid}/stat`, "utf8");
  return text.slice(text.lastIndexOf(")") + 2).split(" ")[19] as string;
}

/** Running (a killed process whose parent has not reaped it yet is a zombie: state Z). */
async function alive(pid: number): Promise<boolean> {
  const text = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => null);
  return text !== null && text.slice(text.lastIndexOf(")") + 2).split(" ")[0] !== "Z";
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

/** A process re-parented to init: its parent shell exits at once. */
function orphanSleeper(): number {
  const out = spawnSync("sh", ["-c", "sleep 120 >/dev/null 2>&1 & echo $!"], { encoding: "utf8" });
  const pid = Number(out.stdout.trim());
  cleanups.push(async () => process.kill(pid, "SIGKILL"));
  return pid;
}

describe("start-up cleanup of cgroups (process runtime)", () => {
  it("removes the groups of a worker that is gone, keeps a live worker's, processes and all", async () => {
    const detection = await detectCgroups();
    if (!detection.manager) throw new Error(`this test needs a writable memory cgroup: ${detection.reason}`);
    const manager = detection.manager;
    const own = await manager.create(`cleanup-own-${process.pid}`, { memoryBytes: 64 << 20, pidsMax: 16 });
    cleanups.push(() => own.remove());
    const bases = own.dirs.map((d) => dirname(d));

    // Another worker on the host, alive: it runs one function that daemonized (parent: init).
    const liveWorker = spawn("sleep", ["120"]);
    cleanups.push(async () => liveWorker.kill("SIGKILL"));
    const liveTag = `w${liveWorker.pid}-${await startTime(liveWorker.pid!)}`;
    const liveDirs = bases.map((b) => join(b, `${liveTag}_inv-live`));
    for (const dir of liveDirs) await mkdir(dir);
    cleanups.push(async () => {
      for (const dir of liveDirs) await rmdir(dir);
    });
    const daemon = orphanSleeper();
    for (const dir of liveDirs) await writeFile(join(dir, "cgroup.procs"), String(daemon));

    // A worker that is gone (its pid and start time no longer name a process), with a function left.
    const goneWorker = spawn("sleep", ["120"]);
    const goneTag = `w${goneWorker.pid}-${await startTime(goneWorker.pid!)}`;
    const exited = new Promise((r) => goneWorker.once("exit", r));
    goneWorker.kill("SIGKILL");
    await exited;
    const goneDirs = bases.map((b) => join(b, `${goneTag}_inv-gone`));
    for (const dir of goneDirs) await mkdir(dir);
    cleanups.push(async () => {
      for (const dir of goneDirs) await rmdir(dir);
    });
    const leftover = orphanSleeper();
    for (const dir of goneDirs) await writeFile(join(dir, "cgroup.procs"), String(leftover));

    expect(await manager.reapOrphans()).toBeGreaterThanOrEqual(1);

    for (const dir of goneDirs) await expect(stat(dir), dir).rejects.toMatchObject({ code: "ENOENT" });
    expect(await alive(leftover), "the gone worker's function was not killed").toBe(false);
    for (const dir of [...liveDirs, ...own.dirs]) expect((await stat(dir)).isDirectory(), dir).toBe(true);
    expect(await alive(daemon), "a live worker's function was killed").toBe(true);
    expect((await readFile(join(liveDirs[0] as string, "cgroup.procs"), "utf8")).trim()).toBe(String(daemon));
    // Our own group is named after this process.
    expect(own.dirs[0]).toMatch(
      new RegExp(`/w${process.pid}-${await startTime(process.pid)}_cleanup-own-${process.pid}$`),
    );
    // The live group's process is moved out before rmdir in the cleanup above.
    cleanups.push(async () => {
      for (const dir of liveDirs)
        await writeFile(join(dirname(dir), "cgroup.procs"), String(daemon)).catch(() => undefined);
    });
  });
});
