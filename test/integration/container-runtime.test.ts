// The container runtime against the real Docker engine and the runtime images built by
// scripts/build-runtime-images.sh (fast when they exist). Every container this file starts
// carries faas.test=<random>; afterAll removes all of them.
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Dockerode from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PlatformError } from "../../src/errors.js";
import { runtimeImageName, runtimeImageVersion } from "../../src/worker/runtimes/container-images.js";
import { FUNCTION_UIDS } from "../../src/worker/runtimes/container-job.js";
import { ContainerRuntime, type ContainerRuntimeOptions } from "../../src/worker/runtimes/container-runtime.js";
import type { FunctionLanguage } from "../../src/worker/runtimes/runtime.js";
import { containerRuntimeOptions, TEST_RUNTIME_LIMITS } from "../support/container-runtimes.js";
import { HELLO } from "../support/functions.js";
import { runRequest } from "../support/run-request.js";
import { containerRunning, ensureRuntimeImages, SLEEPER } from "../support/runtime-images.js";
import { waitFor } from "../support/waiting.js";

const GO_HELLO = HELLO.go;
const PYTHON_HELLO = HELLO.python;
const NODE_HELLO = HELLO.nodejs;

const INFINITE_LOOP = "while True:\n    pass\n";

const docker = new Dockerode();
const imagePrefix = process.env.RUNTIME_IMAGE_PREFIX || "faas-runtime";
const testLabel = { "faas.test": `container-runtime-${randomBytes(6).toString("hex")}` };

let workDir: string;
let runtime: ContainerRuntime;
const extraRuntimes: ContainerRuntime[] = [];

function options(extra: Partial<ContainerRuntimeOptions> = {}): ContainerRuntimeOptions {
  return containerRuntimeOptions({ docker, workDir, testLabel, workerPrefix: "test" }, extra);
}

const request = runRequest;

/** Containers (any state) carrying this file's label plus `labels`. */
async function containers(labels: Record<string, string> = {}): Promise<Dockerode.ContainerInfo[]> {
  const all = { ...testLabel, ...labels };
  return docker.listContainers({ all: true, filters: { label: Object.entries(all).map(([k, v]) => `${k}=${v}`) } });
}

/** How many containers of this file with `labels` the engine created between two unix times (seconds). */
async function createdContainers(since: number, until: number, labels: Record<string, string>): Promise<number> {
  const all = { ...testLabel, ...labels };
  const stream = await docker.getEvents({
    since,
    until,
    filters: { type: ["container"], event: ["create"], label: Object.entries(all).map(([k, v]) => `${k}=${v}`) },
  });
  let text = "";
  for await (const chunk of stream as AsyncIterable<Buffer>) text += chunk.toString("utf8");
  return text.split("\n").filter((l) => l.trim() !== "").length;
}

/** Resolves once a container of `workerId` runs the SLEEPER function. */
async function sleeperRunning(workerId: string): Promise<void> {
  await containerRunning(docker, () => containers({ "faas.worker": workerId }));
}

beforeAll(async () => {
  // Idempotent: builds what is missing (from scratch: about two minutes), else returns at once.
  await ensureRuntimeImages();
  workDir = await mkdtemp(join(tmpdir(), "faas-container-runtime-"));
  runtime = new ContainerRuntime(options());
  await runtime.start();
}, 900_000);

