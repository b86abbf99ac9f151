// The Node.js zygote's native addon (runtimes/agent/addon/node-fork.cc) for the process
// runtime's execution environments. In the nodejs image it is compiled against Debian's
// libnode; here the agent runs the host's node, so the worker compiles the addon, beside the
// agent (agent-binary.ts), with the host's C++ compiler against that node's own headers.
// The addon uses node's C++ API, which is not stable across node versions: a build names the
// node it was made for (`<path> <version>`), and serves only that one. Without a compiler or
// the headers, Node.js functions keep running in prepared sandboxes, one per invocation.
import { execFile } from "node:child_process";
import { chmod, readFile, realpath, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { firstExecutable } from "./toolchains.js";

const run = promisify(execFile);

/** The addon's file in an agent build: node-zygote.js loads it from /opt/faas. */
export const NODE_ADDON = "node-fork.node";
/** Beside it: the node it was built for, `<path> <version>`. */
const NODE_ADDON_FOR = "node-fork.for";
/** Beside it instead, when the compiler refused: its first lines. */
const NODE_ADDON_ERROR = "node-fork.error";
const CXX = ["/usr/bin/c++", "/usr/bin/g++", "/usr/local/bin/c++", "/usr/local/bin/g++"];
/** The node the agent starts: the first of these that exists (runtimes/agent/langs.go newNodeLang). */
const AGENT_NODE = ["/usr/bin/node", "/usr/local/bin/node", "/usr/bin/nodejs"];
const COMPILE_TIMEOUT_MS = 5 * 60_000;

/** What the addon is built with: the node it is for, that node's headers, a C++ compiler. */
export interface NodeAddonToolchain {
  node: string;
  version: string;
  headers: string;
  compiler: string;
}

/** `v20.20.2`, or null when the binary does not answer. */
async function nodeVersion(node: string): Promise<string | null> {
  return run(node, ["--version"], { timeout: 30_000 }).then(
    (r) => r.stdout.trim() || null,
    () => null,
  );
}

/** The version node_version.h declares (`v20.20.2`), or null. */
export function headerVersion(header: string): string | null {
  const part = (name: string) => header.match(new RegExp(`#define NODE_${name}_VERSION (\\d+)`))?.[1];
  const [major, minor, patch] = [part("MAJOR"), part("MINOR"), part("PATCH")];
  return major && minor && patch ? `v${major}.${minor}.${patch}` : null;
}

/**
 * The toolchain to build the addon for `node` (the worker's Node.js toolchain), or why there
 * is none: the agent would start another node, no C++ compiler, no headers of that version.
 * agentNodes and compilers: where to look (tests look elsewhere).
 */
export async function nodeAddonToolchain(
  node: string,
  { agentNodes = AGENT_NODE, compilers = CXX }: { agentNodes?: string[]; compilers?: string[] } = {},
): Promise<NodeAddonToolchain | string> {
  const agentNode = await firstExecutable(agentNodes);
  if (agentNode !== node) return `the agent would start ${agentNode ?? "no node"}, not ${node}`;
  const version = await nodeVersion(node);
  if (!version) return `${node} --version failed`;
  const compiler = await firstExecutable(compilers);
  if (!compiler) return "no C++ compiler to build the zygote's addon (install g++)";
  // Debian's libnode-dev and node's own tarballs both put them at <prefix>/include/node.
  const real = await realpath(node).catch(() => node);
  const headers = join(dirname(dirname(real)), "include", "node");
  const header = await readFile(join(headers, "node_version.h"), "utf8").catch(() => null);
  if (header === null) return `no node headers at ${headers} (Debian: install libnode-dev)`;
  const declared = headerVersion(header);
  if (declared !== version)
    return `the node headers at ${headers} are ${declared ?? "of no version"}, node is ${version}`;
  return { node, version, headers, compiler };
}

/** What an agent build's hash says of the addon: a build for another node is another build. */
export function nodeAddonIdentity(toolchain: NodeAddonToolchain | undefined): string {
  if (!toolchain) return "no node addon";
  return `node addon\0${toolchain.node}\0${toolchain.version}\0${toolchain.headers}\0${toolchain.compiler}`;
}

/**
 * Compiles the addon into `dir` (an agent build under way). A refusal is written beside it
 * instead of failing the build: the other languages' environments do not depend on it.
 */
export async function buildNodeAddon(toolchain: NodeAddonToolchain, source: string, dir: string): Promise<void> {
  const args = ["-std=c++17", "-O2", "-Wall", "-fPIC", "-shared", "-fvisibility=hidden"];
  try {
    await run(
      toolchain.compiler,
      [...args, `-I${toolchain.headers}`, "-o", join(dir, NODE_ADDON), join(source, "addon", "node-fork.cc")],
      { timeout: COMPILE_TIMEOUT_MS, env: { PATH: "/usr/local/bin:/usr/bin:/bin" } },
    );
    await chmod(join(dir, NODE_ADDON), 0o644); // loaded by the zygote, under the function's uid
    await writeFile(join(dir, NODE_ADDON_FOR), `${toolchain.node} ${toolchain.version}`, { mode: 0o644 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    const why = (e.stderr || e.message).split("\n").slice(0, 20).join("\n");
    await writeFile(join(dir, NODE_ADDON_ERROR), why);
  }
}

/** Null when the agent build in `dir` can fork Node.js invocations with `toolchain`'s node, else why not. */
export async function nodeAddonProblem(dir: string, toolchain: NodeAddonToolchain | string): Promise<string | null> {
  if (typeof toolchain === "string") return toolchain;
  const builtFor = await readFile(join(dir, NODE_ADDON_FOR), "utf8").catch(() => null);
  if (builtFor === `${toolchain.node} ${toolchain.version}`) return null;
  if (builtFor !== null)
    return `the agent's addon was built for ${builtFor}, not ${toolchain.node} ${toolchain.version}`;
  const refused = await readFile(join(dir, NODE_ADDON_ERROR), "utf8").catch(() => null);
  return refused === null ? "the agent was built without its Node.js addon" : `the addon did not compile: ${refused}`;
}
