import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { chmod, chown, mkdir, mkdtemp, open, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PlatformError } from "../../src/errors.js";
import { createLogger } from "../../src/lib/logger.js";
import { ProcessRuntime } from "../../src/worker/runtimes/process-runtime.js";
import { INHERITED_FDS, inheritedFds } from "../support/fd-listing.js";
import { HELLO } from "../support/functions.js";
import { markedProcesses, processMark, waitForMarkedCgroups, waitForMarkedProcess } from "../support/host-processes.js";
import { runRequest } from "../support/run-request.js";
import { TEST_NETWORK_ALLOW } from "../support/test-network.js";

const GO_HELLO = HELLO.go;
const PYTHON_HELLO = HELLO.python;
const NODE_HELLO = HELLO.nodejs;

const logger = createLogger("silent");
const limits = { maxOutputBytes: 64 * 1024, maxLogBytes: 64 * 1024 };
/** The README's promise: the timer kills at the limit; the `timeout -s KILL` backstop only ceil(limit) + 5 s later. */
const KILL_MARGIN_MS = 2000;
/** What the memory, pids and tree-kill tests need; a machine without it fails them, loudly. */
const NO_CGROUP =
  "the process runtime found no writable memory cgroup on this machine (run the tests as root with cgroupfs mounted read-write): memory and pids limits and the kill of processes that left the process group are not enforced";

let workDir: string;
let runtime: ProcessRuntime;

const request = runRequest;

/** Sleeps until killed. */
const SLEEP = "import time\ntime.sleep(60)\n";

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), "faas-process-runtime-"));
  await chmod(workDir, 0o755); // functions run as nobody: they must reach their own files
  runtime = new ProcessRuntime({ workDir, limits, logger, networkAllow: TEST_NETWORK_ALLOW });
  await runtime.start();
});

afterAll(async () => {
  await runtime?.stop();
  await rm(workDir, { recursive: true, force: true });
});

