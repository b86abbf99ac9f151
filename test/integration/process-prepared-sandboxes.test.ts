// The process runtime's prepared sandboxes (a root worker): made before their invocation,
// each serving exactly one, with nothing of the promise of a sandbox made on the
// invocation's path given up. Real bubblewrap, cgroups, tmpfs and interpreters.
import { spawn, spawnSync } from "node:child_process";
import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { PlatformError } from "../../src/errors.js";
import { createLogger } from "../../src/lib/logger.js";
import { type PreparedSandbox, SandboxMaker } from "../../src/worker/runtimes/prepared-sandbox.js";
import { ProcessRuntime, type ProcessRuntimeOptions } from "../../src/worker/runtimes/process-runtime.js";
import { launchProcessTree, TreeLostError } from "../../src/worker/runtimes/process-tree.js";
import type { FunctionLanguage } from "../../src/worker/runtimes/runtime.js";
import { runRequest } from "../support/run-request.js";
import { createTestNetns, TEST_NETWORK_ALLOW } from "../support/test-network.js";
import { waitFor } from "../support/waiting.js";

const logger = createLogger("silent");
const limits = { maxOutputBytes: 64 * 1024, maxLogBytes: 64 * 1024 };
const PYTHON = "/usr/bin/python3";

let workDir: string;
let runtime: ProcessRuntime;
const runtimes: ProcessRuntime[] = [];

/** A runtime of this file on a work dir of its own, started, its first sandboxes prepared. */
async function startRuntime(name: string, extra: Partial<ProcessRuntimeOptions> = {}): Promise<ProcessRuntime> {
  const own = new ProcessRuntime({
    workDir: join(workDir, name),
    limits,
    logger,
    networkAllow: TEST_NETWORK_ALLOW,
    ...extra,
  });
  runtimes.push(own);
  await own.start();
  await own.whenPrepared();
  return own;
}

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), "faas-prepared-"));
  await chmod(workDir, 0o755); // functions run as their own uid: they must reach their own files
  runtime = await startRuntime("main");
});

afterAll(async () => {
  await Promise.all(runtimes.map((r) => r.stop()));
  await rm(workDir, { recursive: true, force: true });
});

interface Prepared {
  language: FunctionLanguage;
  uid: number;
  mountPoint: string;
}

/** The prepared sandboxes of the runtime on `dir`, from their scratch mounts (named prepared-<language>-<uid>-...). */
async function preparedSandboxes(dir: string): Promise<Prepared[]> {
  const prefix = `${join(workDir, dir, "invocations")}/`;
  const found: Prepared[] = [];
  for (const line of (await readFile("/proc/self/mountinfo", "utf8")).split("\n")) {
    const mountPoint = line.split(" ")[4] ?? "";
    const named = /_prepared-(python|nodejs|go)-(\d+)-[0-9a-f]+$/.exec(mountPoint);
    if (mountPoint.startsWith(prefix) && named) {
      found.push({ language: named[1] as FunctionLanguage, uid: Number(named[2]), mountPoint });
    }
  }
  return found;
}

/** Scratch spaces (prepared or not) mounted under the runtime's work dir `dir`. */
async function scratchMounts(dir: string): Promise<string[]> {
  const prefix = `${join(workDir, dir, "invocations")}/`;
  return (await readFile("/proc/self/mountinfo", "utf8"))
    .split("\n")
    .map((line) => line.split(" ")[4] ?? "")
    .filter((mountPoint) => mountPoint.startsWith(prefix));
}

/** Host pids of live processes whose command is `comm` and whose command line mentions `text`. */
async function processesMentioning(comm: string, text: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => "");
    const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    if (name !== comm || stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, "latin1").catch(() => "");
    if (cmdline.includes(text)) pids.push(Number(entry));
  }
  return pids;
}

/**
 * Host pids of live (not zombie) processes running as `uid`; with `cgroup`, only those in a
 * cgroup of that name (a sandbox's own: another runtime of a test file running beside this
 * one may hand out the same uid, its cycle starting at a random one).
 */
async function processesOf(uid: number, cgroup?: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const status = await readFile(`/proc/${entry}/status`, "utf8").catch(() => "");
    if (!new RegExp(`^Uid:\\t${uid}\\t`, "m").test(status) || /^State:\tZ/m.test(status)) continue;
    if (cgroup !== undefined && !(await readFile(`/proc/${entry}/cgroup`, "utf8").catch(() => "")).includes(cgroup)) {
      continue;
    }
    pids.push(Number(entry));
  }
  return pids;
}

