// The container launcher: a POSIX sh script reading a header line, an environment script
// and the code from standard input. These tests run the real script with /bin/sh on this
// machine (the code directory moved to a temporary one) and feed it launchInput's bytes, so
// what is checked is what a function would see, not the text of the script.
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  CODE_DIR,
  DELIVERY_FAILED_EXIT,
  DELIVERY_FAILED_MARK,
  launcherCommand,
  launchInput,
} from "../../src/worker/runtimes/container-launch.js";
import type { FunctionLanguage, RunRequest } from "../../src/worker/runtimes/runtime.js";

function request(overrides: Partial<RunRequest> = {}): RunRequest {
  return {
    invocationId: "inv",
    functionId: "fn",
    runtime: "nodejs",
    code: Buffer.alloc(0),
    codeSha256: "",
    payload: "{}",
    environment: {},
    timeoutMs: 30_000,
    memoryMb: 128,
    network: false,
    ...overrides,
  };
}

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

interface Launched {
  code: number | null;
  stdout: string;
  stderr: string;
  files: string[];
}

/** Runs the launcher of `runtime` with /bin/sh, its code directory replaced by a temporary one. */
function launch(runtime: FunctionLanguage, input: Buffer, env: Record<string, string> = {}): Promise<Launched> {
  const dir = mkdtempSync(join(tmpdir(), "faas-launch-test-"));
  dirs.push(dir);
  const [shell, flag, script, name] = launcherCommand(runtime) as [string, string, string, string];
  const child = spawn(shell, [flag, script.replaceAll(CODE_DIR, dir), name], {
    // What the engine adds, and the PATH the image has; nothing else of this test's environment.
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOSTNAME: "engine-host", PWD: "/", OLDPWD: "/tmp", ...env },
    cwd: dir,
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on("data", (c: Buffer) => out.push(c));
  child.stderr.on("data", (c: Buffer) => err.push(c));
  child.stdin.on("error", () => {}); // the launcher may stop reading early (delivery failure)
  child.stdin.end(input);
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) =>
      resolve({
        code,
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
        files: readdirSync(dir).sort(),
      }),
    );
  });
}

// A Node.js function that reports what it was given: its environment, the launcher's
// parent process command line (the timeout backstop), and what is left in its directory.
const REPORTER = Buffer.from(`
const fs = require("node:fs");
const parent = fs.readFileSync("/proc/" + process.ppid + "/cmdline", "utf8").split("\\0").filter(Boolean);
let stdin = "";
try { stdin = fs.readFileSync(0, "utf8"); } catch (e) { stdin = "error: " + e.code; }
process.stdout.write(JSON.stringify({ env: process.env, parent, files: fs.readdirSync(__dirname).sort(), stdin }));
`);

interface Report {
  env: Record<string, string>;
  parent: string[];
  files: string[];
  stdin: string;
}

async function report(req: RunRequest, trailing = Buffer.alloc(0)): Promise<Report> {
  const launched = await launch("nodejs", Buffer.concat([launchInput(req, REPORTER), trailing]));
  expect(launched.stderr).toBe("");
  expect(launched.code).toBe(0);
  return JSON.parse(launched.stdout) as Report;
}

