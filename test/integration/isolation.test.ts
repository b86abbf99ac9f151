// Isolation, tried as a hostile tenant would: each attack is a small function, run in both
// runtimes against the real kernel, Docker engine, PostgreSQL and Redis. A function never
// reaches the host, its services or private ranges (only an allowed address), never sees
// the platform's files or other invocations' leftovers, and never gets namespaces,
// keyrings or ptrace. Traffic goes only to loopback, the host's own addresses and a
// network namespace this file creates.
import { randomBytes, randomUUID } from "node:crypto";
import { chmod, mkdir, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import Dockerode from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PlatformError } from "../../src/errors.js";
import { createLogger } from "../../src/lib/logger.js";
import { ContainerRuntime } from "../../src/worker/runtimes/container-runtime.js";
import { ProcessRuntime } from "../../src/worker/runtimes/process-runtime.js";
import type { FunctionRuntime, RunRequest } from "../../src/worker/runtimes/runtime.js";
import { HELLO } from "../support/functions.js";
import { runRequest } from "../support/run-request.js";
import { createTestNetns, TEST_NETWORK_ALLOW, type TestNetns } from "../support/test-network.js";

const logger = createLogger("silent");
const limits = { maxOutputBytes: 256 * 1024, maxLogBytes: 64 * 1024 };
const docker = new Dockerode();
const testLabel = { "faas.test": `isolation-${randomBytes(6).toString("hex")}` };
const redisPort = Number((process.env.TEST_REDIS_ADDR ?? "127.0.0.1:6379").split(":").pop());
const postgresPort = Number(new URL(process.env.TEST_DATABASE_URL ?? "postgresql://x@127.0.0.1:5432/x").port || 5432);

/**
 * Tries a TCP connection to each target ("host:port", or "gateway:port" for the default
 * route's gateway as the function sees it) and prints what happened to each.
 */
const CONNECT = `import json, os, socket, struct
def gateway():
    for line in open("/proc/net/route").read().splitlines()[1:]:
        f = line.split()
        if f[1] == "00000000":
            return socket.inet_ntoa(struct.pack("<L", int(f[2], 16)))
out = {}
for target in json.loads(os.environ["FUNCTION_PAYLOAD"])["targets"]:
    host, port = target.rsplit(":", 1)
    if host == "gateway":
        host = gateway() or "0.0.0.0"
    s = socket.socket()
    s.settimeout(1.5)
    try:
        s.connect((host, int(port)))
        out[target] = "open: " + s.recv(4).decode(errors="replace")
    except Exception as e:
        out[target] = type(e).__name__
    finally:
        s.close()
print(json.dumps(out))
`;

/** Runs a few raw system calls and prints the errno of each (0: it worked). */
const SYSCALLS = `import ctypes, json, os
libc = ctypes.CDLL(None, use_errno=True)
def call(nr, *args):
    r = libc.syscall(nr, *args)
    return 0 if r >= 0 else ctypes.get_errno()
CLONE_NEWUSER, CLONE_NEWNS = 0x10000000, 0x00020000
print(json.dumps({
    "unshare(user)": call(272, CLONE_NEWUSER),
    "unshare(mount)": call(272, CLONE_NEWNS),
    "keyctl": call(250, 0, 0, 0, 0, 0),
    "ptrace(traceme)": call(101, 0, 0, 0, 0),
    "mount": call(165, b"none", b"/tmp", b"tmpfs", 0, 0),
    "bpf": call(321, 0, 0, 0),
}))
`;

let workDir: string;
let storageDir: string;
let netns: TestNetns;
let hostServer: Server;
let hostPort: number;
type Kind = "process" | "container" | "container under gVisor";
const runtimes: Record<Kind, FunctionRuntime> = {} as never;

