// The variables an interpreter reads only as it starts are decided twice: by the process
// runtime (sandbox-starters.ts, which prepared sandbox may serve an invocation) and by the
// container agent (runtimes/agent/langs.go, fork the zygote or start a fresh interpreter).
// Both must agree; this runs the agent's own Go test against the TypeScript side's answers.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { environmentBlock, preparedMismatch } from "../../src/worker/runtimes/sandbox-starters.js";
import { agentGoTest } from "../support/agent-go-test.js";

/** Names around every prefix either side knows, and ordinary ones. */
const NAMES = [
  ...["PYTHON", "NODE_", "UV_", "OPENSSL_", "SSL_CERT_", "LC_"].flatMap((p) => [
    p,
    `${p}X`,
    `${p}PATH`,
    p.slice(0, -1),
  ]),
  ...["PYTHONPATH", "PYTHONHASHSEED", "NODE_OPTIONS", "NODE_ENV", "NODE_ENVX", "NODE", "UV_THREADPOOL_SIZE"],
  ...["OPENSSL_CONF", "SSL_CERT_FILE", "SSL_CERT_DIR", "LANG", "LANGUAGE", "LANGX", "LC_ALL", "LC_CTYPE", "TZ"],
  ...["HOME", "PATH", "MY_VAR", "python", "node_options", "lang", "XPYTHON", "X_NODE_OPTIONS", "GODEBUG", "GOGC"],
];

function tsDecision(lang: "python" | "nodejs" | "go", name: string): boolean {
  const environment = { [name]: "changed" };
  return preparedMismatch(lang, environment, {}, environmentBlock(environment)) !== null;
}

describe("variables read at an interpreter's start", () => {
  it("are the same for the process runtime and the container agent, in every language", async () => {
    const cases = (["python", "nodejs", "go"] as const).flatMap((lang) =>
      NAMES.map((name) => ({ lang, name, expect: tsDecision(lang, name) })),
    );
    // The list means something only if both answers occur in each interpreted language.
    for (const lang of ["python", "nodejs"]) {
      expect(new Set(cases.filter((c) => c.lang === lang).map((c) => c.expect))).toEqual(new Set([true, false]));
    }
    const dir = await mkdtemp(join(tmpdir(), "read-at-start-"));
    try {
      await writeFile(join(dir, "cases.json"), JSON.stringify(cases));
      const run = await agentGoTest("^TestReadAtStartMatchesTheProcessRuntime$", {
        READ_AT_START_CASES: join(dir, "cases.json"),
      });
      expect(run.output).toMatch(/^--- PASS: TestReadAtStartMatchesTheProcessRuntime /m);
      expect(run.passed, run.output).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
