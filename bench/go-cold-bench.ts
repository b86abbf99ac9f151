// The first invocation of a new Go version in the container runtime, in process (no API, no
// queue): what the Go build adds to a cold start.
//   npx tsx bench/go-cold-bench.ts [rounds] [--no-standby]
// --no-standby: no build container waits ahead (each build starts its own).
// Each round changes the code (a new sha256), pauses, then invokes once. Figures, not
// assertions: compare runs made under the same load.
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Dockerode from "dockerode";
import { createLogger } from "../src/lib/logger.js";
import { ContainerRuntime } from "../src/worker/runtimes/container-runtime.js";
import { HELLO } from "../test/support/functions.js";
import { runRequest } from "../test/support/run-request.js";

const args = process.argv.slice(2);
const ROUNDS = Number(args.find((a) => /^\d+$/.test(a)) ?? 15);
const STANDBY = !args.includes("--no-standby");
const PAUSE_MS = 1000;

async function main(): Promise<void> {
  const docker = new Dockerode();
  const workDir = await mkdtemp(join(tmpdir(), "faas-go-cold-"));
  const label = { "faas.test": `go-cold-bench-${randomUUID().slice(0, 8)}` };
  const runtime = new ContainerRuntime({
    docker,
    workerId: `go-cold-${randomUUID().slice(0, 8)}`,
    imagePrefix: "faas-runtime",
    workDir,
    limits: { maxOutputBytes: 64 * 1024, maxLogBytes: 16 * 1024 },
    cpuShares: 512,
    pidsLimit: 64,
    logger: createLogger("silent"),
    extraLabels: label,
    warmPerKey: 1,
    goBuildStandby: STANDBY,
  });
  await runtime.start();
  const times: number[] = [];
  try {
    await new Promise((r) => setTimeout(r, 3000));
    for (let i = 0; i < ROUNDS; i++) {
      const req = runRequest("go", `${HELLO.go}// ${randomUUID()}\n`);
      const t0 = performance.now();
      const result = await runtime.run(req);
      const ms = performance.now() - t0;
      if (result.outcome !== "completed") throw new Error(`round ${i}: ${result.outcome}: ${result.stderr}`);
      times.push(ms);
      await new Promise((r) => setTimeout(r, PAUSE_MS));
    }
  } finally {
    await runtime.stop();
    await ContainerRuntime.removeManagedContainers(docker, label);
    await rm(workDir, { recursive: true, force: true });
  }
  const sorted = [...times].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!.toFixed(0);
  process.stdout.write(
    `go cold (container runtime${STANDBY ? "" : ", no standby"}), n=${times.length}: p50 ${at(50)} ms, min ${sorted[0]!.toFixed(0)} ms, max ${at(100)} ms\n`,
  );
  process.stdout.write(`all: ${times.map((t) => t.toFixed(0)).join(" ")}\n`);
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
