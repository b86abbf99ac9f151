// The Node.js zygote of an execution environment (a function container, or a sandbox of the
// process runtime): started once by /opt/faas/agent nodejs
// (`node --single-threaded --v8-pool-size=1 /opt/faas/node-zygote.js`), it loads node and
// the built-in modules functions commonly use, never runs function code, and forks one
// child per invocation (node-fork.node, see addon/node-fork.cc):
// `serve(3)` returns only in a forked child, already set up by the addon (own session,
// oom_score_adj 1000, stdin/stdout/stderr the invocation's, no descriptor shared with the
// zygote, its own libuv loop). Each invocation thus starts from the same clean state in
// about a millisecond, instead of node's ~80 ms start-up (Debian's node has no start-up
// snapshot).
//
// Descriptors set up by the agent: 0 /dev/null, 1 and 2 the agent's stderr (diagnostics),
// 3 the channel to the agent (unix stream socket; messages as for zygote.py, PROTOCOL.md).
//
// In the child: process.env becomes exactly the invocation's env, argv[1]
// /fn/code/main.js, execArgv [], cwd /fn, Math.random is re-seeded (V8 seeds it once per
// isolate: every child would repeat the zygote's sequence), and main.js runs as the main
// module through Module.runMain(), the function `node main.js` itself uses, so
// require.main === module holds in main.js, and process.exit(n), uncaught exceptions
// (exit 1), unhandled rejections and the event loop behave as they would there. What node
// reads from its environment at start-up (NODE_OPTIONS, ...) could not apply here: the agent
// starts a fresh `node /fn/code/main.js` for an invocation whose env has such a variable
// (langs.go readAtStart). NODE_PATH and HOME (module search paths) are re-read.

const Module = require("node:module");
const { serve, takeOverExit, getpid } = require("/opt/faas/node-fork.node");

// Loaded once here, shared by every child (copy-on-write): a child that requires them
// finds them in the module cache. None of them holds a descriptor or random state yet:
// the streams of stdout/stderr are made in the child (on first use), and nothing random
// is drawn here (crypto's randomUUID/randomInt pools fill on first use, in the child).
for (const m of [
  "assert",
  "buffer",
  "child_process",
  "crypto",
  "dns",
  "events",
  "fs",
  "fs/promises",
  "http",
  "https",
  "net",
  "os",
  "path",
  "querystring",
  "stream",
  "stream/promises",
  "string_decoder",
  "timers",
  "timers/promises",
  "tty",
  "url",
  "util",
  "zlib",
]) {
  require(m);
}
const { randomFillSync } = require("node:crypto");

// Warm-up, node's own code only: what every invocation runs (a console writing to a
// stream) is compiled here once, and the children share its bytecode (V8 compiles a
// function at its first call). Then a full collection: the children start with an empty
// young generation (no scavenge of the zygote's garbage in each of them) and fewer heap
// pages to copy. Together they take ~2.5 ms of CPU off every invocation.
{
  const { Writable } = require("node:stream");
  const sink = new Writable({
    write(_chunk, _encoding, callback) {
      callback();
    },
  });
  new console.Console(sink, sink).log("%s %d %j", "x", 1, { a: [1] });
  const v8 = require("node:v8");
  v8.setFlagsFromString("--expose-gc");
  require("node:vm").runInNewContext("gc")();
  v8.setFlagsFromString("--no-expose-gc");
}

const envJSON = serve(3);
if (envJSON === null) process.exit(0); // the agent closed the channel (stdin EOF)

// ---- From here on: a forked child, one invocation.
// process.pid is a value node set at its start (the zygote's pid); process.ppid is read
// live. process.uptime() counts from the child's start, as it would from node's.
const started = process.hrtime.bigint();
Object.defineProperty(process, "pid", { value: getpid(), writable: false, enumerable: true, configurable: true });
process.uptime = function uptime() {
  return Number(process.hrtime.bigint() - started) / 1e9;
}.bind(undefined);
Object.defineProperty(process.uptime, "name", { value: "uptime" });
const env = JSON.parse(envJSON);
for (const name of Object.keys(process.env)) delete process.env[name];
for (const name of Object.keys(env)) process.env[name] = env[name];

// Math.random: V8 keeps its xorshift128+ state in the context, seeded once per isolate,
// so every forked child would draw the same numbers. Replaced by one drawing from
// OpenSSL's generator (reseeded in every forked child): 53 random bits per number, in
// [0, 1), like V8's.
const pool = new Uint32Array(1024);
let next = pool.length;
const random = function random() {
  if (next >= pool.length) {
    randomFillSync(pool);
    next = 0;
  }
  const hi = pool[next++] >>> 5; // 27 bits
  const lo = pool[next++] >>> 6; // 26 bits
  return (hi * 67108864 + lo) / 9007199254740992;
}.bind(undefined); // a bound function prints as [native code], like the one it replaces
Object.defineProperty(random, "name", { value: "random" });
Object.defineProperty(Math, "random", { value: random, writable: true, enumerable: false, configurable: true });

process.chdir("/fn");
process.argv.length = 1;
process.argv.push("/fn/code/main.js");
process.execArgv.length = 0; // as for `node main.js` (child_process.fork passes it on)
Module._initPaths(); // NODE_PATH, HOME/.node_modules from the new env
delete require.cache[__filename];
// node's own ending would hang in a forked child (see node-fork.cc): it ends with
// _exit(code) once the function is done, with the exit code node computed.
takeOverExit();

Module.runMain();
