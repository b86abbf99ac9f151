// The container runtime's Go builds (go-container-build.ts, standby-container.ts) against the
// real engine and the go image: a build container started ahead serves one build and is
// replaced; stop() removes it; compile + link straight from the image's import
// configurations for standard-library code, `go build` for everything else and for every
// error. Every container this file starts carries faas.test=<random>; afterAll removes them.
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Dockerode from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PlatformError } from "../../src/errors.js";
import { createLogger } from "../../src/lib/logger.js";
import { runtimeImageName } from "../../src/worker/runtimes/container-images.js";
import { ContainerJobRunner } from "../../src/worker/runtimes/container-job.js";
import { ContainerRuntime, type ContainerRuntimeOptions } from "../../src/worker/runtimes/container-runtime.js";
import { FramedBinaryReader } from "../../src/worker/runtimes/go-build-output.js";
import { goBuildInput, goBuildOutput, goBuildSpec } from "../../src/worker/runtimes/go-container-build.js";
import { containerRuntimeOptions } from "../support/container-runtimes.js";
import { HELLO, slowGoCode } from "../support/functions.js";
import { runRequest } from "../support/run-request.js";
import { ensureRuntimeImages } from "../support/runtime-images.js";
import { waitFor } from "../support/waiting.js";

const docker = new Dockerode();
const testLabel = { "faas.test": `go-container-build-${randomBytes(6).toString("hex")}` };
let workDir: string;
const runtimes: ContainerRuntime[] = [];

function options(extra: Partial<ContainerRuntimeOptions> = {}): ContainerRuntimeOptions {
  return containerRuntimeOptions({ docker, workDir, testLabel, workerPrefix: "gobuild" }, extra);
}

async function started(extra: Partial<ContainerRuntimeOptions> = {}): Promise<ContainerRuntime> {
  const runtime = new ContainerRuntime(options(extra));
  runtimes.push(runtime);
  await runtime.start();
  return runtime;
}

/** Go build containers (any state) of one worker id. */
function buildContainers(workerId: string): Promise<Dockerode.ContainerInfo[]> {
  return docker.listContainers({
    all: true,
    filters: { label: [`faas.test=${testLabel["faas.test"]}`, `faas.worker=${workerId}`, "faas.purpose=go-build"] },
  });
}

/** The one build container of a worker once it runs (waiting for code), by id. */
async function standbyOf(workerId: string): Promise<string> {
  return waitFor("a waiting go build container", async () => {
    const list = await buildContainers(workerId);
    return list.length === 1 && list[0]?.State === "running" ? list[0].Id : null;
  });
}

/** A new version of a Go function each call (a new sha256: a build). */
const fresh = (code: string) => `${code}// ${randomUUID()}\n`;

/** Prints whether its own binary carries a Go build ID: `go build` writes one, the fast path does not. */
const BUILD_ID_PROBE = `package main

import (
	"debug/elf"
	"fmt"
	"os"
)

func main() {
	exe, _ := os.Executable()
	f, err := elf.Open(exe)
	if err != nil {
		fmt.Println("error", err)
		return
	}
	s := f.Section(".note.go.buildid")
	fmt.Println(s != nil && s.Size > 16)
}
`;

beforeAll(async () => {
  await ensureRuntimeImages();
  workDir = await mkdtemp(join(tmpdir(), "faas-go-container-build-"));
}, 900_000);

