// The quick reference is the public contract: its shell snippets run verbatim against a
// platform on the documented defaults (port 8080, database "faas", Redis prefix "faas").
// That database and prefix keep what earlier runs left, so every test makes the rows and
// messages it looks for itself, and looks for those.
import { execFile, execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect } from "vitest";
import { platformTest } from "../support/fixtures.js";
import { b64, functionBody, HELLO } from "../support/functions.js";
import { GATED_PY, newGate } from "../support/gate.js";
import { ROOT } from "../support/platform.js";
import { waitFor } from "../support/waiting.js";

const test = platformTest({ documentedDefaults: true, workers: 1 });
const VENDORED = join(ROOT, "test/fixtures/faas-quick-reference.md");
const REFERENCE = readFileSync(VENDORED, "utf8");
/** The spec this project is built to, beside the clone (CI checks ../shared out there). */
const SHARED_SPEC = join(ROOT, "../shared/spec/faas-quick-reference.md");

/** The first ```<lang> block after a heading. */
function blockAfter(heading: string, lang = "bash"): string {
  const at = REFERENCE.indexOf(heading);
  if (at < 0) throw new Error(`heading ${heading} not in the quick reference`);
  const block = new RegExp(`\`\`\`${lang}\\n([\\s\\S]*?)\`\`\``).exec(REFERENCE.slice(at));
  if (!block?.[1]) throw new Error(`no ${lang} block after ${heading}`);
  return block[1];
}
const snippetAfter = (heading: string) => blockAfter(heading, "bash");

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

const psql = (sql: string, ...flags: string[]) =>
  execFileSync("psql", ["-U", "postgres", "-d", "faas", ...flags, "-c", sql], { encoding: "utf8" });
const redisCli = (command: string) => execFileSync("redis-cli", command.split(/\s+/), { encoding: "utf8" });

