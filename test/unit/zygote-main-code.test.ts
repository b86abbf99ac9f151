// The Python zygote compiles main.py itself, once per content, for the spares it forks
// (runtimes/agent/zygote.py, MainCode): its children then start from that code object
// instead of compiling. It must compile again when the file changed, never use a code
// object of older bytes, and read only a regular file of bounded size, whole (a FIFO or a
// link planted in /fn/code must not block or redirect the zygote); what it does not compile
// the child compiles, as before. Runs zygote.py's MainCode in a python3 of the host.
import { spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ZYGOTE = join(import.meta.dirname, "../../runtimes/agent/zygote.py");

/** Each step: what to put at main.py, then the refreshed state: source (as text) and code (its id, or null). */
const DRIVER = `
import importlib.util, json, os, sys
spec = importlib.util.spec_from_file_location("zygote", sys.argv[1])
z = importlib.util.module_from_spec(spec); spec.loader.exec_module(z)
z.MAIN = os.path.join(sys.argv[2], "main.py")
m = z.MainCode()
out = []
for step in json.loads(sys.argv[3]):
    if os.path.lexists(z.MAIN): os.remove(z.MAIN)
    kind, arg = step
    if kind == "file": open(z.MAIN, "w").write(arg)
    elif kind == "big": open(z.MAIN, "w").write("#" * (m.MAX_BYTES + arg))
    elif kind == "fifo": os.mkfifo(z.MAIN)
    elif kind == "link": os.symlink(arg, z.MAIN)
    m.refresh()
    runs = None
    if m.code is not None:
        ns = {}
        exec(m.code, ns)
        runs = ns.get("x")
    out.append({"source": None if m.source is None else m.source.decode()[:40], "code": None if m.code is None else id(m.code), "x": runs})
print(json.dumps(out))
`;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "zygote-main-code-"));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

function refreshes(steps: [string, string | number][]) {
  const run = spawnSync("python3", ["-c", DRIVER, ZYGOTE, dir, JSON.stringify(steps)], {
    encoding: "utf8",
    timeout: 20_000,
  });
  expect(run.stderr).toBe("");
  return JSON.parse(run.stdout) as { source: string | null; code: number | null; x: number | null }[];
}

describe("the zygote's compiled main.py", () => {
  it("is compiled once per content, and again as soon as the content changes", () => {
    const [a, same, changed, back] = refreshes([
      ["file", "x = 1\n"],
      ["file", "x = 1\n"],
      ["file", "x = 2\n"],
      ["file", "x = 1\n"],
    ]);
    expect([a?.x, same?.x, changed?.x, back?.x]).toEqual([1, 1, 2, 1]);
    expect(same?.code).toBe(a?.code); // the same object: not compiled again
    expect(changed?.code).not.toBe(a?.code);
  });

  it("is left to the child for a file that warns or does not compile (its stderr gets the message)", () => {
    const [ok, warned, broken] = refreshes([
      ["file", "x = 3\n"],
      ["file", "x = 1 is 1\n"],
      ["file", "x = (\n"],
    ]);
    expect(ok?.x).toBe(3);
    expect(warned).toEqual({ source: "x = 1 is 1\n", code: null, x: null });
    expect(broken).toEqual({ source: "x = (\n", code: null, x: null });
  });

  it("reads only a regular file of at most MAX_BYTES, never through a link or from a FIFO", () => {
    const target = join(dir, "elsewhere.py");
    spawnSync("sh", ["-c", `echo 'x = 9' > ${target}`]);
    const [ok, fifo, ok2, link, big, limit] = refreshes([
      ["file", "x = 4\n"],
      ["fifo", ""],
      ["file", "x = 4\n"],
      ["link", target],
      ["big", 1],
      ["big", 0],
    ]);
    expect(ok?.x).toBe(4);
    // Nothing kept of the older bytes either: a refresh that cannot read forgets them.
    expect(fifo).toEqual({ source: null, code: null, x: null });
    expect(ok2?.x).toBe(4);
    expect(link).toEqual({ source: null, code: null, x: null });
    expect(big).toEqual({ source: null, code: null, x: null });
    expect(limit?.source).toBe("#".repeat(40)); // exactly MAX_BYTES: read whole and compiled
    expect(limit?.code).not.toBeNull();
  });
});
