// The sandbox's command lines and firewall rules, as pure functions: what each flag promises.
import { describe, expect, it } from "vitest";
import { bwrapArgs } from "../../src/worker/runtimes/bwrap.js";
import { DENIED_RANGES, DENY_CHAIN, firewallRules, jumpRules } from "../../src/worker/runtimes/function-firewall.js";

const base = {
  uid: 200_123,
  gid: 65534,
  binds: [{ source: "/w/x/fn", target: "/fn", writable: true }],
  cwd: "/fn",
};

const pairs = (args: string[], flag: string) =>
  args.flatMap((a, i) => (a === flag ? [`${args[i + 1]} ${args[i + 2] ?? ""}`.trim()] : []));

describe("bwrapArgs", () => {
  it("without network: every namespace new, its own uid, no user namespaces inside, no capabilities", () => {
    const args = bwrapArgs({ ...base, shareNetwork: false, seccompFd: 4 });
    expect(args).toEqual(
      expect.arrayContaining([
        "--unshare-all",
        "--unshare-user",
        "--disable-userns",
        "--new-session",
        "--die-with-parent",
      ]),
    );
    expect(args).not.toContain("--share-net");
    expect(args.join(" ")).toContain("--uid 200123 --gid 65534");
    expect(args.join(" ")).toContain("--cap-drop ALL");
    expect(args.join(" ")).toContain("--seccomp 4");
    expect(pairs(args, "--bind")).toEqual(["/w/x/fn /fn"]);
    // The host's system read-only; nothing else of it (no /home, /root, /var, /srv, the work dir).
    expect(pairs(args, "--ro-bind-try").every((p) => /^(\/usr|\/etc\/[\w.-]+) /.test(p))).toBe(true);
    expect(args.slice(-7)).toEqual(["--chdir", "/fn", "--", "/usr/bin/env", "-u", "PWD", "--"]);
  });

  it("in pasta's namespace: keeps its network, makes no user namespace (bwrap cannot map ids there)", () => {
    const args = bwrapArgs({ ...base, shareNetwork: true, userNamespace: false });
    expect(args).not.toContain("--unshare-user");
    expect(args).not.toContain("--unshare-net");
    expect(args).not.toContain("--uid");
    expect(args).toEqual(expect.arrayContaining(["--unshare-pid", "--unshare-ipc", "--unshare-uts"]));
  });

  it("without network in an existing user namespace, takes the network away", () => {
    expect(bwrapArgs({ ...base, shareNetwork: false, userNamespace: false })).toContain("--unshare-net");
    expect(bwrapArgs({ ...base, shareNetwork: true })).toContain("--share-net");
  });

  it("binds read-only what it is told to, writable only what it is told to", () => {
    const args = bwrapArgs({
      ...base,
      binds: [...base.binds, { source: "/opt/go", target: "/opt/go", writable: false }],
      shareNetwork: false,
    });
    expect(pairs(args, "--ro-bind")).toEqual(["/opt/go /opt/go"]);
    expect(pairs(args, "--bind")).toEqual(["/w/x/fn /fn"]);
  });
});

describe("firewallRules", () => {
  it("allowed CIDRs first, then the host's own addresses and every special range refused", () => {
    const rules = firewallRules(["10.201.0.0/16"]).split("\n");
    const deny = rules.filter((l) => l.startsWith(`-A ${DENY_CHAIN} `));
    expect(deny[0]).toBe(`-A ${DENY_CHAIN} -d 10.201.0.0/16 -j RETURN`);
    expect(deny[1]).toContain("--dst-type LOCAL");
    for (const range of ["127.0.0.0/8", "169.254.0.0/16", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]) {
      expect(DENIED_RANGES).toContain(range);
      expect(deny.some((l) => l.includes(`-d ${range} `) && !l.endsWith("RETURN"))).toBe(true);
    }
    // TCP is reset (an immediate "connection refused"), the rest gets an ICMP error.
    expect(rules).toContain("-A FAAS-FN-REJECT -p tcp -j REJECT --reject-with tcp-reset");
    expect(rules.at(-2)).toBe("COMMIT");
  });

  it("jumps: function uids' sockets on OUTPUT, the functions' bridge on INPUT and DOCKER-USER", () => {
    expect(jumpRules({ uidRange: "200000-299999" })).toEqual([
      ["OUTPUT", "-m", "owner", "--uid-owner", "200000-299999", "-j", DENY_CHAIN],
    ]);
    expect(jumpRules({ bridge: "faas0" })).toEqual([
      ["INPUT", "-i", "faas0", "-j", DENY_CHAIN],
      ["DOCKER-USER", "-i", "faas0", "-j", DENY_CHAIN],
    ]);
  });
});
