// The `faas` command as a user runs it: a real child process (`node bin/faas.mjs …`) against
// the real platform (REST, GraphQL over WebSocket) with an in-process worker. Each test
// checks what the CLI printed where (stdout for answers, stderr for the rest) and its exit code.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { createHash, randomUUID } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect } from "vitest";
import { invocationsChannel } from "../../src/redis/keys.js";
import { platformTest } from "../support/fixtures.js";
import { HELLO } from "../support/functions.js";
import { startHttpProxy } from "../support/http-proxy.js";
import { type Platform, ROOT, startPlatform } from "../support/platform.js";
import { waitFor } from "../support/waiting.js";

const test = platformTest({ workers: 1, env: { WORKER_CONCURRENCY: "4" } });

const BIN = join(ROOT, "bin/faas.mjs");
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The exit codes documented in `faas --help` and the README. */
const EXIT = { ok: 0, usage: 2, failed: 3, timeout: 4, notFound: 5, unavailable: 6, unauthorized: 7 };

const ECHO_PY = `import json, os, sys
payload = json.loads(os.environ["FUNCTION_PAYLOAD"])
print("echo saw " + json.dumps(payload, sort_keys=True), file=sys.stderr)
print(json.dumps({"echo": payload}))
`;
const FAIL_PY = `import sys
print("about to fail", file=sys.stderr)
sys.exit(1)
`;
const SLEEP_PY = "import time\ntime.sleep(30)\n";

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

const children = new Set<ChildProcess>();
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "faas-cli-test-"));
});
afterAll(async () => {
  for (const child of children) child.kill("SIGKILL");
  await rm(dir, { recursive: true, force: true });
});

