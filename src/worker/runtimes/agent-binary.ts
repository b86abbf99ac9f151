// The execution-environment agent (runtimes/agent) for the process runtime's sandboxes:
// built from its source with the host's Go toolchain as the worker starts, static
// (CGO_ENABLED=0), into `<workDir>/agent/<source hash>/` beside the helpers it starts
// (zygote.py, node-zygote.js and, where the host can compile it, node-zygote's addon built
// for the host's node: node-addon.ts). That directory is bound read-only at /opt/faas in
// every environment's sandbox, where the agent looks for them. Built once per source (and
// node): a worker that finds the directory of its hash uses it as it is.
//
// Every upgrade of the platform leaves the build of the source before it. A worker that
// starts removes the builds of other sources that no worker has used for
// AGENT_BUILD_RETENTION_MS (a build counts as used when a worker starts with it, and each
// time one starts an environment from it: markAgentBuildUsed), and what a worker killed
// in the middle of a build left.
import { execFile } from "node:child_process";
import { createHash, randomUUID } from "node:crypto";
import { chmod, copyFile, mkdir, readdir, readFile, rename, rm, stat, utimes, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { buildNodeAddon, type NodeAddonToolchain, nodeAddonIdentity } from "./node-addon.js";

const run = promisify(execFile);

/** runtimes/agent of this checkout (src/worker/runtimes → the repository's root). */
export const AGENT_SOURCE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "../../../runtimes/agent");
/** Where the agent and its helpers are in an environment's sandbox (the paths the agent expects). */
export const AGENT_MOUNT = "/opt/faas";
const HELPERS = ["zygote.py", "node-zygote.js"];
/** Compiled by the worker (node-addon.ts), not copied. */
const ADDON_SOURCE = join("addon", "node-fork.cc");
const BUILD_TIMEOUT_MS = 5 * 60_000;
/** A build of another source that no worker has used for this long is removed as a worker starts. */
export const AGENT_BUILD_RETENTION_MS = 14 * 24 * 3_600_000;
/** A build's temporary directory this old was left by a worker that died while building. */
const BUILD_TEMP_MAX_AGE_MS = 3_600_000;
const BUILD_NAME = /^[0-9a-f]{20}$/;
const BUILD_TEMP_NAME = /^\.build-/;

/** Builds (or finds) the agent; returns the directory holding `agent` and its helpers. */
export async function agentDirectory(
  workDir: string,
  go: string,
  { goCache, source = AGENT_SOURCE_DIR, node }: { goCache?: string; source?: string; node?: NodeAddonToolchain } = {},
): Promise<string> {
  const files = (await readdir(source))
    .filter((f) => (f.endsWith(".go") && !f.endsWith("_test.go")) || f === "go.mod" || HELPERS.includes(f))
    .concat(ADDON_SOURCE)
    .sort();
  const hash = createHash("sha256").update(`${nodeAddonIdentity(node)}\0`);
  for (const file of files)
    hash
      .update(`${file}\0`)
      .update(await readFile(join(source, file)))
      .update("\0");
  const base = join(workDir, "agent");
  const dir = join(base, hash.digest("hex").slice(0, 20));
  if (!(await stat(join(dir, "agent")).catch(() => null))) await build(base, dir, { source, go, goCache, node });
  await markAgentBuildUsed(dir);
  await pruneAgentBuilds(base, dir);
  return dir;
}

/** Marks a build as used now: no worker's pruning removes it for AGENT_BUILD_RETENTION_MS. Best effort. */
export async function markAgentBuildUsed(dir: string): Promise<void> {
  const now = new Date();
  await utimes(dir, now, now).catch(() => undefined);
}

/**
 * Removes, under `base`, the builds other than `keep` unused for AGENT_BUILD_RETENTION_MS,
 * and temporary build directories older than an hour.
 */
async function pruneAgentBuilds(base: string, keep: string): Promise<void> {
  const now = Date.now();
  for (const name of await readdir(base).catch(() => [] as string[])) {
    const path = join(base, name);
    const maxAgeMs = BUILD_NAME.test(name)
      ? AGENT_BUILD_RETENTION_MS
      : BUILD_TEMP_NAME.test(name)
        ? BUILD_TEMP_MAX_AGE_MS
        : null;
    if (maxAgeMs === null || path === keep) continue;
    const s = await stat(path).catch(() => null);
    if (!s || now - s.mtimeMs <= maxAgeMs) continue;
    await rm(path, { recursive: true, force: true });
  }
}

/** Builds the agent of `source` into `dir` (through a temporary directory beside it). */
async function build(
  base: string,
  dir: string,
  { source, go, goCache, node }: { source: string; go: string; goCache?: string; node?: NodeAddonToolchain },
) {
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
    if (node) await buildNodeAddon(node, source, temp);
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
}