describe("process runtime", () => {
  it.each([
    ["python", PYTHON_HELLO],
    ["nodejs", NODE_HELLO],
    ["go", GO_HELLO],
  ] as const)("runs the quick reference %s example", async (language, code) => {
    const result = await runtime.run(request(language, code));
    expect(result.error).toBeUndefined();
    expect(result.outcome).toBe("completed");
    expect(result.exitCode).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ message: "Hello, Test!" });
  });

  it("reports a non-zero exit as failed with the exit code and keeps stderr", async () => {
    const result = await runtime.run(
      request("python", `import sys\nprint("bad input", file=sys.stderr)\nsys.exit(3)\n`),
    );
    expect(result).toMatchObject({ outcome: "failed", exitCode: 3, error: "exited with code 3" });
    expect(result.stderr).toContain("bad input");
  });

  it("reports a death by signal with the signal name", async () => {
    const result = await runtime.run(request("nodejs", `process.kill(process.pid, "SIGSEGV");`));
    expect(result).toMatchObject({ outcome: "failed", exitCode: null, error: "killed by signal 11 (SIGSEGV)" });
  });

  it("kills an infinite loop at its timeout, including a child that left the process group", async () => {
    expect(runtime.cgroupVersion, NO_CGROUP).toMatch(/^v[12]$/);
    const code = `import os, time
pid = os.fork()
if pid == 0:
    os.setsid()
    print(os.getpid(), flush=True)
    time.sleep(600)
    os._exit(0)
print(os.getpid(), flush=True)
while True:
    pass
`;
    const { mark, environment } = processMark();
    const result = await runtime.run(request("python", code, { timeoutMs: 1500, environment }));
    expect(result.outcome).toBe("timeout");
    expect(result.error).toBe("timed out after 1.5s");
    expect(result.durationMs).toBeGreaterThanOrEqual(1500);
    expect(result.durationMs).toBeLessThanOrEqual(1500 + KILL_MARGIN_MS);
    expect(result.stdout.trim().split("\n"), "both processes started").toHaveLength(2);
    expect(await markedProcesses(mark), "processes outlived the invocation").toEqual([]);
  });

  it("kills the whole process tree at the timeout, long before the backstop would", async () => {
    expect(runtime.cgroupVersion, NO_CGROUP).toMatch(/^v[12]$/);
    // The main process sleeps, its child spins in the same process group, the grandchild
    // left the group with setsid() and sleeps: three ways of outliving a careless kill.
    const code = `import os, time
print(os.getpid(), flush=True)
if os.fork() == 0:
    if os.fork() == 0:
        os.setsid()
        print(os.getpid(), flush=True)
        while True:
            time.sleep(60)
    print(os.getpid(), flush=True)
    while True:
        pass
while True:
    time.sleep(60)
`;
    const { mark, environment } = processMark();
    const began = performance.now();
    const result = await runtime.run(request("python", code, { timeoutMs: 2000, environment }));
    const survivors = await markedProcesses(mark);
    const elapsedMs = performance.now() - began;
    expect(result).toMatchObject({ outcome: "timeout", error: "timed out after 2s" });
    expect(result.stdout.trim().split("\n"), "all three processes started").toHaveLength(3);
    expect(survivors, "processes still alive when the invocation ended").toEqual([]);
    // Measured from before the function started, so it bounds the kill from its start. The
    // backstop (timeout -s KILL) would end the tree only after 2 s + 5 s: far above this.
    expect(elapsedMs).toBeGreaterThanOrEqual(2000);
    expect(elapsedMs).toBeLessThanOrEqual(2000 + KILL_MARGIN_MS);
  });

  it("keeps the platform's environment away from the function", async () => {
    process.env.DB_PASSWORD = "secret";
    try {
      const code = `import json, os\nprint(json.dumps({"db": os.environ.get("DB_PASSWORD"), "payload": os.environ["FUNCTION_PAYLOAD"], "keys": sorted(os.environ)}))\n`;
      const result = await runtime.run(
        request("python", code, { environment: { MY_VAR: "mine", FUNCTION_PAYLOAD: "overridden?" } }),
      );
      const out = JSON.parse(result.stdout);
      expect(out.db).toBeNull();
      expect(out.payload).toBe(JSON.stringify({ name: "Test" }));
      expect(out.keys).toEqual(["FUNCTION_PAYLOAD", "HOME", "LANG", "MY_VAR", "PATH"]);
    } finally {
      delete process.env.DB_PASSWORD;
    }
  });

  it("truncates output over the caps while draining the rest", async () => {
    const small = new ProcessRuntime({
      workDir: join(workDir, "small"),
      limits: { maxOutputBytes: 1000, maxLogBytes: 500 },
      logger,
      networkAllow: TEST_NETWORK_ALLOW,
    });
    await small.start();
    try {
      // 1 MB per stream: far more than a pipe buffer, so a reader that stopped would hang the child.
      const code = `import sys\nsys.stdout.write("a" * 1000000)\nsys.stderr.write("b" * 1000000)\n`;
      const result = await small.run(request("python", code));
      expect(result.outcome).toBe("completed");
      expect(result.stdout).toBe("a".repeat(1000));
      expect(result.stdoutTruncated).toBe(true);
      expect(result.stderr).toBe("b".repeat(500));
      expect(result.stderrTruncated).toBe(true);
    } finally {
      await small.stop();
    }
  });

  it("refuses to start on a host that gives out the sandboxes' uids", async () => {
    const dir = join(workDir, "uid-files");
    await mkdir(dir);
    const uidFiles = { passwd: join(dir, "passwd"), subuid: join(dir, "subuid") };
    await writeFile(uidFiles.passwd, "root:x:0:0:root:/root:/bin/bash\nsvc:x:250000:250000::/:/bin/false\n");
    await writeFile(uidFiles.subuid, "alice:100000:65536\nbob:165536:65536\n");
    const claimed = new ProcessRuntime({ workDir: join(workDir, "claimed"), limits, logger, uidFiles });
    try {
      await expect(claimed.start()).rejects.toThrow(
        `uids 200000-299999 (the process runtime's function uids) are given out on this host: ${uidFiles.passwd} line 2 gives svc uid 250000; ${uidFiles.subuid} line 2 gives bob uids 165536-231071`,
      );
      // The Go builds' uid is checked as well.
      await writeFile(uidFiles.passwd, "builder:x:199999:1::/:/bin/false\n");
      await writeFile(uidFiles.subuid, "");
      await expect(claimed.start()).rejects.toThrow(
        `uids 199999-199999 (the uid of Go builds) are given out on this host: ${uidFiles.passwd} line 1 gives builder uid 199999`,
      );
    } finally {
      await claimed.stop();
    }
  });

  it("two runtimes on one host hand out uids of blocks of their own, given back at stop", async () => {
    const uidBlocksDir = join(workDir, "uid-blocks");
    const started = await Promise.all(
      ["blocks-a", "blocks-b"].map(async (name) => {
        const own = new ProcessRuntime({ workDir: join(workDir, name), limits, logger, uidBlocksDir });
        await own.start();
        return own;
      }),
    );
    try {
      const claims = await readdir(uidBlocksDir);
      expect(claims).toHaveLength(2);
      const claimed = claims.map((name) => Number(/^200000\.(\d+)\./.exec(name)?.[1]));
      expect(new Set(claimed).size).toBe(2);
      const blocksUsed = async (r: ProcessRuntime) => {
        const uids = [];
        for (let i = 0; i < 3; i++) {
          const result = await r.run(request("python", "import os\nprint(os.getuid())\n"));
          expect(result.outcome, result.stderr).toBe("completed");
          uids.push(Number(result.stdout.trim()));
        }
        return new Set(uids.map((uid) => Math.floor((uid - 200_000) / 1000)));
      };
      const [a, b] = [await blocksUsed(started[0] as ProcessRuntime), await blocksUsed(started[1] as ProcessRuntime)];
      expect(a.size).toBe(1);
      expect(b.size).toBe(1);
      expect(new Set([...a, ...b])).toEqual(new Set(claimed));
    } finally {
      await Promise.all(started.map((r) => r.stop()));
    }
    expect(await readdir(uidBlocksDir)).toEqual([]);
  });

  it("reports a missing toolchain as a failed result", async () => {
    const broken = new ProcessRuntime({
      workDir: join(workDir, "broken"),
      limits,
      logger,
      networkAllow: TEST_NETWORK_ALLOW,
      toolchains: { go: "/nonexistent/go", python: "/nonexistent/python3" },
    });
    await broken.start();
    try {
      expect(await broken.run(request("go", GO_HELLO))).toMatchObject({
        outcome: "failed",
        error: "runtime not found: go (install golang-go)",
      });
      expect(await broken.run(request("python", PYTHON_HELLO))).toMatchObject({
        outcome: "failed",
        error: "runtime not found: python (install python3)",
      });
      // Node was not overridden and is still discovered.
      expect((await broken.run(request("nodejs", NODE_HELLO))).outcome).toBe("completed");
    } finally {
      await broken.stop();
    }
  });

  it("hands an aborted invocation back as a platform error and kills it", async () => {
    const { mark, environment } = processMark();
    const controller = new AbortController();
    const run = runtime.run(request("python", SLEEP, { environment, signal: controller.signal }));
    await waitForMarkedProcess(mark);
    controller.abort();
    await expect(run).rejects.toThrow(PlatformError);
    await expect(run).rejects.toThrow("invocation aborted: worker shutting down");
    expect(await markedProcesses(mark)).toEqual([]);
  });

  it("a worker starting beside another on one work dir replaces the seccomp program whole, never rewrites it in place", async () => {
    const shared = join(workDir, "shared");
    const first = new ProcessRuntime({ workDir: shared, limits, logger, networkAllow: TEST_NETWORK_ALLOW });
    await first.start();
    const program = join(shared, "seccomp.bpf");
    const before = await stat(program);
    // What a sandbox starting now holds: the program as it was when it opened the file.
    const held = await open(program, "r");
    const second = new ProcessRuntime({ workDir: shared, limits, logger, networkAllow: TEST_NETWORK_ALLOW });
    try {
      await second.start();
      // A new file took the name; the one already open was never truncated under its reader.
      expect((await stat(program)).ino).not.toBe(before.ino);
      expect((await held.readFile()).length).toBe(before.size);
      expect(JSON.parse((await first.run(request("python", PYTHON_HELLO))).stdout)).toEqual({
        message: "Hello, Test!",
      });
    } finally {
      await held.close();
      await second.stop();
      await first.stop();
    }
  });

  it("stop() kills running invocations and is idempotent", async () => {
    const own = new ProcessRuntime({
      workDir: join(workDir, "stopping"),
      limits,
      logger,
      networkAllow: TEST_NETWORK_ALLOW,
    });
    await own.start();
    const { mark, environment } = processMark();
    const run = own.run(request("python", SLEEP, { environment }));
    const outcome = run.then(
      () => null,
      (err: unknown) => err,
    );
    await waitForMarkedProcess(mark);
    await own.stop();
    await own.stop();
    expect(await outcome).toBeInstanceOf(PlatformError);
    expect(await markedProcesses(mark)).toEqual([]);
    await expect(own.run(request("python", PYTHON_HELLO))).rejects.toThrow(PlatformError);
  });
});

