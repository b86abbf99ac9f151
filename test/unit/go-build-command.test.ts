// goBuildCommand: the argv and environment of one `go build` of untrusted code. Sandboxed, it
// drops to the builder uid with setpriv, then runs go inside bubblewrap with no network;
// sandboxed or not, modules are never downloaded.
import { describe, expect, it } from "vitest";
import {
  GO_BUILD_ARGS,
  GO_BUILDER_GID,
  GO_BUILDER_UID,
  type GoBuildSandbox,
  goBuildCommand,
} from "../../src/worker/runtimes/go-build-cache.js";
import { FUNCTION_UID_BASE } from "../../src/worker/runtimes/process-sandbox.js";

const GO = "/usr/lib/go-1.19/bin/go";
const BUILD_DIR = "/var/faas/go-build/tmp-abc";
const TOOL_CACHE = "/var/faas/go-build/cache";
const SANDBOX: GoBuildSandbox = {
  uid: GO_BUILDER_UID,
  gid: GO_BUILDER_GID,
  readOnly: [],
  symlinks: { "/bin": "usr/bin" },
};

const sandboxed = (sandbox: Partial<GoBuildSandbox> = {}) =>
  goBuildCommand({ goBinary: GO, buildDir: BUILD_DIR, toolCacheDir: TOOL_CACHE, sandbox: { ...SANDBOX, ...sandbox } });

/** The argv pairs `flag a b` as "a b" strings, for a flag taking two arguments. */
function pairs(argv: string[], flag: string): string[] {
  const found: string[] = [];
  argv.forEach((arg, i) => {
    if (arg === flag) found.push(`${argv[i + 1]} ${argv[i + 2]}`);
  });
  return found;
}

describe("the builder's identity", () => {
  it("is a uid of its own, just below the function uids, in nogroup", () => {
    expect(GO_BUILDER_UID).toBe(199_999);
    expect(GO_BUILDER_UID).toBe(FUNCTION_UID_BASE - 1);
    expect(GO_BUILDER_GID).toBe(65534);
  });
});

describe("goBuildCommand, sandboxed", () => {
  it("drops to the builder uid, without capabilities, before bwrap starts", () => {
    const { argv } = sandboxed();
    expect(argv.slice(0, 9)).toEqual([
      "/usr/bin/setpriv",
      "--reuid=199999",
      "--regid=65534",
      "--clear-groups",
      "--no-new-privs",
      "--inh-caps=-all",
      "--bounding-set=-all",
      "--",
      "/usr/bin/bwrap",
    ]);
  });

  it("runs bwrap as the builder, with no network and all namespaces new", () => {
    const { argv } = sandboxed();
    const bwrap = argv.slice(argv.indexOf("/usr/bin/bwrap"), argv.indexOf(GO));
    expect(bwrap).toContain("--unshare-all");
    expect(bwrap).not.toContain("--share-net");
    expect(bwrap.join(" ")).toContain("--uid 199999 --gid 65534");
    expect(bwrap).toContain("--die-with-parent");
    expect(bwrap.slice(-7)).toEqual(["--chdir", "/build", "--", "/usr/bin/env", "-u", "PWD", "--"]);
  });

  it("binds only the staging directory at /build and the tool cache at /cache, writable", () => {
    const { argv } = sandboxed();
    expect(pairs(argv, "--bind")).toEqual([`${BUILD_DIR} /build`, `${TOOL_CACHE} /cache`]);
    expect(pairs(argv, "--ro-bind")).toEqual([]);
    expect(pairs(argv, "--ro-bind-try")).toContain("/usr /usr");
    expect(pairs(argv, "--symlink")).toEqual(["usr/bin /bin"]);
  });

  it("ends with go build of the staging directory", () => {
    const { argv, cwd } = sandboxed();
    expect(argv.slice(argv.indexOf(GO))).toEqual([GO, ...GO_BUILD_ARGS]);
    expect(GO_BUILD_ARGS).toEqual(["build", "-ldflags=-s -w", "-o", "main", "."]);
    expect(cwd).toBe(BUILD_DIR);
  });

  it("binds a toolchain outside /usr read-only", () => {
    const { argv } = sandboxed({ readOnly: ["/opt/go"] });
    expect(pairs(argv, "--ro-bind-try")).toContain("/opt/go /opt/go");
    expect(pairs(argv, "--bind")).toHaveLength(2);
  });

  it("gives go sandbox paths only, module downloads off, no cgo", () => {
    expect(sandboxed().env).toEqual({
      PATH: "/usr/local/bin:/usr/bin:/bin",
      HOME: "/build",
      TMPDIR: "/build/.tmp",
      GOCACHE: "/cache/gocache",
      GOPATH: "/cache/gopath",
      GOPROXY: "off",
      GOSUMDB: "off",
      GOFLAGS: "-mod=mod",
      GOWORK: "off",
      GOENV: "off",
      CGO_ENABLED: "0",
      GOTOOLCHAIN: "local",
    });
  });
});

describe("goBuildCommand, unsandboxed (worker not root, or bwrap or setpriv missing)", () => {
  const command = goBuildCommand({ goBinary: GO, buildDir: BUILD_DIR, toolCacheDir: TOOL_CACHE, sandbox: null });

  it("runs go directly in the staging directory", () => {
    expect(command.argv).toEqual([GO, ...GO_BUILD_ARGS]);
    expect(command.cwd).toBe(BUILD_DIR);
  });

  it("still downloads no modules, with host paths for the caches", () => {
    expect(command.env).toMatchObject({
      HOME: BUILD_DIR,
      TMPDIR: `${BUILD_DIR}/.tmp`,
      GOCACHE: `${TOOL_CACHE}/gocache`,
      GOPATH: `${TOOL_CACHE}/gopath`,
      GOPROXY: "off",
      GOSUMDB: "off",
      CGO_ENABLED: "0",
    });
  });
});
