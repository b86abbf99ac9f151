// The container runtime's limits, seen from inside the container and from the engine:
// memory (exact limit, no swap, OOM reported), the 64 MiB /tmp, WORKER_CPU_SHARES and
// WORKER_WARM_CONTAINERS as the worker reads them from its configuration. Every expected
// value is written out by hand, never derived from what the runtime was asked for.
//
// Containers carry faas.test=<random> (runtimes built here) or faas.worker=<random id>
// (runtimes built from a configuration, as the worker does); afterAll removes all of them.
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Dockerode from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { createLogger } from "../../src/lib/logger.js";
import { createRuntime } from "../../src/worker/runtime-factory.js";
import { runtimeImageVersion } from "../../src/worker/runtimes/container-images.js";
import { ContainerRuntime } from "../../src/worker/runtimes/container-runtime.js";
import type { FunctionRuntime } from "../../src/worker/runtimes/runtime.js";
import { runRequest as request } from "../support/run-request.js";
import { ensureRuntimeImages } from "../support/runtime-images.js";
import { TEST_NETWORK_ALLOW } from "../support/test-network.js";
import { waitFor } from "../support/waiting.js";

const docker = new Dockerode();
const logger = createLogger("silent");
const imagePrefix = process.env.RUNTIME_IMAGE_PREFIX || "faas-runtime";
const testLabel = { "faas.test": `runtime-container-limits-${randomBytes(6).toString("hex")}` };

let workDir: string;
let runtime: ContainerRuntime;
const workerIds: string[] = [];
const extraRuntimes: FunctionRuntime[] = [];

/** A runtime made the way the worker makes it: from a configuration (src/worker/runtime-factory.ts). */
async function runtimeFromConfig(env: Record<string, string>): Promise<{ runtime: FunctionRuntime; workerId: string }> {
  const workerId = `runtime-test-${randomBytes(5).toString("hex")}`;
  workerIds.push(workerId);
  const config = loadConfig({
    WORKER_RUNTIME_TYPE: "container",
    WORKER_ID: workerId,
    WORKER_WORK_DIR: join(workDir, workerId),
    RUNTIME_IMAGE_PREFIX: imagePrefix,
    LOG_LEVEL: "silent",
    // The firewall chain is one per host: a runtime starting with another allow list would
    // rewrite it under the other test files' networked functions.
    FUNCTION_NETWORK_ALLOW: TEST_NETWORK_ALLOW.join(","),
    ...env,
  });
  const made = createRuntime(config, logger);
  extraRuntimes.push(made);
  await made.start();
  return { runtime: made, workerId };
}

/** Managed containers (any state) of one worker id. */
function containersOf(workerId: string): Promise<Dockerode.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: ["faas.managed=true", `faas.worker=${workerId}`] } });
}

/** Containers of a worker the engine created between two unix times (seconds). */
async function createdBy(workerId: string, since: number, until: number) {
  const stream = await docker.getEvents({
    since,
    until,
    filters: { type: ["container"], event: ["create"], label: [`faas.worker=${workerId}`] },
  });
  let text = "";
  for await (const chunk of stream as AsyncIterable<Buffer>) text += chunk.toString("utf8");
  return text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as { id: string })
    .map((e) => ({ id: e.id }));
}

const unixNow = () => Date.now() / 1000;

/** Prints the container's short id (the engine writes it to /etc/hostname). */
const WHERE_AM_I = 'print(open("/etc/hostname").read().strip())\n';

beforeAll(async () => {
  // Idempotent: builds what is missing (from scratch: about two minutes), else returns at once.
  await ensureRuntimeImages();
  workDir = await mkdtemp(join(tmpdir(), "faas-runtime-container-limits-"));
  runtime = new ContainerRuntime({
    docker,
    workerId: `test-${randomBytes(4).toString("hex")}`,
    imagePrefix,
    imageVersion: runtimeImageVersion(),
    workDir,
    limits: { maxOutputBytes: 64 * 1024, maxLogBytes: 16 * 1024 },
    cpuShares: 512,
    networkAllow: TEST_NETWORK_ALLOW,
    pidsLimit: 64,
    logger,
    extraLabels: testLabel,
  });
  await runtime.start();
}, 900_000);