describe("descriptors the worker inherited", () => {
  /**
   * A worker that itself holds a descriptor without close-on-exec (node sets it on all it
   * opens, so such a descriptor is one the worker inherited: a loader's or supervisor's
   * pipe; this one is fd 200, /dev/null opened by bash for it: node marks low ones close-on-exec as it starts) runs a function in each
   * language, in a sandbox made for it and in one prepared ahead; root: sealed, otherwise
   * as the unsandboxed worker does. It prints what the worker holds and what each function did.
   */
  async function runLeakyWorker(
    dir: string,
    asUser: boolean,
  ): Promise<{
    worker: number[];
    runs: Record<string, { fresh: string; prepared: string | null; preparedRan: number }>;
  }> {
    const src = (path: string) => JSON.stringify(join(process.cwd(), path));
    const script = `import { readdirSync, readFileSync } from "node:fs";
import { ProcessRuntime } from ${src("src/worker/runtimes/process-runtime.ts")};
import { createLogger } from ${src("src/lib/logger.ts")};
import { INHERITED_FDS } from ${src("test/support/fd-listing.ts")};
import { runRequest } from ${src("test/support/run-request.ts")};
const worker = [];
for (const fd of readdirSync("/proc/self/fd")) {
  try {
    const flags = parseInt(readFileSync("/proc/self/fdinfo/" + fd, "utf8").match(/flags:\\s+(\\d+)/)[1], 8);
    if (!(flags & 0o2000000)) worker.push(Number(fd));
  } catch {}
}
const runtime = new ProcessRuntime({ workDir: ${JSON.stringify(dir)}, limits: { maxOutputBytes: 65536, maxLogBytes: 65536 }, logger: createLogger("silent"), networkAllow: ${JSON.stringify(TEST_NETWORK_ALLOW)}, prepared: { startMemoryMb: null } });
await runtime.start();
const runs = {};
for (const language of ["python", "nodejs", "go"]) {
  const run = async () => {
    const result = await runtime.run(runRequest(language, INHERITED_FDS[language], { memoryMb: 96 }));
    if (result.outcome !== "completed") throw new Error(language + ": " + result.error + " " + result.stderr);
    return result.stdout;
  };
  const fresh = await run();
  await runtime.whenPrepared();
  const before = runtime.preparedRunCount;
  const prepared = runtime.preparedSandboxCount > 0 ? await run() : null;
  runs[language] = { fresh, prepared, preparedRan: runtime.preparedRunCount - before };
}
await runtime.stop();
console.log(JSON.stringify({ worker: worker.sort((a, b) => a - b), runs }));
`;
    const node = [process.execPath, "--import", "tsx", "--input-type=module", "-e", script];
    const leak = ["/bin/bash", "-c", 'exec "$@" 200</dev/null', "bash", ...node];
    const command = asUser ? ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", ...leak] : leak;
    const stdio: ("ignore" | "pipe")[] = ["ignore", "pipe", "pipe"];
    const child = spawn(command[0] as string, command.slice(1), { stdio, cwd: process.cwd() });
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (c: Buffer) => {
      stdout += c;
    });
    child.stderr?.on("data", (c: Buffer) => {
      stderr += c;
    });
    const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
    expect(code, stderr).toBe(0);
    return JSON.parse(stdout.trim().split("\n").pop() as string);
  }

  it("a sealed function sees nothing of them, only 0, 1 and 2, in a sandbox made for it and in a prepared one, in each language", async () => {
    const { worker, runs } = await runLeakyWorker(join(workDir, "leaky"), false);
    expect(worker, "the worker holds the descriptor it was handed").toContain(200);
    for (const language of ["python", "nodejs", "go"]) {
      const run = runs[language];
      expect(run?.preparedRan, `${language}: the second run took a prepared sandbox`).toBe(1);
      expect(inheritedFds(run?.fresh ?? "{}"), `${language}, fresh: ${run?.fresh}`).toEqual([]);
      expect(inheritedFds(run?.prepared ?? "{}"), `${language}, prepared: ${run?.prepared}`).toEqual([]);
    }
  });

  it("an unsandboxed function (a worker without root) sees only 0, 1 and 2 as well", async () => {
    const dir = join(workDir, "leaky-user");
    await mkdir(dir);
    await chown(dir, 65534, 65534);
    const { worker, runs } = await runLeakyWorker(dir, true);
    expect(worker).toContain(200);
    for (const language of ["python", "nodejs", "go"]) {
      expect(inheritedFds(runs[language]?.fresh ?? "{}"), `${language}: ${runs[language]?.fresh}`).toEqual([]);
    }
  });

  it("in this worker too, whatever it inherited, in sandboxes made for it and prepared ones", async () => {
    for (const language of ["python", "nodejs", "go"] as const) {
      for (const memoryMb of [96, 128]) {
        const result = await runtime.run(request(language, INHERITED_FDS[language], { memoryMb }));
        expect(inheritedFds(result.stdout), `${language}, ${memoryMb} MiB: ${result.stdout}`).toEqual([]);
      }
    }
  });
});