/** A container runtime of this file (its own worker id and directory; `ociRuntime` e.g. "runsc"). */
function containerRuntime(name: string, ociRuntime?: string): ContainerRuntime {
  return new ContainerRuntime({
    docker,
    workerId: `isolation-${name}-${randomBytes(4).toString("hex")}`,
    imagePrefix: process.env.RUNTIME_IMAGE_PREFIX || "faas-runtime",
    workDir: join(workDir, name),
    limits,
    cpuShares: 512,
    pidsLimit: 64,
    logger,
    extraLabels: testLabel,
    networkAllow: TEST_NETWORK_ALLOW,
    ociRuntime,
  });
}

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), "faas-isolation-"));
  await chmod(workDir, 0o755);
  // Stands in for the platform's stored code (STORAGE_BASE_DIR) on the same machine.
  storageDir = join(workDir, "functions");
  await mkdir(storageDir, { recursive: true });
  await writeFile(join(storageDir, "other-tenant.py"), "SECRET = 'other tenant code'\n");
  // A service listening on every interface, like a controller with SERVER_ADDR=:8080.
  hostServer = createServer((socket) => socket.end("pong"));
  await new Promise<void>((resolve) => hostServer.listen(0, "0.0.0.0", resolve));
  hostPort = (hostServer.address() as { port: number }).port;
  netns = await createTestNetns();
  const processRuntime = new ProcessRuntime({
    workDir: join(workDir, "process"),
    limits,
    logger,
    diskLimitMb: 8,
    networkAllow: TEST_NETWORK_ALLOW,
  });
  const plainRuntime = containerRuntime("container");
  const gvisorRuntime = containerRuntime("runsc", "runsc");
  await Promise.all([processRuntime.start(), plainRuntime.start(), gvisorRuntime.start()]);
  runtimes.process = processRuntime;
  runtimes.container = plainRuntime;
  runtimes["container under gVisor"] = gvisorRuntime;
});

afterAll(async () => {
  await Promise.all(Object.values(runtimes).map((r) => r.stop()));
  await ContainerRuntime.removeManagedContainers(docker, testLabel).catch(() => undefined);
  await netns?.remove();
  await new Promise((resolve) => hostServer?.close(resolve));
  await rm(workDir, { recursive: true, force: true });
});

/** Every IPv4 address of this host: the functions' bridge gateway, docker0, eth0, loopback, the test link. */
function hostAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .filter((a) => a?.family === "IPv4")
    .map((a) => a?.address as string);
}

/**
 * Debian 12's gVisor (runsc 20221219, ptrace platform) ends a few percent of runs with a
 * spurious exit status 2 and no output on stderr, whatever the function does (measured: 2
 * of 60 hello-world runs; see the README), and now and then its agent dies mid-invocation
 * (a platform failure, which a worker retries). Under gVisor only, such a run is tried again.
 */
const GVISOR_SPURIOUS_ATTEMPTS = 3;

async function runJson(kind: Kind, code: string, extra: Partial<RunRequest> = {}) {
  const gvisor = kind === "container under gVisor";
  const run = () =>
    runtimes[kind].run(runRequest("python", code, extra)).catch((err: unknown) => {
      if (!gvisor || !(err instanceof PlatformError) || !/died mid-invocation/.test(err.message)) throw err;
      return null;
    });
  let result = await run();
  for (let attempt = 1; gvisor && attempt < GVISOR_SPURIOUS_ATTEMPTS; attempt++) {
    if (result && (result.exitCode !== 2 || result.stderr !== "")) break;
    result = await run();
  }
  if (!result) throw new Error(`gVisor: the agent died in each of ${GVISOR_SPURIOUS_ATTEMPTS} attempts`);
  expect(result.outcome, `${result.error}\n${result.stderr}`).toBe("completed");
  return JSON.parse(result.stdout);
}

