// The quick reference is the public contract: its shell snippets run verbatim against a
// platform on the documented defaults (port 8080, database "faas", Redis prefix "faas").
import { execFile, execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect } from "vitest";
import { platformTest } from "../support/fixtures.js";
import { HELLO } from "../support/functions.js";
import { ROOT } from "../support/platform.js";

const test = platformTest({ documentedDefaults: true, workers: 1 });
const REFERENCE = readFileSync(join(ROOT, "test/fixtures/faas-quick-reference.md"), "utf8");

/** The first ```bash block after a heading. */
function snippetAfter(heading: string): string {
  const at = REFERENCE.indexOf(heading);
  if (at < 0) throw new Error(`heading ${heading} not in the quick reference`);
  const block = /```bash\n([\s\S]*?)```/.exec(REFERENCE.slice(at));
  if (!block?.[1]) throw new Error(`no bash block after ${heading}`);
  return block[1];
}

/** Lines of a block that are commands for an interactive client (not comments or the connect line). */
function statements(block: string, connect: RegExp): string[] {
  return block
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#") && !connect.test(l));
}

// Asynchronous: the platform under test serves the script's curl calls from this process.
const bash = async (script: string, cwd: string) =>
  (
    await promisify(execFile)("bash", ["-c", script], {
      cwd,
      encoding: "utf8",
      env: { PATH: process.env.PATH, HOME: cwd },
    })
  ).stdout;

describe("the quick reference, verbatim", () => {
  test("the vendored copy matches the shared spec when it is present", () => {
    const shared = join(ROOT, "../shared/spec/faas-quick-reference.md");
    if (existsSync(shared)) expect(readFileSync(shared, "utf8")).toBe(REFERENCE);
    expect(REFERENCE).toContain("### Create and Invoke Function");
  });

  test("Create and Invoke Function: the script runs unchanged and returns Hello, Test!", async ({ platform }) => {
    // The script creates "test" 1.0.0; a second create of the same name+version is a 409.
    const previous = { name: "test", version: "1.0.0" };
    await platform.app.db.faasFunction.deleteMany({ where: previous });
    const dir = mkdtempSync(join(tmpdir(), "faas-qr-"));
    writeFileSync(join(dir, "function.go"), HELLO.go);
    const output = await bash(snippetAfter("### Create and Invoke Function"), dir).finally(() =>
      rmSync(dir, { recursive: true, force: true }),
    );
    const result = JSON.parse(output);
    expect(result.data.status).toBe("completed");
    expect(result.data.result).toEqual({ message: "Hello, Test!" });
    expect(result.data.worker_id).toBe(platform.workers[0]?.id);
  });

  test("Database Operations: each SQL statement runs through psql -U postgres -d faas", async ({ platform }) => {
    const block = snippetAfter("### Database Operations");
    const connect = /^psql -U postgres -d faas$/;
    expect(block).toMatch(/psql -U postgres -d faas/);
    const sqls = statements(block, connect);
    expect(sqls).toHaveLength(3);
    for (const sql of sqls) {
      const out = execFileSync("psql", ["-U", "postgres", "-d", "faas", "-c", sql], { encoding: "utf8" });
      expect(out).toMatch(/\(\d+ rows?\)/);
    }
    const statuses = execFileSync("psql", ["-U", "postgres", "-d", "faas", "-At", "-c", sqls[2] as string], {
      encoding: "utf8",
    });
    expect(statuses).toMatch(/completed\|\d+/);
    expect(platform.config.db.url).toContain("/faas");
  });

  test("Redis Operations: each command runs through redis-cli", () => {
    const block = snippetAfter("### Redis Operations");
    const commands = statements(block, /^redis-cli$/);
    expect(commands.length).toBeGreaterThanOrEqual(4);
    for (const command of commands) {
      const out = execFileSync("redis-cli", command.split(/\s+/), { encoding: "utf8" });
      if (command.startsWith("LLEN")) expect(out.trim()).toMatch(/^\d+$/);
    }
  });

  test("Troubleshooting: health, database and Redis checks answer", async () => {
    const block = snippetAfter("### Check Service Status");
    const out = await bash(block, tmpdir());
    // curl prints no newline: the health JSON runs straight into psql's output.
    const health = /^\{"data":\{.*?\}\}\}/.exec(out)?.[0];
    expect(JSON.parse(health ?? "null")?.data.status).toBe("ok");
    expect(out).toMatch(/PONG/);
    expect(out).toMatch(/\?column\?/);
  });
});
