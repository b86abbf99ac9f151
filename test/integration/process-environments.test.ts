// The process runtime's execution environments (a root worker): one sealed sandbox per
// function version whose agent serves the version's invocations one at a time, each a
// fresh process, with nothing crossing from one invocation to the next. Mirrors
// execution-environments.test.ts (the container runtime's) with real bubblewrap, cgroups,
// tmpfs, interpreters and the agent built from runtimes/agent.
import { randomUUID } from "node:crypto";
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../src/lib/logger.js";
import { AGENT_BUILD_RETENTION_MS, agentDirectory } from "../../src/worker/runtimes/agent-binary.js";
import { type NodeAddonToolchain, nodeAddonToolchain } from "../../src/worker/runtimes/node-addon.js";
import { ProcessRuntime, type ProcessRuntimeOptions } from "../../src/worker/runtimes/process-runtime.js";
import type { FunctionLanguage, RunRequest } from "../../src/worker/runtimes/runtime.js";
import { resolveToolchains } from "../../src/worker/runtimes/toolchains.js";
import { INHERITED_FDS, inheritedFds } from "../support/fd-listing.js";
import { b64, functionBody, HELLO } from "../support/functions.js";
import { nodeZygoteCases } from "../support/node-zygote-cases.js";
import { startPlatform } from "../support/platform.js";
import { runRequest } from "../support/run-request.js";
import { TEST_NETWORK_ALLOW } from "../support/test-network.js";
import { waitFor } from "../support/waiting.js";

const logger = createLogger("silent");
const limits = { maxOutputBytes: 64 * 1024, maxLogBytes: 64 * 1024 };

let workDir: string;
let agentDir: string;
/** The host's node, its headers and a compiler: the agent builds here fork Node.js invocations. */
let node: NodeAddonToolchain;
let runtime: ProcessRuntime;
const runtimes: ProcessRuntime[] = [];

async function startRuntime(name: string, extra: Partial<ProcessRuntimeOptions> = {}): Promise<ProcessRuntime> {
  const own = new ProcessRuntime({
    workDir: join(workDir, name),
    limits,
    logger,
    networkAllow: TEST_NETWORK_ALLOW,
    prepared: { startMemoryMb: null },
    environments: { keepWarmMs: 60_000, agentDir, genericPerKey: 0 },
    ...extra,
  });
  runtimes.push(own);
  await own.start();
  return own;
}

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), "faas-process-environments-"));
  await chmod(workDir, 0o755); // functions run as their own uid: they must reach their own files
  const go = (await resolveToolchains()).go;
  if (!go) throw new Error("these tests build the agent with the host's Go toolchain: install golang-go");
  const addon = await nodeAddonToolchain((await resolveToolchains()).nodejs ?? "no node");
  if (typeof addon === "string") throw new Error(`these tests build the Node.js zygote's addon: ${addon}`);
  node = addon;
  agentDir = await agentDirectory(join(workDir, "agent-build"), go, { node });
  runtime = await startRuntime("main");
});

afterAll(async () => {
  await Promise.all(runtimes.map((r) => r.stop()));
  await rm(workDir, { recursive: true, force: true });
});

/** Host pids of live (not zombie) processes running as `uid`. */
async function processesOf(uid: number): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const status = await readFile(`/proc/${entry}/status`, "utf8").catch(() => "");
    if (new RegExp(`^Uid:\\t${uid}\\t`, "m").test(status) && !/^State:\tZ/m.test(status)) pids.push(Number(entry));
  }
  return pids;
}

/** Scratch spaces mounted under the runtime's work dir `dir`. */
async function scratchMounts(dir: string): Promise<string[]> {
  const prefix = `${join(workDir, dir, "invocations")}/`;
  return (await readFile("/proc/self/mountinfo", "utf8"))
    .split("\n")
    .map((line) => line.split(" ")[4] ?? "")
    .filter((mountPoint) => mountPoint.startsWith(prefix));
}

