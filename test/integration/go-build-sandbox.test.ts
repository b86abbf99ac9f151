// The Go build of untrusted code against the real go tool and bubblewrap, as root: it runs
// as the builder uid with no network and no module downloads, and its results are closed
// to every other uid (go-cache/ and the binaries are root's, 0700).
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  realpath,
  rm,
  stat,
  symlink,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../src/lib/logger.js";
import {
  CompileError,
  detectGoBuildSandbox,
  GO_BUILDER_GID,
  GO_BUILDER_UID,
  GoBuildCache,
  goBuildCommand,
} from "../../src/worker/runtimes/go-build-cache.js";
import { FUNCTION_GID, FUNCTION_UID_BASE } from "../../src/worker/runtimes/process-sandbox.js";
import { slowGoCode } from "../support/functions.js";
import { recordingLogger } from "../support/recording-logger.js";

const run = promisify(execFile);
const logger = createLogger("silent");
const GO = "/usr/bin/go";
/** What every test here needs; a machine without it fails them, loudly. */
const NEEDS =
  "go builds are not sandboxed on this machine: run the tests as root with /usr/bin/bwrap (bubblewrap) and /usr/bin/setpriv";

const HELLO = `package main

import "fmt"

func main() {
\tfmt.Println("hello from a sandboxed build")
}
`;

const sha256 = (code: string) => createHash("sha256").update(code).digest("hex");
const perms = (mode: number) => mode & 0o777;

let base: string;
let workDir: string;
let cache: GoBuildCache;

/** A fresh work directory the builder uid can reach (mkdtemp makes 0700). */
async function newWorkDir(name: string): Promise<string> {
  const dir = join(base, name);
  await mkdir(dir, { mode: 0o711 });
  await chmod(dir, 0o711);
  return dir;
}

/** Runs `command` as a function uid (as process-sandbox.ts would), for what it may read. */
function asFunctionUser(command: string[]) {
  return run("/usr/bin/setpriv", [
    `--reuid=${FUNCTION_UID_BASE + 123}`,
    `--regid=${FUNCTION_GID}`,
    "--clear-groups",
    "--",
    ...command,
  ]).then(
    (r) => ({ ok: true, output: r.stdout + r.stderr }),
    (err: { stdout?: string; stderr?: string }) => ({ ok: false, output: `${err.stdout ?? ""}${err.stderr ?? ""}` }),
  );
}

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), "faas-go-build-"));
  await chmod(base, 0o711);
  workDir = await newWorkDir("main");
  cache = new GoBuildCache({ workDir, goBinary: GO, logger, maxOutputBytes: 64 * 1024 });
  expect(await cache.prepare(), NEEDS).toEqual({ sandboxed: true });
});

afterAll(async () => {
  if (base) await rm(base, { recursive: true, force: true });
});

describe("a sandboxed build", () => {
  let binary: string;

  beforeAll(async () => {
    binary = await cache.binary(sha256(HELLO), Buffer.from(HELLO));
  });

  it("produces a binary that runs", async () => {
    expect(binary).toBe(join(workDir, "go-cache", sha256(HELLO), "main"));
    const { stdout } = await run(binary);
    expect(stdout).toBe("hello from a sandboxed build\n");
  });

  it("leaves go-cache, the binary's directory and the binary root's, 0700", async () => {
    for (const path of [join(workDir, "go-cache"), join(workDir, "go-cache", sha256(HELLO)), binary]) {
      const s = await stat(path);
      expect({ path, uid: s.uid, gid: s.gid, mode: perms(s.mode) }).toEqual({ path, uid: 0, gid: 0, mode: 0o700 });
    }
    // The same as `ls -ln` shows it.
    const { stdout } = await run("ls", ["-ln", join(workDir, "go-cache", sha256(HELLO))]);
    expect(stdout).toMatch(/^-rwx------ 1 0 0 .* main$/m);
  });

  it("cannot be read by a function uid, nor listed", async () => {
    expect(await asFunctionUser(["/usr/bin/cat", binary])).toMatchObject({ ok: false });
    const listing = await asFunctionUser(["/usr/bin/ls", join(workDir, "go-cache")]);
    expect(listing).toMatchObject({ ok: false });
    expect(listing.output).toContain("Permission denied");
  });

  it("ran as the builder uid: the tool cache it wrote is the builder's, closed to others", async () => {
    const toolCache = join(workDir, "go-build", "cache");
    expect(cache.toolCacheDir).toBe(toolCache);
    const top = await stat(toolCache);
    expect({ uid: top.uid, gid: top.gid, mode: perms(top.mode) }).toEqual({
      uid: GO_BUILDER_UID,
      gid: GO_BUILDER_GID,
      mode: 0o700,
    });
    const entries = await readdir(join(toolCache, "gocache"));
    expect(entries.length).toBeGreaterThan(1);
    for (const name of entries) expect((await lstat(join(toolCache, "gocache", name))).uid).toBe(GO_BUILDER_UID);
    expect(await asFunctionUser(["/usr/bin/ls", toolCache])).toMatchObject({ ok: false });
  });

  it("removes its staging directory", async () => {
    expect(await readdir(join(workDir, "go-build"))).toEqual(["cache"]);
  });
});

