// The platform's own image (Dockerfile, scripts/build-platform-image.sh): built offline, its
// `migrate` prepares a fresh database, a controller container serves REST, and a worker
// container runs a function in a container of the host's engine, reached through the
// mounted Docker socket (the container runtime works from inside a container: code goes in
// on the function container's standard input and comes back on its output, so no host path
// is shared with function containers). Only the stored code is shared, between controller
// and worker: one host directory mounted at the same path in both.
//
// Both containers use the host's network namespace, so PostgreSQL, Redis and the controller
// stay on 127.0.0.1. Every container this file starts carries faas.test=<id>; the worker's
// function containers carry faas.worker=<its id>; afterAll removes both kinds.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import Dockerode from "dockerode";
import { Redis } from "ioredis";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runtimeImageVersion } from "../../src/worker/runtimes/container-images.js";
import { ContainerRuntime } from "../../src/worker/runtimes/container-runtime.js";
import { HOST_UID_BLOCKS_DIR } from "../../src/worker/runtimes/uid-blocks.js";
import { b64, functionBody, HELLO } from "../support/functions.js";
import { dbUrlFor, ROOT } from "../support/platform.js";
import { waitFor } from "../support/waiting.js";

const execFileAsync = promisify(execFile);
const docker = new Dockerode();
const id = randomBytes(4).toString("hex");
const testLabel = `faas.test=platform-image-${id}`;
const image = `${process.env.PLATFORM_IMAGE || "faas-platform"}:${runtimeImageVersion()}`;
const dbName = `faas_test_img_${id}`;
const prefix = `faastest-img-${id}`;
const workerId = `platform-image-${id}`;
const redisAddr = process.env.TEST_REDIS_ADDR ?? "127.0.0.1:6379";
const adminDbUrl = process.env.TEST_DATABASE_URL ?? "postgresql://postgres:postgres@127.0.0.1:5432/postgres";
const imagePrefix = process.env.RUNTIME_IMAGE_PREFIX || "faas-runtime";
const secretsKey = randomBytes(32).toString("base64");

let dir = "";
let url = "";
let startedAt = 0;

/** A port free on 127.0.0.1 now (the controller, on the host's network, binds it next). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** `docker run` arguments every container of this file gets: host network, label, shared code, env. */
function common(): string[] {
  const env: Record<string, string> = {
    DATABASE_URL: dbUrlFor(dbName),
    REDIS_ADDR: redisAddr,
    REDIS_KEY_PREFIX: prefix,
    STORAGE_BASE_DIR: join(dir, "functions"),
    SECRETS_KEY: secretsKey,
    RUNTIME_IMAGE_PREFIX: imagePrefix,
    LOG_LEVEL: "info",
    RATE_LIMIT_REQUESTS_PER_SECOND: "0",
    RATE_LIMIT_INVOCATIONS_PER_SECOND: "0",
    RATE_LIMIT_MAX_WAITING: "0",
  };
  return [
    "--network",
    "host",
    "--label",
    testLabel,
    "-v",
    `${dir}:${dir}`,
    ...Object.entries(env).flatMap(([k, v]) => ["-e", `${k}=${v}`]),
  ];
}
/** The rest of a worker container's `docker run` arguments: root, the engine's socket, `worker`. */
function workerArgs(id: string): string[] {
  return [
    ...common(),
    "--user",
    "root",
    "-v",
    "/var/run/docker.sock:/var/run/docker.sock",
    "-e",
    "WORKER_RUNTIME_TYPE=container",
    "-e",
    `WORKER_ID=${id}`,
    "-e",
    "WORKER_METRICS_ADDR=off",
    image,
    "worker",
  ];
}

async function dockerCli(args: string[], timeout = 120_000): Promise<string> {
  const { stdout } = await execFileAsync("docker", args, { timeout, maxBuffer: 16 * 1024 * 1024 });
  return stdout.trim();
}

/** The worker service's text in docker-compose.yml (what the worker containers here mirror). */
async function composeWorkerService(): Promise<string> {
  const compose = await readFile(join(ROOT, "docker-compose.yml"), "utf8");
  return compose.slice(compose.indexOf("\n  worker:\n"), compose.indexOf("\nvolumes:"));
}