/** cgroups of environments (named env-<language>-<uid>-...) in every hierarchy. */
async function environmentCgroups(uid: number): Promise<string[]> {
  const bases = (await readFile("/proc/self/mounts", "utf8"))
    .split("\n")
    .map((l) => l.split(" "))
    .filter((f) => f[2] === "cgroup" || f[2] === "cgroup2")
    .map((f) => join(f[1] as string, "faas"));
  const found: string[] = [];
  for (const base of bases) {
    for (const name of await readdir(base).catch(() => [] as string[])) {
      if (new RegExp(`_env-[a-z]+-${uid}-`).test(name)) found.push(join(base, name));
    }
  }
  return found;
}

const PRINT_UID: Record<FunctionLanguage, string> = {
  python: "import os\nprint(os.getuid())\n",
  nodejs: "console.log(process.getuid());\n",
  go: 'package main\n\nimport (\n\t"fmt"\n\t"os"\n)\n\nfunc main() {\n\tfmt.Println(os.Getuid())\n}\n',
};

/** One function: same function id and code for every call (one version), unless overridden. */
function fn(language: FunctionLanguage, code: string, base: Partial<RunRequest> = {}) {
  const template = runRequest(language, code, base);
  return (extra: Partial<RunRequest> = {}): RunRequest => ({ ...template, invocationId: randomUUID(), ...extra });
}

async function uidOf(r: ProcessRuntime, request: RunRequest): Promise<number> {
  const result = await r.run(request);
  expect(result.outcome, `${result.error} ${result.stderr}`).toBe("completed");
  return Number(result.stdout.trim());
}

/**
 * What an invocation finds of earlier ones, then (payload "leave") what it leaves behind:
 * a global, files in every writable place, an inheritable descriptor, a background child
 * in a session of its own and a double-forked one, a SysV message queue.
 */
const PROBE = `import builtins, ctypes, json, os, subprocess, sys
leave = json.loads(os.environ["FUNCTION_PAYLOAD"]).get("leave", False)
libc = ctypes.CDLL(None, use_errno=True)
out = {"uid": os.getuid()}
out["global"] = getattr(builtins, "_left", None)
out["secret"] = os.environ.get("SECRET")
places = ["/tmp/left", "/var/tmp/left", "/dev/shm/left", "/fn/code/left", "/dev/mqueue/left"]
out["files"] = [f for f in places if os.path.lexists(f)]
mine = {os.getpid(), os.getppid(), 1}
out["others"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in mine)
out["fds"] = sorted(int(fd) for fd in os.listdir("/proc/self/fd") if int(fd) > 2 and os.path.exists("/proc/self/fd/" + fd) and not os.readlink("/proc/self/fd/" + fd).startswith("/proc/"))
out["sysv"] = len(open("/proc/sysvipc/msg").read().strip().splitlines()) - 1
unwritable = []
for d in ["/", "/fn", "/opt/faas", "/usr", "/etc"]:
    try:
        with open(os.path.join(d, "left-" + str(os.getpid())), "w") as f:
            f.write("x")
        unwritable.append(d + " is writable")
    except OSError:
        pass
out["writable"] = unwritable
if leave:
    builtins._left = "left"
    for f in places:
        os.close(os.open(f, os.O_CREAT | os.O_WRONLY, 0o600))
    fd = os.open("/tmp/held", os.O_CREAT | os.O_WRONLY)
    os.set_inheritable(fd, True)
    subprocess.Popen(["/bin/sleep", "600"], start_new_session=True, close_fds=False)
    if os.fork() == 0:
        if os.fork() == 0:
            os.setsid()
            import time
            time.sleep(600)
        os._exit(0)
    os.wait()
    libc.msgget(0x1234, 0o1600)
print(json.dumps(out))
`;