describe("go build cache", () => {
  it("compiles a code version once, also for concurrent invocations", async () => {
    const code = GO_HELLO.replace("Hello, %s!", "Hi, %s!");
    const sha = createHash("sha256").update(code).digest("hex");
    const before = runtime.goBuildCount;
    const results = await Promise.all([1, 2, 3].map(() => runtime.run(request("go", code))));
    for (const r of results) expect(JSON.parse(r.stdout)).toEqual({ message: "Hi, Test!" });
    expect(runtime.goBuildCount).toBe(before + 1);

    const binary = join(workDir, "go-cache", sha, "main");
    const mtime = (await stat(binary)).mtimeMs;
    const again = await runtime.run(request("go", code, { payload: '{"name":"Again"}' }));
    expect(JSON.parse(again.stdout)).toEqual({ message: "Hi, Again!" });
    expect(runtime.goBuildCount).toBe(before + 1);
    expect((await stat(binary)).mtimeMs).toBe(mtime);
  });

  it("reports a compile error with the compiler output", async () => {
    const code = `package main\n\nfunc main() {\n\tundefinedThing()\n}\n`;
    const before = runtime.goBuildCount;
    const result = await runtime.run(request("go", code));
    expect(result).toMatchObject({ outcome: "failed", error: "compilation failed" });
    expect(result.stderr).toContain("undefined: undefinedThing");
    // Remembered for this code version in this process: no second build.
    expect(await runtime.run(request("go", code))).toMatchObject({ error: "compilation failed" });
    expect(runtime.goBuildCount).toBe(before + 1);
  });
});

