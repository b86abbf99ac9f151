// The execution-environment agent alone: one container of a runtime image, hardened as the
// worker starts it (read-only root, tmpfs /tmp and /fn/code, no capabilities, the platform's
// seccomp profile, pids and memory limits, no network), spoken to over `docker run -i` with
// the frame protocol (runtimes/agent/PROTOCOL.md). BENCH_AGENT_RUNS invocations back to back
// (the next 'I' leaves as the previous 'X' arrives), BENCH_AGENT_ROUNDS times, each round in a
// new container after BENCH_AGENT_WARMUP unmeasured invocations.
//
// Per round: I -> X latency p50 / p90 / mean (ms), and CPU per invocation (ms): the
// container's cgroup in all (cpuacct.usage), the agent (its threads' schedstat), the zygote
// itself, and the rest (the function processes, forked or exec'd).
//
// Knobs: BENCH_AGENT_IMAGE (default faas-runtime-python:<runtimes/VERSION>), BENCH_AGENT_LANG
// (python), BENCH_AGENT_CODE (default test/fixtures/functions/hello.py), BENCH_AGENT_DIR (a
// directory holding an agent binary and zygote.py, bound over /opt/faas: try a change without
// building images), BENCH_AGENT_DOCKER_ARGS (more `docker run` options), BENCH_AGENT_ENV (JSON object added to the invocation's env),
// BENCH_AGENT_GAP_MS (a pause between invocations: paced instead of back to back; CPU then
// includes the agent's idle time).
import { spawn } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeFrame, type Frame, FrameReader } from "../src/worker/runtimes/agent-frames.js";
import { dockerSeccompProfile } from "../src/worker/runtimes/seccomp.js";

const root = join(import.meta.dirname, "..");
const version = readFileSync(join(root, "runtimes/VERSION"), "utf8").trim();
const LANG = process.env.BENCH_AGENT_LANG ?? "python";
const IMAGE = process.env.BENCH_AGENT_IMAGE ?? `faas-runtime-${LANG}:${version}`;
const RUNS = Number(process.env.BENCH_AGENT_RUNS ?? 200);
const ROUNDS = Number(process.env.BENCH_AGENT_ROUNDS ?? 3);
const WARMUP = Number(process.env.BENCH_AGENT_WARMUP ?? 20);
const CODE = readFileSync(process.env.BENCH_AGENT_CODE ?? join(root, "test/fixtures/functions/hello.py"));
const GAP_MS = Number(process.env.BENCH_AGENT_GAP_MS ?? 0);
const EXTRA_ENV = JSON.parse(process.env.BENCH_AGENT_ENV ?? "{}") as Record<string, string>;

const seccompFile = join(tmpdir(), `agent-bench-seccomp-${process.pid}.json`);
writeFileSync(seccompFile, dockerSeccompProfile());

function docker(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn("docker", args, { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    p.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    p.on("exit", (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`docker ${args[0]}: ${code}`))));
  });
}

/** ns of CPU: the cgroup's, the agent's threads', the zygote's (0 without one). */
function cpu(cgroup: string, agentPid: number, zygotePid: number): { total: number; agent: number; zygote: number } {
  const total = Number(readFileSync(join(cgroup, "cpuacct.usage"), "utf8"));
  const threads = (pid: number) =>
    readdirSync(`/proc/${pid}/task`).reduce(
      (sum, t) => sum + Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, "utf8").split(" ")[0]),
      0,
    );
  return { total, agent: threads(agentPid), zygote: zygotePid ? threads(zygotePid) : 0 };
}