/** Where the runtime's cgroups live, in every hierarchy. */
async function cgroupBases(): Promise<string[]> {
  return (await readFile("/proc/self/mounts", "utf8"))
    .split("\n")
    .map((l) => l.split(" "))
    .filter((f) => f[2] === "cgroup" || f[2] === "cgroup2")
    .map((f) => join(f[1] as string, "faas"));
}

/** SIGKILL, for a process that may have ended meanwhile (its parent was killed first). */
function killQuietly(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // gone already
  }
}

/** The uids of the main runtime's prepared sandboxes of `language`, once none is on its way. */
async function preparedUids(language: FunctionLanguage): Promise<number[]> {
  await runtime.whenPrepared();
  return (await preparedSandboxes("main")).filter((p) => p.language === language).map((p) => p.uid);
}

const PRINT_UID: Record<FunctionLanguage, string> = {
  python: "import os\nprint(os.getuid())\n",
  nodejs: "console.log(process.getuid());\n",
  go: 'package main\n\nimport (\n\t"fmt"\n\t"os"\n)\n\nfunc main() {\n\tfmt.Println(os.Getuid())\n}\n',
};

describe("prepared sandboxes", () => {
  it.each(["python", "nodejs", "go"] as const)(
    "a %s sandbox is prepared before its invocation, which runs in it as its uid",
    async (language) => {
      if (language === "go") await runtime.run(runRequest("go", PRINT_UID.go)); // the build, off the measure
      const before = await preparedUids(language);
      expect(before, `no prepared ${language} sandbox`).toHaveLength(1);
      // Running: bubblewrap around its scratch space, before anything was asked of it.
      const [sandbox] = (await preparedSandboxes("main")).filter((p) => p.uid === before[0]);
      expect(await processesMentioning("bwrap", sandbox?.mountPoint as string)).not.toEqual([]);
      const runs = runtime.preparedRunCount;
      const result = await runtime.run(runRequest(language, PRINT_UID[language]));
      expect(result.outcome, result.stderr).toBe("completed");
      expect(Number(result.stdout.trim())).toBe(before[0]);
      expect(runtime.preparedRunCount).toBe(runs + 1);
      // Served once, then torn down: its scratch space is gone, a new one (another uid) waits.
      expect(await scratchMounts("main")).not.toContain(sandbox?.mountPoint);
      expect(await processesOf(before[0] as number)).toEqual([]);
      const after = await preparedUids(language);
      expect(after).toHaveLength(1);
      expect(after[0]).not.toBe(before[0]);
    },
  );

  it("counts the timeout from the go-ahead, not from the preparation", async () => {
    const [uid] = await preparedUids("python");
    // The point of the test: the sandbox is older than the invocation's whole timeout.
    await delay(1500);
    const code = "import os, time\ntime.sleep(0.8)\nprint(os.getuid())\n";
    const result = await runtime.run(runRequest("python", code, { timeoutMs: 1000 }));
    expect(result.error).toBeUndefined();
    expect(result).toMatchObject({ outcome: "completed", stdout: `${uid}\n` });
    expect(result.durationMs).toBeGreaterThanOrEqual(800);
    expect(result.durationMs).toBeLessThan(1000);
    // And the timeout still holds, from the go-ahead.
    await runtime.whenPrepared();
    await delay(1500);
    const slow = await runtime.run(runRequest("python", "import time\ntime.sleep(5)\n", { timeoutMs: 1000 }));
    expect(slow).toMatchObject({ outcome: "timeout", error: "timed out after 1s" });
    expect(slow.durationMs).toBeGreaterThanOrEqual(1000);
    expect(slow.durationMs).toBeLessThan(3000);
  });

  it("runs two invocations of one function as different uids that see nothing of each other", async () => {
    const functionId = "same-function";
    const write = `import json, os
for d in ("/tmp", "/var/tmp", "/dev/shm", "/fn"):
    open(os.path.join(d, "left-behind"), "w").write("x")
os.environ["SET_AT_RUNTIME"] = "1"
print(json.dumps({"uid": os.getuid()}))
`;
    const read = `import json, os
print(json.dumps({
    "uid": os.getuid(),
    "files": {d: sorted(os.listdir(d)) for d in ("/tmp", "/var/tmp", "/dev/shm", "/fn")},
    "env": sorted(os.environ),
    "environ": open("/proc/self/environ", "rb").read().decode().rstrip("\\0"),
}))
`;
    const runs = runtime.preparedRunCount;
    await runtime.whenPrepared();
    const first = await runtime.run(runRequest("python", write, { functionId, environment: { SECRET_A: "a-only" } }));
    await runtime.whenPrepared();
    const second = await runtime.run(runRequest("python", read, { functionId }));
    expect(first.outcome, first.stderr).toBe("completed");
    expect(second.outcome, second.stderr).toBe("completed");
    expect(runtime.preparedRunCount).toBe(runs + 2);
    const a = JSON.parse(first.stdout);
    const b = JSON.parse(second.stdout);
    expect(b.uid).not.toBe(a.uid);
    expect(b.files).toEqual({ "/tmp": [], "/var/tmp": [], "/dev/shm": [], "/fn": ["main.py"] });
    expect(b.env).toEqual(["FUNCTION_PAYLOAD", "HOME", "LANG", "PATH"]);
    expect(b.environ).not.toContain("SECRET_A");
    expect(b.environ).not.toContain("SET_AT_RUNTIME");
  });

  describe("the function sees exactly its environment", () => {
    const environment = { MY_VAR: "mine\nwith = and a newline", FUNCTION_PAYLOAD: "overridden?", TZ: "Asia/Tokyo" };
    const expected = {
      FUNCTION_PAYLOAD: JSON.stringify({ name: "Test" }),
      HOME: "/fn",
      LANG: "C.UTF-8",
      MY_VAR: environment.MY_VAR,
      PATH: "/usr/local/bin:/usr/bin:/bin",
      TZ: "Asia/Tokyo",
    };
    /** /proc/self/environ as NAME=value entries (the starter pads it with NULs). */
    const entries = (block: string) => block.split("\0").filter((e) => e !== "");

    it("python: os.environ, /proc/self/environ, /proc/self/cmdline and the time zone", async () => {
      const code = `import json, os, time
print(json.dumps({
    "env": dict(os.environ),
    "environ": open("/proc/self/environ").read(),
    "cmdline": open("/proc/self/cmdline").read(),
    "tz": time.tzname[0],
}))
`;
      const runs = runtime.preparedRunCount;
      await runtime.whenPrepared();
      const result = await runtime.run(runRequest("python", code, { environment }));
      expect(result.outcome, result.stderr).toBe("completed");
      expect(runtime.preparedRunCount).toBe(runs + 1);
      const seen = JSON.parse(result.stdout);
      expect(seen.env).toEqual(expected);
      // Exactly the block, as the kernel would show it for a process started with it.
      expect(seen.environ.split("\0").slice(0, -1).sort()).toEqual(
        Object.entries(expected)
          .map(([k, v]) => `${k}=${v}`)
          .sort(),
      );
      expect(seen.cmdline).toBe(`${PYTHON}\0main.py\0`);
      expect(seen.tz).toBe("JST");
    });

    it("nodejs: process.env, /proc/self/environ and the time zone", async () => {
      const code = `const fs = require("fs");
const environ = fs.readFileSync("/proc/self/environ", "utf8");
console.log(JSON.stringify({ env: process.env, environ: environ.replace(/\\0+$/, "\\0"), offset: new Date(0).getTimezoneOffset() }));
`;
      const runs = runtime.preparedRunCount;
      await runtime.whenPrepared();
      const result = await runtime.run(runRequest("nodejs", code, { environment }));
      expect(result.outcome, result.stderr).toBe("completed");
      expect(runtime.preparedRunCount).toBe(runs + 1);
      const seen = JSON.parse(result.stdout);
      expect(seen.env).toEqual(expected);
      // The block, then the NULs of the starter's room it was copied over (see sandbox-starters.ts).
      expect(entries(seen.environ).sort()).toEqual(
        Object.entries(expected)
          .map(([k, v]) => `${k}=${v}`)
          .sort(),
      );
      expect(seen.offset).toBe(-540);
    });

    it("go: os.Environ(), any bytes but NUL in a value", async () => {
      const code = `package main

import (
\t"encoding/json"
\t"fmt"
\t"os"
\t"sort"
)

func main() {
\tenv := os.Environ()
\tsort.Strings(env)
\tout, _ := json.Marshal(env)
\tfmt.Println(string(out))
}
`;
      await runtime.run(runRequest("go", code)); // the build
      const runs = runtime.preparedRunCount;
      await runtime.whenPrepared();
      const result = await runtime.run(runRequest("go", code, { environment }));
      expect(result.outcome, result.stderr).toBe("completed");
      expect(runtime.preparedRunCount).toBe(runs + 1);
      expect(JSON.parse(result.stdout)).toEqual(
        Object.entries(expected)
          .map(([k, v]) => `${k}=${v}`)
          .sort(),
      );
    });
  });

  it("nodejs: main.js is the main module, with the argv and globals of `node main.js`", async () => {
    const code = `console.log(JSON.stringify({
  main: require.main === module,
  id: module.id,
  filename: __filename,
  argv: process.argv,
  execArgv: process.execArgv,
  globals: ["require", "module", "exports", "__filename", "__dirname"].filter((g) => g in globalThis),
}));
`;
    await runtime.whenPrepared();
    const result = await runtime.run(runRequest("nodejs", code));
    expect(result.outcome, result.stderr).toBe("completed");
    expect(JSON.parse(result.stdout)).toEqual({
      main: true,
      id: ".",
      filename: "/fn/main.js",
      argv: [process.execPath.startsWith("/usr/bin/") ? "/usr/bin/node" : expect.any(String), "/fn/main.js"],
      execArgv: [],
      globals: [],
    });
  });

  describe("python ends as `python3 main.py` does", () => {
    let scriptDir: string;
    beforeAll(async () => {
      scriptDir = await mkdtemp(join(tmpdir(), "faas-python-main-"));
    });
    afterAll(() => rm(scriptDir, { recursive: true, force: true }));

    /** The interpreter's own verdict: exit status, signal, output, with the script's directory shown as /fn. */
    async function underPython(code: string) {
      await writeFile(join(scriptDir, "main.py"), code);
      const run = spawnSync(PYTHON, ["main.py"], {
        cwd: scriptDir,
        env: { PATH: "/usr/local/bin:/usr/bin:/bin", HOME: scriptDir, LANG: "C.UTF-8" },
        encoding: "utf8",
      });
      const asFn = (text: string) => text.replaceAll(scriptDir, "/fn");
      return { status: run.status, signal: run.signal, stdout: asFn(run.stdout), stderr: asFn(run.stderr) };
    }

    it.each([
      ["an exception", "def f():\n    raise ValueError('boom')\n\nf()\n"],
      ["a chained exception", "try:\n    1 / 0\nexcept Exception as e:\n    raise KeyError('k') from e\n"],
      ["sys.exit(3)", "import sys\nprint('out')\nsys.exit(3)\n"],
      ["SystemExit('msg')", "raise SystemExit('msg')\n"],
      ["sys.exit() in a function", "import sys\ndef f():\n    sys.exit()\nf()\n"],
      ["a syntax error", "def (\n"],
      ["atexit after an exception", "import atexit\natexit.register(lambda: print('bye'))\nraise RuntimeError('x')\n"],
      [
        "a thread still running",
        "import threading, time\nthreading.Thread(target=lambda: (time.sleep(0.2), print('late'))).start()\n",
      ],
      ["KeyboardInterrupt", "raise KeyboardInterrupt\n"],
    ])("%s", async (_, code) => {
      const expected = await underPython(code);
      const runs = runtime.preparedRunCount;
      await runtime.whenPrepared();
      const result = await runtime.run(runRequest("python", code));
      expect(runtime.preparedRunCount).toBe(runs + 1);
      expect(result.stderr).toBe(expected.stderr);
      expect(result.stdout).toBe(expected.stdout);
      if (expected.signal) {
        expect(result).toMatchObject({
          outcome: "failed",
          exitCode: null,
          error: expect.stringContaining(expected.signal),
        });
      } else {
        expect(result.exitCode).toBe(expected.status);
      }
    });
  });

  it("prepares networked sandboxes behind the same firewall (pasta running ahead)", async () => {
    const netns = await createTestNetns(7071);
    const host = createServer((socket) => socket.end("pong"));
    await new Promise<void>((resolve) => host.listen(0, "0.0.0.0", resolve));
    try {
      const targets = {
        allowed: `${netns.allowedAddress}:${netns.port}`,
        denied: `${netns.deniedAddress}:${netns.port}`,
        host: `${netns.hostAddress}:${(host.address() as { port: number }).port}`,
      };
      const code = `import json, os, socket
out = {}
for name, target in json.loads(os.environ["FUNCTION_PAYLOAD"]).items():
    host, port = target.rsplit(":", 1)
    s = socket.socket()
    s.settimeout(1.5)
    try:
        s.connect((host, int(port)))
        out[name] = "open: " + s.recv(4).decode()
    except Exception as e:
        out[name] = type(e).__name__
    finally:
        s.close()
print(json.dumps(out))
`;
      const request = () => runRequest("python", code, { network: true, payload: JSON.stringify(targets) });
      await runtime.run(request()); // the shape is used: one is prepared for the next
      await runtime.whenPrepared();
      const runs = runtime.preparedRunCount;
      const result = await runtime.run(request());
      expect(result.outcome, result.stderr).toBe("completed");
      expect(runtime.preparedRunCount).toBe(runs + 1);
      const seen = JSON.parse(result.stdout);
      expect(seen.allowed).toBe("open: pong");
      expect(seen.denied).not.toMatch(/^open/);
      expect(seen.host).not.toMatch(/^open/);
    } finally {
      await new Promise((resolve) => host.close(resolve));
      await netns.remove();
    }
  });

  it("runs a function whose environment an interpreter reads as it starts in a sandbox made for it", async () => {
    const runs = runtime.preparedRunCount;
    const python = await runtime.run(
      runRequest("python", "import sys\nprint(sys.flags.dont_write_bytecode)\n", {
        environment: { PYTHONDONTWRITEBYTECODE: "1" },
      }),
    );
    const node = await runtime.run(
      runRequest("nodejs", "console.log(process.noDeprecation)\n", {
        environment: { NODE_OPTIONS: "--no-deprecation" },
      }),
    );
    expect(python).toMatchObject({ outcome: "completed", stdout: "1\n" });
    expect(node).toMatchObject({ outcome: "completed", stdout: "true\n" });
    expect(runtime.preparedRunCount).toBe(runs);
  });

  describe("a prepared sandbox found dead at its go-ahead", () => {
    /** Kills the sandbox handed to the next `times` invocations just before their go-ahead. */
    function killBeforeGoAhead(times: number) {
      const killed: number[] = [];
      const original = SandboxMaker.prototype.runPrepared;
      const spy = vi.spyOn(SandboxMaker.prototype, "runPrepared").mockImplementation(async function (
        this: SandboxMaker,
        prepared: PreparedSandbox,
        ...rest
      ) {
        if (killed.length < times) {
          killed.push(prepared.who.uid);
          for (const pid of await processesOf(prepared.who.uid)) killQuietly(pid);
          await prepared.tree.ended;
        }
        return original.call(this, prepared, ...rest);
      });
      return { killed, restore: () => spy.mockRestore() };
    }

    it("runs the invocation in a fresh one", async () => {
      await runtime.whenPrepared();
      const { killed, restore } = killBeforeGoAhead(1);
      try {
        const result = await runtime.run(runRequest("python", PRINT_UID.python));
        expect(killed).toHaveLength(1);
        expect(result.outcome, result.stderr).toBe("completed");
        expect(Number(result.stdout.trim())).not.toBe(killed[0]);
      } finally {
        restore();
      }
    });

    it("is a platform error when the fresh one dies too", async () => {
      await runtime.whenPrepared();
      const { killed, restore } = killBeforeGoAhead(2);
      try {
        const run = runtime.run(runRequest("python", PRINT_UID.python));
        await expect(run).rejects.toThrow(PlatformError);
        await expect(run).rejects.toThrow(/died before their go-ahead/);
        expect(killed).toHaveLength(2);
      } finally {
        restore();
      }
    });

    it("is told apart from a function's own ending by the process tree", async () => {
      const tree = (script: string) =>
        launchProcessTree({
          command: ["/bin/sh", "-c", script],
          cwd: "/",
          env: {},
          cgroup: null,
          limits,
          goAheadFds: [5],
          exitStatusCarriesSignal: true,
        });
      const run = {
        signal: new AbortController().signal,
        timeoutMs: 5000,
        memoryMb: 128,
        goAhead: [Buffer.from("go")],
      };
      // Gone before its go-ahead.
      const early = tree("printf . >&5; exit 0");
      expect(await early.waiting).toBe(true);
      await early.ended;
      await expect(early.start(run)).rejects.toThrow(TreeLostError);
      // Gone after its go-ahead was sent, without having read it.
      const unread = tree("printf . >&5; sleep 0.3; exit 0");
      expect(await unread.waiting).toBe(true);
      await expect(unread.start(run)).rejects.toThrow(TreeLostError);
      // Read it, then ended as it liked: the function's result.
      const read = tree("printf . >&5; cat <&5; exit 3");
      expect(await read.waiting).toBe(true);
      expect(await read.start(run)).toMatchObject({ outcome: "failed", exitCode: 3, stdout: "go" });
    });
  });

  it("keeps no more than its bound, making room for the shape used now", async () => {
    const bounded = await startRuntime("bounded", { prepared: { max: 2 } });
    expect(await preparedSandboxes("bounded")).toHaveLength(2);
    await bounded.run(runRequest("python", PRINT_UID.python, { memoryMb: 96 }));
    await bounded.whenPrepared();
    const kept = await preparedSandboxes("bounded");
    expect(kept).toHaveLength(2);
    expect(kept.map((p) => p.mountPoint).join()).toContain("prepared-python");
    expect(bounded.preparedSandboxCount).toBe(2);
  });

  it("tears down a prepared sandbox nobody took within the idle time", async () => {
    const idle = await startRuntime("idle", { prepared: { idleMs: 500 } });
    expect((await preparedSandboxes("idle")).length).toBeGreaterThan(0);
    await waitFor("the idle sandboxes to be torn down", async () => (await scratchMounts("idle")).length === 0, {
      capMs: 10_000,
    });
    expect(await processesMentioning("bwrap", join(workDir, "idle"))).toEqual([]);
    expect(idle.preparedSandboxCount).toBe(0);
  });

  it("a worker that dies takes its prepared sandboxes with it; the next one on its work dir cleans up", async () => {
    const dir = join(workDir, "dying");
    const script = `import { ProcessRuntime } from ${JSON.stringify(join(process.cwd(), "src/worker/runtimes/process-runtime.ts"))};
import { createLogger } from ${JSON.stringify(join(process.cwd(), "src/lib/logger.ts"))};
const runtime = new ProcessRuntime({ workDir: ${JSON.stringify(dir)}, limits: { maxOutputBytes: 1024, maxLogBytes: 1024 }, logger: createLogger("silent"), networkAllow: ${JSON.stringify(TEST_NETWORK_ALLOW)} });
await runtime.start();
await runtime.whenPrepared();
console.log("prepared", runtime.preparedSandboxCount);
setInterval(() => undefined, 1000);
`;
    const worker = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const said = await new Promise<string>((resolve) => worker.stdout.once("data", (c: Buffer) => resolve(String(c))));
    expect(said.trim()).toBe("prepared 3");
    expect(await processesMentioning("bwrap", dir)).not.toEqual([]);
    worker.kill("SIGKILL");
    await waitFor(
      "the dead worker's sandboxes to end",
      async () => (await processesMentioning("bwrap", dir)).length === 0,
      {
        capMs: 10_000,
      },
    );
    // Its scratch spaces and cgroups stay until a worker starts on the work dir, as for any sandbox.
    expect(await scratchMounts("dying")).toHaveLength(3);
    const next = new ProcessRuntime({
      workDir: dir,
      limits,
      logger,
      networkAllow: TEST_NETWORK_ALLOW,
      prepared: { startMemoryMb: null },
    });
    runtimes.push(next);
    await next.start();
    expect(await scratchMounts("dying")).toEqual([]);
    for (const base of await cgroupBases()) {
      const names = await readdir(base).catch(() => [] as string[]);
      expect(names.filter((n) => n.startsWith(`w${worker.pid}-`))).toEqual([]);
    }
  });

  it("stop() tears down every prepared sandbox: no bubblewrap left, scratch spaces unmounted, cgroups removed", async () => {
    const stopping = await startRuntime("stopping");
    const prepared = await preparedSandboxes("stopping");
    expect(prepared.map((p) => p.language).sort()).toEqual(["go", "nodejs", "python"]);
    expect(await processesMentioning("bwrap", join(workDir, "stopping"))).not.toEqual([]);
    const cgroupOf = (p: Prepared) => p.mountPoint.split("_").pop() as string;
    for (const p of prepared) expect(await processesOf(p.uid, cgroupOf(p))).not.toEqual([]);
    await stopping.stop();
    await stopping.stop();
    expect(await scratchMounts("stopping")).toEqual([]);
    expect(await processesMentioning("bwrap", join(workDir, "stopping"))).toEqual([]);
    for (const p of prepared) expect(await processesOf(p.uid, cgroupOf(p))).toEqual([]);
    for (const dir of await cgroupBases()) {
      const names = await readdir(dir).catch(() => [] as string[]);
      for (const p of prepared) expect(names.filter((n) => n.endsWith(cgroupOf(p)))).toEqual([]);
    }
  });
});
