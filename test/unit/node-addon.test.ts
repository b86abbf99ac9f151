// The Node.js zygote's addon for the process runtime (node-addon.ts): which node a build serves,
// and why a worker falls back to prepared sandboxes. The compile itself against the host's
// node runs in test/integration/process-environments.test.ts.
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  buildNodeAddon,
  headerVersion,
  type NodeAddonToolchain,
  nodeAddonIdentity,
  nodeAddonProblem,
  nodeAddonToolchain,
} from "../../src/worker/runtimes/node-addon.js";

const toolchain: NodeAddonToolchain = {
  node: "/usr/bin/node",
  version: "v20.20.2",
  headers: "/usr/include/node",
  compiler: "/usr/bin/g++",
};

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "faas-node-addon-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("headerVersion", () => {
  it("reads node_version.h's three numbers", () => {
    const header = [
      "#define NODE_MAJOR_VERSION 20",
      "#define NODE_MINOR_VERSION 20",
      "#define NODE_PATCH_VERSION 2",
      "#define NODE_VERSION_IS_RELEASE 1",
    ].join("\n");
    expect(headerVersion(header)).toBe("v20.20.2");
  });

  it("is null when one is missing", () => {
    expect(headerVersion("#define NODE_MAJOR_VERSION 20\n#define NODE_MINOR_VERSION 1\n")).toBeNull();
    expect(headerVersion("#define NODE_MAJOR_VERSION 20\n#define NODE_PATCH_VERSION 1\n")).toBeNull();
    expect(headerVersion("#define NODE_MINOR_VERSION 20\n#define NODE_PATCH_VERSION 1\n")).toBeNull();
  });
});

