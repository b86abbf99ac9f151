// Execution environments of the container runtime against the real Docker engine: reuse per
// function version, isolation between the invocations one environment serves, limits inside
// a reused environment, and the environments' end (idle expiry, LRU eviction, retirement,
// stop). A function tells which container ran it by its hostname (the container id's prefix).
import { execFileSync } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Dockerode from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PlatformError } from "../../src/errors.js";
import { runtimeImageVersion } from "../../src/worker/runtimes/container-images.js";
import { ContainerRuntime, type ContainerRuntimeOptions } from "../../src/worker/runtimes/container-runtime.js";
import type { FunctionLanguage, RunRequest } from "../../src/worker/runtimes/runtime.js";
import { containerRuntimeOptions } from "../support/container-runtimes.js";
import { nodeZygoteCases } from "../support/node-zygote-cases.js";
import { invocations, runRequest } from "../support/run-request.js";
import { containerRunning, ensureRuntimeImages, SLEEPER } from "../support/runtime-images.js";
import { waitFor } from "../support/waiting.js";

const docker = new Dockerode();
const testLabel = { "faas.test": `environments-${randomBytes(6).toString("hex")}` };

let workDir: string;
let runtime: ContainerRuntime;
const extraRuntimes: ContainerRuntime[] = [];

function options(extra: Partial<ContainerRuntimeOptions> = {}): ContainerRuntimeOptions {
  return containerRuntimeOptions({ docker, workDir, testLabel, workerPrefix: "env-test" }, extra);
}

async function started(extra: Partial<ContainerRuntimeOptions> = {}): Promise<ContainerRuntime> {
  const r = new ContainerRuntime(options(extra));
  extraRuntimes.push(r);
  await r.start();
  return r;
}

/** Containers (any state) of this file, optionally of one worker. */
async function containers(workerId?: string): Promise<Dockerode.ContainerInfo[]> {
  const labels = { ...testLabel, ...(workerId ? { "faas.worker": workerId } : {}) };
  return docker.listContainers({ all: true, filters: { label: Object.entries(labels).map(([k, v]) => `${k}=${v}`) } });
}

const HOSTNAME: Record<FunctionLanguage, string> = {
  python: "import socket\nprint(socket.gethostname())\n",
  nodejs: "console.log(require('os').hostname())\n",
  go: 'package main\n\nimport (\n\t"fmt"\n\t"os"\n)\n\nfunc main() {\n\th, _ := os.Hostname()\n\tfmt.Println(h)\n}\n',
};

/** One function (fixed id and code) whose invocations print the id of the container running them. */
function hostnameFunction(language: FunctionLanguage, extra: Partial<RunRequest> = {}) {
  const functionId = randomUUID();
  return (more: Partial<RunRequest> = {}) =>
    runRequest(language, HOSTNAME[language], { functionId, ...extra, ...more });
}

async function hostOf(r: ContainerRuntime, req: RunRequest): Promise<string> {
  const result = await r.run(req);
  expect(result.outcome, `${result.error} ${result.stderr}`).toBe("completed");
  return result.stdout.trim();
}

beforeAll(async () => {
  await ensureRuntimeImages();
  workDir = await mkdtemp(join(tmpdir(), "faas-environments-"));
  runtime = await started();
}, 900_000);

