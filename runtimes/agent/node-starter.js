// The pre-started Node.js process of a function container (started by /opt/faas/agent
// nodejs ahead of the invocation: at container start, then after each invocation's
// cleanup, so node's own start-up is off the invocation's path).
//
// Descriptors set up by the agent: 0 /dev/null, 1 and 2 the pipes of the next
// invocation, 3 the read end of a pipe carrying the invocation's env (a JSON object, to
// EOF), 4 the write end of a readiness pipe, closed here once loaded. The process is in
// its own session already.
//
// Once the env arrives: process.env becomes exactly that env, argv[1] /fn/code/main.js,
// cwd /fn, and main.js runs as the main module through Module.runMain(), the function
// `node main.js` itself uses, so require.main === module holds in main.js, and
// process.exit(n), uncaught exceptions (exit 1) and the event loop behave as they would
// there. Only what node reads from its environment at start-up (NODE_OPTIONS, ...)
// cannot apply; NODE_PATH and HOME (module search paths) are re-read.

const fs = require("node:fs");
const Module = require("node:module");

try {
  fs.writeFileSync("/proc/self/oom_score_adj", "1000"); // the OOM killer picks the function
} catch (e) {
  process.stderr.write(`node-starter: oom_score_adj: ${e.message}\n`);
}

// Done now rather than on the invocation's path (~10 ms): the stdout/stderr streams
// (fds 1 and 2 are already the invocation's pipes; the first use loads `net`) and a few
// cheap built-in modules. Heavier ones (crypto, http: ~20 ms) are left to the function:
// this start-up is on the path of an invocation that follows the previous one at once.
// Each node process serves one invocation, so nothing here is shared with another one.
void process.stdout;
void process.stderr;
for (const m of ["events", "util", "path", "os", "url"]) require(m);

fs.closeSync(4); // ready

const chunks = [];
const buf = Buffer.allocUnsafe(64 * 1024);
for (;;) {
  let n;
  try {
    n = fs.readSync(3, buf, 0, buf.length, null);
  } catch (e) {
    if (e.code === "EAGAIN" || e.code === "EINTR") continue;
    throw e;
  }
  if (n === 0) break;
  chunks.push(Buffer.from(buf.subarray(0, n)));
}
fs.closeSync(3);
const env = JSON.parse(Buffer.concat(chunks).toString("utf8"));

for (const name of Object.keys(process.env)) delete process.env[name];
for (const name of Object.keys(env)) process.env[name] = env[name];

process.chdir("/fn");
process.argv.length = 1;
process.argv.push("/fn/code/main.js");
Module._initPaths(); // NODE_PATH, HOME/.node_modules from the new env
delete require.cache[__filename];

Module.runMain();