afterAll(async () => {
  for (const r of runtimes) await r.stop();
  await ContainerRuntime.removeManagedContainers(docker, testLabel);
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

describe("go build container started ahead", () => {
  it("serves exactly one build, is removed after it, and another takes its place", async () => {
    const workerId = `standby-${randomBytes(4).toString("hex")}`;
    const runtime = await started({ workerId, goBuildStandby: true });
    const first = await standbyOf(workerId);
    const a = await runtime.run(runRequest("go", fresh(HELLO.go)));
    expect(a.outcome, a.stderr).toBe("completed");
    expect(JSON.parse(a.stdout)).toEqual({ message: "Hello, Test!" });
    expect(runtime.goBuildStandbyTaken).toBe(1);
    // The one used is gone (nothing Exited left behind) and a new one waits.
    const second = await standbyOf(workerId);
    expect(second).not.toBe(first);
    const b = await runtime.run(runRequest("go", fresh(HELLO.go)));
    expect(b.outcome, b.stderr).toBe("completed");
    expect(runtime.goBuildStandbyTaken).toBe(2);
    const third = await standbyOf(workerId);
    expect([first, second]).not.toContain(third);
  });

  it("serves one of two builds at once; the other gets a container of its own", async () => {
    const workerId = `standby-two-${randomBytes(4).toString("hex")}`;
    const runtime = await started({ workerId, goBuildStandby: true });
    await standbyOf(workerId);
    const [a, b] = await Promise.all([
      runtime.run(runRequest("go", fresh(HELLO.go))),
      runtime.run(runRequest("go", fresh(HELLO.go))),
    ]);
    expect([a.outcome, b.outcome], `${a.stderr}${b.stderr}`).toEqual(["completed", "completed"]);
    expect(runtime.goBuildStandbyTaken).toBe(1);
  });

  it("is replaced when it dies while waiting", async () => {
    const workerId = `standby-dead-${randomBytes(4).toString("hex")}`;
    const runtime = await started({ workerId, goBuildStandby: true });
    const first = await standbyOf(workerId);
    await docker.getContainer(first).remove({ force: true });
    const second = await waitFor("a replacement", async () => {
      const id = await standbyOf(workerId);
      return id !== first ? id : null;
    });
    expect(second).not.toBe(first);
    const result = await runtime.run(runRequest("go", fresh(HELLO.go)));
    expect(result.outcome, result.stderr).toBe("completed");
    expect(runtime.goBuildStandbyTaken).toBe(1);
  });

  it("is removed by stop(), also one still starting", async () => {
    const workerId = `standby-stop-${randomBytes(4).toString("hex")}`;
    const runtime = await started({ workerId, goBuildStandby: true });
    await standbyOf(workerId);
    await runtime.stop();
    expect(await buildContainers(workerId)).toHaveLength(0);
    // stop() right after start(): the standby is still on its way up.
    const startingId = `standby-stop2-${randomBytes(4).toString("hex")}`;
    const starting = await started({ workerId: startingId, goBuildStandby: true });
    await starting.stop();
    expect(await buildContainers(startingId)).toHaveLength(0);
  });

  it("a build container whose removal waits (its build ended on its output) is removed by stop() at once", async () => {
    const workerId = `standby-after-${randomBytes(4).toString("hex")}`;
    const runtime = await started({ workerId, goBuildStandby: true });
    await standbyOf(workerId);
    const result = await runtime.run(runRequest("go", fresh(HELLO.go)));
    expect(result.outcome, result.stderr).toBe("completed");
    await runtime.stop();
    expect(await buildContainers(workerId)).toHaveLength(0);
  });

  it("is kept only when asked for (warm containers on), and builds still run without it", async () => {
    const workerId = `no-standby-${randomBytes(4).toString("hex")}`;
    const runtime = await started({ workerId });
    const result = await runtime.run(runRequest("go", fresh(HELLO.go)));
    expect(result.outcome, result.stderr).toBe("completed");
    expect(runtime.goBuildStandbyTaken).toBe(0);
    // The build's own container goes (after the build, off its path); none is started to wait.
    await waitFor("the build container's removal", async () => (await buildContainers(workerId)).length === 0);
    await runtime.stop();
    expect(await buildContainers(workerId)).toHaveLength(0);
  });
});

// The limits' builds compile code that takes seconds: hello world's fast path builds in 60-90
// ms here, and a CI run saw one finish inside a 50 ms limit.
describe("go build limits", () => {
  it("a build past its time is the platform's failure, also in a container started ahead", async () => {
    const workerId = `timeout-${randomBytes(4).toString("hex")}`;
    const runtime = await started({ workerId, goBuildStandby: true, goBuildTimeoutMs: 50 });
    await standbyOf(workerId);
    await expect(runtime.run(runRequest("go", fresh(slowGoCode())))).rejects.toThrow(
      new PlatformError("go build timed out after 50ms"),
    );
    expect(runtime.goBuildStandbyTaken).toBe(1);
  });

  it("a build out of memory is the platform's failure, not the function's", async () => {
    const workerId = `oom-${randomBytes(4).toString("hex")}`;
    const runtime = await started({ workerId, goBuildStandby: true, goBuildMemoryMb: 16 });
    await standbyOf(workerId);
    await expect(runtime.run(runRequest("go", fresh(slowGoCode())))).rejects.toThrow(
      new PlatformError("go build ran out of memory (16 MiB)"),
    );
  });
});

describe("go build paths", () => {
  let runtime: ContainerRuntime;
  beforeAll(async () => {
    runtime = await started({ goBuildStandby: true });
  });

  it("builds standard-library code without the go command (fast path: no build ID)", async () => {
    const result = await runtime.run(runRequest("go", fresh(BUILD_ID_PROBE)));
    expect(result.outcome, result.stderr).toBe("completed");
    expect(result.stdout.trim()).toBe("false");
  });

  it("reports a compile error as the function's failure with go build's own message", async () => {
    const result = await runtime.run(runRequest("go", "package main\n\nfunc main() { undefinedThing() }\n"));
    expect(result.outcome).toBe("failed");
    expect(result.error).toBe("compilation failed");
    // "# fn" heads go build's report of package fn; the compiler alone prints no such line.
    expect(result.stderr).toBe("# fn\n./main.go:3:15: undefined: undefinedThing\n");
  });

  it("builds with go build what the fast path cannot take (go:embed)", async () => {
    const code = `package main

import (
	_ "embed"
	"fmt"
)

//go:embed go.mod
var mod string

func main() { fmt.Print(mod) }
`;
    const result = await runtime.run(runRequest("go", fresh(code)));
    expect(result.outcome, result.stderr).toBe("completed");
    expect(result.stdout).toBe("module fn\n\ngo 1.19\n");
  });

  it("leaves build constraints to go build (which excludes the file)", async () => {
    const code = `//go:build ignore\n\n${HELLO.go}`;
    const result = await runtime.run(runRequest("go", fresh(code)));
    expect(result.outcome).toBe("failed");
    expect(result.error).toBe("compilation failed");
    expect(result.stderr).toContain("build constraints exclude all Go files");
  });

  it.each([
    ["internal/cpu", "use of internal package internal/cpu not allowed"],
    ["vendor/golang.org/x/net/dns/dnsmessage", "use of vendored package not allowed"],
  ])("refuses an import of %s as go build does", async (path, message) => {
    const code = `package main\n\nimport _ "${path}"\n\nfunc main() {}\n`;
    const result = await runtime.run(runRequest("go", fresh(code)));
    expect(result.outcome).toBe("failed");
    expect(result.error).toBe("compilation failed");
    expect(result.stderr).toContain(message);
  });

  it("writes panics' file names as go build -trimpath does (fn/main.go)", async () => {
    const result = await runtime.run(runRequest("go", fresh('package main\n\nfunc main() { panic("boom") }\n')));
    expect(result.outcome).toBe("failed");
    expect(result.stderr).toContain("fn/main.go:3");
  });
});

describe("a build's input and output", () => {
  const limits = { memoryMb: 256, timeoutMs: 20_000 };
  const NONCE = "00112233445566778899aabbccddeeff";
  let jobs: ContainerJobRunner;
  beforeAll(() => {
    jobs = new ContainerJobRunner(
      docker,
      createLogger("silent"),
      { ...testLabel, "faas.managed": "true" },
      { cpuShares: 512, networkName: "none" },
    );
  });
  afterAll(() => jobs.stop());

  /** A build container, hardened as the runtime makes one, running the build script or `script`. */
  async function build(input: { script?: string; stdin?: Buffer; output?: FramedBinaryReader }) {
    const spec = goBuildSpec(
      runtimeImageName(process.env.RUNTIME_IMAGE_PREFIX || "faas-runtime", "go"),
      "/usr/local/bin:/usr/bin:/bin",
      { memoryMb: limits.memoryMb, pidsLimit: 64, maxLogBytes: 16 * 1024 },
    );
    const output = input.output ?? new FramedBinaryReader(NONCE, 1024 * 1024);
    const started = performance.now();
    const job = await jobs.run({
      ...spec,
      cmd: input.script ? ["/bin/sh", "-c", input.script] : spec.cmd,
      stdin: input.stdin ?? Buffer.alloc(0),
      timeoutMs: limits.timeoutMs,
      outputEnd: output,
    });
    return { job, output, ms: performance.now() - started };
  }

  it("ends the build at its end line, without waiting for the container's exit", async () => {
    const { job, output, ms } = await build({ script: `printf 'abcfaas-build-ok ${NONCE} 3\\n'; sleep 30` });
    expect(job.outputComplete).toBe(true);
    expect(job.timedOut).toBe(false);
    expect(ms).toBeLessThan(10_000);
    expect(goBuildOutput(job, output, limits).toString()).toBe("abc");
  });

  it("a clean exit with the binary cut short is the platform's failure: no binary runs", async () => {
    const { job, output } = await build({ script: `printf 'abcfaas-build-ok ${NONCE} 5\\n'` });
    expect(job).toMatchObject({ outputComplete: false, exitCode: 0 });
    expect(() => goBuildOutput(job, output, limits)).toThrow(
      new PlatformError("go build ended without a complete binary"),
    );
  });

  it("a clean exit without the end line is the platform's failure", async () => {
    const { job, output } = await build({ script: "printf 'abc'" });
    expect(job).toMatchObject({ outputComplete: false, exitCode: 0 });
    expect(() => goBuildOutput(job, output, limits)).toThrow(
      new PlatformError("go build ended without a complete binary"),
    );
  });

  it("the real script's binary ends with the build's own end line", async () => {
    const { stdin, output } = goBuildInput(Buffer.from(HELLO.go));
    const { job } = await build({ stdin, output });
    expect(job.outputComplete).toBe(true);
    expect(goBuildOutput(job, output, limits).subarray(0, 4).toString("latin1")).toBe("\x7fELF");
  });

  it.each([
    ["cut short", (stdin: Buffer) => stdin.subarray(0, stdin.length - 40)],
    ["without the nonce's line", (stdin: Buffer) => stdin.subarray(0, stdin.length - 33)],
    [
      "with another nonce after it",
      (stdin: Buffer) => Buffer.concat([stdin.subarray(0, stdin.length - 33), Buffer.from(`${NONCE}\n`)]),
    ],
  ])("code that arrives %s is the platform's failure (delivery), never built", async (_name, damage) => {
    const { stdin, output } = goBuildInput(Buffer.from(HELLO.go));
    const { job } = await build({ stdin: damage(stdin), output });
    expect(job.outputComplete).toBe(false);
    expect(() => goBuildOutput(job, output, limits)).toThrow(
      new PlatformError("code delivery into the Go build container failed"),
    );
  });
});