describe("modules", () => {
  it("an import outside the standard library fails at once, with no download attempt", async () => {
    const code = `package main\n\nimport "github.com/example/nothing"\n\nfunc main() { nothing.Do() }\n`;
    const started = Date.now();
    const err = await cache.binary(sha256(code), Buffer.from(code)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CompileError);
    expect((err as CompileError).output).toContain("cannot find module providing package github.com/example/nothing");
    expect((err as CompileError).output).toContain("GOPROXY=off");
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});

describe("cgo", () => {
  it("is off: a file importing C is excluded, nothing calls a C compiler", async () => {
    const code = `package main\n\n// int one() { return 1; }\nimport "C"\n\nfunc main() { println(C.one()) }\n`;
    const err = await cache.binary(sha256(code), Buffer.from(code)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CompileError);
    expect((err as CompileError).output).toContain("build constraints exclude all Go files");
  });
});

describe("the sandbox as run", () => {
  // The real command line with a shell in place of go: `sh build ...` runs the script
  // ./build from the staging directory, in the sandbox, and reports what it sees.
  it("is the builder uid, without capabilities, network or the worker's files", async () => {
    const buildDir = join(workDir, "go-build", "probe");
    await mkdir(buildDir, { mode: 0o700 });
    await writeFile(
      join(buildDir, "build"),
      [
        "echo uid=$(id -u) gid=$(id -g)",
        "grep CapEff /proc/self/status",
        "echo net=$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\\n' ,)",
        `test -e ${workDir} && echo workdir=visible || echo workdir=hidden`,
        "echo made > /build/made",
        "ls /cache >/dev/null && echo cache=ok",
      ].join("\n"),
    );
    await run("chown", ["-R", `${GO_BUILDER_UID}:${GO_BUILDER_GID}`, buildDir]);
    const { goBinary, sandbox } = await detectGoBuildSandbox("/usr/bin/sh");
    expect(sandbox, NEEDS).not.toBeNull();
    const command = goBuildCommand({ goBinary, buildDir, toolCacheDir: cache.toolCacheDir, sandbox });
    const [file, ...args] = command.argv;
    const { stdout } = await run(file as string, args, { cwd: command.cwd, env: command.env });
    expect(stdout).toContain(`uid=${GO_BUILDER_UID} gid=${GO_BUILDER_GID}`);
    expect(stdout).toMatch(/CapEff:\s+0+\n/);
    expect(stdout).toContain("net=lo,\n");
    expect(stdout).toContain("workdir=hidden");
    expect(stdout).toContain("cache=ok");
    expect((await stat(join(buildDir, "made"))).uid).toBe(GO_BUILDER_UID);
    await rm(buildDir, { recursive: true, force: true });
  });
});

describe("a build that takes too long", () => {
  it("is killed, compiler and all, and reported as a platform failure that is not remembered", async () => {
    const dir = await newWorkDir("timeout");
    const slow = new GoBuildCache({ workDir: dir, goBinary: GO, logger, maxOutputBytes: 1024, buildTimeoutMs: 300 });
    await slow.prepare();
    const code = slowGoCode();
    const started = Date.now();
    const err = await slow.binary(sha256(code), Buffer.from(code)).catch((e: unknown) => e);
    // The build ends when the output pipes close, that is once every process holding them
    // (the compiler in the sandbox too) is gone: long before the seconds of compiling.
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(CompileError);
    expect((err as Error).message).toBe("go build timed out after 300ms");
    expect(await readdir(join(dir, "go-build"))).toEqual(["cache"]);
    // Not a compile error: the next request for this code builds again.
    let rebuilt = false;
    await slow.cache.getOrBuild(sha256(code), async (outDir) => {
      rebuilt = true;
      await writeFile(join(outDir, "main"), "");
    });
    expect(rebuilt).toBe(true);
  });
});

describe("a sandbox that cannot start", () => {
  it("is a platform failure, not the user's compile error", async () => {
    const dir = await newWorkDir("broken");
    const broken = new GoBuildCache({ workDir: dir, goBinary: GO, logger, maxOutputBytes: 1024 });
    await broken.prepare();
    await rm(broken.toolCacheDir, { recursive: true }); // bwrap has nothing to bind at /cache
    const err = await broken.binary(sha256(HELLO), Buffer.from(HELLO)).catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(CompileError);
    expect((err as Error).message).toMatch(/^go build sandbox failed: bwrap: /);
  });
});

describe("detectGoBuildSandbox", () => {
  it("resolves the go tool's symlinks; a toolchain under /usr needs no extra bind", async () => {
    const link = join(base, "go");
    await symlink(GO, link);
    const detected = await detectGoBuildSandbox(link);
    expect(detected.goBinary).toBe(await realpath(GO));
    expect(detected.sandbox?.readOnly).toEqual([]);
    expect(detected.sandbox?.symlinks["/bin"]).toBe("usr/bin");
  });

  it("binds a GOROOT outside /usr read-only", async () => {
    expect((await detectGoBuildSandbox("/opt/go/bin/go")).sandbox?.readOnly).toEqual(["/opt/go"]);
  });
});

describe("a cache left by an older version", () => {
  it("is closed and handed over at start, idempotently", async () => {
    const dir = await newWorkDir("old");
    const goCache = join(dir, "go-cache");
    const oldBinary = join(goCache, "a".repeat(64), "main");
    // Older versions: everything world-readable, the tool cache root's inside go-cache.
    await mkdir(join(goCache, "a".repeat(64)), { recursive: true, mode: 0o755 });
    await writeFile(oldBinary, "#!/bin/sh\necho old\n", { mode: 0o755 });
    await mkdir(join(goCache, ".gocache", "00"), { recursive: true, mode: 0o755 });
    // A tool cache written by unsandboxed (root) builds.
    await mkdir(join(dir, "go-build", "cache", "gocache", "00"), { recursive: true, mode: 0o755 });
    await chmod(join(dir, "go-build", "cache"), 0o755);
    await writeFile(join(dir, "go-build", "cache", "gocache", "00", "x-d"), "cached");
    await chmod(goCache, 0o755);

    const { logger: recorded, lines } = recordingLogger();
    const first = new GoBuildCache({ workDir: dir, goBinary: GO, logger: recorded, maxOutputBytes: 1024 });
    expect(await first.prepare()).toEqual({ sandboxed: true });
    for (const path of [goCache, join(goCache, "a".repeat(64)), oldBinary, join(goCache, ".gocache")]) {
      const s = await stat(path);
      expect({ path, uid: s.uid, mode: perms(s.mode) }).toEqual({ path, uid: 0, mode: 0o700 });
    }
    expect(await asFunctionUser(["/usr/bin/cat", oldBinary])).toMatchObject({ ok: false });
    const buildRoot = await stat(join(dir, "go-build"));
    expect({ uid: buildRoot.uid, mode: perms(buildRoot.mode) }).toEqual({ uid: 0, mode: 0o711 });
    expect(perms((await stat(join(dir, "go-build", "cache"))).mode)).toBe(0o700);
    for (const rel of ["cache", "cache/gocache", "cache/gocache/00", "cache/gocache/00/x-d"]) {
      expect({ rel, uid: (await lstat(join(dir, "go-build", rel))).uid }).toEqual({ rel, uid: GO_BUILDER_UID });
    }
    expect(lines.filter(([level]) => level === "warn" || level === "error")).toEqual([]);

    // Again, with everything already right: nothing changes, the cached binary is still served.
    const second = new GoBuildCache({ workDir: dir, goBinary: GO, logger, maxOutputBytes: 1024 });
    expect(await second.prepare()).toEqual({ sandboxed: true });
    expect(await readFile(oldBinary, "utf8")).toBe("#!/bin/sh\necho old\n");
    expect(perms((await stat(goCache)).mode)).toBe(0o700);
    expect(await second.binary("a".repeat(64), Buffer.from("not compiled: cached"))).toBe(oldBinary);
    expect(second.buildCount).toBe(0);
  });
});