describe("process execution environments", () => {
  it("nodejs: without the zygote's addon (no C++ compiler or node headers) each invocation runs in a sandbox of its own", async () => {
    const go = (await resolveToolchains()).go as string;
    const withoutAddon = await agentDirectory(join(workDir, "agent-build-without-addon"), go);
    expect(withoutAddon).not.toBe(agentDir);
    const bare = await startRuntime("no-addon", {
      environments: { keepWarmMs: 60_000, agentDir: withoutAddon, genericPerKey: 0 },
    });
    const call = fn("nodejs", PRINT_UID.nodejs);
    const warmBefore = bare.environmentStarts.warm;
    const uids = new Set([await uidOf(bare, call()), await uidOf(bare, call()), await uidOf(bare, call())]);
    expect(uids.size).toBe(3);
    expect(bare.environmentStarts.warm).toBe(warmBefore);
    // Python's environments are not affected.
    const python = fn("python", PRINT_UID.python);
    expect(await uidOf(bare, python())).toBe(await uidOf(bare, python()));
  });

  it.each(["python", "go", "nodejs"] as const)(
    "%s: a version's invocations reuse its environment",
    async (language) => {
      const call = fn(language, PRINT_UID[language]);
      const first = await uidOf(runtime, call());
      const warmBefore = runtime.environmentStarts.warm;
      expect(await uidOf(runtime, call())).toBe(first);
      expect(await uidOf(runtime, call())).toBe(first);
      expect(runtime.environmentStarts.warm - warmBefore).toBe(2);
    },
  );

  // As in containers (runtimes/agent/code.go): exec'd from a sealed memfd, /fn/code rewritten
  // after an invocation that touched it, os.Executable() found through the sandbox's link.
  it("go: runs the code as installed after an invocation rewrote its own file, and finds its own executable", async () => {
    const call = fn(
      "go",
      `package main

import (
	"crypto/sha256"
	"fmt"
	"os"
)

func main() {
	file, _ := os.ReadFile("/fn/code/main")
	executable, _ := os.Executable()
	named, _ := os.ReadFile(executable)
	image, _ := os.Readlink("/proc/self/exe")
	fmt.Printf("%x %x %s\\n", sha256.Sum256(file), sha256.Sum256(named), image)
	os.Chmod("/fn/code/main", 0o700)
	if err := os.WriteFile("/fn/code/main", []byte("junk"), 0o700); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
}
`,
    );
    const seen = [];
    for (let i = 0; i < 3; i++) {
      const result = await runtime.run(call());
      expect(result.outcome, `${result.error} ${result.stderr}`).toBe("completed");
      expect(result.stderr).toBe("");
      seen.push(result.stdout.trim());
    }
    const [file, named, image] = (seen[0] ?? "").split(" ");
    expect(named).toBe(file);
    expect(image).toBe("/memfd:main");
    expect(seen).toEqual([seen[0], seen[0], seen[0]]);
  });

  it.each(["python", "nodejs", "go"] as const)(
    "%s: the function sees only 0, 1 and 2 of the worker's descriptors",
    async (language) => {
      const call = fn(language, INHERITED_FDS[language]);
      for (let i = 0; i < 2; i++) {
        const result = await runtime.run(call());
        expect(inheritedFds(result.stdout), result.stdout + result.stderr).toEqual([]);
      }
    },
  );

  it("a new code, memory or network version never runs in an old environment; two functions never share one", async () => {
    const call = fn("python", PRINT_UID.python);
    const v1 = await uidOf(runtime, call());
    const changed = `${PRINT_UID.python}# v2\n`;
    const v2 = await uidOf(runtime, call({ code: Buffer.from(changed) }));
    const memory = await uidOf(runtime, call({ memoryMb: 96 }));
    const networked = await uidOf(runtime, call({ memoryMb: 96, network: true }));
    const memoryAgain = await uidOf(runtime, call({ memoryMb: 96 }));
    const other = await uidOf(runtime, fn("python", PRINT_UID.python)());
    expect(new Set([v1, v2, memory, networked, memoryAgain, other]).size).toBe(6);
    // The function's older versions were retired as the newer ones came.
    // (A networked function is root of pasta's user namespace, without capabilities: uid 0 inside.)
    for (const old of [v1, v2, memory]) {
      await waitFor("an old version's environment to go", async () => (await processesOf(old)).length === 0, {
        capMs: 10_000,
      });
    }
    expect(await uidOf(runtime, call({ memoryMb: 96 }))).toBe(memoryAgain);
  });

  it("nothing crosses from one invocation to the next: globals, variables, files, descriptors, processes, IPC", async () => {
    const call = fn("python", PROBE);
    const leaving = await runtime.run(
      call({ payload: JSON.stringify({ leave: true }), environment: { SECRET: "from the first invocation" } }),
    );
    expect(leaving.outcome, leaving.stderr).toBe("completed");
    const first = JSON.parse(leaving.stdout);
    const next = JSON.parse((await runtime.run(call({ payload: "{}" }))).stdout);
    expect(next.uid, "the same environment").toBe(first.uid);
    expect(next).toMatchObject({ global: null, secret: null, files: [], others: [], fds: [], sysv: 0, writable: [] });
    expect(first.writable).toEqual([]);
  });

  it("a timeout kills the invocation's whole tree and keeps the environment", async () => {
    const call = fn("python", PROBE);
    const uid = JSON.parse((await runtime.run(call({ payload: "{}" }))).stdout).uid;
    const sleeper = `import os, subprocess, time\nsubprocess.Popen(["/bin/sleep", "600"], start_new_session=True)\nprint("started", flush=True)\ntime.sleep(60)\n`;
    const timedOut = await runtime.run(
      fn("python", sleeper, { functionId: call().functionId })({ code: Buffer.from(sleeper), timeoutMs: 1000 }),
    );
    expect(timedOut).toMatchObject({ outcome: "timeout" });
    // Another version of the same function: its environment replaced the first; the probe is a third.
    const again = JSON.parse((await runtime.run(fn("python", PROBE)({ payload: "{}" }))).stdout);
    expect(again.others).toEqual([]);
    // Same version after a timeout: same environment, nothing left.
    const slow = fn(
      "python",
      sleeper.replace(
        "time.sleep(60)",
        "time.sleep(60 if os.environ['FUNCTION_PAYLOAD'] == '1' else 0)\nprint(sorted(int(p) for p in os.listdir('/proc') if p.isdigit() and int(p) not in {1, os.getpid(), os.getppid()}))",
      ),
    );
    const t1 = await runtime.run(slow({ payload: "1", timeoutMs: 1000 }));
    expect(t1.outcome).toBe("timeout");
    const t2 = await runtime.run(slow({ payload: "0" }));
    expect(t2.outcome, t2.stderr).toBe("completed");
    // The sleeper of this invocation is the only other process (started just now).
    expect(JSON.parse(t2.stdout.trim().split("\n").pop() as string)).toHaveLength(1);
    expect(uid).toBeGreaterThan(0);
  });

  it("a crash keeps the environment; an OOM replaces it", async () => {
    const code = `import os, signal, sys
mode = os.environ["FUNCTION_PAYLOAD"]
if mode == "exit":
    sys.exit(3)
if mode == "segv":
    os.kill(os.getpid(), signal.SIGSEGV)
if mode == "oom":
    chunks = []
    for _ in range(128):
        chunks.append(b"x" * (1 << 20))
print(os.getuid())
`;
    const call = fn("python", code, { memoryMb: 64 });
    const uid = await uidOf(runtime, call({ payload: "ok" }));
    expect(await runtime.run(call({ payload: "exit" }))).toMatchObject({ outcome: "failed", exitCode: 3 });
    expect(await runtime.run(call({ payload: "segv" }))).toMatchObject({
      outcome: "failed",
      error: "killed by signal 11 (SIGSEGV)",
    });
    expect(await uidOf(runtime, call({ payload: "ok" }))).toBe(uid);
    expect(await runtime.run(call({ payload: "oom" }))).toMatchObject({
      outcome: "failed",
      oomKilled: true,
      error: "out of memory: exceeded 64 MiB",
    });
    const after = await uidOf(runtime, call({ payload: "ok" }));
    expect(after, "a new environment after the OOM").not.toBe(uid);
    await waitFor("the OOMed environment to go", async () => (await processesOf(uid)).length === 0, { capMs: 10_000 });
  });

  it("a function's environments are retired when it changes", async () => {
    const call = fn("python", PRINT_UID.python);
    const before = await uidOf(runtime, call());
    runtime.retireFunction(call().functionId);
    await waitFor("the retired environment to go", async () => (await processesOf(before)).length === 0, {
      capMs: 10_000,
    });
    await waitFor("its cgroup to go", async () => (await environmentCgroups(before)).length === 0, { capMs: 10_000 });
    expect(await uidOf(runtime, call())).not.toBe(before);
  });

  it("an idle environment goes after the keep-warm time", async () => {
    const idle = await startRuntime("idle", { environments: { keepWarmMs: 300, agentDir, genericPerKey: 0 } });
    const uid = await uidOf(idle, fn("python", PRINT_UID.python)());
    expect(idle.environmentCount).toBe(1);
    await waitFor("the idle environment to go", async () => idle.environmentCount === 0, { capMs: 10_000 });
    await waitFor("its processes to end", async () => (await processesOf(uid)).length === 0, { capMs: 10_000 });
    await waitFor("its scratch space to go", async () => (await scratchMounts("idle")).length === 0, { capMs: 10_000 });
  });

  it("agent builds: a worker's start removes other sources' builds unused for two weeks; an environment start marks its build used", async () => {
    const base = join(agentDir, "..");
    const day = 24 * 3_600_000;
    const aged = async (name: string, ageMs: number) => {
      await mkdir(join(base, name), { recursive: true });
      await writeFile(join(base, name, "agent"), "");
      const then = new Date(Date.now() - ageMs);
      await utimes(join(base, name), then, then);
    };
    await aged("0123456789abcdef0123", AGENT_BUILD_RETENTION_MS + day); // an old source's, unused
    await aged("00000000000000000000", AGENT_BUILD_RETENTION_MS - day); // another's, used 13 days ago
    await aged(".build-1-abandoned", 2 * 3_600_000); // a worker died while building
    await aged(".build-2-underway", 60_000); // a build under way
    await aged("not-a-build", AGENT_BUILD_RETENTION_MS + day); // not ours to remove
    const then = new Date(Date.now() - AGENT_BUILD_RETENTION_MS - day);
    await utimes(agentDir, then, then); // this source's own build, however old, stays
    const go = (await resolveToolchains()).go as string;
    expect(await agentDirectory(join(base, ".."), go, { node })).toBe(agentDir);
    expect((await readdir(base)).sort()).toEqual(
      [".build-2-underway", "00000000000000000000", "not-a-build", agentDir.split("/").pop()].sort(),
    );
    expect(Date.now() - (await stat(agentDir)).mtimeMs).toBeLessThan(day); // marked used by the start
    // An environment started from a build marks it used: a long-running worker's build stays.
    await utimes(agentDir, then, then);
    const marking = await startRuntime("marking");
    await uidOf(marking, fn("python", PRINT_UID.python)());
    expect(Date.now() - (await stat(agentDir)).mtimeMs).toBeLessThan(day);
  });

  it("stop() removes every environment: no processes, scratch spaces or cgroups left", async () => {
    const stopping = await startRuntime("stopping", {
      environments: { keepWarmMs: 60_000, agentDir, genericPerKey: 1 },
      prepared: { startMemoryMb: 128 },
    });
    const uids: number[] = [];
    for (const language of ["python", "nodejs", "go"] as const)
      uids.push(await uidOf(stopping, fn(language, PRINT_UID[language])()));
    expect(JSON.parse((await stopping.run(runRequest("python", HELLO.python))).stdout)).toEqual({
      message: "Hello, Test!",
    });
    await stopping.stop();
    await stopping.stop();
    for (const uid of uids) {
      expect(await processesOf(uid)).toEqual([]);
      expect(await environmentCgroups(uid)).toEqual([]);
    }
    expect(await scratchMounts("stopping")).toEqual([]);
  });

  it("python: /proc/self/environ and cmdline show the invocation's own, as in a sandbox of its own", async () => {
    const code = `import json\nprint(json.dumps([open("/proc/self/environ", "rb").read().decode(), open("/proc/self/cmdline", "rb").read().decode()]))\n`;
    const call = fn("python", code, { environment: { MINE: "mine" } });
    for (let i = 0; i < 2; i++) {
      const [environ, cmdline] = JSON.parse((await runtime.run(call())).stdout) as [string, string];
      expect(
        environ
          .split("\0")
          .filter((e) => e !== "")
          .sort(),
      ).toEqual(
        [
          'FUNCTION_PAYLOAD={"name":"Test"}',
          "HOME=/tmp",
          "LANG=C.UTF-8",
          "MINE=mine",
          `PATH=${"/usr/local/bin:/usr/bin:/bin"}`,
        ].sort(),
      );
      expect(cmdline).toBe("/usr/bin/python3\0/fn/code/main.py\0");
    }
  });

  it("are off where a read-only path lies in a directory the agent empties (prepared sandboxes serve)", async () => {
    const gated = await startRuntime("gated", { readOnlyPaths: [join(tmpdir(), "faas-some-gate")] });
    expect(gated.environmentsOn).toBe(false);
    const call = fn("python", PRINT_UID.python);
    expect(await uidOf(gated, call())).not.toBe(await uidOf(gated, call()));
  });

  it("a function whose environment sets what an interpreter reads as it starts runs in a sandbox of its own", async () => {
    const call = fn("python", "import os, sys\nprint(os.getuid(), sys.flags.optimize)\n", {
      environment: { PYTHONOPTIMIZE: "2" },
    });
    const a = (await runtime.run(call())).stdout.trim().split(" ");
    const b = (await runtime.run(call())).stdout.trim().split(" ");
    expect(a[1]).toBe("2");
    expect(a[0]).not.toBe(b[0]);
  });
});

