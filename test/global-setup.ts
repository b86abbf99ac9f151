// Runs once before all test files: generate the Prisma client so a fresh clone works, and
// build the dashboard (dist/dashboard) that the controller serves at / and /ui.
// Each only when missing or older than its sources: regenerating rewrites files that another
// vitest run in the same tree (or a spawned worker) may be reading.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { join, resolve } from "node:path";

const mtime = (path: string) => statSync(path, { throwIfNoEntry: false })?.mtimeMs ?? 0;

/** The newest modification time of any file under dir. */
function newest(dir: string): number {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) latest = Math.max(latest, mtime(join(entry.parentPath, entry.name)));
  }
  return latest;
}

export default function setup(): void {
  if (mtime("src/generated/prisma/client.ts") <= mtime("prisma/schema.prisma"))
    execFileSync("node", ["scripts/prisma-generate.mjs"], { stdio: "ignore" });
  if (mtime("dist/dashboard/index.html") <= newest("dashboard")) buildDashboard();
}

/**
 * What `make dashboard` does, for a test run started without make. Built aside and swapped
 * in, so that a test run beside this one never serves a half-written build.
 */
function buildDashboard(): void {
  const staging = resolve(`dist/dashboard.build-${process.pid}`);
  const old = resolve(`dist/dashboard.old-${process.pid}`);
  execFileSync(
    process.execPath,
    [
      "node_modules/vite/bin/vite.js",
      "build",
      "--config",
      "dashboard/vite.config.ts",
      "--outDir",
      staging,
      "--emptyOutDir",
      "--logLevel",
      "warn",
    ],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
  try {
    if (existsSync("dist/dashboard")) renameSync("dist/dashboard", old);
    renameSync(staging, "dist/dashboard");
  } catch {
    // Another run swapped in its build of the same sources first: keep that one.
  } finally {
    rmSync(staging, { recursive: true, force: true });
    rmSync(old, { recursive: true, force: true });
  }
}
