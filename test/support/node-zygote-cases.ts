// What a fresh `node main.js` gives, which must hold in every child forked from the Node.js
// zygote (runtimes/agent/node-zygote.js, addon/node-fork.cc): the container runtime's
// environments run it against Debian's node in the nodejs image (execution-environments),
// the process runtime's against the host's node (process-environments).
import { createHash, pbkdf2Sync, randomUUID } from "node:crypto";
import { expect, it } from "vitest";
import type { FunctionRuntime } from "../../src/worker/runtimes/runtime.js";
import { invocations, runRequest } from "./run-request.js";

/**
 * The cases, each against the runtime `runtime()` returns when it runs. realWorkMemoryMb: the
 * memory of the heavy case (the zygote counts against it, and node 20's costs more than 18's).
 */
export function nodeZygoteCases(runtime: () => FunctionRuntime, { realWorkMemoryMb = 128 } = {}): void {
  it("none of globals, environment values, open files and background children crosses to the next invocation", async () => {
    const code = `
const fs = require("fs");
const n = JSON.parse(process.env.FUNCTION_PAYLOAD);
const seen = {
  marker: globalThis.process.marker ?? null,
  leak: process.env.LEAK ?? null,
  fds: fs.readdirSync("/proc/self/fd").length,
  tmp: fs.readdirSync("/tmp"),
  sleeps: fs.readdirSync("/proc").filter((p) => /^\\d+$/.test(p)).map((p) => { try { return fs.readFileSync("/proc/" + p + "/cmdline", "utf8"); } catch { return ""; } }).filter((c) => c.startsWith("sleep")),
  main: require.main === module,
};
process.marker = n;
process.env.LEAK = "from " + n;
fs.openSync("/tmp/kept-" + n, "w");
require("child_process").spawn("sleep", ["300"], { detached: true, stdio: "ignore" }).unref();
console.log(JSON.stringify(seen));
`;
    const results = await invocations(runtime(), "nodejs", code, 3);
    const seen = results.map((r) => {
      expect(r.outcome, r.stderr).toBe("completed");
      return JSON.parse(r.stdout);
    });
    const fds = seen[0].fds;
    for (const s of seen) {
      expect(s).toMatchObject({ marker: null, leak: null, tmp: [], sleeps: [], main: true });
      expect(s.fds).toBe(fds);
    }
  });

  it("draws its own random numbers: Math.random, crypto bytes and UUIDs differ from the previous invocation's", async () => {
    const code = `
const crypto = require("crypto");
const r = [Math.random(), Math.random(), Math.random()];
console.log(JSON.stringify({ r, ok: r.every((x) => x >= 0 && x < 1), bytes: crypto.randomBytes(16).toString("hex"), uuid: crypto.randomUUID() }));
`;
    const seen = (await invocations(runtime(), "nodejs", code, 3)).map((r) => {
      expect(r.outcome, r.stderr).toBe("completed");
      return JSON.parse(r.stdout);
    });
    for (const s of seen) expect(s.ok).toBe(true);
    for (const key of ["r", "bytes", "uuid"]) {
      expect(new Set(seen.map((s) => JSON.stringify(s[key]))).size, key).toBe(3);
    }
  });

  it("runs real work: GC, big JSON, crypto, the threadpool, timers, a loopback HTTP server, WebAssembly, a Worker", async () => {
    const code = `
const crypto = require("crypto"), fs = require("fs"), http = require("http"), zlib = require("zlib");
const { Worker } = require("worker_threads");
const { promisify } = require("util");
for (const m of ["assert", "buffer", "dgram", "dns", "events", "net", "os", "path", "perf_hooks", "querystring", "readline", "stream", "string_decoder", "tls", "url", "util", "v8", "vm", "zlib"]) require(m);
(async () => {
  const out = {};
  // Some 300 MB allocated in all, a few MB alive at a time: scavenges and full GCs.
  let keep = [];
  for (let i = 0; i < 200000; i++) { keep.push({ i, s: "x".repeat(100) + i, a: new Array(8).fill(i) }); if (keep.length > 20000) keep = []; }
  for (let i = 0; i < 40; i++) keep = [Buffer.alloc(2 << 20, i)];
  out.gc = keep[0][5];
  const big = { items: Array.from({ length: 100000 }, (_, i) => ({ id: i, name: "item" + i, tags: ["a", "b"] })) };
  out.json = JSON.parse(JSON.stringify(big)).items[99999].name;
  out.sha256 = crypto.createHash("sha256").update(Buffer.alloc(8 << 20, 7)).digest("hex").slice(0, 16);
  out.pbkdf2 = (await promisify(crypto.pbkdf2)("pw", "salt", 1000, 16, "sha256")).toString("hex");
  const files = await Promise.all(["/proc/self/status", "/proc/self/cmdline", "/fn/code/main.js"].map((f) => fs.promises.readFile(f, "utf8")));
  out.reads = files.every((f) => f.length > 0);
  out.gzip = zlib.gunzipSync(await promisify(zlib.gzip)(Buffer.from("hello".repeat(1000)))).length;
  const t0 = Date.now();
  await new Promise((r) => setTimeout(r, 50));
  out.timer = Date.now() - t0 >= 45;
  out.immediate = await new Promise((r) => setImmediate(() => r(true)));
  const server = http.createServer((req, res) => res.end("pong " + req.url));
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  out.http = await new Promise((resolve, reject) => http.get({ host: "127.0.0.1", port: server.address().port, path: "/x" }, (res) => { let b = ""; res.on("data", (d) => (b += d)); res.on("end", () => resolve(b)); }).on("error", reject));
  server.close();
  const wasm = Buffer.from("0061736d0100000001070160027f7f017f030201000707010361646400000a09010700200020016a0b", "hex");
  out.wasm = new WebAssembly.Instance(await WebAssembly.compile(wasm)).exports.add(2, 3);
  out.worker = await new Promise((resolve, reject) => {
    const w = new Worker("const { parentPort } = require('worker_threads'); let a = []; for (let i = 0; i < 300000; i++) a.push({ i }); parentPort.postMessage(a.length);", { eval: true });
    w.on("message", resolve);
    w.on("error", reject);
  });
  console.log(JSON.stringify(out));
})();
`;
    const [first, second] = await invocations(runtime(), "nodejs", code, 2, { memoryMb: realWorkMemoryMb });
    for (const r of [first, second]) {
      expect(r?.outcome, `${r?.error} ${r?.stderr}`).toBe("completed");
      expect(JSON.parse(r?.stdout ?? "")).toEqual({
        gc: 39,
        json: "item99999",
        sha256: createHash("sha256")
          .update(Buffer.alloc(8 << 20, 7))
          .digest("hex")
          .slice(0, 16),
        pbkdf2: pbkdf2Sync("pw", "salt", 1000, 16, "sha256").toString("hex"),
        reads: true,
        gzip: 5000,
        timer: true,
        immediate: true,
        http: "pong /x",
        wasm: 5,
        worker: 300000,
      });
    }
  });

  it("ends like `node main.js`: exit codes, exitCode, 'beforeExit'/'exit' listeners, uncaught exceptions, unhandled rejections", async () => {
    const code = `
const what = JSON.parse(process.env.FUNCTION_PAYLOAD);
let before = 0;
process.on("beforeExit", () => { if (before++ === 0) setTimeout(() => console.log("more work"), 10); });
process.on("exit", (c) => { console.log("exit " + c + " before " + before); if (what === "exit-listener") process.exitCode = 9; });
if (what === "exit") process.exit(3);
if (what === "exitCode") { process.exitCode = 5; setTimeout(() => console.log("later"), 20); }
if (what === "throw") setTimeout(() => { throw new Error("boom"); }, 5);
if (what === "reject") Promise.reject(new Error("nobody catches"));
`;
    const functionId = randomUUID();
    const run = (what: string) =>
      runtime().run(runRequest("nodejs", code, { functionId, payload: JSON.stringify(what) }));
    const end = await run("end");
    expect([end.outcome, end.exitCode, end.stdout]).toEqual(["completed", 0, "more work\nexit 0 before 2\n"]);
    const exit = await run("exit");
    expect([exit.outcome, exit.exitCode, exit.stdout]).toEqual(["failed", 3, "exit 3 before 0\n"]);
    const exitCode = await run("exitCode");
    expect([exitCode.exitCode, exitCode.stdout]).toEqual([5, "later\nmore work\nexit 5 before 2\n"]);
    const listener = await run("exit-listener");
    expect(listener.exitCode).toBe(9);
    const thrown = await run("throw");
    expect(thrown.exitCode).toBe(1);
    expect(thrown.stderr).toContain("Error: boom");
    expect(thrown.stderr).toContain("main.js:");
    expect(thrown.stdout).toBe("exit 1 before 0\n");
    const rejected = await run("reject");
    expect(rejected.exitCode).toBe(1);
    expect(rejected.stderr).toContain("Error: nobody catches");
  });

  it("is a process of its own: pid, session, child processes that end with it, no descriptor shared with the zygote or the previous invocation", async () => {
    const code = `
const fs = require("fs"), cp = require("child_process");
const stat = fs.readFileSync("/proc/self/stat", "utf8").split(")").pop().trim().split(" ");
const fds = {};
for (const fd of fs.readdirSync("/proc/self/fd")) { try { fds[fd] = fs.readlinkSync("/proc/self/fd/" + fd); } catch {} }
const sleeps = fs.readdirSync("/proc").filter((p) => /^\\d+$/.test(p)).filter((p) => { try { return fs.readFileSync("/proc/" + p + "/cmdline", "utf8").startsWith("sleep"); } catch { return false; } });
cp.spawn("sleep", ["300"], { stdio: "ignore" }).unref();
cp.spawn("sleep", ["301"], { stdio: "ignore", detached: true }).unref();
const echo = cp.execFileSync("sh", ["-c", "echo $0 $$", "spawned"], { encoding: "utf8" }).trim();
console.log(JSON.stringify({ pid: process.pid, statPid: Number(fs.readlinkSync("/proc/self")), session: Number(stat[3]), fds, sleeps, echo, execArgv: process.execArgv, uptime: process.uptime() }));
`;
    const seen = (await invocations(runtime(), "nodejs", code, 2)).map((r) => {
      expect(r.outcome, r.stderr).toBe("completed");
      return JSON.parse(r.stdout);
    });
    const targets = (fds: Record<string, string>) =>
      Object.entries(fds)
        .filter(([fd]) => Number(fd) > 2)
        .map(([, t]) => t)
        .filter((t) => /^(pipe|socket):/.test(t));
    for (const s of seen) {
      expect(s.pid).toBe(s.statPid);
      expect(s.session).toBe(s.pid);
      expect(s.sleeps).toEqual([]);
      expect(s.echo).toMatch(/^spawned \d+$/);
      expect(s.execArgv).toEqual([]);
      expect(s.uptime).toBeLessThan(5);
      // stdin /dev/null, stdout and stderr the invocation's pipes; beyond them only node's
      // own descriptors (made in this process) and /dev/null placeholders: no socket, and
      // no second reference to the invocation's pipes.
      expect(s.fds["0"]).toBe("/dev/null");
      for (const t of targets(s.fds)) {
        expect(t).toMatch(/^pipe:/);
        expect([s.fds["1"], s.fds["2"]]).not.toContain(t);
      }
    }
    expect(seen[0].pid).not.toBe(seen[1].pid);
    // node's own pipes are made anew in every child: none is the previous invocation's.
    const [a, b] = [targets(seen[0].fds), targets(seen[1].fds)];
    expect(a.length).toBeGreaterThan(0);
    expect(a.filter((t: string) => b.includes(t))).toEqual([]);
  });
}