async function logsOf(name: string): Promise<string> {
  return execFileAsync("docker", ["logs", "--tail", "30", name], { maxBuffer: 16 * 1024 * 1024 }).then(
    ({ stdout, stderr }) => `${stdout}${stderr}`,
    (err: Error) => `(no logs: ${err.message})`,
  );
}

async function request(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) };
  } catch {
    return { status: res.status, body: text };
  }
}

beforeAll(async () => {
  // Idempotent: skipped when the image matches its sources; a full build takes minutes here.
  await execFileAsync("bash", [join(ROOT, "scripts/build-platform-image.sh")], {
    cwd: ROOT,
    maxBuffer: 64 * 1024 * 1024,
    timeout: 14 * 60_000,
  });
  // Stored code: written by the controller (uid 10000), read by the worker (root).
  dir = await mkdtemp(join(tmpdir(), `faas-platform-image-${id}-`));
  await mkdir(join(dir, "functions"));
  await chmod(dir, 0o755);
  await chmod(join(dir, "functions"), 0o777);

  // A fresh database, created and migrated by the image's own `migrate`.
  await dockerCli(["run", "--rm", ...common(), image, "migrate"]);

  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  startedAt = Math.floor(Date.now() / 1000) - 1;
  await dockerCli([
    "run",
    "-d",
    "--name",
    `faas-controller-${id}`,
    ...common(),
    "-e",
    `SERVER_ADDR=127.0.0.1:${port}`,
    image,
  ]);
  await dockerCli([
    "run",
    "-d",
    "--name",
    `faas-worker-${id}`,
    // As docker-compose.yml runs it: the host's pid namespace and uid-block claims.
    "--pid",
    "host",
    "-v",
    `${HOST_UID_BLOCKS_DIR}:${HOST_UID_BLOCKS_DIR}`,
    ...workerArgs(workerId),
  ]);
  // Ready when the controller answers and counts the worker's heartbeat.
  await waitFor(
    "the controller's /health with one live worker",
    async () => {
      const res = await fetch(`${url}/health`).catch(() => null);
      if (!res?.ok) return null;
      const body = (await res.json()) as { data?: { workers?: { live?: number } } };
      return (body.data?.workers?.live ?? 0) >= 1;
    },
    { capMs: 90_000, everyMs: 250 },
  ).catch(async (err: Error) => {
    throw new Error(
      `${err.message}\ncontroller:\n${await logsOf(`faas-controller-${id}`)}\nworker:\n${await logsOf(`faas-worker-${id}`)}`,
    );
  });
}, 15 * 60_000);