// The agent's Node.js zygote with the host's node and the addon the worker compiled for it:
// what holds in the nodejs image's environments holds here (test/support/node-zygote-cases.ts).
// The heavy case needs 192 MiB here (it failed at 160) where a plain `node main.js` needs 128:
// the host's node 20 zygote (46 MB of RSS) and the pages a child's full collections copy from it
// count against the function's memory, as the nodejs image's node 18 zygote does in containers
// (README). It runs at 256, so that a collection timed differently does not make it flaky.
describe("nodejs: every invocation is a child forked from the zygote, with the host's node", () => {
  nodeZygoteCases(() => runtime, { realWorkMemoryMb: 256 });
});

describe("through the platform (REST, a worker)", () => {
  it("a function's invocations share its environment; an update retires it at once, a deletion removes it", async () => {
    // No read-only gate in /tmp here: environments are off where one lies in a directory they empty.
    const platform = await startPlatform({
      env: { WORKER_RUNTIME_TYPE: "process", WORKER_SANDBOX_READONLY_PATHS: "" },
      workers: 1,
    });
    try {
      const created = await platform.request("POST", "/functions", functionBody({ code: b64(PRINT_UID.python) }));
      const id = created.body.data.id as string;
      const invoke = async () => {
        const res = await platform.request("POST", "/invoke?wait=60s", { function_id: id, payload: {} });
        expect(res.body.data.status, JSON.stringify(res.body)).toBe("completed");
        return Number(res.body.data.result);
      };
      const first = await invoke();
      expect(await invoke()).toBe(first);
      expect(await invoke()).toBe(first);
      const put = await platform.request("PUT", `/functions/${id}`, { code: b64(`${PRINT_UID.python}# v2\n`) });
      expect(put.status).toBe(200);
      // Retired on the change (not at its keep-warm time): its processes end.
      await waitFor("the old version's environment to go", async () => (await processesOf(first)).length === 0, {
        capMs: 10_000,
      });
      const second = await invoke();
      expect(second).not.toBe(first);
      expect(await invoke()).toBe(second);
      expect((await platform.request("DELETE", `/functions/${id}`)).status).toBeLessThan(300);
      await waitFor("the deleted function's environment to go", async () => (await processesOf(second)).length === 0, {
        capMs: 10_000,
      });
    } finally {
      await platform.stop();
    }
  });
});