describe("the quick reference, verbatim", () => {
  test("the vendored copy is the shared spec, byte for byte, and the example functions are its own", () => {
    if (!existsSync(SHARED_SPEC)) {
      throw new Error(
        `The shared spec is missing: no ${SHARED_SPEC}. These tests run the snippets of ${VENDORED} ` +
          "and only this comparison shows that copy is still the contract. Check out the shared " +
          "repository beside this clone (../shared), as CI does.",
      );
    }
    expect(REFERENCE, `${VENDORED} differs from ${SHARED_SPEC}: copy the spec over`).toBe(
      readFileSync(SHARED_SPEC, "utf8"),
    );
    // test/support/functions.ts's HELLO fixtures are the reference's code blocks, verbatim.
    expect(HELLO.go).toBe(blockAfter("### Go Function", "go"));
    expect(HELLO.python).toBe(blockAfter("### Python Function", "python"));
    expect(HELLO.nodejs).toBe(blockAfter("### Node.js Function", "javascript"));
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
    const fn = await platform.app.db.faasFunction.findUniqueOrThrow({ where: { name_version: previous } });
    expect(result.data.function_id).toBe(fn.id);
  });

  test("Database Operations: each SQL statement runs through psql -U postgres -d faas", async ({ platform }) => {
    const fn = await platform.app.functions.create(functionBody());
    const { invocation, finished } = await platform.app.invocations.invoke(
      { function_id: fn.id, payload: { name: "psql" } },
      { wait: "30s" },
    );
    expect(finished).toBe(true);
    expect(invocation.status).toBe("completed");

    const block = snippetAfter("### Database Operations");
    expect(block).toMatch(/^psql -U postgres -d faas$/m);
    const sqls = statements(block, /^psql -U postgres -d faas$/);
    expect(sqls).toEqual([
      "SELECT id, name, version, runtime FROM functions;",
      "SELECT id, function_id, status, created_at FROM invocations ORDER BY created_at DESC LIMIT 10;",
      "SELECT status, COUNT(*) FROM invocations GROUP BY status;",
    ]);
    const [listFunctions, listInvocations, countByStatus] = sqls as [string, string, string];
    for (const sql of sqls) expect(psql(sql)).toMatch(/\(\d+ rows?\)/);

    // The platform's rows are what psql sees in database "faas".
    const functionRows = psql(listFunctions, "-At").trim().split("\n");
    expect(functionRows).toContain(`${fn.id}|${fn.name}|1.0.0|python`);
    const newest = psql(listInvocations, "-At").trim().split("\n")[0]?.split("|");
    expect(newest?.slice(0, 3)).toEqual([invocation.id, fn.id, "completed"]);
    const counts = Object.fromEntries(
      psql(countByStatus, "-At")
        .trim()
        .split("\n")
        .map((line) => line.split("|") as [string, string])
        .map(([status, n]) => [status, Number(n)]),
    );
    const expected = await platform.app.db.invocation.groupBy({ by: ["status"], _count: { _all: true } });
    expect(counts).toEqual(Object.fromEntries(expected.map((g) => [g.status, g._count._all])));
    expect(counts.completed).toBeGreaterThanOrEqual(1);
  });

  test("Redis Operations: each command runs through redis-cli and shows the platform's queue", async ({ platform }) => {
    const block = snippetAfter("### Redis Operations");
    const commands = statements(block, /^redis-cli$/);
    expect(commands).toEqual([
      "LLEN faas:queue:faas_executions",
      "LLEN faas:processing:faas_executions",
      "LLEN faas:dead_letter:faas_executions",
      "LRANGE faas:queue:faas_executions 0 -1",
    ]);
    const [llenQueue, llenProcessing, llenDeadLetter, lrangeQueue] = commands as [string, string, string, string];

    // Fill every slot of the worker with a function held at a gate: one more invocation
    // then waits in faas:queue:faas_executions, the others are in the processing list.
    const slots = platform.config.worker.concurrency;
    const fn = await platform.app.functions.create(
      functionBody({ code: b64(GATED_PY), timeout: "60s", max_concurrency: slots + 1 }),
    );
    const gate = await newGate();
    const ids: string[] = [];
    try {
      for (let n = 0; n < slots; n++) {
        const { invocation } = await platform.app.invocations.invoke({
          function_id: fn.id,
          payload: { gate: gate.path, n },
        });
        ids.push(invocation.id);
      }
      await waitFor("every slot of the worker to be busy", async () => {
        const running = await platform.app.db.invocation.count({ where: { functionId: fn.id, status: "running" } });
        return running === slots;
      });
      const { invocation: queued } = await platform.app.invocations.invoke({
        function_id: fn.id,
        payload: { gate: gate.path, n: slots },
      });
      ids.push(queued.id);

      expect(Number(redisCli(llenQueue).trim())).toBeGreaterThanOrEqual(1);
      expect(Number(redisCli(llenProcessing).trim())).toBeGreaterThanOrEqual(slots);
      const waiting = redisCli(lrangeQueue)
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line));
      expect(waiting).toContainEqual(
        expect.objectContaining({ invocation_id: queued.id, function_id: fn.id, attempt: 1 }),
      );
      const deadLetters = Number(redisCli(llenDeadLetter).trim());
      expect(deadLetters).toBe((await platform.app.queue.stats()).deadLetter);
    } finally {
      await gate.open();
      await Promise.all(ids.map((id) => platform.app.invocations.waitForTerminal(id, 60_000)));
      await gate.remove();
    }
    for (const id of ids) expect((await platform.app.invocations.get(id)).status).toBe("completed");
  });

  test("Troubleshooting: health, database and Redis checks answer", async ({ platform }) => {
    const out = await bash(snippetAfter("### Check Service Status"), tmpdir());
    // curl prints no newline: the health JSON runs straight into psql's output.
    const psqlAt = out.indexOf(" ?column? ");
    expect(psqlAt, out).toBeGreaterThan(0);
    const health = JSON.parse(out.slice(0, psqlAt));
    expect(health.data).toMatchObject({ status: "ok", checks: { postgres: "ok", redis: "ok" } });
    // The platform's worker is alive (its heartbeat is in faas:workers).
    expect(health.data.workers.live).toBeGreaterThanOrEqual(1);
    expect(await platform.app.redis.hexists("faas:workers", platform.workers[0]?.id ?? "none")).toBe(1);
    expect(out.slice(psqlAt)).toMatch(/^ \?column\? \n-+\n +1\n\(1 row\)\n\nPONG\n$/);
  });
});