async function round(): Promise<{ latencies: number[]; cpuMs: { total: number; agent: number; zygote: number } }> {
  const name = `agent-bench-${process.pid}-${Date.now()}`;
  const args = [
    "run",
    "-i",
    "--rm",
    "--name",
    name,
    "--read-only",
    "--network",
    "none",
    "--cap-drop",
    "ALL",
    "--security-opt",
    "no-new-privileges",
    "--security-opt",
    `seccomp=${seccompFile}`,
    "--pids-limit",
    "64",
    "--memory",
    "128m",
    "--memory-swap",
    "128m",
    "--log-driver",
    "none",
    "--tmpfs",
    "/tmp:rw,nosuid,nodev,size=64m",
    "--tmpfs",
    "/fn/code:rw,exec,nosuid,nodev,size=256m,uid=10001,gid=10001,mode=0700",
    "--user",
    "10001:10001",
    "--workdir",
    "/fn",
    ...(process.env.BENCH_AGENT_DOCKER_ARGS ?? "").split(" ").filter(Boolean),
    ...(process.env.BENCH_AGENT_DIR ? ["-v", `${process.env.BENCH_AGENT_DIR}:/opt/faas:ro`] : []),
    IMAGE,
  ];
  const child = spawn("docker", args, { stdio: ["pipe", "pipe", "inherit"] });
  const reader = new FrameReader();
  let waiting: ((f: Frame) => void) | null = null;
  const queue: Frame[] = [];
  child.stdout.on("data", (chunk: Buffer) => {
    for (const f of reader.push(chunk)) {
      if (waiting) {
        const w = waiting;
        waiting = null;
        w(f);
      } else queue.push(f);
    }
  });
  const next = () =>
    new Promise<Frame>((resolve) => {
      const f = queue.shift();
      if (f) resolve(f);
      else waiting = resolve;
    });
  const expect = async (type: string) => {
    const f = await next();
    if (f.type !== type) throw new Error(`expected '${type}', got '${f.type}': ${f.payload.toString()}`);
    return f;
  };
  await expect("H");
  child.stdin.write(encodeFrame("C", CODE));
  await expect("R");
  const id = await docker(["inspect", "-f", "{{.Id}} {{.State.Pid}}", name]);
  const [cid, pidText] = id.split(" ");
  const agentPid = Number(pidText);
  // A child is listed under the thread that forked it.
  const kids = readdirSync(`/proc/${agentPid}/task`)
    .flatMap((t) => readFileSync(`/proc/${agentPid}/task/${t}/children`, "utf8").trim().split(" "))
    .filter(Boolean);
  const zygotePid = kids.length > 0 ? Number(kids[0]) : 0;
  const cgroup = `/sys/fs/cgroup/cpuacct/docker/${cid}`;
  const invoke = encodeFrame(
    "I",
    JSON.stringify({
      env: { PATH: "/usr/local/bin:/usr/bin:/bin", HOME: "/tmp", FUNCTION_PAYLOAD: '{"name":"bench"}', ...EXTRA_ENV },
      timeoutMs: 30000,
      stdoutLimit: 1 << 20,
      stderrLimit: 1 << 20,
    }),
  );
  const once = async () => {
    const t0 = process.hrtime.bigint();
    child.stdin.write(invoke);
    await expect("O");
    const e = await expect("E");
    const x = await expect("X");
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    const rep = JSON.parse(x.payload.toString()) as { exitCode: number | null };
    if (rep.exitCode !== 0) throw new Error(`exit ${x.payload.toString()}: ${e.payload.toString()}`);
    return ms;
  };
  for (let i = 0; i < WARMUP; i++) await once();
  const before = cpu(cgroup, agentPid, zygotePid);
  const latencies: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    latencies.push(await once());
    if (GAP_MS > 0) await new Promise((r) => setTimeout(r, GAP_MS));
  }
  const after = cpu(cgroup, agentPid, zygotePid);
  child.stdin.end();
  await new Promise((r) => child.on("exit", r));
  const per = (a: number, b: number) => (a - b) / 1e6 / RUNS;
  return {
    latencies,
    cpuMs: {
      total: per(after.total, before.total),
      agent: per(after.agent, before.agent),
      zygote: per(after.zygote, before.zygote),
    },
  };
}

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
const f2 = (n: number) => n.toFixed(2);
console.log(
  `${IMAGE}${process.env.BENCH_AGENT_DIR ? ` with ${process.env.BENCH_AGENT_DIR}` : ""}: ${RUNS} ${GAP_MS ? `paced ${GAP_MS} ms` : "back to back"}, ${ROUNDS} rounds`,
);
console.log("round  p50    p90    mean   | cpu/inv total  agent  zygote  rest");
for (let r = 0; r < ROUNDS; r++) {
  const { latencies, cpuMs } = await round();
  const s = [...latencies].sort((a, b) => a - b);
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  const rest = cpuMs.total - cpuMs.agent - cpuMs.zygote;
  console.log(
    `${r}      ${f2(pct(s, 50))}   ${f2(pct(s, 90))}   ${f2(mean)}   |         ${f2(cpuMs.total)}   ${f2(cpuMs.agent)}   ${f2(cpuMs.zygote)}    ${f2(rest)}`,
  );
}
