// Absolute paths of the interpreters and compilers the process runtime starts. Resolved once
// at start: the child gets only a minimal PATH, so it cannot look them up itself.
import { execFile } from "node:child_process";
import { constants } from "node:fs";
import { access } from "node:fs/promises";
import { promisify } from "node:util";
import type { FunctionLanguage } from "./runtime.js";

const run = promisify(execFile);

export type Toolchains = Partial<Record<FunctionLanguage, string>>;

/** The Debian package that provides each toolchain, for the "runtime not found" message. */
export const TOOLCHAIN_PACKAGE: Record<FunctionLanguage, string> = {
  python: "python3",
  nodejs: "nodejs",
  go: "golang-go",
};

const COMMAND: Record<FunctionLanguage, string> = { python: "python3", nodejs: "node", go: "go" };

// System locations first: a binary found on the platform's PATH may be a version-manager
// shim (pyenv, nvm) that only works with that manager's environment variables.
const PREFERRED: Record<FunctionLanguage, string[]> = {
  python: ["/usr/bin/python3"],
  nodejs: ["/usr/bin/node"],
  go: ["/usr/bin/go", "/usr/local/go/bin/go"],
};

export async function isExecutable(path: string): Promise<boolean> {
  return access(path, constants.X_OK).then(
    () => true,
    () => false,
  );
}

/** The first of `paths` that is executable, or null. */
export async function firstExecutable(paths: readonly string[]): Promise<string | null> {
  for (const path of paths) if (await isExecutable(path)) return path;
  return null;
}

/** Resolves every toolchain; an override (even a missing one) replaces discovery. */
export async function resolveToolchains(overrides: Toolchains = {}): Promise<Toolchains> {
  const found: Toolchains = {};
  for (const lang of Object.keys(COMMAND) as FunctionLanguage[]) {
    const override = overrides[lang];
    const path = override !== undefined ? ((await isExecutable(override)) ? override : null) : await discover(lang);
    if (path) found[lang] = path;
  }
  return found;
}

async function discover(lang: FunctionLanguage): Promise<string | null> {
  const preferred = await firstExecutable(PREFERRED[lang]);
  if (preferred) return preferred;
  // The platform's own PATH and environment are used here, for the lookup only: these
  // children are ours, not user code.
  const onPath = await run("/bin/sh", ["-c", `command -v ${COMMAND[lang]}`], { timeout: 10_000 }).then(
    (r) => r.stdout.trim(),
    () => "",
  );
  if (lang === "python" && onPath) {
    // Ask the interpreter where it really lives: this sees through pyenv shims.
    const real = await run(onPath, ["-c", "import sys; print(sys.executable)"], { timeout: 10_000 }).then(
      (r) => r.stdout.trim(),
      () => "",
    );
    if (real.startsWith("/") && (await isExecutable(real))) return real;
  }
  if (onPath.startsWith("/")) return onPath;
  // The worker itself runs on Node.js.
  if (lang === "nodejs") return process.execPath;
  return null;
}