afterAll(async () => {
  await runtime?.stop();
  for (const r of extraRuntimes) await r.stop();
  await ContainerRuntime.removeManagedContainers(docker, testLabel);
  for (const workerId of workerIds) await ContainerRuntime.removeManagedContainers(docker, { "faas.worker": workerId });
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

describe("container memory limit", () => {
  it("gives the container exactly memory_mb of memory and no swap", async () => {
    // cgroup v1: the container's own memory group is mounted at /sys/fs/cgroup/memory;
    // cgroup v2 (private cgroup namespace): at /sys/fs/cgroup.
    const code = `import json
def read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None
v1 = read("/sys/fs/cgroup/memory/memory.limit_in_bytes")
if v1 is not None:
    out = {"version": "v1", "memory": v1, "memsw": read("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")}
else:
    out = {"version": "v2", "memory": read("/sys/fs/cgroup/memory.max"), "swapMax": read("/sys/fs/cgroup/memory.swap.max")}
print(json.dumps(out))
`;
    const result = await runtime.run(request("python", code, { memoryMb: 128 }));
    expect(result.outcome, result.stderr).toBe("completed");
    const seen = JSON.parse(result.stdout);
    // 128 MiB; no swap is memory+swap equal to memory (v1) or a swap maximum of 0 (v2).
    expect(seen).toEqual(
      seen.version === "v1"
        ? { version: "v1", memory: "134217728", memsw: "134217728" }
        : { version: "v2", memory: "134217728", swapMax: "0" },
    );
  });

  it("kills a function that touches twice its limit and reports it as out of memory", async () => {
    const code = 'chunks = []\nfor _ in range(16):\n    chunks.append(b"x" * (8 << 20))\nprint("survived")\n';
    const result = await runtime.run(request("python", code, { memoryMb: 64 }));
    expect(result).toMatchObject({
      outcome: "failed",
      oomKilled: true,
      error: "out of memory: exceeded 64 MiB",
      stdout: "",
    });
  });

  it("lets a function use half its limit", async () => {
    const code = 'chunks = []\nfor _ in range(4):\n    chunks.append(b"x" * (8 << 20))\nprint(len(chunks))\n';
    const result = await runtime.run(request("python", code, { memoryMb: 64 }));
    expect(result.error).toBeUndefined();
    expect(result).toMatchObject({ outcome: "completed", stdout: "4\n" });
  });
});

describe("container /tmp", () => {
  it("is a 64 MiB tmpfs: 60 MiB fit, 70 MiB end with ENOSPC", async () => {
    const code = `import errno, json, os
st = os.statvfs("/tmp")
def fill(name, mib):
    try:
        with open("/tmp/" + name, "wb") as f:
            for _ in range(mib):
                f.write(b"x" * (1 << 20))
        return "ok"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
fits = fill("a", 60)
os.remove("/tmp/a")
print(json.dumps({"bytes": st.f_blocks * st.f_frsize, "60 MiB": fits, "70 MiB": fill("b", 70)}))
`;
    // tmpfs pages count against the memory limit: leave room for 70 MiB plus Python.
    const result = await runtime.run(request("python", code, { memoryMb: 256 }));
    expect(result.outcome, result.stderr).toBe("completed");
    expect(JSON.parse(result.stdout)).toEqual({ bytes: 67108864, "60 MiB": "ok", "70 MiB": "ENOSPC" });
  });
});

describe("worker configuration", () => {
  it("WORKER_CPU_SHARES sets the CPU shares of function containers", async () => {
    const { runtime: configured } = await runtimeFromConfig({ WORKER_CPU_SHARES: "256", WORKER_WARM_CONTAINERS: "0" });
    const code = `import json
def read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None
shares = read("/sys/fs/cgroup/cpu/cpu.shares") or read("/sys/fs/cgroup/cpu,cpuacct/cpu.shares")
print(json.dumps("shares " + shares if shares else "weight " + str(read("/sys/fs/cgroup/cpu.weight"))))
`;
    const result = await configured.run(request("python", code));
    expect(result.outcome, result.stderr).toBe("completed");
    // v1: cpu.shares is the value itself (the default would be 1024, the platform's 512).
    // v2: runc converts 256 shares to cpu.weight 10 (linear, runc < 1.3) or 35 (runc >= 1.3).
    expect(JSON.parse(result.stdout)).toBeOneOf(["shares 256", "weight 10", "weight 35"]);
  });

  it("WORKER_WARM_CONTAINERS=1 keeps a generic environment per language started ahead; a version's first invocation takes one", async () => {
    const { runtime: warm, workerId } = await runtimeFromConfig({ WORKER_WARM_CONTAINERS: "1" });
    const containerRuntime = warm as ContainerRuntime;
    // Started, labelled and waiting before any invocation exists: one per language.
    await waitFor("generic environments", async () => (containerRuntime.warmReady === 3 ? true : null), {
      capMs: 30_000,
    });
    // And a Go build container, waiting for the code of a version's first build.
    const goBuild = await waitFor("a go build container", async () => {
      const list = (await containersOf(workerId)).filter((c) => c.Labels["faas.purpose"] === "go-build");
      return list.length === 1 && list[0]?.State === "running" ? list : null;
    });
    expect(goBuild[0]?.Labels).toMatchObject({ "faas.managed": "true", "faas.worker": workerId });
    const environments = async () =>
      (await containersOf(workerId)).filter((c) => c.Labels["faas.purpose"] === "environment");
    const ready = await environments();
    expect(ready.map((c) => c.State)).toEqual(["running", "running", "running"]);
    for (const c of ready) {
      expect(c.Labels).toMatchObject({
        "faas.managed": "true",
        "faas.worker": workerId,
        "faas.purpose": "environment",
      });
    }
    const first = await warm.run(request("python", WHERE_AM_I));
    expect(first.outcome, first.stderr).toBe("completed");
    const taken = first.stdout.trim();
    expect(ready.map((c) => c.Id.slice(0, 12))).toContain(taken);
    // Kept for that version, and another generic one takes its place.
    await waitFor("its replacement", async () => (containerRuntime.warmReady === 3 ? true : null), { capMs: 30_000 });
    const now = await environments();
    expect(now).toHaveLength(4);
    expect(now.map((c) => c.Id.slice(0, 12))).toContain(taken);
  });

  it("WORKER_WARM_CONTAINERS=0 starts nothing ahead: a container per new version, made for it", async () => {
    const { runtime: cold, workerId } = await runtimeFromConfig({ WORKER_WARM_CONTAINERS: "0" });
    const since = Math.floor(unixNow()) - 1;
    const a = request("python", WHERE_AM_I);
    const b = request("python", WHERE_AM_I);
    const ranA = await cold.run(a);
    const ranB = await cold.run(b);
    expect([ranA.outcome, ranB.outcome]).toEqual(["completed", "completed"]);
    // The engine's event log up to a second later: a container started ahead would show up here.
    const created = await createdBy(workerId, since, Math.ceil(unixNow()) + 1);
    expect(created.map((c) => c.id.slice(0, 12))).toEqual([ranA.stdout.trim(), ranB.stdout.trim()]);
    // Two functions: two environments, both kept for their next invocation.
    expect((await containersOf(workerId)).map((c) => c.State)).toEqual(["running", "running"]);
  });
});