afterAll(async () => {
  await runtime?.stop();
  for (const r of extraRuntimes) await r.stop();
  await ContainerRuntime.removeManagedContainers(docker, testLabel);
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

describe("container runtime", () => {
  it.each([
    ["python", PYTHON_HELLO],
    ["nodejs", NODE_HELLO],
    ["go", GO_HELLO],
  ] as const)("runs the quick reference %s example", async (language, code) => {
    const req = request(language, code);
    const result = await runtime.run(req);
    expect(result.error).toBeUndefined();
    expect(result.outcome).toBe("completed");
    expect(result.exitCode).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ message: "Hello, Test!" });
  });

  it("compiles Go once per code version and caches the binary on the host", async () => {
    const code = `${GO_HELLO}// cache probe ${randomUUID()}\n`;
    const sha = createHash("sha256").update(code).digest("hex");
    const since = Math.floor(Date.now() / 1000) - 1;
    const buildsBefore = runtime.goBuildCount;
    const firstReq = request("go", code);
    const first = await runtime.run(firstReq);
    expect(first.outcome).toBe("completed");
    const secondReq = request("go", code);
    const second = await runtime.run(secondReq);
    expect(second.outcome).toBe("completed");
    expect(JSON.parse(second.stdout)).toEqual({ message: "Hello, Test!" });
    const until = Math.ceil(Date.now() / 1000) + 1;
    // The engine's event log: one build container for the first run, none for the second.
    expect(
      await createdContainers(since, until, { "faas.invocation": firstReq.invocationId, "faas.purpose": "go-build" }),
    ).toBe(1);
    expect(
      await createdContainers(since, until, { "faas.invocation": secondReq.invocationId, "faas.purpose": "go-build" }),
    ).toBe(0);
    expect((await stat(join(runtime.goCacheDir, sha, "main"))).isFile()).toBe(true);
    // What faas_worker_go_builds_total counts: the build, not the cache hit.
    expect(runtime.goBuildCount - buildsBefore).toBe(1);
  });

  it("reports Go compile errors as a failed result with the compiler output", async () => {
    const result = await runtime.run(request("go", "package main\n\nfunc main() { undefinedThing() }\n"));
    expect(result.outcome).toBe("failed");
    expect(result.error).toBe("compilation failed");
    expect(result.stderr).toContain("undefined");
  });

  it("keeps the exit code and standard error of a failing function", async () => {
    const result = await runtime.run(
      request("python", "import sys\nprint('bad input', file=sys.stderr)\nsys.exit(3)\n"),
    );
    expect(result.outcome).toBe("failed");
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toBe("bad input\n");
  });

  it("caps standard output at the configured size", async () => {
    const result = await runtime.run(request("nodejs", "process.stdout.write('x'.repeat(200000));\n"));
    expect(result.outcome).toBe("completed");
    expect(result.stdout).toHaveLength(TEST_RUNTIME_LIMITS.maxOutputBytes);
    expect(result.stdoutTruncated).toBe(true);
  });

  it("fails a function that exceeds its memory limit as out of memory", async () => {
    const hog = "chunks = []\nwhile True:\n    chunks.append(b'x' * (8 << 20))\n";
    const result = await runtime.run(request("python", hog, { memoryMb: 64 }));
    expect(result.outcome).toBe("failed");
    expect(result.oomKilled).toBe(true);
    expect(result.error).toBe("out of memory: exceeded 64 MiB");
  });

  it("kills a function at its timeout, within its limit + 2 s", async () => {
    const result = await runtime.run(request("python", INFINITE_LOOP, { timeoutMs: 2000 }));
    expect(result.outcome).toBe("timeout");
    expect(result.error).toBe("timed out after 2s");
    expect(result.durationMs).toBeGreaterThanOrEqual(2000);
    // The agent's kill at the limit, not the worker's backstop (the limit + 5 s).
    expect(result.durationMs).toBeLessThanOrEqual(2000 + 2000);
  });

  it("bounds the number of processes (pids limit)", async () => {
    // The environment's own processes and threads count too (the agent's Go threads, the
    // zygote's): 13 tasks in a Node.js environment while hello world runs, 10 in Python's.
    // A limit of 16 left a CI run's nodejs environment unable to start its zygote (EAGAIN).
    const small = new ContainerRuntime(options({ pidsLimit: 32 }));
    extraRuntimes.push(small);
    await small.start();
    // Forks until the kernel refuses, then reports how many children it got.
    const probe = [
      "import os, signal",
      "n = 0",
      "for _ in range(200):",
      "    try:",
      "        pid = os.fork()",
      "    except OSError:",
      "        break",
      "    if pid == 0:",
      "        signal.pause()",
      "        os._exit(0)",
      "    n += 1",
      "print(n)",
    ].join("\n");
    const counted = await small.run(request("python", probe));
    expect(counted.outcome).toBe("completed");
    expect(Number(counted.stdout)).toBeLessThan(32);

    const bomb = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n";
    const req = request("python", bomb, { timeoutMs: 3000 });
    const result = await small.run(req);
    expect(["timeout", "failed"]).toContain(result.outcome);
    expect(result.durationMs).toBeLessThanOrEqual(3000 + 2000);
    // The engine is still healthy and still runs functions.
    await docker.ping();
    const after = await small.run(request("nodejs", NODE_HELLO));
    expect(JSON.parse(after.stdout)).toEqual({ message: "Hello, Test!" });
  });

  it("gives a function no network unless it asks for it", async () => {
    const code = 'import socket\nsocket.create_connection(("1.1.1.1", 53), timeout=2)\nprint("connected")\n';
    const result = await runtime.run(request("python", code));
    expect(result.outcome).toBe("failed");
    expect(result.stdout).not.toContain("connected");
    expect(result.stderr).toMatch(/OSError|unreachable/i);
    const ifaces = await runtime.run(
      request("python", "import socket\nprint(sorted(n for _, n in socket.if_nameindex()))\n"),
    );
    expect(JSON.parse(ifaces.stdout.replaceAll("'", '"'))).toEqual(["lo"]);
    // Asked for: the container gets an interface of the default bridge (no connection is tried).
    const listed = await runtime.run(
      request("python", "import socket\nprint(sorted(n for _, n in socket.if_nameindex()))\n", { network: true }),
    );
    expect(listed.outcome, `${listed.error} ${listed.stderr}`).toBe("completed");
    expect(JSON.parse(listed.stdout.replaceAll("'", '"'))).toContain("eth0");
  });

  it("runs as a uid of its own, without capabilities, writing only to tmpfs", async () => {
    const code = `import json, os
def attempt(path):
    try:
        with open(path, "w") as f:
            f.write("x")
        return "ok"
    except OSError as e:
        return type(e).__name__ + ":" + str(e.errno)
caps = [l.split()[1] for l in open("/proc/self/status") if l.startswith("CapEff")][0]
nnp = [l.split()[1] for l in open("/proc/self/status") if l.startswith("NoNewPrivs")][0]
print(json.dumps({"fn": attempt("/fn/x"), "etc": attempt("/etc/x"), "root": attempt("/x"), "tmp": attempt("/tmp/x"),
                  "uid": os.getuid(), "gid": os.getgid(), "code_owner": os.stat("/fn/code").st_uid,
                  "caps": caps, "nnp": nnp}))
`;
    // Two functions, two environments: each container's function user is its own (the kernel's
    // per-uid budgets, such as inotify instances, are not shared between tenants).
    const [result, other] = await Promise.all([
      runtime.run(request("python", code)),
      runtime.run(request("python", code)),
    ]);
    expect(result.outcome).toBe("completed");
    const seen = JSON.parse(result.stdout);
    const otherUid = JSON.parse(other.stdout).uid;
    expect(seen.fn).toMatch(/^(OSError|PermissionError):(30|13)$/);
    expect(seen.etc).toMatch(/^(OSError|PermissionError):(30|13)$/);
    expect(seen.root).toMatch(/^(OSError|PermissionError):(30|13)$/);
    expect(seen.tmp).toBe("ok");
    expect(seen).toMatchObject({ gid: 65534, code_owner: seen.uid, caps: "0000000000000000", nnp: "1" });
    for (const uid of [seen.uid, otherUid]) {
      // This engine does not remap users: the range above 65535.
      expect(uid).toBeGreaterThanOrEqual(FUNCTION_UIDS.base);
      expect(uid).toBeLessThan(FUNCTION_UIDS.base + FUNCTION_UIDS.count);
    }
    expect(otherUid).not.toBe(seen.uid);
  });

  it("shows a function only its own environment, never the platform's", async () => {
    const saved = process.env.DB_PASSWORD;
    process.env.DB_PASSWORD = "secret";
    try {
      const environment = { MY_SETTING: "on" };
      const py = await runtime.run(
        request("python", "import json, os\nprint(json.dumps(dict(os.environ)))\n", { environment }),
      );
      const pyEnv = JSON.parse(py.stdout) as Record<string, string>;
      // LC_CTYPE is Python's own C-locale coercion (PEP 538), set by the interpreter itself.
      const { LC_CTYPE, ...rest } = pyEnv;
      expect(LC_CTYPE === undefined || LC_CTYPE === "C.UTF-8").toBe(true);
      expect(Object.keys(rest).sort()).toEqual(["FUNCTION_PAYLOAD", "HOME", "MY_SETTING", "PATH"]);
      expect(rest).toMatchObject({ FUNCTION_PAYLOAD: '{"name":"Test"}', MY_SETTING: "on" });
      expect(py.stdout).not.toContain("secret");

      const js = await runtime.run(request("nodejs", "console.log(JSON.stringify(process.env))\n", { environment }));
      expect(Object.keys(JSON.parse(js.stdout)).sort()).toEqual(["FUNCTION_PAYLOAD", "HOME", "MY_SETTING", "PATH"]);
    } finally {
      if (saved === undefined) delete process.env.DB_PASSWORD;
      else process.env.DB_PASSWORD = saved;
    }
  });

  it("runs 10 invocations in parallel, and stop() leaves no container behind", async () => {
    const workerId = `parallel-${randomBytes(4).toString("hex")}`;
    const parallel = new ContainerRuntime(options({ workerId }));
    extraRuntimes.push(parallel);
    await parallel.start();
    const languages: FunctionLanguage[] = ["python", "nodejs", "go"];
    const code = { python: PYTHON_HELLO, nodejs: NODE_HELLO, go: GO_HELLO };
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => {
        const language = languages[i % 3] as FunctionLanguage;
        return parallel.run(request(language, code[language], { payload: JSON.stringify({ name: `N${i}` }) }));
      }),
    );
    results.forEach((r, i) => {
      expect(r.outcome).toBe("completed");
      expect(JSON.parse(r.stdout)).toEqual({ message: `Hello, N${i}!` });
    });
    // Ten different functions: ten environments, kept for their next invocation.
    expect(parallel.environmentCount).toBe(10);
    await parallel.stop();
    expect(await containers({ "faas.worker": workerId })).toHaveLength(0);
  });

  it("keeps a generic environment started per language, and a first invocation takes it", async () => {
    const workerId = `warm-${randomBytes(4).toString("hex")}`;
    const warm = new ContainerRuntime(options({ warmPerKey: 1, workerId }));
    extraRuntimes.push(warm);
    await warm.start();
    // One per language at the default memory, started ahead of any invocation.
    await waitFor("generic environments", async () => (warm.warmReady === 3 ? true : null));
    const ready = (await containers({ "faas.worker": workerId, "faas.purpose": "environment" })).map((c) => c.Id);
    expect(ready).toHaveLength(3);
    // Its environment and code arrive with the invocation: quoting survives the trip.
    const code =
      'import os, json, socket\nprint(json.dumps({"v": os.environ["V"], "p": os.environ["FUNCTION_PAYLOAD"], "h": socket.gethostname()}))\n';
    const first = await warm.run(request("python", code, { environment: { V: 'it\'s $HOME `x` "q"\n' } }));
    expect(first.outcome, first.stderr).toBe("completed");
    const seen = JSON.parse(first.stdout);
    expect(seen).toMatchObject({ v: 'it\'s $HOME `x` "q"\n', p: JSON.stringify({ name: "Test" }) });
    expect(ready.some((id) => id.startsWith(seen.h))).toBe(true);
    // Another generic one replaces the one taken.
    await waitFor("its replacement", async () => (warm.warmReady === 3 ? true : null));
    await warm.stop();
    expect(await containers({ "faas.worker": workerId })).toHaveLength(0);
  });

  it("kills the environment when the invocation is aborted", async () => {
    const workerId = `abort-${randomBytes(4).toString("hex")}`;
    const r = new ContainerRuntime(options({ workerId }));
    extraRuntimes.push(r);
    await r.start();
    const controller = new AbortController();
    const settled = r.run({ ...request("python", SLEEPER, { timeoutMs: 60_000 }), signal: controller.signal }).then(
      () => undefined,
      (err: unknown) => err,
    );
    await sleeperRunning(workerId);
    controller.abort();
    expect(await settled).toBeInstanceOf(PlatformError);
    await waitFor("the environment removed", async () =>
      (await containers({ "faas.worker": workerId })).length === 0 ? true : null,
    );
  });

  it("stop() kills what is still running and is idempotent", async () => {
    const workerId = `stop-${randomBytes(4).toString("hex")}`;
    const other = new ContainerRuntime(options({ workerId }));
    extraRuntimes.push(other);
    await other.start();
    const settled = other.run(request("python", SLEEPER, { timeoutMs: 60_000 })).then(
      () => undefined,
      (err: unknown) => err,
    );
    await sleeperRunning(workerId);
    await other.stop();
    await other.stop();
    expect(await settled).toBeInstanceOf(PlatformError);
    expect(await containers({ "faas.worker": workerId })).toHaveLength(0);
    await expect(other.run(request("python", PYTHON_HELLO))).rejects.toBeInstanceOf(PlatformError);
  });

  it("removes leftovers of a crashed worker with the same id on start", async () => {
    const workerId = `crashed-${randomBytes(4).toString("hex")}`;
    const leftover = await docker.createContainer({
      Image: runtimeImageName(imagePrefix, "python", runtimeImageVersion()),
      Cmd: ["python3", "-c", "pass"],
      Labels: { ...testLabel, "faas.managed": "true", "faas.worker": workerId },
    });
    const restarted = new ContainerRuntime(options({ workerId }));
    extraRuntimes.push(restarted);
    await restarted.start();
    await expect(docker.getContainer(leftover.id).inspect()).rejects.toMatchObject({ statusCode: 404 });
  });

  it("fails start() fast and clearly when the engine is unreachable", async () => {
    const unreachable = new ContainerRuntime(
      options({ docker: new Dockerode({ socketPath: "/nonexistent/docker.sock" }) }),
    );
    const failure = unreachable.start();
    await expect(failure).rejects.toBeInstanceOf(PlatformError);
    await expect(failure).rejects.toThrow(
      "Docker engine not reachable at /nonexistent/docker.sock: start it (make docker-up) or set WORKER_RUNTIME_TYPE=process",
    );
  });

  it("hands out uids of a block no other runtime of this host holds, given back at stop", async () => {
    const uidBlocksDir = await mkdtemp(join(tmpdir(), "faas-uid-blocks-"));
    const own = new ContainerRuntime(options({ uidBlocksDir }));
    extraRuntimes.push(own);
    try {
      await own.start();
      const claims = await readdir(uidBlocksDir);
      expect(claims).toHaveLength(1);
      const block = Number(/^300000\.(\d+)\./.exec(claims[0] as string)?.[1]);
      const uidOf = async () => {
        const result = await own.run(request("python", "import os\nprint(os.getuid())\n"));
        expect(result.outcome, result.stderr).toBe("completed");
        return Number(result.stdout.trim());
      };
      // Two environments at once: two uids, both of the block.
      const uids = await Promise.all([uidOf(), uidOf()]);
      expect(new Set(uids).size).toBe(2);
      for (const uid of uids) expect(Math.floor((uid - FUNCTION_UIDS.base) / 1000)).toBe(block);
      await own.stop();
      expect(await readdir(uidBlocksDir)).toEqual([]);
    } finally {
      await rm(uidBlocksDir, { recursive: true, force: true });
    }
  });

  it("refuses to start on a host that gives out the function containers' uids", async () => {
    const dir = await mkdtemp(join(tmpdir(), "faas-uid-files-"));
    const uidFiles = { passwd: join(dir, "passwd"), subuid: join(dir, "subuid") };
    await writeFile(uidFiles.passwd, "root:x:0:0:root:/root:/bin/bash\n");
    await writeFile(uidFiles.subuid, "alice:100000:65536\nbob:330000:65536\n");
    try {
      const claimed = new ContainerRuntime(options({ uidFiles }));
      extraRuntimes.push(claimed);
      await expect(claimed.start()).rejects.toThrow(
        `uids 300000-399999 (the container runtime's function uids) are given out on this host: ${uidFiles.subuid} line 2 gives bob uids 330000-395535`,
      );
      // The Go build containers' uid is checked as well.
      await writeFile(uidFiles.subuid, "");
      await writeFile(uidFiles.passwd, "builder:x:10001:10001::/home/builder:/bin/sh\n");
      const build = new ContainerRuntime(options({ uidFiles }));
      extraRuntimes.push(build);
      await expect(build.start()).rejects.toThrow(
        `uids 10001-10001 (the uid of Go build containers) are given out on this host: ${uidFiles.passwd} line 1 gives builder uid 10001`,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("fails start() naming the build command when the images are missing", async () => {
    const missing = new ContainerRuntime(options({ imagePrefix: `faas-missing-${randomBytes(3).toString("hex")}` }));
    await expect(missing.start()).rejects.toThrow(/make build-runtime-images/);
  });
});
