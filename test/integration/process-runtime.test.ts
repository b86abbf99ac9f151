// The process runtime against real interpreters, a real Go toolchain and real cgroups.
import { execFileSync } from "node:child_process";
import { createHash, randomUUID } from "node:crypto";
import { chmod, mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PlatformError } from "../../src/errors.js";
import { createLogger } from "../../src/lib/logger.js";
import { detectCgroups } from "../../src/worker/runtimes/cgroup.js";
import { ProcessRuntime } from "../../src/worker/runtimes/process-runtime.js";
import { HELLO } from "../support/functions.js";
import { runRequest } from "../support/run-request.js";

const GO_HELLO = HELLO.go;
const PYTHON_HELLO = HELLO.python;
const NODE_HELLO = HELLO.nodejs;

const logger = createLogger("silent");
const limits = { maxOutputBytes: 64 * 1024, maxLogBytes: 64 * 1024 };
// Decided once at collection time: the limit tests need a writable memory cgroup.
const cgroups = (await detectCgroups()).manager;

let workDir: string;
let runtime: ProcessRuntime;

const request = runRequest;

/** Alive means it exists and is not a zombie waiting to be reaped. */
async function alive(pid: number): Promise<boolean> {
  const text = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
  return text !== "" && text.slice(text.lastIndexOf(")") + 2, text.lastIndexOf(")") + 3) !== "Z";
}

/** A named pipe: reading it resolves once the function has opened and closed it, no polling. */
function fifo(): string {
  const path = join(workDir, `ready-${randomUUID()}`);
  execFileSync("mkfifo", ["-m", "666", path]); // the function runs as nobody
  return path;
}

/** Writes its pid into the pipe named by READY, then waits to be killed. */
const WAIT_THEN_SLEEP = `import os, time
with open(os.environ["READY"], "w") as f:
    f.write(str(os.getpid()))
time.sleep(60)
`;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), "faas-process-runtime-"));
  await chmod(workDir, 0o755); // functions run as nobody: they must reach their own files
  runtime = new ProcessRuntime({ workDir, limits, logger });
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
    expect(result).toMatchObject({ outcome: "failed", exitCode: null, error: "killed by signal SIGSEGV" });
  });

  it("kills an infinite loop at its timeout, including a child that left the process group", async () => {
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
    const result = await runtime.run(request("python", code, { timeoutMs: 1500 }));
    expect(result.outcome).toBe("timeout");
    expect(result.error).toBe("timed out after 1.5s");
    expect(result.durationMs).toBeGreaterThanOrEqual(1500);
    const pids = result.stdout.trim().split("\n").map(Number);
    expect(pids).toHaveLength(2);
    // Without a cgroup only the process group is killed; setsid() escapes that.
    for (const pid of cgroups ? pids : pids.slice(1)) expect(await alive(pid)).toBe(false);
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

  it("reports a missing toolchain as a failed result", async () => {
    const broken = new ProcessRuntime({
      workDir: join(workDir, "broken"),
      limits,
      logger,
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
    const ready = fifo();
    const controller = new AbortController();
    const run = runtime.run(
      request("python", WAIT_THEN_SLEEP, { environment: { READY: ready }, signal: controller.signal }),
    );
    const pid = Number(await readFile(ready, "utf8"));
    controller.abort();
    await expect(run).rejects.toThrow(PlatformError);
    await expect(run).rejects.toThrow("invocation aborted: worker shutting down");
    expect(await alive(pid)).toBe(false);
  });

  it("stop() kills running invocations and is idempotent", async () => {
    const own = new ProcessRuntime({ workDir: join(workDir, "stopping"), limits, logger });
    await own.start();
    const ready = fifo();
    const run = own.run(request("python", WAIT_THEN_SLEEP, { environment: { READY: ready } }));
    const outcome = run.then(
      () => null,
      (err: unknown) => err,
    );
    const pid = Number(await readFile(ready, "utf8"));
    await own.stop();
    await own.stop();
    expect(await outcome).toBeInstanceOf(PlatformError);
    expect(await alive(pid)).toBe(false);
    await expect(own.run(request("python", PYTHON_HELLO))).rejects.toThrow(PlatformError);
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

describe.skipIf(!cgroups)("resource limits (cgroup)", () => {
  it("kills a memory hog at its limit and says so", async () => {
    const code = `a = []\nwhile True:\n    a.append(bytearray(1 << 20))\n`;
    const result = await runtime.run(request("python", code, { memoryMb: 64 }));
    expect(result).toMatchObject({
      outcome: "failed",
      oomKilled: true,
      error: "out of memory: exceeded 64 MiB",
    });
  });

  it("contains a fork bomb with the pids limit", async () => {
    const code = `import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n`;
    const req = request("python", code, { timeoutMs: 3000 });
    const result = await runtime.run(req);
    expect(["timeout", "failed"]).toContain(result.outcome);
    // Every group of this invocation is gone: rmdir only succeeds on an empty cgroup.
    for (const hierarchy of ["/sys/fs/cgroup/memory/faas", "/sys/fs/cgroup/pids/faas", "/sys/fs/cgroup/unified/faas"]) {
      const left = await readdir(hierarchy).catch(() => [] as string[]);
      expect(left.filter((n) => n.startsWith(req.invocationId))).toEqual([]);
    }
    // The machine still starts processes.
    expect((await runtime.run(request("python", PYTHON_HELLO))).outcome).toBe("completed");
  });
});
