// The execution-environment agent (runtimes/agent) for the process runtime's sandboxes:
// built from its source with the host's Go toolchain as the worker starts, static
// (CGO_ENABLED=0), into `<workDir>/agent/<source hash>/` beside the helper it starts
// (zygote.py; Node.js is not served by environments here, see ProcessRuntime.agentRuns). That directory is bound read-only at /opt/faas in every
// environment's sandbox, where the agent looks for them. Built once per source: a worker
// that finds the directory of its source hash uses it as it is.
import { execFile } from "node:child_process";
import { createHash, randomUUID } from "node:crypto";
import { chmod, copyFile, mkdir, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);

/** runtimes/agent of this checkout (src/worker/runtimes → the repository's root). */
export const AGENT_SOURCE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "../../../runtimes/agent");
/** Where the agent and its helpers are in an environment's sandbox (the paths the agent expects). */
export const AGENT_MOUNT = "/opt/faas";
const HELPERS = ["zygote.py"];
const BUILD_TIMEOUT_MS = 5 * 60_000;

/** Builds (or finds) the agent; returns the directory holding `agent` and its helpers. */
export async function agentDirectory(
  workDir: string,
  go: string,
  { goCache, source = AGENT_SOURCE_DIR }: { goCache?: string; source?: string } = {},
): Promise<string> {
  const files = (await readdir(source))
    .filter((f) => (f.endsWith(".go") && !f.endsWith("_test.go")) || f === "go.mod" || HELPERS.includes(f))
    .sort();
  const hash = createHash("sha256");
  for (const file of files)
    hash
      .update(`${file}\0`)
      .update(await readFile(join(source, file)))
      .update("\0");
  const base = join(workDir, "agent");
  const dir = join(base, hash.digest("hex").slice(0, 20));
  if (await stat(join(dir, "agent")).catch(() => null)) return dir;
  await mkdir(base, { recursive: true, mode: 0o755 });
  await chmod(base, 0o755);
  const temp = join(base, `.build-${process.pid}-${randomUUID()}`);
  await mkdir(temp, { mode: 0o755 });
  try {
    await run(go, ["build", "-trimpath", "-ldflags=-s -w", "-o", join(temp, "agent"), "."], {
      cwd: source,
      timeout: BUILD_TIMEOUT_MS,
      env: {
        PATH: `${dirname(go)}:/usr/local/bin:/usr/bin:/bin`,
        HOME: base,
        // A shared build cache (the user's by default): the agent links in about a second
        // then, instead of compiling the standard library again for every new work dir.
        // Only the worker's user writes there.
        GOCACHE: goCache ?? join(homedir(), ".cache", "go-build"),
        GOPATH: join(base, "go-path"),
        CGO_ENABLED: "0",
        GOTOOLCHAIN: "local",
        GOFLAGS: "-mod=mod",
      },
    });
    for (const helper of HELPERS) await copyFile(join(source, helper), join(temp, helper));
    // Read by zygote.py: here (not in containers) a function's /proc/<pid>/environ shows its own environment.
    await writeFile(join(temp, "show-environ"), "");
    for (const file of ["agent", "show-environ", ...HELPERS]) {
      await chmod(join(temp, file), file === "agent" ? 0o755 : 0o644);
    }
    // Another worker on this work dir may have finished first: either copy is the same.
    await rename(temp, dir).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code !== "ENOTEMPTY" && err.code !== "EEXIST") throw err;
    });
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
  return dir;
}