afterAll(async () => {
  // SIGTERM first: the worker removes its function containers as it stops.
  const ours = await docker.listContainers({ all: true, filters: { label: [testLabel] } });
  await Promise.all(
    ours.map((c) =>
      docker
        .getContainer(c.Id)
        .stop({ t: 15 })
        .catch(() => undefined),
    ),
  );
  await Promise.all(
    ours.map((c) =>
      docker
        .getContainer(c.Id)
        .remove({ force: true })
        .catch(() => undefined),
    ),
  );
  await ContainerRuntime.removeManagedContainers(docker, { "faas.worker": workerId });
  const redis = new Redis(`redis://${redisAddr}`);
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
  const client = new pg.Client({ connectionString: adminDbUrl });
  await client.connect();
  await client.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`).finally(() => client.end());
  if (dir) await rm(dir, { recursive: true, force: true });
}, 120_000);

describe("the platform image", () => {
  it("runs the controller as a non-root user", async () => {
    const info = await docker.getContainer(`faas-controller-${id}`).inspect();
    expect(info.Config.User).toBe("faas");
    const top = (await docker.getContainer(`faas-controller-${id}`).top({ ps_args: "-o pid,uid,comm" })) as {
      Titles: string[];
      Processes: string[][];
    };
    const column = top.Titles.indexOf("UID");
    const uids = top.Processes.map((p) => p[column]);
    expect(uids.length).toBeGreaterThan(0);
    expect(uids.every((uid) => uid === "10000")).toBe(true);
  });

  // Workers in containers and on the host share one set of uid-block claims (compose: the
  // host's pid namespace and /run/faas-uid-blocks): a claim names its owner by a host pid,
  // which every other worker of the host can check is alive.
  it("has its worker claim a block of function uids where the host's workers do, by its host pid", async () => {
    const top = (await docker.getContainer(`faas-worker-${id}`).top({ ps_args: "-o pid" })) as {
      Processes: string[][];
    };
    const pids = new Set(top.Processes.map((p) => String(p[0]).trim()));
    const claims = (await readdir(HOST_UID_BLOCKS_DIR)).filter((name) =>
      pids.has(name.split(".")[2]?.split("-")[0] ?? ""),
    );
    expect(claims.length, `claims in ${HOST_UID_BLOCKS_DIR} of pids ${[...pids]}`).toBe(1);
    const [base, , owner] = (claims[0] as string).split(".");
    expect(base).toBe("300000"); // the container runtime's range
    const [pid, started] = (owner as string).split("-");
    const stat = await readFile(`/proc/${pid}/stat`, "utf8");
    expect(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]).toBe(started); // alive, as the host sees it
    // The worker above runs with docker-compose.yml's settings for this; they must stay there.
    const worker = await composeWorkerService();
    expect(worker).toMatch(/\n {4}pid: host\n/);
    expect(worker).toContain(`- ${HOST_UID_BLOCKS_DIR}:${HOST_UID_BLOCKS_DIR}\n`);
  });

  // A worker in a container checks the host's passwd and subuid, not its image's: compose
  // mounts the host's /etc at /host/etc and says so in WORKER_HOST_ETC_DIR.
  it("has a worker in a container refuse to start where the host's passwd gives out its function uids", async () => {
    const etc = join(dir, "host-etc");
    await mkdir(etc, { recursive: true });
    await writeFile(join(etc, "passwd"), "root:x:0:0:root:/root:/bin/sh\nclash:x:300500:300500::/home/clash:/bin/sh\n");
    const args = [
      "run",
      "--rm",
      "-v",
      `${etc}:/host/etc:ro`,
      "-e",
      "WORKER_HOST_ETC_DIR=/host/etc",
      ...workerArgs(`${workerId}-etc`),
    ];
    const failed = await execFileAsync("docker", args, { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 }).then(
      () => null,
      (err: { code?: number; stdout?: string; stderr?: string }) => err,
    );
    expect(failed, "the worker started").not.toBeNull();
    expect(failed?.code).not.toBe(0);
    expect(`${failed?.stdout}${failed?.stderr}`).toContain("/host/etc/passwd line 2 gives clash uid 300500");
    const worker = await composeWorkerService();
    expect(worker).toContain("- /etc:/host/etc:ro\n");
    expect(worker).toMatch(/\n {6}WORKER_HOST_ETC_DIR: \/host\/etc\n/);
  });

  it("invokes a Python function through controller and worker containers, the function in a container", async () => {
    const created = await request("POST", "/functions", functionBody({ runtime: "python", code: b64(HELLO.python) }));
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const res = await request("POST", "/invoke?wait=60s", {
      function_id: created.body.data.id,
      payload: { name: "Image" },
    });
    const detail = `${JSON.stringify(res.body)}\nworker:\n${await logsOf(`faas-worker-${id}`)}`;
    expect(res.status, detail).toBe(200);
    expect(res.body.data, detail).toMatchObject({
      status: "completed",
      result: { message: "Hello, Image!" },
      worker_id: workerId,
    });
    // The worker container started function containers on the host's engine.
    const events = await docker.getEvents({
      since: startedAt,
      until: Math.ceil(Date.now() / 1000),
      filters: { type: ["container"], event: ["create"], label: [`faas.worker=${workerId}`] },
    });
    let text = "";
    for await (const chunk of events as AsyncIterable<Buffer>) text += chunk.toString("utf8");
    const images = text
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((l) => (JSON.parse(l) as { from?: string }).from);
    expect(images).toContain(`${imagePrefix}-python:${runtimeImageVersion()}`);
  });
});
