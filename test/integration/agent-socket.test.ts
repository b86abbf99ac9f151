// The agent's two transports against the real Docker engine (container-agent.ts,
// runtimes/agent/socket.go): frames over a Unix socket in the container, reached through the
// agent's /proc entry, when the engine is local; over the attach stream otherwise. The socket
// listens only until the first frame and takes no connection from inside the container.
import { execFile } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { promisify } from "node:util";
import Dockerode from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../src/lib/logger.js";
import { encodeFrame, FROM_AGENT, type Frame, FrameReader, TO_AGENT } from "../../src/worker/runtimes/agent-frames.js";
import { AGENT_SOCKET_ENV } from "../../src/worker/runtimes/container-agent.js";
import { runtimeImageName } from "../../src/worker/runtimes/container-images.js";
import { ContainerJobRunner, type StartedContainer } from "../../src/worker/runtimes/container-job.js";
import {
  ContainerRuntime,
  type ContainerRuntimeOptions,
  environmentContainerSpec,
} from "../../src/worker/runtimes/container-runtime.js";
import type { FunctionLanguage } from "../../src/worker/runtimes/runtime.js";
import { containerRuntimeOptions } from "../support/container-runtimes.js";
import { runRequest } from "../support/run-request.js";
import { ensureRuntimeImages } from "../support/runtime-images.js";
import { waitFor } from "../support/waiting.js";

const docker = new Dockerode();
const logger = createLogger("silent");
const testLabel = { "faas.test": `agent-socket-${randomBytes(6).toString("hex")}` };
const imagePrefix = process.env.RUNTIME_IMAGE_PREFIX || "faas-runtime";
const runtimes: ContainerRuntime[] = [];
let workDir: string;

const ECHO: Record<FunctionLanguage, string> = {
  python: "import os, sys\nprint(os.environ['FUNCTION_PAYLOAD'])\nsys.stderr.write('to stderr')\nsys.exit(3)\n",
  nodejs: "console.log(process.env.FUNCTION_PAYLOAD)\nprocess.stderr.write('to stderr')\nprocess.exitCode = 3\n",
  go: 'package main\n\nimport (\n\t"fmt"\n\t"os"\n)\n\nfunc main() {\n\tfmt.Println(os.Getenv("FUNCTION_PAYLOAD"))\n\tfmt.Fprint(os.Stderr, "to stderr")\n\tos.Exit(3)\n}\n',
};

async function started(extra: Partial<ContainerRuntimeOptions>): Promise<ContainerRuntime> {
  const r = new ContainerRuntime(
    containerRuntimeOptions({ docker, workDir, testLabel, workerPrefix: "socket-test" }, extra),
  );
  runtimes.push(r);
  await r.start();
  return r;
}

beforeAll(async () => {
  await ensureRuntimeImages();
  workDir = await mkdtemp(join(tmpdir(), "faas-agent-socket-"));
}, 900_000);

afterAll(async () => {
  for (const r of runtimes) await r.stop();
  await ContainerRuntime.removeManagedContainers(docker, testLabel);
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

describe.each([
  { agentSocket: undefined, path: "socket" },
  { agentSocket: false, path: "attach stream" },
])("frames over the $path (agentSocket: $agentSocket)", ({ agentSocket, path }) => {
  it.each(["python", "nodejs", "go"] as const)("%s: results, logs and exit codes arrive whole", async (language) => {
    const r = await started({ agentSocket });
    const functionId = randomUUID();
    for (let i = 0; i < 3; i++) {
      const result = await r.run(runRequest(language, ECHO[language], { functionId, payload: JSON.stringify(i) }));
      expect(result.outcome, result.error ?? "").toBe("failed");
      expect(result.exitCode).toBe(3);
      expect(result.stdout.trim()).toBe(String(i));
      expect(result.stderr).toContain("to stderr");
    }
    expect(r.environmentStarts).toEqual({ warm: 2, cold: 1 });
    expect(r.environmentFramesOver).toEqual({ [path]: 1 });
  });
});

/** An agent container started the way environments are, with the socket variable set. */
async function agentContainer(socketPath: string) {
  // Managed and labelled like the runtime's own, so afterAll removes any a failed test left.
  const jobs = new ContainerJobRunner(
    docker,
    logger,
    { ...testLabel, "faas.managed": "true" },
    { cpuShares: 512, networkName: "none" },
  );
  const frames: Frame[] = [];
  const reader = new FrameReader();
  const sink = (push: boolean) =>
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        if (push) frames.push(...reader.push(chunk));
        callback();
      },
    });
  const spec = environmentContainerSpec(
    runtimeImageName(imagePrefix, "python"),
    { runtime: "python", memoryMb: 256, network: false },
    64,
  );
  const container = await jobs.start(
    { ...spec, env: [...spec.env, `${AGENT_SOCKET_ENV}=${socketPath}`] },
    { stdout: sink(true), stderr: sink(false) },
  );
  try {
    await waitFor("the agent's hello", async () => frames.some((f) => f.type === FROM_AGENT.hello));
  } catch (err) {
    await jobs.discard(container);
    throw err;
  }
  return { jobs, container, frames };
}