describe("nodeAddonIdentity", () => {
  it("differs for another node version, compiler or headers, and without an addon", () => {
    const ids = [
      nodeAddonIdentity(toolchain),
      nodeAddonIdentity({ ...toolchain, version: "v20.20.3" }),
      nodeAddonIdentity({ ...toolchain, compiler: "/usr/bin/c++" }),
      nodeAddonIdentity({ ...toolchain, headers: "/usr/local/include/node" }),
      nodeAddonIdentity({ ...toolchain, node: "/usr/local/bin/node" }),
      nodeAddonIdentity(undefined),
    ];
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe("nodeAddonProblem", () => {
  it("passes on why there is no toolchain", async () => {
    expect(await nodeAddonProblem(dir, "no C++ compiler")).toBe("no C++ compiler");
  });

  it("is null for a build made for this very node", async () => {
    await writeFile(join(dir, "node-fork.for"), "/usr/bin/node v20.20.2");
    expect(await nodeAddonProblem(dir, toolchain)).toBeNull();
  });

  it("names the node a build was made for when it is another", async () => {
    await writeFile(join(dir, "node-fork.for"), "/usr/bin/node v20.19.0");
    expect(await nodeAddonProblem(dir, toolchain)).toBe(
      "the agent's addon was built for /usr/bin/node v20.19.0, not /usr/bin/node v20.20.2",
    );
    await writeFile(join(dir, "node-fork.for"), "/usr/local/bin/node v20.20.2");
    expect(await nodeAddonProblem(dir, toolchain)).toMatch(/built for \/usr\/local\/bin\/node/);
  });

  it("says when a build has no addon", async () => {
    expect(await nodeAddonProblem(dir, toolchain)).toBe("the agent was built without its Node.js addon");
  });

  it("a build names the node it was made for: the compiler got its headers, the source and where to write", async () => {
    const source = join(dir, "source");
    await mkdir(join(source, "addon"), { recursive: true });
    await writeFile(join(source, "addon", "node-fork.cc"), "// the addon\n");
    // A compiler that checks what a real one needs: the include directory, the source, -o.
    const compiler = join(dir, "cc");
    await writeFile(
      compiler,
      [
        "#!/bin/sh",
        'out=""; inc=""; src=""',
        "while [ $# -gt 0 ]; do",
        '  case "$1" in -o) out="$2"; shift;; -I*) inc=$(printf %s "$1" | cut -c3-);; *.cc) src="$1";; esac; shift',
        "done",
        `[ "$inc" = "${toolchain.headers}" ] && [ -f "$src" ] && [ -n "$out" ] && echo binary > "$out"`,
      ].join("\n"),
      { mode: 0o755 },
    );
    const build = join(dir, "build");
    await mkdir(build);
    await buildNodeAddon({ ...toolchain, compiler }, source, build);
    expect((await readdir(build)).sort()).toEqual(["node-fork.for", "node-fork.node"]);
    expect(await nodeAddonProblem(build, toolchain)).toBeNull();
    expect(await nodeAddonProblem(build, { ...toolchain, version: "v21.0.0" })).toMatch(
      /built for \/usr\/bin\/node v20/,
    );
  });

  it("keeps the first 20 lines of a refusal", async () => {
    const refusing = join(dir, "cc");
    await writeFile(refusing, '#!/bin/sh\nfor i in $(seq 1 30); do echo "error $i" >&2; done\nexit 1\n', {
      mode: 0o755,
    });
    await buildNodeAddon({ ...toolchain, compiler: refusing }, dir, dir);
    const problem = (await nodeAddonProblem(dir, toolchain)) ?? "";
    expect(problem.split("\n").slice(0, 2)).toEqual(["the addon did not compile: error 1", "error 2"]);
    expect(problem).toContain("error 20");
    expect(problem).not.toContain("error 21");
  });

  it("gives the compiler's refusal, which buildNodeAddon writes instead of failing the agent's build", async () => {
    const refusing = join(dir, "cc");
    await writeFile(refusing, "#!/bin/sh\necho 'node-fork.cc:1: error: no such header' >&2\nexit 1\n", { mode: 0o755 });
    await buildNodeAddon({ ...toolchain, compiler: refusing }, dir, dir);
    expect((await readdir(dir)).sort()).toEqual(["cc", "node-fork.error"]);
    expect(await nodeAddonProblem(dir, toolchain)).toBe(
      "the addon did not compile: node-fork.cc:1: error: no such header\n",
    );
  });
});

describe("nodeAddonToolchain", () => {
  /** <dir>/<prefix>/bin/node answering `version`, headers of `headerVer` in <prefix>/include/node, a compiler. */
  async function host(version: string | null, headerVer: string | null) {
    const prefix = join(dir, "prefix");
    await mkdir(join(prefix, "bin"), { recursive: true });
    const node = join(prefix, "bin", "node");
    const answer = version ? `[ "$1" = --version ] && echo ${version}` : "exit 1";
    await writeFile(node, `#!/bin/sh\n${answer}\n`, { mode: 0o755 });
    if (headerVer) {
      const [major, minor, patch] = headerVer.slice(1).split(".");
      await mkdir(join(prefix, "include", "node"), { recursive: true });
      await writeFile(
        join(prefix, "include", "node", "node_version.h"),
        `#define NODE_MAJOR_VERSION ${major}\n#define NODE_MINOR_VERSION ${minor}\n#define NODE_PATCH_VERSION ${patch}\n`,
      );
    }
    const compiler = join(dir, "c++");
    await writeFile(compiler, "#!/bin/sh\n", { mode: 0o755 });
    return { node, compiler, headers: join(prefix, "include", "node") };
  }

  it("is the node, its version, its headers and the first compiler found", async () => {
    const { node, compiler, headers } = await host("v20.20.2", "v20.20.2");
    const missing = join(dir, "missing");
    expect(await nodeAddonToolchain(node, { agentNodes: [missing, node], compilers: [missing, compiler] })).toEqual({
      node,
      version: "v20.20.2",
      headers,
      compiler,
    });
  });

  it("refuses a node the agent would not start", async () => {
    const { node, compiler } = await host("v20.20.2", "v20.20.2");
    const other = join(dir, "other-node");
    await writeFile(other, "#!/bin/sh\n", { mode: 0o755 });
    expect(await nodeAddonToolchain(node, { agentNodes: [other, node], compilers: [compiler] })).toBe(
      `the agent would start ${other}, not ${node}`,
    );
    expect(await nodeAddonToolchain(node, { agentNodes: [join(dir, "none")], compilers: [compiler] })).toBe(
      `the agent would start no node, not ${node}`,
    );
  });

  it("says what is missing: a version, a compiler, the headers, headers of this version", async () => {
    const none = [join(dir, "none")];
    const { node, compiler, headers } = await host("v20.20.2", null);
    expect(await nodeAddonToolchain(node, { agentNodes: [node], compilers: none })).toBe(
      "no C++ compiler to build the zygote's addon (install g++)",
    );
    expect(await nodeAddonToolchain(node, { agentNodes: [node], compilers: [compiler] })).toBe(
      `no node headers at ${headers} (Debian: install libnode-dev)`,
    );
    await host(null, null);
    expect(await nodeAddonToolchain(node, { agentNodes: [node], compilers: [compiler] })).toBe(
      `${node} --version failed`,
    );
    await host("v20.20.2", "v20.19.0");
    expect(await nodeAddonToolchain(node, { agentNodes: [node], compilers: [compiler] })).toBe(
      `the node headers at ${headers} are v20.19.0, node is v20.20.2`,
    );
  });
});