/** A file in this test's directory. */
async function file(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

let names = 0;
const uniqueName = (base: string) => `${base}-${process.pid}-${++names}`;

/** Starts `faas …`; only FAAS_URL / FAAS_API_KEY and PATH reach it, never this process's environment. */
function start(url: string, args: string[], env: Record<string, string> = {}): ChildProcess {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: dir,
    env: { PATH: process.env.PATH, FAAS_URL: url, ...env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  children.add(child);
  child.once("exit", () => children.delete(child));
  return child;
}

/** Runs `faas …` to its end; `stdin` is what is piped in (nothing: an empty, closed pipe). */
function faas(url: string, args: string[], options: { stdin?: string; env?: Record<string, string> } = {}) {
  const child = start(url, args, options.env);
  child.stdin?.end(options.stdin ?? "");
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return new Promise<Run>((resolve, reject) => {
    const cap = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`faas ${args.join(" ")} did not end within 90 s; stderr: ${stderr}`));
    }, 90_000);
    child.once("close", (code) => {
      clearTimeout(cap);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Deploys `code` as `name` and returns its id (the command's whole stdout). */
async function deploy(platform: Platform, fileName: string, code: string, args: string[] = []): Promise<string> {
  const run = await faas(platform.url, ["deploy", await file(fileName, code), ...args]);
  expect(run.code, run.stderr).toBe(EXIT.ok);
  const id = run.stdout.trim();
  expect(id).toMatch(UUID);
  return id;
}

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");
/** stderr as lines, for the promise "one clear line". */
const lines = (text: string) => text.split("\n").filter((l) => l !== "");

describe("faas deploy", () => {
  test("a .py file becomes a function whose id is printed; the same name and version again updates it in place", async ({
    platform,
  }) => {
    const name = uniqueName("hello");
    const first = await faas(platform.url, ["deploy", await file("hello.py", HELLO.python), "--name", name]);
    expect(first.code, first.stderr).toBe(EXIT.ok);
    const id = first.stdout.trim();
    expect(id).toMatch(UUID);
    expect(first.stderr).toContain(`created ${name}@1.0.0 (python)`);
    const created = await platform.request("GET", `/functions/${id}`);
    expect(created.status).toBe(200);
    expect(created.body.data).toMatchObject({ name, version: "1.0.0", runtime: "python" });
    expect(created.body.data.code_sha256).toBe(sha256(HELLO.python));

    const changed = HELLO.python.replace("Hello", "Howdy");
    const second = await faas(platform.url, ["deploy", await file("hello.py", changed), "--name", name]);
    expect(second.code, second.stderr).toBe(EXIT.ok);
    expect(second.stdout.trim()).toBe(id);
    expect(second.stderr).toContain(`updated ${name}@1.0.0`);
    const updated = await platform.request("GET", `/functions/${id}`);
    expect(updated.body.data.code_sha256).toBe(sha256(changed));
    const all = await platform.request("GET", `/functions?name=${name}`);
    expect(all.body.data).toHaveLength(1);

    // Another version is another function.
    const v2 = await deploy(platform, "hello.py", changed, ["--name", name, "--version", "2.0.0"]);
    expect(v2).not.toBe(id);
  });

  test("a .js file with its settings; --json prints the function", async ({ platform }) => {
    const name = uniqueName("hello-js");
    const run = await faas(platform.url, [
      "deploy",
      await file("hello.js", HELLO.nodejs),
      "--name",
      name,
      "--timeout",
      "5s",
      "--memory",
      "256",
      "--env",
      "GREETING=hi=there",
      "--env",
      "OTHER=2",
      "--json",
    ]);
    expect(run.code, run.stderr).toBe(EXIT.ok);
    const fn = JSON.parse(run.stdout);
    expect(fn).toMatchObject({
      name,
      runtime: "nodejs",
      timeout: "5s",
      memory_mb: 256,
      network: false,
      environment: { GREETING: "hi=there", OTHER: "2" },
    });
    const stored = await platform.request("GET", `/functions/${fn.id}`);
    expect(stored.body.data.code_sha256).toBe(sha256(HELLO.nodejs));
  });

  test("an unknown extension is one line naming it, before anything is sent", async ({ platform }) => {
    const run = await faas(platform.url, ["deploy", await file("script.rb", "puts 1\n")]);
    expect(run.code).toBe(EXIT.usage);
    expect(lines(run.stderr)).toHaveLength(1);
    expect(run.stderr).toContain('unknown extension ".rb"');
    expect(run.stdout).toBe("");
    const listed = await platform.request("GET", "/functions?name=script");
    expect(listed.body.data).toEqual([]);
  });

  test("input the API refuses is reported with its message", async ({ platform }) => {
    const run = await faas(platform.url, ["deploy", await file("ok.py", HELLO.python), "--name", "bad name!"]);
    expect(run.code).toBe(EXIT.usage);
    expect(run.stderr).toContain("name: may contain only letters, digits");
  });

  test("a bad option value is a usage error", async ({ platform }) => {
    const run = await faas(platform.url, ["deploy", await file("ok.py", HELLO.python), "--memory", "lots"]);
    expect(run.code).toBe(EXIT.usage);
    expect(run.stderr).toContain("--memory");
  });
});

describe("faas invoke", () => {
  test("--data, --data @file and standard input each give the result on stdout and exit 0", async ({ platform }) => {
    const name = uniqueName("hello");
    await deploy(platform, "hello.py", HELLO.python, ["--name", name]);

    const inline = await faas(platform.url, ["invoke", name, "--data", '{"name":"Inline"}']);
    expect(inline.code, inline.stderr).toBe(EXIT.ok);
    expect(JSON.parse(inline.stdout)).toEqual({ message: "Hello, Inline!" });
    // Followed live over GraphQL (no fallback note), and no spinner on a stderr that is not a terminal.
    expect(inline.stderr).toBe("");

    const payloadFile = await file("payload.json", '{"name": "File"}\n');
    const fromFile = await faas(platform.url, ["invoke", name, "--data", `@${payloadFile}`]);
    expect(fromFile.code, fromFile.stderr).toBe(EXIT.ok);
    expect(JSON.parse(fromFile.stdout)).toEqual({ message: "Hello, File!" });

    const piped = await faas(platform.url, ["invoke", name], { stdin: '{"name":"Stdin"}' });
    expect(piped.code, piped.stderr).toBe(EXIT.ok);
    expect(JSON.parse(piped.stdout)).toEqual({ message: "Hello, Stdin!" });

    // Nothing piped in: the API's default payload, {}.
    const empty = await faas(platform.url, ["invoke", name]);
    expect(empty.code, empty.stderr).toBe(EXIT.ok);
    expect(JSON.parse(empty.stdout)).toEqual({ message: "Hello, World!" });
  });

  test("the function's logs go to stderr, its result alone to stdout; --json gives the whole invocation", async ({
    platform,
  }) => {
    const id = await deploy(platform, "echo.py", ECHO_PY, ["--name", uniqueName("echo")]);
    const run = await faas(platform.url, ["invoke", id, "--data", '{"b":[1,2]}']);
    expect(run.code, run.stderr).toBe(EXIT.ok);
    expect(JSON.parse(run.stdout)).toEqual({ echo: { b: [1, 2] } });
    expect(run.stderr).toBe('echo saw {"b": [1, 2]}\n');

    const json = await faas(platform.url, ["invoke", id, "--data", '{"c":3}', "--json"]);
    expect(json.code, json.stderr).toBe(EXIT.ok);
    const invocation = JSON.parse(json.stdout);
    expect(invocation).toMatchObject({ function_id: id, status: "completed", result: { echo: { c: 3 } } });
    expect(invocation.logs).toContain('echo saw {"c": 3}');
  });

  test("a failing function exits with the failed code and shows its logs", async ({ platform }) => {
    const name = uniqueName("fail");
    await deploy(platform, "fail.py", FAIL_PY, ["--name", name]);
    const run = await faas(platform.url, ["invoke", name]);
    expect(run.code).toBe(EXIT.failed);
    expect(run.stdout).toBe("");
    expect(run.stderr).toContain("about to fail");
    expect(run.stderr).toMatch(/invocation [0-9a-f-]{36} failed: /);
  });

  test("a function over its time limit exits with the timeout code", async ({ platform }) => {
    const name = uniqueName("sleep");
    await deploy(platform, "sleep.py", SLEEP_PY, ["--name", name, "--timeout", "1s"]);
    const run = await faas(platform.url, ["invoke", name]);
    expect(run.code, run.stderr).toBe(EXIT.timeout);
    expect(run.stderr).toMatch(/invocation [0-9a-f-]{36} timed out/);
  });

  test("Ctrl-C while waiting stops the wait, not the invocation, and says how to find it", async ({ platform }) => {
    const id = await deploy(platform, "sleep.py", SLEEP_PY, ["--name", uniqueName("sleep"), "--timeout", "3s"]);
    const waiting = start(platform.url, ["invoke", id]);
    waiting.stdin?.end();
    let stderr = "";
    waiting.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => waiting.once("close", resolve));
    const invocation = await waitFor("the CLI to have invoked the function", async () => {
      const res = await platform.request("GET", `/invocations?function_id=${id}`);
      return res.body.data[0] as { id: string } | undefined;
    });
    waiting.kill("SIGINT");
    expect(await exited).toBe(130);
    expect(stderr).toContain(`stopped waiting; invocation ${invocation.id} goes on`);
    const after = await platform.request("GET", `/invocations/${invocation.id}`);
    expect(after.status).toBe(200);
  });

  test("an unknown function or invocation exits with the not-found code", async ({ platform }) => {
    const byName = await faas(platform.url, ["invoke", uniqueName("nope"), "--data", "{}"]);
    expect(byName.code).toBe(EXIT.notFound);
    expect(byName.stderr).toMatch(/^function nope-\S+ not found\n$/);

    const byId = await faas(platform.url, ["invoke", randomUUID()]);
    expect(byId.code).toBe(EXIT.notFound);

    const logs = await faas(platform.url, ["logs", randomUUID()]);
    expect(logs.code).toBe(EXIT.notFound);
    expect(logs.stderr).toContain("not found");
  });

  test("--async prints the invocation id at once; `faas logs` shows its logs once it ended", async ({ platform }) => {
    const id = await deploy(platform, "echo.py", ECHO_PY, ["--name", uniqueName("echo")]);
    const run = await faas(platform.url, ["invoke", id, "--async", "--data", '{"async":true}']);
    expect(run.code, run.stderr).toBe(EXIT.ok);
    const invocationId = run.stdout.trim();
    expect(invocationId).toMatch(UUID);
    await waitFor("the invocation to complete", async () => {
      const res = await platform.request("GET", `/invocations/${invocationId}`);
      return res.body.data.status === "completed";
    });
    const logs = await faas(platform.url, ["logs", invocationId]);
    expect(logs.code, logs.stderr).toBe(EXIT.ok);
    expect(logs.stdout).toBe('echo saw {"async": true}\n');

    const asJson = await faas(platform.url, ["invoke", id, "--async", "--json"]);
    expect(JSON.parse(asJson.stdout)).toMatchObject({ function_id: id, status: "pending" });
  });

  test("the same --idempotency-key runs once and gives the same invocation back", async ({ platform }) => {
    const id = await deploy(platform, "echo.py", ECHO_PY, ["--name", uniqueName("echo")]);
    const key = randomUUID();
    const args = ["invoke", id, "--async", "--data", '{"n":1}', "--idempotency-key", key];
    const first = await faas(platform.url, args);
    const again = await faas(platform.url, args);
    expect(first.code, first.stderr).toBe(EXIT.ok);
    expect(again.stdout.trim()).toBe(first.stdout.trim());
    expect(again.stderr).toContain("Idempotency-Key");
  });

  test("bad payloads are one line each: where the JSON breaks, or which file is missing", async ({ platform }) => {
    const invalid = await faas(platform.url, ["invoke", "anything", "--data", '{"name":}']);
    expect(invalid.code).toBe(EXIT.usage);
    expect(lines(invalid.stderr)).toEqual([
      "--data is not valid JSON: expected a value: an object, array, string (in double quotes), number, true, false or null at position 8 (line 1, column 9)",
    ]);

    const badFile = await file("bad.json", '{\n  "a": 1,\n}\n');
    const inFile = await faas(platform.url, ["invoke", "anything", "--data", `@${badFile}`]);
    expect(inFile.code).toBe(EXIT.usage);
    expect(inFile.stderr).toContain("(line 3, column 1)");

    const missing = join(dir, "missing.json");
    const absent = await faas(platform.url, ["invoke", "anything", "--data", `@${missing}`]);
    expect(absent.code).toBe(EXIT.usage);
    expect(lines(absent.stderr)).toEqual([`cannot read the payload file ${missing}: no such file`]);

    const piped = await faas(platform.url, ["invoke", "anything"], { stdin: "[1, 2" });
    expect(piped.code).toBe(EXIT.usage);
    expect(lines(piped.stderr)).toEqual([
      "the payload on standard input is not valid JSON: unexpected end of input: expected ',' or ']' at position 5 (line 1, column 6)",
    ]);
  });
});

describe("listing and removing", () => {
  test("ls, get and invocations in --json and as tables", async ({ platform }) => {
    const name = uniqueName("listed");
    const id = await deploy(platform, "hello.py", HELLO.python, ["--name", name]);
    const invoked = await faas(platform.url, ["invoke", name, "--data", '{"name":"List"}', "--json"]);
    expect(invoked.code, invoked.stderr).toBe(EXIT.ok);
    const invocationId = JSON.parse(invoked.stdout).id;

    const ls = await faas(platform.url, ["ls", "--json"]);
    expect(ls.code, ls.stderr).toBe(EXIT.ok);
    expect(JSON.parse(ls.stdout)).toContainEqual(expect.objectContaining({ id, name, version: "1.0.0" }));
    const table = await faas(platform.url, ["ls", "--name", name]);
    expect(table.stdout).toMatch(new RegExp(`^NAME +VERSION +RUNTIME.*\\n${name} +1\\.0\\.0 +python .*${id}\\n$`));

    const get = await faas(platform.url, ["get", name, "--json"]);
    expect(get.code, get.stderr).toBe(EXIT.ok);
    expect(JSON.parse(get.stdout)).toMatchObject({ id, name, runtime: "python" });

    const invocations = await faas(platform.url, ["invocations", "--function", name, "--json"]);
    expect(invocations.code, invocations.stderr).toBe(EXIT.ok);
    expect(JSON.parse(invocations.stdout)).toEqual([
      expect.objectContaining({ id: invocationId, function_id: id, status: "completed" }),
    ]);
    const failedOnly = await faas(platform.url, ["invocations", "--function", name, "--status", "failed", "--json"]);
    expect(JSON.parse(failedOnly.stdout)).toEqual([]);
    const rows = await faas(platform.url, ["invocations", "--function", name]);
    expect(rows.stdout).toMatch(new RegExp(`\\n${invocationId} +completed .* ${name}@1\\.0\\.0\\n$`));
  });

  test("rm deletes a function by name, refuses to guess between versions, and says when there is none", async ({
    platform,
  }) => {
    const name = uniqueName("doomed");
    const v1 = await deploy(platform, "hello.py", HELLO.python, ["--name", name]);
    const v2 = await deploy(platform, "hello.py", HELLO.python, ["--name", name, "--version", "2.0.0"]);

    const ambiguous = await faas(platform.url, ["rm", name]);
    expect(ambiguous.code).toBe(EXIT.usage);
    expect(ambiguous.stderr).toContain("2 versions (2.0.0, 1.0.0)");
    expect((await platform.request("GET", `/functions/${v1}`)).status).toBe(200);

    const removed = await faas(platform.url, ["rm", `${name}@2.0.0`]);
    expect(removed.code, removed.stderr).toBe(EXIT.ok);
    expect(removed.stdout).toBe(`deleted ${name}@2.0.0 (${v2})\n`);
    expect((await platform.request("GET", `/functions/${v2}`)).status).toBe(404);

    const last = await faas(platform.url, ["rm", name, "--json"]);
    expect(JSON.parse(last.stdout)).toMatchObject({ id: v1 });
    expect((await platform.request("GET", `/functions/${v1}`)).status).toBe(404);

    const gone = await faas(platform.url, ["rm", name]);
    expect(gone.code).toBe(EXIT.notFound);
  });

  test("invocations --watch follows the invocations live: one listing, then each status change as it happens, until Ctrl-C", async ({
    platform,
  }) => {
    // Between the CLI and the platform: a proxy that records what the CLI asks for.
    const proxy = await startHttpProxy(platform.url);
    try {
      const name = uniqueName("watched");
      const id = await deploy(platform, "echo.py", ECHO_PY, ["--name", name]);
      const earlier = await platform.request("POST", "/invoke?wait=30s", { function_id: id, payload: { w: 0 } });
      expect(earlier.body.data.status).toBe("completed");
      const watcher = start(proxy.url, ["invocations", "--function", name, "--watch", "--json"]);
      watcher.stdin?.end();
      let out = "";
      let err = "";
      watcher.stdout?.on("data", (chunk: Buffer) => {
        out += chunk.toString();
      });
      watcher.stderr?.on("data", (chunk: Buffer) => {
        err += chunk.toString();
      });
      const exited = new Promise<number | null>((resolve) => watcher.once("close", resolve));
      const events = () =>
        lines(out).map((line) => JSON.parse(line) as { id: string; status: string; function_id: string });

      // The listing first (the earlier invocation), and the server listening for this watch.
      await waitFor("the watch to list the earlier invocation", async () =>
        events().some((e) => e.id === earlier.body.data.id && e.status === "completed"),
      );
      await waitFor(
        "the platform to follow invocations for the watch",
        async () => (await platform.app.redis.pubsub("NUMSUB", invocationsChannel(platform.prefix)))[1] === 1,
      );
      const invoked = await platform.request("POST", "/invoke", { function_id: id, payload: { w: 1 } });
      const invocationId = invoked.body.data.id;
      await waitFor("the watch to show the invocation completed", async () =>
        events().some((e) => e.id === invocationId && e.status === "completed"),
      );
      const statuses = events()
        .filter((e) => e.id === invocationId)
        .map((e) => e.status);
      // Its PENDING may reach the controller after the worker's RUNNING: an older state prints nothing.
      expect([
        ["pending", "running", "completed"],
        ["running", "completed"],
      ]).toContainEqual(statuses);
      expect(events().every((e) => e.function_id === id)).toBe(true);
      // The whole invocation, as REST shows it.
      expect(events().at(-1)).toMatchObject({
        id: invocationId,
        invocation_id: invocationId,
        result: { echo: { w: 1 } },
      });

      // Live: listed once over REST, then nothing but the WebSocket; no note about polling.
      expect(proxy.requests.filter((r) => r.startsWith("GET /invocations"))).toHaveLength(1);
      expect(proxy.requests.filter((r) => r.startsWith("UPGRADE /graphql"))).toHaveLength(1);
      expect(err).toBe("");
      watcher.kill("SIGINT");
      expect(await exited).toBe(EXIT.ok);
    } finally {
      await proxy.stop();
    }
  });

  test("invocations --watch without a usable WebSocket says so on stderr and polls the listing instead", async ({
    platform,
  }) => {
    // A proxy that carries HTTP but refuses WebSocket upgrades.
    const proxy = await startHttpProxy(platform.url, { refuseUpgrades: true });
    try {
      const name = uniqueName("polled");
      const id = await deploy(platform, "echo.py", ECHO_PY, ["--name", name]);
      const watcher = start(proxy.url, ["invocations", "--function", name, "--watch"]);
      watcher.stdin?.end();
      let out = "";
      let err = "";
      watcher.stdout?.on("data", (chunk: Buffer) => {
        out += chunk.toString();
      });
      watcher.stderr?.on("data", (chunk: Buffer) => {
        err += chunk.toString();
      });
      const exited = new Promise<number | null>((resolve) => watcher.once("close", resolve));

      await waitFor("the note about polling", async () => err.includes("polling"));
      expect(lines(err)).toEqual([
        expect.stringMatching(
          new RegExp(`^live updates unavailable \\(.+\\); polling ${proxy.url}/invocations every second instead$`),
        ),
      ]);
      const invoked = await platform.request("POST", "/invoke", { function_id: id, payload: { w: 2 } });
      const invocationId: string = invoked.body.data.id;
      await waitFor("the polled watch to show the invocation completed", async () =>
        lines(out).some((line) => line.startsWith(invocationId) && /\bcompleted\b/.test(line)),
      );
      expect(lines(out)[0]).toMatch(/^ID\s+STATUS\s+CREATED\s+DURATION\s+FUNCTION$/);
      expect(proxy.requests.filter((r) => r.startsWith("GET /invocations")).length).toBeGreaterThan(1);
      watcher.kill("SIGINT");
      expect(await exited).toBe(EXIT.ok);
    } finally {
      await proxy.stop();
    }
  });
});

describe("the platform and the shell", () => {
  test("health reports the platform's state", async ({ platform }) => {
    const run = await faas(platform.url, ["health", "--json"]);
    expect(run.code, run.stderr).toBe(EXIT.ok);
    expect(JSON.parse(run.stdout)).toMatchObject({ status: "ok", checks: { postgres: "ok", redis: "ok" } });
    const text = await faas(platform.url, ["health"]);
    expect(text.stdout).toMatch(/^status: +ok\n/);
  });

  test("an unreachable platform is one line and the unavailable code", async () => {
    for (const args of [["ls"], ["health"], ["invoke", "x", "--data", "{}"]]) {
      const run = await faas("http://127.0.0.1:1", args);
      expect(run.code).toBe(EXIT.unavailable);
      expect(lines(run.stderr)).toEqual([
        "cannot reach the platform at http://127.0.0.1:1: connect ECONNREFUSED 127.0.0.1:1",
      ]);
    }
  });

  test("completion scripts cover the command tree; the bash one completes commands and choices", async () => {
    const bash = await faas("http://127.0.0.1:1", ["completion", "bash"]);
    expect(bash.code, bash.stderr).toBe(EXIT.ok);
    const script = await file("faas.bash", bash.stdout);
    const complete = async (...words: string[]) => {
      const { stdout } = await promisify(execFile)("bash", [
        "-c",
        `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((\${#COMP_WORDS[@]} - 1)); _faas_completion; echo "\${COMPREPLY[*]}"`,
        "complete",
        script,
        ...words,
      ]);
      return stdout.trim();
    };
    expect(await complete("faas", "inv")).toBe("invoke invocations");
    expect(await complete("faas", "deploy", "--runtime", "py")).toBe("python");
    expect(await complete("faas", "invoke", "x", "--idem")).toBe("--idempotency-key");
    expect(await complete("faas", "invocations", "--status", "ti")).toBe("timeout");

    const zsh = await faas("http://127.0.0.1:1", ["completion", "zsh"]);
    expect(zsh.code, zsh.stderr).toBe(EXIT.ok);
    expect(zsh.stdout).toMatch(/^#compdef faas\n/);
    for (const command of ["deploy", "invoke", "ls", "get", "rm", "logs", "invocations", "health", "completion"]) {
      expect(zsh.stdout).toContain(`    ${command})\n`);
    }
    expect(zsh.stdout).toContain(
      "'--runtime[the language, instead of guessing it from the extension]:runtime:(go python nodejs)'",
    );

    const unknown = await faas("http://127.0.0.1:1", ["completion", "fish"]);
    expect(unknown.code).toBe(EXIT.usage);
  });
});

describe("with API keys required", () => {
  let platform: Platform;
  let token: string;
  beforeAll(async () => {
    platform = await startPlatform({ workers: 1, env: { AUTH_MODE: "required" } });
    ({ token } = await platform.app.apiKeys.create({ name: "cli", role: "developer" }));
  });
  afterAll(async () => {
    await platform?.stop();
  });

  test("FAAS_API_KEY is sent on REST and on the WebSocket; without a valid one the CLI says so", async () => {
    const none = await faas(platform.url, ["ls"]);
    expect(none.code).toBe(EXIT.unauthorized);
    expect(lines(none.stderr)).toHaveLength(1);
    expect(none.stderr).toContain("set FAAS_API_KEY");

    const wrong = await faas(platform.url, ["ls"], { env: { FAAS_API_KEY: `${token}x` } });
    expect(wrong.code).toBe(EXIT.unauthorized);
    expect(wrong.stderr).toContain("invalid");

    const env = { FAAS_API_KEY: token };
    const deployed = await faas(platform.url, ["deploy", await file("hello.py", HELLO.python), "--name", "keyed"], {
      env,
    });
    expect(deployed.code, deployed.stderr).toBe(EXIT.ok);
    // Followed over graphql-ws: a refused connection would be the unauthorized code, not a fallback.
    const invoked = await faas(platform.url, ["invoke", "keyed", "--data", '{"name":"Key"}'], { env });
    expect(invoked.code, invoked.stderr).toBe(EXIT.ok);
    expect(JSON.parse(invoked.stdout)).toEqual({ message: "Hello, Key!" });
    expect(invoked.stderr).toBe("");
  });
});
