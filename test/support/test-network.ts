// Addresses the tests' function networking may reach, and a network namespace the test
// creates to put a server on such an address. Test traffic only goes to loopback and into
// namespaces the tests make themselves.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";

const run = promisify(execFile);

/**
 * FUNCTION_NETWORK_ALLOW of every runtime the tests start: the firewall chain is one per
 * host, so runtimes running side by side must agree on it (as workers on one host must).
 */
export const TEST_NETWORK_ALLOW = ["10.201.0.0/16"];

export interface TestNetns {
  name: string;
  /** The host's end of the link (a host address: functions must not reach it). */
  hostAddress: string;
  /** A server in the namespace on an allowed address. */
  allowedAddress: string;
  /** The same namespace on an address outside the allowed range (private: must be refused). */
  deniedAddress: string;
  port: number;
  remove(): Promise<void>;
}

/**
 * A network namespace linked to the host by a veth pair, with a TCP server answering
 * "pong" on both of its addresses.
 */
/** Answers "pong" to every TCP connection. */
const PONG_SERVER = (port: number) => `import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", ${port})); s.listen(64); print("ready", flush=True)
while True:
    c, _ = s.accept(); c.sendall(b"pong"); c.close()
`;

export async function createTestNetns(port = 7070, server: (port: number) => string = PONG_SERVER): Promise<TestNetns> {
  // Test files run side by side, each with its own namespace: a random third octet may be
  // taken already (its routes exist); try another.
  for (let tries = 1; ; tries++) {
    try {
      return await createTestNetnsOnce(port, server);
    } catch (err) {
      if (tries >= 5 || !/File exists|Address already in use/.test(String((err as Error).message))) throw err;
    }
  }
}

async function createTestNetnsOnce(port: number, server: (port: number) => string): Promise<TestNetns> {
  const id = randomBytes(3).toString("hex");
  const octet = (parseInt(id.slice(0, 2), 16) % 250) + 1;
  const name = `faastest-${id}`;
  const [hostIf, nsIf] = [`fth${id}`, `ftn${id}`];
  // The link itself lies outside the allowed range: its host end is a host address.
  const hostAddress = `10.203.${octet}.1`;
  const linkAddress = `10.203.${octet}.2`;
  const allowedAddress = `10.201.${octet}.2`;
  const deniedAddress = `10.202.${octet}.2`;
  const ip = (...args: string[]) => run("ip", args);
  const inNs = (...args: string[]) => run("ip", ["netns", "exec", name, ...args]);
  await ip("netns", "add", name);
  let child: ReturnType<typeof execFile> | null = null;
  const remove = async () => {
    child?.kill("SIGKILL");
    await ip("link", "del", hostIf).catch(() => undefined);
    await ip("netns", "del", name).catch(() => undefined);
  };
  try {
    await ip("link", "add", hostIf, "type", "veth", "peer", "name", nsIf);
    await ip("link", "set", nsIf, "netns", name);
    await ip("addr", "add", `${hostAddress}/24`, "dev", hostIf);
    await ip("link", "set", hostIf, "up");
    await inNs("ip", "addr", "add", `${linkAddress}/24`, "dev", nsIf);
    for (const address of [allowedAddress, deniedAddress]) {
      await ip("route", "add", `${address}/32`, "dev", hostIf);
      await inNs("ip", "addr", "add", `${address}/32`, "dev", nsIf);
    }
    await inNs("ip", "link", "set", nsIf, "up");
    await inNs("ip", "link", "set", "lo", "up");
    await inNs("ip", "route", "add", "default", "via", hostAddress);
    child = execFile("ip", ["netns", "exec", name, "python3", "-c", server(port)]);
    await new Promise<void>((resolve, reject) => {
      child?.stdout?.once("data", () => resolve());
      child?.once("exit", (code) => reject(new Error(`test server exited with ${code}`)));
    });
  } catch (err) {
    await remove();
    throw err;
  }
  return { name, hostAddress, allowedAddress, deniedAddress, port, remove };
}

/** A namespace with no server of its own: a client elsewhere than loopback (print "ready", then idle). */
export const IDLE = () => 'import time\nprint("ready", flush=True)\ntime.sleep(3600)\n';

const HTTP_CLIENT = `import json, sys, urllib.request, urllib.error
url, headers = sys.argv[1], json.loads(sys.argv[2])
req = urllib.request.Request(url, headers=headers)
try:
    with urllib.request.urlopen(req, timeout=20) as r:
        print(json.dumps({"status": r.status, "body": r.read().decode()}))
except urllib.error.HTTPError as e:
    print(json.dumps({"status": e.code, "body": e.read().decode()}))
`;

/** GET `url` from inside the namespace (a client with a non-loopback address). */
export async function getFromNetns(
  ns: Pick<TestNetns, "name">,
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: any }> {
  const { stdout } = await run("ip", [
    "netns",
    "exec",
    ns.name,
    "python3",
    "-c",
    HTTP_CLIENT,
    url,
    JSON.stringify(headers),
  ]);
  const { status, body } = JSON.parse(stdout) as { status: number; body: string };
  try {
    return { status, body: JSON.parse(body) };
  } catch {
    return { status, body };
  }
}