describe("launchInput: the bytes", () => {
  it("is a header '<env bytes> <code bytes> <limit>s', the export lines, then the code", () => {
    const input = launchInput(request({ environment: { A: "1" }, timeoutMs: 30_000 }), Buffer.from("print(1)"));
    expect(input.toString("utf8")).toBe("42 8 35s\nexport A='1'\nexport FUNCTION_PAYLOAD='{}'\nprint(1)");
  });

  it.each([
    [1, "6s"],
    [999, "6s"],
    [1000, "6s"],
    [1001, "7s"],
    [1500, "7s"],
    [30_000, "35s"],
    [900_000, "905s"],
  ])("timeout %i ms: the backstop limit is %s (whole seconds rounded up, plus 5 s)", (timeoutMs, limit) => {
    const header = launchInput(request({ timeoutMs }), Buffer.from("x")).toString("utf8").split("\n")[0];
    expect(header).toBe(`29 1 ${limit}`);
  });

  it("counts bytes, not characters", () => {
    const input = launchInput(request({ environment: { E: "é" } }), Buffer.from("€"));
    // "export E='é'\n" is 14 bytes, "export FUNCTION_PAYLOAD='{}'\n" 29; "€" is 3 bytes.
    expect(input.toString("utf8")).toBe("43 3 35s\nexport E='é'\nexport FUNCTION_PAYLOAD='{}'\n€");
  });

  it("quotes single quotes the POSIX way: close, escaped quote, reopen", () => {
    // export Q='it'\''s' (19 bytes with its newline); the payload '' becomes ''\'''\''' (35 bytes).
    const input = launchInput(request({ environment: { Q: "it's" }, payload: "''" }), Buffer.alloc(0));
    expect(input.toString("utf8")).toBe("54 0 35s\nexport Q='it'\\''s'\nexport FUNCTION_PAYLOAD=''\\'''\\'''\n");
  });

  it("adds FUNCTION_HEADERS as JSON when there are headers, and not for none", () => {
    // export FUNCTION_HEADERS='{"x-id":"7"}' is 39 bytes with its newline, after the payload's 29.
    const withHeaders = launchInput(request({ headers: { "x-id": "7" } }), Buffer.alloc(0)).toString("utf8");
    expect(withHeaders).toBe(`68 0 35s\nexport FUNCTION_PAYLOAD='{}'\nexport FUNCTION_HEADERS='{"x-id":"7"}'\n`);
    expect(launchInput(request({ headers: {} }), Buffer.alloc(0)).toString("utf8")).toBe(
      "29 0 35s\nexport FUNCTION_PAYLOAD='{}'\n",
    );
  });

  it("the platform's variables win over the function's own", () => {
    const input = launchInput(request({ environment: { FUNCTION_PAYLOAD: "mine", Z: "z" } }), Buffer.alloc(0));
    expect(input.toString("utf8")).toBe("42 0 35s\nexport FUNCTION_PAYLOAD='{}'\nexport Z='z'\n");
  });
});

describe("launcherCommand", () => {
  it.each([
    ["python", "python3 /fn/code/main.py"],
    ["nodejs", "node /fn/code/main.js"],
    ["go", "/fn/code/main"],
  ] as const)("%s: /bin/sh -c <script> faas-launch, ending in the runtime's command under timeout", (runtime, cmd) => {
    const command = launcherCommand(runtime);
    expect(command).toHaveLength(4);
    expect(command.slice(0, 2)).toStrictEqual(["/bin/sh", "-c"]);
    expect(command[3]).toBe("faas-launch");
    const lines = (command[2] as string).split("\n");
    expect(lines[lines.length - 1]).toBe(`exec timeout -s KILL "$limit" ${cmd} </dev/null`);
  });

  it("delivery failures exit with 125 and say so", () => {
    expect(DELIVERY_FAILED_EXIT).toBe(125);
    expect(DELIVERY_FAILED_MARK).toBe("faas-launch: code delivery incomplete");
    expect(CODE_DIR).toBe("/fn/code");
  });
});