describe("resource limits (cgroup)", () => {
  it("runs each invocation in a cgroup of its own with its memory limit, no swap and the pids limit", async () => {
    expect(runtime.cgroupVersion, NO_CGROUP).toMatch(/^v[12]$/);
    const { mark, environment } = processMark();
    const controller = new AbortController();
    const req = request("python", SLEEP, { memoryMb: 64, environment, signal: controller.signal });
    const run = runtime.run(req).catch((err: unknown) => err);
    const seen = await waitForMarkedCgroups(mark);
    const read = (path: string) =>
      readFile(path, "utf8").then(
        (t) => t.trim(),
        () => null,
      );
    const limits =
      seen.version === "v1"
        ? {
            memory: await read(`${seen.memory.dir}/memory.limit_in_bytes`),
            memsw: await read(`${seen.memory.dir}/memory.memsw.limit_in_bytes`),
            swappiness: await read(`${seen.memory.dir}/memory.swappiness`),
            pidsMax: seen.pids && (await read(`${seen.pids.dir}/pids.max`)),
          }
        : {
            memory: await read(`${seen.memory.dir}/memory.max`),
            swapMax: await read(`${seen.memory.dir}/memory.swap.max`),
            pidsMax: await read(`${seen.memory.dir}/pids.max`),
          };
    controller.abort();
    expect(await run).toBeInstanceOf(PlatformError);
    // Its own group, named after this worker (pid and start time) and the invocation, or the
    // sandbox prepared for it (made before the invocation was known): not the worker's, not
    // a shared one.
    const own = new RegExp(`^/faas/w${process.pid}-\\d+_(${req.invocationId}|prepared-python)-[A-Za-z0-9-]+$`);
    expect(seen.memory.group, "the function did not run in a memory cgroup of its own").toMatch(own);
    expect(seen.pids?.group, "the function did not run in a pids cgroup of its own").toMatch(own);
    // No swap: v2 says so with memory.swap.max; v1 with memory+swap equal to memory (or,
    // without swap accounting, swappiness 0).
    const noSwap =
      seen.version === "v2" ? { swapMax: "0" } : limits.memsw === null ? { swappiness: "0" } : { memsw: "67108864" };
    expect(seen.version).toBe(runtime.cgroupVersion);
    expect(limits).toMatchObject({ memory: "67108864", pidsMax: "64", ...noSwap });
  });

  it("kills a function that touches twice its memory limit and says so", async () => {
    const code = `chunks = []\nfor _ in range(128):\n    chunks.append(b"x" * (1 << 20))\nprint("survived")\n`;
    const result = await runtime.run(request("python", code, { memoryMb: 64 }));
    expect(result).toMatchObject({
      outcome: "failed",
      oomKilled: true,
      error: "out of memory: exceeded 64 MiB",
      stdout: "",
    });
  });

  it("lets a function use half its memory limit", async () => {
    const code = `chunks = []\nfor _ in range(32):\n    chunks.append(b"x" * (1 << 20))\nprint(len(chunks))\n`;
    const result = await runtime.run(request("python", code, { memoryMb: 64 }));
    expect(result.error).toBeUndefined();
    expect(result).toMatchObject({ outcome: "completed", stdout: "32\n" });
  });

  it("contains a fork bomb with the pids limit and removes its cgroups", async () => {
    expect(runtime.cgroupVersion, NO_CGROUP).toMatch(/^v[12]$/);
    // A moment of calm first, so the test can find it in its cgroup before the bomb goes off.
    const code = `import os, time
time.sleep(1)
while True:
    try:
        os.fork()
    except OSError:
        pass
`;
    const { mark, environment } = processMark();
    const req = request("python", code, { timeoutMs: 3000, environment });
    const run = runtime.run(req);
    const seen = await waitForMarkedCgroups(mark);
    const result = await run;
    // Its own processes may exhaust its memory before the timeout comes: either ends it.
    expect(["timeout", "failed"]).toContain(result.outcome);
    expect(result.durationMs).toBeLessThanOrEqual(3000 + KILL_MARGIN_MS);
    const dirs = [seen.memory.dir, ...(seen.pids ? [seen.pids.dir] : [])];
    for (const dir of dirs) {
      expect(dir, "the function did not run in a cgroup of its own").toMatch(
        new RegExp(`/faas/w${process.pid}-\\d+_(${req.invocationId}|prepared-python)-`),
      );
      // rmdir only succeeds on an empty cgroup: gone means every process was killed.
      await expect(stat(dir), `${dir} is left behind`).rejects.toMatchObject({ code: "ENOENT" });
    }
    expect(await markedProcesses(mark)).toEqual([]);
    // The machine still starts processes.
    expect((await runtime.run(request("python", PYTHON_HELLO))).outcome).toBe("completed");
  });
});