/** Runs `script` with python3 inside the container (a process the container's pid namespace sees). */
async function execInside(container: StartedContainer, script: string): Promise<string> {
  const { stdout } = await promisify(execFile)("docker", ["exec", container.id, "python3", "-c", script]);
  return stdout.trim();
}

const SOCKET_EXISTS = (path: string) => `import os; print(os.path.exists(${JSON.stringify(path)}))`;

async function connectFromHost(container: StartedContainer, socketPath: string): Promise<Socket> {
  const pid = ((await container.container.inspect()).State as { Pid: number }).Pid;
  const socket = connect({ path: `/proc/${pid}/root${socketPath}` });
  await new Promise((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  return socket;
}

/** Frames read from `socket` until one of `type` arrives. */
function nextFrame(socket: Socket, type: string): Promise<Frame> {
  const reader = new FrameReader();
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      const found = reader.push(chunk).find((f) => f.type === type);
      if (found) {
        socket.off("data", onData);
        resolve(found);
      }
    };
    socket.on("data", onData);
    socket.once("close", () => reject(new Error("the socket closed")));
  });
}

describe("the agent's socket", () => {
  it("refuses a connection from inside the container, takes the host's, and is gone after the first frame", async () => {
    const socketPath = `/tmp/.faas-agent-${randomBytes(6).toString("hex")}.sock`;
    const { jobs, container } = await agentContainer(socketPath);
    try {
      // A process of the container connects first: the agent hangs up on it.
      const inside = await execInside(
        container,
        `import socket; s = socket.socket(socket.AF_UNIX); s.connect(${JSON.stringify(socketPath)}); s.settimeout(10); print(repr(s.recv(16)))`,
      );
      expect(inside).toBe("b''");
      expect(await execInside(container, SOCKET_EXISTS(socketPath))).toBe("True");

      const socket = await connectFromHost(container, socketPath);
      socket.write(encodeFrame(TO_AGENT.code, "print('over the socket')\n"));
      await nextFrame(socket, FROM_AGENT.ready);
      expect(await execInside(container, SOCKET_EXISTS(socketPath))).toBe("False");
      const exit = nextFrame(socket, FROM_AGENT.stdout);
      socket.write(
        encodeFrame(
          TO_AGENT.invoke,
          JSON.stringify({ env: {}, timeoutMs: 10_000, stdoutLimit: 1024, stderrLimit: 1024 }),
        ),
      );
      expect((await exit).payload.toString()).toBe("over the socket\n");

      // The worker's end of the socket closing is the worker gone: the agent ends.
      socket.destroy();
      await container.waited;
      expect(container.exited).toBe(true);
    } finally {
      await jobs.discard(container);
    }
  });

  it("closes when the first frame comes over the attach stream", async () => {
    const socketPath = `/tmp/.faas-agent-${randomBytes(6).toString("hex")}.sock`;
    const { jobs, container, frames } = await agentContainer(socketPath);
    try {
      container.stream.write(encodeFrame(TO_AGENT.code, "print('over the attach stream')\n"));
      await waitFor("'R' on the attach stream", async () => frames.some((f) => f.type === FROM_AGENT.ready));
      expect(await execInside(container, SOCKET_EXISTS(socketPath))).toBe("False");
      await expect(connectFromHost(container, socketPath)).rejects.toThrow(/ENOENT|ECONNREFUSED/);
    } finally {
      await jobs.discard(container);
    }
  });
});