describe("the launcher, run by /bin/sh", () => {
  it("a function sees exactly its environment and the platform's variables, byte for byte", async () => {
    const tricky = {
      SINGLE: "it's a 'quoted' value",
      DOUBLE: 'say "hi"',
      NEWLINES: "line 1\nline 2\n",
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell expansion the launcher must not perform
      DOLLAR: "$HOME ${PATH} $(id) $1",
      BACKTICKS: "`id` and `uname`",
      BACKSLASH: "C:\\path\\ \\n \\",
      MIXED: `'"\`$\\'\n'`,
      EMPTY: "",
      SPACES: "  leading and trailing  ",
      UNICODE: "héllo € 😀",
      GLOB: "* ? [a-z] ~",
      SEMICOLON: "a; rm -rf /; echo b",
    };
    const payload = JSON.stringify({ text: 'it\'s "$x" `y`\n', n: 1 });
    const headers = { "x-quote": "'", "x-dollar": "$PATH" };
    const seen = await report(request({ environment: tricky, payload, headers }));
    expect(seen.env).toStrictEqual({
      PATH: process.env.PATH,
      ...tricky,
      FUNCTION_PAYLOAD: '{"text":"it\'s \\"$x\\" `y`\\n","n":1}',
      FUNCTION_HEADERS: '{"x-quote":"\'","x-dollar":"$PATH"}',
    });
  });

  it("the engine's HOSTNAME and the shell's PWD/OLDPWD do not reach the function", async () => {
    const seen = await report(request({ environment: { ONLY: "this" } }));
    expect(Object.keys(seen.env).sort()).toStrictEqual(["FUNCTION_PAYLOAD", "ONLY", "PATH"]);
  });

  it("runs the function under `timeout -s KILL <limit>`, with stdin closed, and removes the env script", async () => {
    // Bytes after the code stay on the launcher's stdin: the function must not read them.
    const seen = await report(request({ timeoutMs: 2500 }), Buffer.from("not for the function"));
    expect(seen.parent.slice(0, 4)).toStrictEqual(["timeout", "-s", "KILL", "8s"]);
    expect(seen.parent.slice(4, 5)).toStrictEqual(["node"]);
    expect(seen.parent[5]).toMatch(/\/main\.js$/);
    expect(seen.stdin).toBe("");
    expect(seen.files).toStrictEqual(["main.js"]);
  });

  it("stops reading at the code's length: trailing bytes never become code", async () => {
    const code = Buffer.from('process.stdout.write("exact")');
    const input = Buffer.concat([launchInput(request(), code), Buffer.from(";process.stdout.write('extra')")]);
    const launched = await launch("nodejs", input);
    expect(launched).toMatchObject({ code: 0, stdout: "exact", stderr: "" });
  });

  it("go: the binary is made executable (mode 500) and run directly", async () => {
    const binary = Buffer.from('#!/bin/sh\nstat -c %a "$0"\nprintf "%s|%s" "$GREETING" "$FUNCTION_PAYLOAD"\n');
    const launched = await launch("go", launchInput(request({ environment: { GREETING: "hi 'there'" } }), binary));
    expect(launched).toMatchObject({ code: 0, stderr: "", stdout: "500\nhi 'there'|{}" });
    expect(launched.files).toStrictEqual(["main"]);
  });

  it("python: runs main.py with python3", async () => {
    const code = Buffer.from('import os, sys\nsys.stdout.write(os.environ["FUNCTION_PAYLOAD"] + "|" + sys.argv[0])\n');
    const launched = await launch("python", launchInput(request({ payload: '{"p":"$1"}' }), code), {
      HOME: process.env.HOME ?? "/root",
    });
    expect(launched.stderr).toBe("");
    expect(launched.code).toBe(0);
    expect(launched.stdout).toMatch(/^\{"p":"\$1"\}\|.*\/main\.py$/);
  });

  it("the function's exit status is the launcher's", async () => {
    const launched = await launch("nodejs", launchInput(request(), Buffer.from("process.exit(3)")));
    expect(launched.code).toBe(3);
  });

  describe("incomplete delivery: exit 125 with the mark, the function never runs", () => {
    const code = Buffer.from('require("node:fs").writeFileSync(__dirname + "/ran", "yes")');
    const complete = launchInput(request({ environment: { A: "1" } }), code);
    const header = complete.indexOf("\n") + 1;

    it.each([
      ["no input at all", Buffer.alloc(0)],
      ["the header line only", complete.subarray(0, header)],
      ["the environment cut short", complete.subarray(0, header + 5)],
      ["the code cut short", complete.subarray(0, complete.length - 1)],
    ])("%s", async (_case, input) => {
      const launched = await launch("nodejs", input);
      expect(launched.code).toBe(125);
      expect(launched.stderr).toBe("faas-launch: code delivery incomplete\n");
      expect(launched.stdout).toBe("");
      expect(launched.files).not.toContain("ran");
    });

    it("the complete input runs it (the control case)", async () => {
      const launched = await launch("nodejs", complete);
      expect(launched.code).toBe(0);
      expect(launched.files).toStrictEqual(["main.js", "ran"]);
    });
  });
});