describe.each(["process", "container"] as const)("%s with network: true", (kind) => {
  it("a networked function reaches an allowed address, but not the host, its services, the gateway or private ranges", async () => {
    const allowed = `${netns.allowedAddress}:${netns.port}`;
    const forbidden = [
      `${netns.deniedAddress}:${netns.port}`,
      `gateway:${hostPort}`,
      ...hostAddresses().flatMap((address) => [hostPort, redisPort, postgresPort].map((port) => `${address}:${port}`)),
    ];
    const seen = await runJson(kind, CONNECT, {
      network: true,
      payload: JSON.stringify({ targets: [allowed, ...forbidden] }),
    });
    expect(seen[allowed], "the allowed address must answer (the network works)").toBe("open: pong");
    const reached = forbidden.filter((target) => String(seen[target]).startsWith("open"));
    expect(reached, JSON.stringify(seen)).toEqual([]);
  });
});

describe("container under gVisor, with network: true", () => {
  it("refuses networked functions where gVisor runs without a network", async () => {
    const result = await runtimes["container under gVisor"].run(
      runRequest("python", CONNECT, { network: true, payload: '{"targets": []}' }),
    );
    expect(result).toMatchObject({
      outcome: "failed",
      error: "network: true is not available on this worker: the runsc runtime runs with --network=none",
    });
  });
});

describe.each(["process", "container", "container under gVisor"] as const)("%s", (kind) => {
  it("a function without network reaches nothing, not even an allowed address", async () => {
    const target = `${netns.allowedAddress}:${netns.port}`;
    const seen = await runJson(kind, CONNECT, { payload: JSON.stringify({ targets: [target] }) });
    expect(seen[target]).not.toMatch(/^open/);
  });

  it("may not make namespaces, use keyrings, ptrace, mount or load BPF", async () => {
    const seen = await runJson(kind, SYSCALLS);
    for (const [call, errno] of Object.entries(seen)) expect(errno, `${call} was allowed`).not.toBe(0);
    // Refused by the seccomp filter (EPERM), whatever the capabilities would have said.
    expect(seen).toMatchObject({ "unshare(user)": 1, keyctl: 1, "ptrace(traceme)": 1 });
  });

  it("cannot see the platform's files, other tenants' code or the worker's processes", async () => {
    const code = `import json, os
paths = ${JSON.stringify(["/etc/shadow", "/var/run/docker.sock", "/root"])} + [os.environ["STORAGE"], os.environ["WORK"]]
procs = [p for p in os.listdir("/proc") if p.isdigit()]
cmdlines = [open(f"/proc/{p}/cmdline", "rb").read().replace(b"\\0", b" ").decode() for p in procs]
def readable(p):
    try:
        os.listdir(p) if os.path.isdir(p) else open(p, "rb").read(1)
        return True
    except OSError:
        return False
print(json.dumps({"readable": [p for p in paths if readable(p)], "cmdlines": cmdlines}))
`;
    const seen = await runJson(kind, code, { environment: { STORAGE: storageDir, WORK: workDir } });
    expect(seen.readable).toEqual([]);
    // Only its own processes (python, and in the process runtime bwrap's init and the backstop).
    expect(seen.cmdlines.filter((c: string) => /node|vitest|dockerd|postgres|redis/.test(c))).toEqual([]);
    expect(seen.cmdlines.length).toBeLessThanOrEqual(4);
  });

  it("finds nothing another invocation left in /tmp, /var/tmp or /dev/shm", async () => {
    const name = `left-${randomUUID()}`;
    const dirs = ["/tmp", "/var/tmp", "/dev/shm"];
    // Where a directory is read-only (a container's /var/tmp), nothing can be left there either.
    const write = `import json, os\nwritten = []\nfor d in ${JSON.stringify(dirs)}:\n    try:\n        open(os.path.join(d, "${name}"), "w").write("x")\n        written.append(d)\n    except OSError:\n        pass\nprint(json.dumps(written))\n`;
    expect(await runJson(kind, write)).toEqual(expect.arrayContaining(["/tmp", "/dev/shm"]));
    const read = `import json, os\nprint(json.dumps([d for d in ${JSON.stringify(dirs)} if os.path.exists(os.path.join(d, "${name}"))]))\n`;
    expect(await runJson(kind, read)).toEqual([]);
    // Nor did the writes land on the host.
    for (const dir of dirs) await expect(stat(join(dir, name))).rejects.toMatchObject({ code: "ENOENT" });
  });
});

