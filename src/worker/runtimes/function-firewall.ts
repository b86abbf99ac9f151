// What a networked function may not reach: the host itself (any of its addresses, so no
// platform service, PostgreSQL, Redis or controller), loopback, link-local (cloud metadata
// at 169.254.169.254), private and other special-purpose ranges, unless the operator allows
// a CIDR (FUNCTION_NETWORK_ALLOW). One iptables chain holds the rule; it is reached
//  - from OUTPUT for sockets of function uids: a networked process invocation talks through
//    pasta, which runs as the function's uid and opens real sockets on its behalf;
//  - from INPUT and DOCKER-USER for packets entering from the functions' Docker bridge.
// The worker installs the chains at start (idempotent; several workers on one host share
// them, so they must share FUNCTION_NETWORK_ALLOW) and checks they are in place; where it
// cannot, networked functions are refused.
import { execFile } from "node:child_process";
import { promisify } from "node:util";

const run = promisify(execFile);

export const IPTABLES = "/usr/sbin/iptables";
export const IPTABLES_RESTORE = "/usr/sbin/iptables-restore";
export const DENY_CHAIN = "FAAS-FN-DENY";
const REJECT_CHAIN = "FAAS-FN-REJECT";
/** The Docker bridge of function containers (a dedicated network, see container-network.ts). */
export const FUNCTION_BRIDGE = "faas0";

/** Destinations no function reaches unless allowed (IPv4; function networking is IPv4 only). */
export const DENIED_RANGES = [
  "0.0.0.0/8",
  "10.0.0.0/8",
  "100.64.0.0/10",
  "127.0.0.0/8",
  "169.254.0.0/16",
  "172.16.0.0/12",
  "192.0.0.0/24",
  "192.0.2.0/24",
  "192.168.0.0/16",
  "198.18.0.0/15",
  "198.51.100.0/24",
  "203.0.113.0/24",
  "224.0.0.0/4",
  "240.0.0.0/4",
];

export interface FirewallScope {
  /** uids whose sockets are functions' (process runtime), as "first-last". */
  uidRange?: string;
  /** The functions' bridge interface (container runtime). */
  bridge?: string;
}

/** The iptables-restore input defining both chains (restoring a chain flushes it first). */
export function firewallRules(allow: readonly string[]): string {
  const lines = [
    "*filter",
    `:${DENY_CHAIN} - [0:0]`,
    `:${REJECT_CHAIN} - [0:0]`,
    // A reset answers a TCP connect at once (ECONNREFUSED) instead of letting it hang.
    `-A ${REJECT_CHAIN} -p tcp -j REJECT --reject-with tcp-reset`,
    `-A ${REJECT_CHAIN} -j REJECT --reject-with icmp-port-unreachable`,
    ...allow.map((cidr) => `-A ${DENY_CHAIN} -d ${cidr} -j RETURN`),
    `-A ${DENY_CHAIN} -m addrtype --dst-type LOCAL -j ${REJECT_CHAIN}`,
    `-A ${DENY_CHAIN} -m addrtype --dst-type BROADCAST -j ${REJECT_CHAIN}`,
    ...DENIED_RANGES.map((cidr) => `-A ${DENY_CHAIN} -d ${cidr} -j ${REJECT_CHAIN}`),
    "COMMIT",
    "",
  ];
  return lines.join("\n");
}

/** The jump rules (`iptables` arguments after the -C/-I verb) that send a scope's traffic to the chain. */
export function jumpRules(scope: FirewallScope): string[][] {
  const rules: string[][] = [];
  if (scope.uidRange) rules.push(["OUTPUT", "-m", "owner", "--uid-owner", scope.uidRange, "-j", DENY_CHAIN]);
  if (scope.bridge) {
    rules.push(["INPUT", "-i", scope.bridge, "-j", DENY_CHAIN]);
    rules.push(["DOCKER-USER", "-i", scope.bridge, "-j", DENY_CHAIN]);
  }
  return rules;
}

const iptables = (args: string[]) => run(IPTABLES, ["-w", "10", ...args], { timeout: 20_000 });

/**
 * Installs the chains and the scope's jumps, then reads them back. Throws with the reason
 * when that is not possible (not root, no iptables, no DOCKER-USER chain).
 */
export async function installFirewall(allow: readonly string[], scope: FirewallScope): Promise<void> {
  const restore = run(IPTABLES_RESTORE, ["-w", "10", "--noflush"], { timeout: 20_000 });
  restore.child.stdin?.end(firewallRules(allow));
  await restore;
  for (const rule of jumpRules(scope)) {
    const present = await iptables(["-C", ...rule]).then(
      () => true,
      () => false,
    );
    // First: nothing earlier in the chain may accept the traffic before it is checked.
    if (!present) await iptables(["-I", rule[0] as string, "1", ...rule.slice(1)]);
  }
  await verifyFirewall(allow, scope);
}

/** Throws unless the deny chain holds every rule and every jump is in place. */
export async function verifyFirewall(allow: readonly string[], scope: FirewallScope): Promise<void> {
  const { stdout } = await iptables(["-S", DENY_CHAIN]);
  const rules = stdout.split("\n").filter((l) => l.startsWith("-A "));
  const expected = allow.length + 2 + DENIED_RANGES.length;
  if (rules.length !== expected) {
    throw new Error(`iptables chain ${DENY_CHAIN} has ${rules.length} rules, expected ${expected}`);
  }
  for (const rule of jumpRules(scope)) await iptables(["-C", ...rule]);
}