afterAll(async () => {
  for (const r of extraRuntimes) await r.stop();
  await ContainerRuntime.removeManagedContainers(docker, testLabel);
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

describe("one environment per function version", () => {
  it.each(["python", "nodejs", "go"] as const)("%s: consecutive invocations reuse one container", async (language) => {
    const invocation = hostnameFunction(language);
    const first = await hostOf(runtime, invocation());
    const second = await hostOf(runtime, invocation());
    const third = await hostOf(runtime, invocation());
    expect(second).toBe(first);
    expect(third).toBe(first);
    const [container] = (await containers()).filter((c) => c.Id.startsWith(first));
    expect(container?.State).toBe("running");
    expect(container?.Labels).toMatchObject({ "faas.purpose": "environment", "faas.managed": "true" });
  });

  it("a new code version, memory or network never runs in an old environment, and the old one goes", async () => {
    const functionId = randomUUID();
    const base = { functionId };
    const v1 = await hostOf(runtime, runRequest("python", HOSTNAME.python, base));
    const v2 = await hostOf(runtime, runRequest("python", `${HOSTNAME.python}# v2\n`, base));
    expect(v2).not.toBe(v1);
    const memory = await hostOf(runtime, runRequest("python", `${HOSTNAME.python}# v2\n`, { ...base, memoryMb: 96 }));
    expect([v1, v2]).not.toContain(memory);
    const network = await hostOf(
      runtime,
      runRequest("python", `${HOSTNAME.python}# v2\n`, { ...base, memoryMb: 96, network: true }),
    );
    expect([v1, v2, memory]).not.toContain(network);
    // Retired at once: no container of the older versions is left.
    await waitFor("the old environments removed", async () => {
      const ids = (await containers()).map((c) => c.Id);
      return [v1, v2, memory].every((h) => !ids.some((id) => id.startsWith(h))) ? true : null;
    });
  });

  it("two functions never share an environment, even with the same code", async () => {
    const a = await hostOf(runtime, hostnameFunction("python")());
    const b = await hostOf(runtime, hostnameFunction("python")());
    expect(a).not.toBe(b);
  });

  it("counts a warm start for a reused environment and a cold one for a new version", async () => {
    const before = runtime.environmentStarts;
    const invocation = hostnameFunction("nodejs");
    await hostOf(runtime, invocation());
    await hostOf(runtime, invocation());
    await hostOf(runtime, invocation());
    const after = runtime.environmentStarts;
    expect(after.cold - before.cold).toBe(1);
    expect(after.warm - before.warm).toBe(2);
  });
});

describe("nothing crosses from one invocation to the next", () => {
  it("python: globals, environment values, open files, /tmp, /dev/shm and background children", async () => {
    const code = [
      "import json, os, socket, subprocess, sys",
      "n = json.loads(os.environ['FUNCTION_PAYLOAD'])",
      "def cmd(p):",
      "    try:",
      "        return open(f'/proc/{p}/cmdline').read().replace('\\0', ' ').strip()",
      "    except OSError:",
      "        return ''",
      "seen = {",
      "  'host': socket.gethostname(),",
      "  'marker': getattr(sys, 'marker', None),",
      "  'leak': os.environ.get('LEAK'),",
      "  'fds': sorted(os.listdir('/proc/self/fd')),",
      "  'tmp': sorted(os.listdir('/tmp')) + sorted(os.listdir('/dev/shm')),",
      "  'procs': [cmd(p) for p in os.listdir('/proc') if p.isdigit() and int(p) != os.getpid()],",
      "}",
      "sys.marker = n",
      "os.environ['LEAK'] = 'from %d' % n",
      "kept = open('/tmp/kept-%d' % n, 'w')",
      "open('/dev/shm/shm-%d' % n, 'w').close()",
      "subprocess.Popen(['sleep', '300'], start_new_session=True)",
      "subprocess.Popen(['sh', '-c', 'sleep 301 &'])",
      "print(json.dumps(seen))",
    ].join("\n");
    const results = await invocations(runtime, "python", code, 3);
    const seen = results.map((r) => {
      expect(r.outcome, r.stderr).toBe("completed");
      return JSON.parse(r.stdout);
    });
    expect(new Set(seen.map((s) => s.host)).size).toBe(1);
    for (const s of seen) {
      expect(s.marker).toBeNull();
      expect(s.leak).toBeNull();
      // 3 is the listing's own descriptor.
      expect(s.fds).toEqual(["0", "1", "2", "3"]);
      expect(s.tmp).toEqual([]);
      expect(s.procs.filter((p: string) => p.includes("sleep"))).toEqual([]);
    }
  });

  it("go: environment values and background children", async () => {
    const code = `package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
)

func main() {
	sleeps := 0
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		b, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if strings.HasPrefix(string(b), "sleep") {
			sleeps++
		}
	}
	fmt.Printf("%s|%d|%s\\n", os.Getenv("LEAK"), sleeps, os.Getenv("FUNCTION_PAYLOAD"))
	os.Setenv("LEAK", "x")
	cmd := exec.Command("sleep", "300")
	_ = cmd.Start()
}
`;
    const results = await invocations(runtime, "go", code, 3);
    expect(results[0]?.outcome, `${results[0]?.error} ${results[0]?.stderr}`).toBe("completed");
    expect(results.map((r) => r.stdout.trim())).toEqual(["|0|0", "|0|1", "|0|2"]);
  });

  // The agent rewrites /fn/code only after an invocation that touched it (inotify) and execs
  // a Go function from a sealed memfd (runtimes/agent/code.go). Every way a function can alter
  // its own code, one per invocation; each invocation reports what it found as it started.
  it("go: its own code, however the previous invocation altered it", async () => {
    const code = `package main

import (
	"crypto/sha256"
	"fmt"
	"os"
	"strings"
	"syscall"
)

func main() {
	const self = "/fn/code/main"
	b, err := os.ReadFile(self)
	st, _ := os.Stat(self)
	mode := "none"
	if st != nil {
		mode = st.Mode().String()
	}
	ents, _ := os.ReadDir("/fn/code")
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	exe, _ := os.ReadFile("/proc/self/exe")
	image, _ := os.Readlink("/proc/self/exe")
	executable, _ := os.Executable() // /memfd:main, a link to /fn/code/main
	named, _ := os.ReadFile(executable)
	fmt.Printf("%x|%v|%s|%s|%x|%s|%s|%x\\n", sha256.Sum256(b), err, mode, strings.Join(names, ","), sha256.Sum256(exe), image, os.Args[0], sha256.Sum256(named))
	var attack error
	writable := func() error { return os.Chmod(self, 0o700) } // the file is installed 0500
	switch os.Getenv("FUNCTION_PAYLOAD") {
	case "0":
		if attack = writable(); attack == nil {
			attack = os.WriteFile(self, []byte("junk"), 0o700)
		}
	case "1":
		attack = os.Chmod(self, 0)
		os.WriteFile("/fn/code/extra", nil, 0o600)
	case "2":
		attack = os.Rename(self, "/fn/code/moved")
	case "3": // through another name, gone when the invocation ends
		if attack = os.Link(self, "/fn/code/link"); attack == nil && writable() == nil {
			attack = os.WriteFile("/fn/code/link", []byte("junk"), 0o700)
			os.Remove("/fn/code/link")
		}
	case "4": // a write through a shared mapping: no event of its own
		writable()
		f, err := os.OpenFile(self, os.O_RDWR, 0)
		if attack = err; err == nil {
			m, err := syscall.Mmap(int(f.Fd()), 0, 4096, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
			if attack = err; err == nil {
				copy(m, "junk")
				attack = syscall.Munmap(m)
			}
		}
	case "5": // the exec'd image itself
		attack = os.Chmod("/proc/self/exe", 0)
		if f, err := os.OpenFile("/proc/self/exe", os.O_RDWR, 0); err == nil {
			if _, err := f.WriteAt([]byte("junk"), 0); err == nil {
				attack = fmt.Errorf("wrote into the exec'd image")
			}
		}
	case "6":
		attack = os.Chmod("/fn/code", 0)
	case "7": // the image, opened while it runs and written once it no longer does
		os.Chmod("/proc/self/exe", 0o700)
		fd, err := syscall.Open("/proc/self/exe", syscall.O_RDONLY, 0)
		if attack = err; err == nil {
			script := fmt.Sprintf("exec 2>/dev/null; printf junk 1<>/proc/self/fd/%d; true", fd)
			attack = syscall.Exec("/bin/sh", []string{"sh", "-c", script}, nil)
		}
	}
	if attack != nil {
		fmt.Fprintln(os.Stderr, "attack:", attack)
	}
}
`;
    const results = await invocations(runtime, "go", code, 9);
    const seen = results.map((r) => {
      expect(r.outcome, `${r.error} ${r.stderr}`).toBe("completed");
      expect(r.stderr).toBe("");
      return r.stdout.trim();
    });
    const [fileSha, readError, mode, names, exeSha, image, argv0, executableSha] = (seen[0] ?? "").split("|");
    expect(readError).toBe("<nil>");
    expect(exeSha).toBe(fileSha); // the image run is the code installed
    expect(executableSha).toBe(fileSha); // and os.Executable() finds it
    expect([mode, names, image, argv0]).toEqual(["-r-x------", "main", "/memfd:main (deleted)", "/fn/code/main"]);
    expect(seen).toEqual(Array(9).fill(seen[0]));
  });

  it("python: the random state is not the same in every invocation", async () => {
    const results = await invocations(runtime, "python", "import random\nprint(random.random())\n", 3);
    expect(new Set(results.map((r) => r.stdout)).size).toBe(3);
  });
});

// Node.js functions run in children forked from one node zygote per container
// (runtimes/agent/node-zygote.js, addon/node-fork.cc): what a fresh `node main.js` gives
// must hold in each of them (test/support/node-zygote-cases.ts; the process runtime runs them too).
describe("nodejs: every invocation is a child forked from the zygote", () => {
  nodeZygoteCases(() => runtime);
});

// The Python zygote forks the next invocation's process ahead, once the code is written and
// the previous invocation cleaned up (runtimes/agent/zygote.py, "the spare"): set up and with
// main.py compiled, it waits for its invocation. It must look like any zygote child: never
// alongside function code, never holding an older main.py, and main.py's compile-time
// warnings on the invocation's own stderr.
describe("python: the zygote's spare child", () => {
  it("never exists beside a function, whether the zygote's child or a fresh interpreter runs it", async () => {
    const functionId = randomUUID();
    const code = [
      "import json, os, socket",
      "others = [p for p in os.listdir('/proc') if p.isdigit() and int(p) not in (1, os.getpid())]",
      "print(json.dumps({'host': socket.gethostname(), 'fresh': os.getppid() == 1, 'others': len(others)}))",
    ].join("\n");
    const seen = [];
    const fresh: Record<string, string> = { PYTHONHASHSEED: "0" };
    for (const environment of [{}, fresh, {}, {}, fresh, {}]) {
      const r = await runtime.run(runRequest("python", code, { functionId, environment }));
      expect(r.outcome, `${r.error} ${r.stderr}`).toBe("completed");
      seen.push(JSON.parse(r.stdout));
    }
    expect(new Set(seen.map((s) => s.host)).size).toBe(1);
    expect(seen.map((s) => s.fresh)).toEqual([false, true, false, false, true, false]);
    // The zygote alone: the function's parent, or beside a fresh interpreter.
    expect(seen.map((s) => s.others)).toEqual([1, 1, 1, 1, 1, 1]);
  });

  it("runs the code as installed even after a function rewrote its own main.py", async () => {
    const functionId = randomUUID();
    // Thousands of files in /tmp keep the cleanup busy (it empties /tmp before it rewrites
    // main.py): a spare forked before the cleanup ended would compile the rewritten file.
    const code = [
      "for i in range(5000): open(f'/tmp/f{i}', 'w').close()",
      "open(__file__, 'w').write('print(\"rewritten\")\\n')",
      "print('original')",
    ].join("\n");
    for (let i = 0; i < 3; i++) {
      const r = await runtime.run(runRequest("python", code, { functionId }));
      expect(r.outcome, `${r.error} ${r.stderr}`).toBe("completed");
      expect(r.stdout).toBe("original\n");
    }
  });

  // The zygote forks without the stdlib's after-fork hooks (zygote.py, fork()): threading
  // must still see one main thread, the process's own, and join the threads it starts.
  it("is its own main thread: threading's ids are the process's, and a thread it starts is joined at exit", async () => {
    const code = [
      "import os, threading, time",
      "t = threading.main_thread()",
      "threading.Thread(target=lambda: (time.sleep(0.05), print('late'))).start()",
      "print(t is threading.current_thread(), t.native_id == threading.get_native_id() == os.getpid(), t.ident == threading.get_ident(), threading.active_count(), flush=True)",
    ].join("\n");
    for (const r of await invocations(runtime, "python", code, 2)) {
      expect(r.outcome, `${r.error} ${r.stderr}`).toBe("completed");
      expect(r.stdout).toBe("True True True 2\nlate\n");
    }
  });

  it("puts main.py's compile-time warnings and errors on the invocation's stderr, as python3 main.py does", async () => {
    const warned = await invocations(runtime, "python", "print(1 is 1)\n", 2);
    for (const r of warned) {
      expect(r.outcome, `${r.error} ${r.stderr}`).toBe("completed");
      expect(r.stdout).toBe("True\n");
      expect(r.stderr).toContain('/fn/code/main.py:1: SyntaxWarning: "is" with a literal');
    }
    const broken = await invocations(runtime, "python", "print('a'\n", 2);
    for (const r of broken) {
      expect(r.outcome).toBe("failed");
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toContain("SyntaxError");
      expect(r.stderr).toContain('File "/fn/code/main.py", line 1');
    }
  });
});

// A variable an interpreter reads only as it starts (PYTHON*, NODE_* but NODE_ENV, the locale,
// ...; the list of src/worker/runtimes/sandbox-starters.ts, kept identical in the agent's
// langs.go) would be ignored by a child forked from the started zygote: such an invocation
// gets a fresh interpreter (`python3 /fn/code/main.py`, `node /fn/code/main.js`), a child of
// the agent (PID 1), where a zygote's child has the zygote as its parent.
describe("start-up variables: a fresh interpreter instead of the zygote", () => {
  const PYTHON_PROBE = [
    "import json, os, subprocess, sys, socket",
    "ref = subprocess.run([sys.executable, '-c', 'print(hash(\"abc\"))'], env={'PYTHONHASHSEED': '0'}, capture_output=True, text=True).stdout.strip()",
    "fds = sorted(int(f) for f in os.listdir('/proc/self/fd'))",
    "print(json.dumps({'host': socket.gethostname(), 'hash': str(hash('abc')), 'ref': ref, 'debug': __debug__, 'optimize': sys.flags.optimize,",
    "  'ppid': os.getppid(), 'session': os.getsid(0) == os.getpid(), 'oom': open('/proc/self/oom_score_adj').read().strip(),",
    "  'fds': fds, 'env': dict(os.environ), 'argv': sys.argv, 'cwd': os.getcwd(),",
    "  'block': sorted(v.split(b'=')[0].decode() for v in open('/proc/self/environ', 'rb').read().split(b'\\0') if v)}))",
  ].join("\n");

  it("python: PYTHONHASHSEED and PYTHONOPTIMIZE apply, in a process set up like the zygote's children", async () => {
    const environment = { PYTHONHASHSEED: "0", PYTHONOPTIMIZE: "1", OTHER: "x" };
    const fresh = (await invocations(runtime, "python", PYTHON_PROBE, 2, { environment })).map((r) => {
      expect(r.outcome, `${r.error} ${r.stderr}`).toBe("completed");
      return JSON.parse(r.stdout);
    });
    const [forked] = (await invocations(runtime, "python", PYTHON_PROBE, 1, { environment: { OTHER: "x" } })).map(
      (r) => {
        expect(r.outcome, `${r.error} ${r.stderr}`).toBe("completed");
        return JSON.parse(r.stdout);
      },
    );
    for (const f of fresh) {
      expect(f.hash).toBe(f.ref);
      expect(f.debug).toBe(false);
      expect(f.optimize).toBe(1);
      expect(f.ppid).toBe(1); // the agent's child, not the zygote's
      expect(f.host).toBe(fresh[0].host); // the same environment serves both
    }
    expect(fresh[1].hash).toBe(fresh[0].hash);
    expect(forked.ppid).not.toBe(1);
    expect(forked.debug).toBe(true);
    // The same set-up as a zygote's child: session, oom_score_adj, descriptors, argv, cwd,
    // exactly the invocation's environment.
    for (const key of ["session", "oom", "fds", "argv", "cwd"]) expect(fresh[0][key], key).toEqual(forked[key]);
    expect(fresh[0].session).toBe(true);
    expect(fresh[0].oom).toBe("1000");
    // The process starts with exactly the invocation's environment (a zygote's child is
    // given it in os.environ; /proc/self/environ there is the zygote's). The interpreter then
    // adds LC_CTYPE itself (PEP 538 locale coercion), as `python3 main.py` does anywhere.
    expect([fresh[0].env.PYTHONHASHSEED, fresh[0].env.PYTHONOPTIMIZE]).toEqual(["0", "1"]);
    expect(fresh[0].block).toEqual([...Object.keys(forked.env), "PYTHONHASHSEED", "PYTHONOPTIMIZE"].sort());
  });

  it("python: a timeout kills a fresh interpreter's process tree too; the environment serves the next invocation", async () => {
    const functionId = randomUUID();
    const environment = { PYTHONHASHSEED: "1" };
    const code = [
      "import json, os, socket, subprocess, time",
      "if json.loads(os.environ['FUNCTION_PAYLOAD']) == 'spin':",
      "    subprocess.Popen(['sleep', '300'], start_new_session=True)",
      "    while True: pass",
      "sleeps = [p for p in os.listdir('/proc') if p.isdigit() and open(f'/proc/{p}/cmdline').read().startswith('sleep')]",
      "print(socket.gethostname(), os.getppid(), len(sleeps))",
    ].join("\n");
    const spin = await runtime.run(
      runRequest("python", code, { functionId, environment, payload: '"spin"', timeoutMs: 1000 }),
    );
    expect(spin).toMatchObject({ outcome: "timeout", error: "timed out after 1s" });
    const after = await runtime.run(runRequest("python", code, { functionId, environment, payload: '"x"' }));
    expect(after.outcome, `${after.error} ${after.stderr}`).toBe("completed");
    expect(after.stdout).toMatch(/^\S+ 1 0\n$/);
  });

  const NODE_PROBE = `
const v8 = require("v8");
console.log(JSON.stringify({ limit: v8.getHeapStatistics().heap_size_limit, ppid: process.ppid, execArgv: process.execArgv, env: process.env, argv1: process.argv[1] }));
`;

  it("nodejs: NODE_OPTIONS applies (the heap limit it sets); NODE_ENV alone still runs in the zygote's child", async () => {
    const [fresh] = (
      await invocations(runtime, "nodejs", NODE_PROBE, 1, {
        environment: { NODE_OPTIONS: "--max-old-space-size=77", NODE_ENV: "production" },
      })
    ).map((r) => {
      expect(r.outcome, `${r.error} ${r.stderr}`).toBe("completed");
      return JSON.parse(r.stdout);
    });
    const [forked] = (
      await invocations(runtime, "nodejs", NODE_PROBE, 1, { environment: { NODE_ENV: "production" } })
    ).map((r) => {
      expect(r.outcome, `${r.error} ${r.stderr}`).toBe("completed");
      return JSON.parse(r.stdout);
    });
    const mb = 1024 * 1024;
    expect(fresh.limit).toBeGreaterThanOrEqual(77 * mb);
    expect(fresh.limit).toBeLessThan(77 * mb + 64 * mb);
    expect(forked.limit).not.toBe(fresh.limit);
    expect(fresh.ppid).toBe(1);
    expect(forked.ppid).not.toBe(1);
    expect(fresh.env.NODE_OPTIONS).toBe("--max-old-space-size=77");
    expect(forked.env.NODE_ENV).toBe("production");
    for (const s of [fresh, forked]) {
      expect(s.execArgv).toEqual([]);
      expect(s.argv1).toBe("/fn/code/main.js");
    }
  });
});

describe("limits inside a reused environment", () => {
  it("a timeout kills the function's process tree; the environment serves the next invocation", async () => {
    const functionId = randomUUID();
    const code = [
      "import json, os, socket, subprocess, time",
      "if json.loads(os.environ['FUNCTION_PAYLOAD']) == 'spin':",
      "    subprocess.Popen(['sleep', '300'])",
      "    while True: pass",
      "sleeps = [p for p in os.listdir('/proc') if p.isdigit() and open(f'/proc/{p}/cmdline').read().startswith('sleep')]",
      "print(socket.gethostname(), len(sleeps))",
    ].join("\n");
    const first = await runtime.run(runRequest("python", code, { functionId, payload: '"x"' }));
    const spin = await runtime.run(runRequest("python", code, { functionId, payload: '"spin"', timeoutMs: 1000 }));
    expect(spin).toMatchObject({ outcome: "timeout", error: "timed out after 1s" });
    expect(spin.durationMs).toBeGreaterThanOrEqual(1000);
    const after = await runtime.run(runRequest("python", code, { functionId, payload: '"x"' }));
    expect(after.outcome).toBe("completed");
    expect(after.stdout).toBe(first.stdout.replace(/ \d+\n$/, " 0\n"));
    expect(after.stdout.split(" ")[0]).toBe(first.stdout.split(" ")[0]);
  });

  it("a crash (exit 1, a segfault, an uncaught exception) leaves the environment serving", async () => {
    const code = [
      "import ctypes, json, os, socket, sys",
      "what = json.loads(os.environ['FUNCTION_PAYLOAD'])",
      "if what == 'exit': sys.exit(1)",
      "if what == 'segv': ctypes.string_at(0)",
      "if what == 'raise': raise ValueError('boom')",
      "print(socket.gethostname())",
    ].join("\n");
    const functionId = randomUUID();
    const run = (what: string) =>
      runtime.run(runRequest("python", code, { functionId, payload: JSON.stringify(what) }));
    const host = (await run("ok")).stdout;
    expect(await run("exit")).toMatchObject({ outcome: "failed", exitCode: 1, error: "exited with code 1" });
    expect(await run("segv")).toMatchObject({ outcome: "failed", error: "killed by signal 11 (SIGSEGV)" });
    const raised = await run("raise");
    expect(raised).toMatchObject({ outcome: "failed", exitCode: 1 });
    expect(raised.stderr).toContain("ValueError: boom");
    expect((await run("ok")).stdout).toBe(host);
  });

  it("an OOM kill is reported as out of memory and the environment is replaced", async () => {
    const code = [
      "import json, os, socket",
      "if json.loads(os.environ['FUNCTION_PAYLOAD']) == 'hog':",
      "    chunks = []",
      "    while True: chunks.append(b'x' * (8 << 20))",
      "print(socket.gethostname())",
    ].join("\n");
    const functionId = randomUUID();
    const run = (what: string) =>
      runtime.run(runRequest("python", code, { functionId, memoryMb: 64, payload: JSON.stringify(what) }));
    const before = (await run("ok")).stdout;
    expect(await run("hog")).toMatchObject({
      outcome: "failed",
      oomKilled: true,
      error: "out of memory: exceeded 64 MiB",
    });
    const after = (await run("ok")).stdout;
    expect(after).not.toBe(before);
    await waitFor("the OOM-killed environment removed", async () =>
      (await containers()).some((c) => c.Id.startsWith(before.trim())) ? null : true,
    );
  });

  it("an environment that dies mid-invocation is a platform failure (retried), not the function's", async () => {
    const r = await started();
    const id = (r as unknown as { opts: ContainerRuntimeOptions }).opts.workerId;
    const run = r.run(runRequest("python", SLEEPER, { timeoutMs: 60_000 })).catch((err: unknown) => err);
    // Killed from outside while the function sleeps.
    const victim = await containerRunning(docker, () => containers(id));
    await docker.getContainer(victim).kill();
    const err = await run;
    expect(err).toBeInstanceOf(PlatformError);
    expect(String(err)).toMatch(/environment/);
    await waitFor("the dead environment removed", async () =>
      (await containers(id)).some((c) => c.Id === victim) ? null : true,
    );
  });
});

describe("the end of environments", () => {
  it("an idle environment is removed after WORKER_KEEP_WARM", async () => {
    const r = await started({ keepWarmMs: 1000 });
    const host = await hostOf(r, hostnameFunction("python")());
    expect((await containers()).some((c) => c.Id.startsWith(host))).toBe(true);
    await waitFor("the idle environment removed", async () =>
      (await containers()).some((c) => c.Id.startsWith(host)) ? null : true,
    );
    expect(r.environmentCount).toBe(0);
  });

  it("at WORKER_MAX_ENVIRONMENTS the least recently used idle environment makes room", async () => {
    const r = await started({ maxEnvironments: 2 });
    const a = hostnameFunction("python");
    const b = hostnameFunction("python");
    const c = hostnameFunction("python");
    const hostA = await hostOf(r, a());
    const hostB = await hostOf(r, b());
    expect(await hostOf(r, a())).toBe(hostA); // a is now the more recently used
    const hostC = await hostOf(r, c());
    expect(r.environmentCount).toBe(2);
    await waitFor("b's environment evicted", async () =>
      (await containers()).some((x) => x.Id.startsWith(hostB)) ? null : true,
    );
    expect(await hostOf(r, a())).toBe(hostA);
    expect(await hostOf(r, c())).toBe(hostC);
  });

  it("retiring a function (changed or deleted) removes its environments", async () => {
    const invocation = hostnameFunction("nodejs");
    const req = invocation();
    const host = await hostOf(runtime, req);
    runtime.retireFunction(req.functionId);
    await waitFor("the environment removed", async () =>
      (await containers()).some((c) => c.Id.startsWith(host)) ? null : true,
    );
  });

  it("a runtime image rebuilt under its tag retires the old image's environments at once", async () => {
    // Images of this test's own prefix, so the rebuild touches nothing else.
    const prefix = `faas-envtest-${randomBytes(3).toString("hex")}`;
    const base = process.env.RUNTIME_IMAGE_PREFIX || "faas-runtime";
    const version = runtimeImageVersion();
    for (const language of ["go", "python", "nodejs"]) {
      await docker.getImage(`${base}-${language}:${version}`).tag({ repo: `${prefix}-${language}`, tag: version });
    }
    const r = await started({ imagePrefix: prefix });
    try {
      const invocation = hostnameFunction("python");
      const before = await hostOf(r, invocation());
      expect(await hostOf(r, invocation())).toBe(before);
      // A rebuild: the same tag, another image.
      execFileSync("docker", ["build", "-q", "-t", `${prefix}-python:${version}`, "-"], {
        env: { ...process.env, DOCKER_BUILDKIT: "0" },
        input: `FROM ${base}-python:${version}\nLABEL faas.test.rebuild="${prefix}"\n`,
      });
      await r.refreshImages();
      const after = await hostOf(r, invocation());
      expect(after).not.toBe(before);
      const [container] = (await containers()).filter((c) => c.Id.startsWith(after));
      expect(container?.ImageID).toBe((await docker.getImage(`${prefix}-python:${version}`).inspect()).Id);
      await waitFor("the old image's environment removed", async () =>
        (await containers()).some((c) => c.Id.startsWith(before)) ? null : true,
      );
    } finally {
      await r.stop();
      for (const language of ["go", "python", "nodejs"]) {
        await docker
          .getImage(`${prefix}-${language}:${version}`)
          .remove()
          .catch(() => undefined);
      }
    }
  });

  it("stop() removes every environment, generic ones too, and leaves no exited container", async () => {
    const r = await started({ warmPerKey: 1 });
    await hostOf(r, hostnameFunction("python")());
    await hostOf(r, hostnameFunction("go")());
    await waitFor("generic environments started", async () => (r.warmReady >= 3 ? true : null));
    const id = (r as unknown as { opts: ContainerRuntimeOptions }).opts.workerId;
    expect((await containers(id)).length).toBeGreaterThanOrEqual(5);
    await r.stop();
    await r.stop();
    expect(await containers(id)).toEqual([]);
  });
});