describe("process runtime only", () => {
  it("stops a function at its disk quota and says so", async () => {
    const code = `f = open("/tmp/big", "wb")\nfor _ in range(32):\n    f.write(b"x" * (1 << 20))\n`;
    const result = await runtimes.process.run(runRequest("python", code));
    expect(result).toMatchObject({ outcome: "failed", error: "disk limit exceeded: wrote 8 MiB" });
    expect(result.stderr).toContain("No space left on device");
  });

  it("counts /dev/shm against the function's memory", async () => {
    // 8 MiB quota per mount is not the limit here: shm pages are memory of the function.
    const code = `import mmap\nchunks = []\nfor i in range(6):\n    f = open(f"/dev/shm/c{i}", "wb")\n    f.write(b"x" * (1 << 20))\n    chunks.append(f)\nprint("ok")\n`;
    const small = await runtimes.process.run(runRequest("python", code, { memoryMb: 64 }));
    expect(small.outcome, small.stderr).toBe("completed");
    const hog = code.replace("range(6)", "range(200)");
    const own = new ProcessRuntime({
      workDir: join(workDir, "process-shm"),
      limits,
      logger,
      diskLimitMb: 512,
      networkAllow: TEST_NETWORK_ALLOW,
    });
    await own.start();
    try {
      const result = await own.run(runRequest("python", hog, { memoryMb: 64 }));
      expect(result).toMatchObject({ outcome: "failed", oomKilled: true });
    } finally {
      await own.stop();
    }
  });

  it("gives a Go function a copy of its own binary, never the build cache", async () => {
    const go = await runtimes.process.run(runRequest("go", HELLO.go));
    expect(go.outcome, go.stderr).toBe("completed");
    const code = `import json, os\nprint(json.dumps({"fn": sorted(os.listdir("/fn")), "cache": os.path.exists(os.environ["CACHE"])}))\n`;
    const seen = await runJson("process", code, { environment: { CACHE: join(workDir, "process", "go-cache") } });
    expect(seen).toEqual({ fn: ["main.py"], cache: false });
  });
});

describe("container runtime only", () => {
  it("refuses to start with an OCI runtime the engine does not know", async () => {
    const unknown = containerRuntime("unknown", "no-such-runtime");
    await expect(unknown.start()).rejects.toThrow(
      /WORKER_OCI_RUNTIME=no-such-runtime: the Docker engine has no such runtime \(it knows .*runc.*\)/,
    );
  });

  it("runs function containers with the platform's seccomp profile and size-limited /tmp and /dev/shm", async () => {
    const code = `import json, os\ndef size(p):\n    s = os.statvfs(p)\n    return s.f_blocks * s.f_frsize\nprint(json.dumps({"tmp": size("/tmp"), "shm": size("/dev/shm")}))\n`;
    expect(await runJson("container", code)).toEqual({ tmp: 64 * 1024 * 1024, shm: 64 * 1024 * 1024 });
    // The container that ran it: its environment, kept for the next invocation.
    const host = await runJson("container", "import json, socket\nprint(json.dumps(socket.gethostname()))\n");
    const [running] = await docker
      .listContainers({
        filters: { label: [`faas.test=${testLabel["faas.test"]}`, "faas.purpose=environment"], status: ["running"] },
      })
      .then((list) => list.filter((c) => c.Id.startsWith(host as string)));
    const info = await docker.getContainer(running?.Id as string).inspect();
    const profile = (info.HostConfig.SecurityOpt ?? []).find((o: string) => o.startsWith("seccomp="));
    expect(profile, "no seccomp profile on the container").toBeDefined();
    const names = JSON.parse((profile as string).slice("seccomp=".length)).syscalls.flatMap(
      (s: { names: string[] }) => s.names,
    );
    expect(names).toEqual(expect.arrayContaining(["unshare", "keyctl", "ptrace", "mount", "bpf"]));
  });
});
