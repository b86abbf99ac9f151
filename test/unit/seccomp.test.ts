// The seccomp deny list, its BPF program (decoded from the bytes bubblewrap reads and run
// through a small interpreter) and its Docker profile.
import { existsSync, readFileSync } from "node:fs";
import { beforeEach, describe, expect, it } from "vitest";
import {
  AUDIT_ARCH_AARCH64,
  AUDIT_ARCH_X86_64,
  BPF_JEQ_K,
  BPF_JGE_K,
  BPF_JSET_K,
  BPF_LD_W_ABS,
  BPF_RET_K,
  CLONE,
  CLONE_NEWUSER,
  CLONE3,
  DENIED_SYSCALLS,
  dockerSeccompProfile,
  ENOSYS,
  EPERM,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_ERRNO,
  SECCOMP_RET_KILL_PROCESS,
  type SockFilter,
  seccompBpf,
  seccompInstructions,
} from "../../src/worker/runtimes/seccomp.js";

const DENY = SECCOMP_RET_ERRNO | EPERM;
const NO_SUCH_CALL = SECCOMP_RET_ERRNO | ENOSYS;

/** The bytes as `struct sock_filter` records, read independently of the encoder. */
function decode(buf: Buffer): SockFilter[] {
  const out: SockFilter[] = [];
  for (let at = 0; at < buf.length; at += 8) {
    out.push({
      code: buf.readUInt16LE(at),
      jt: buf.readUInt8(at + 2),
      jf: buf.readUInt8(at + 3),
      k: buf.readUInt32LE(at + 4),
    });
  }
  return out;
}

interface SeccompData {
  nr: number;
  arch: number;
  args0?: bigint;
}

/** Runs a program the way the kernel would, for the few instructions the builder emits. */
function run(prog: SockFilter[], data: SeccompData): number {
  const mem = Buffer.alloc(64);
  mem.writeInt32LE(data.nr, 0);
  mem.writeUInt32LE(data.arch, 4);
  mem.writeBigUInt64LE(data.args0 ?? 0n, 16);
  let a = 0;
  for (let pc = 0; pc < prog.length; pc++) {
    const ins = prog[pc]!;
    switch (ins.code) {
      case BPF_LD_W_ABS:
        a = mem.readUInt32LE(ins.k);
        break;
      case BPF_JEQ_K:
        pc += a === ins.k ? ins.jt : ins.jf;
        break;
      case BPF_JGE_K:
        pc += a >= ins.k ? ins.jt : ins.jf;
        break;
      case BPF_JSET_K:
        pc += (a & ins.k) !== 0 ? ins.jt : ins.jf;
        break;
      case BPF_RET_K:
        return ins.k;
      default:
        throw new Error(`unexpected instruction ${ins.code} at ${pc}`);
    }
  }
  throw new Error("ran off the end of the program");
}

/** `#define __NR_<name> <n>` from a kernel header, when the header is installed. */
function headerNumbers(path: string): Map<string, number> | null {
  if (!existsSync(path)) return null;
  const map = new Map<string, number>();
  for (const m of readFileSync(path, "utf8").matchAll(/^#define __NR_(\w+)\s+(\d+)\s*$/gm)) {
    map.set(m[1]!, Number(m[2]));
  }
  return map;
}

const X86_HEADER = "/usr/include/x86_64-linux-gnu/asm/unistd_64.h";
const GENERIC_HEADER = "/usr/include/asm-generic/unistd.h";

describe("DENIED_SYSCALLS", () => {
  it("names each call once, with a reason, and leaves personality, clone and clone3 to their own rules", () => {
    const names = DENIED_SYSCALLS.map((s) => s.name);
    expect(new Set(names).size).toBe(names.length);
    for (const s of DENIED_SYSCALLS) expect(s.why.length, s.name).toBeGreaterThan(5);
    expect(names).not.toContain("personality");
    expect(names).not.toContain("clone");
    expect(names).not.toContain("clone3");
    for (const must of ["keyctl", "ptrace", "unshare", "setns", "mount", "bpf", "userfaultfd", "kexec_load"]) {
      expect(names).toContain(must);
    }
  });

  it.skipIf(!existsSync(X86_HEADER))("carries the x86_64 numbers of the kernel headers", () => {
    const nr = headerNumbers(X86_HEADER)!;
    for (const s of [...DENIED_SYSCALLS, CLONE, CLONE3]) expect(s.x86_64, s.name).toBe(nr.get(s.name));
  });

  it.skipIf(!existsSync(GENERIC_HEADER))("carries the aarch64 numbers of the kernel headers", () => {
    const nr = headerNumbers(GENERIC_HEADER)!;
    for (const s of [...DENIED_SYSCALLS, CLONE, CLONE3]) expect(s.aarch64, s.name).toBe(nr.get(s.name));
  });
});

describe.each([
  { arch: "x64", key: "x86_64" as const, audit: AUDIT_ARCH_X86_64, other: AUDIT_ARCH_AARCH64 },
  { arch: "arm64", key: "aarch64" as const, audit: AUDIT_ARCH_AARCH64, other: AUDIT_ARCH_X86_64 },
])("seccompBpf($arch)", ({ arch, key, audit, other }) => {
  // Built inside each test, so a builder that throws fails the tests, not the collection.
  let prog: SockFilter[] = [];
  beforeEach(() => {
    prog = decode(seccompBpf(arch));
  });
  const denied = DENIED_SYSCALLS.filter((s) => s[key] !== undefined);

  it("is 8 bytes per instruction, the same instructions seccompInstructions lists", () => {
    const buf = seccompBpf(arch);
    expect(buf.length).toBe(8 * seccompInstructions(arch).length);
    expect(prog).toEqual(seccompInstructions(arch));
  });

  it("first loads the arch and kills a process calling in from another ABI", () => {
    expect(prog[0]).toEqual({ code: BPF_LD_W_ABS, jt: 0, jf: 0, k: 4 });
    expect(prog[1]).toMatchObject({ code: BPF_JEQ_K, k: audit });
    expect(run(prog, { nr: 39, arch: other })).toBe(SECCOMP_RET_KILL_PROCESS);
  });

  it("compares every denied number with JEQ and returns ERRNO(EPERM) right after a match", () => {
    for (const s of denied) {
      const nr = s[key]!;
      const i = prog.findIndex((ins) => ins.code === BPF_JEQ_K && ins.k === nr && ins !== prog[1]);
      expect(i, s.name).toBeGreaterThan(0);
      expect(prog[i + 1 + prog[i]!.jt], s.name).toEqual({ code: BPF_RET_K, jt: 0, jf: 0, k: DENY });
      expect(run(prog, { nr, arch: audit }), s.name).toBe(DENY);
    }
  });

  it("answers clone3 with ENOSYS", () => {
    expect(run(prog, { nr: CLONE3[key], arch: audit })).toBe(NO_SUCH_CALL);
  });

  it("refuses clone asking for a user namespace and allows any other clone", () => {
    const nr = CLONE[key];
    expect(run(prog, { nr, arch: audit, args0: BigInt(CLONE_NEWUSER | 17) })).toBe(DENY);
    expect(run(prog, { nr, arch: audit, args0: 0xffff_ffff_0000_0000n | BigInt(CLONE_NEWUSER) })).toBe(DENY);
    expect(run(prog, { nr, arch: audit, args0: 17n })).toBe(SECCOMP_RET_ALLOW); // fork: SIGCHLD
    expect(run(prog, { nr, arch: audit, args0: 0x3d0f00n })).toBe(SECCOMP_RET_ALLOW); // pthread_create
  });

  it("allows everything else, ending with RET ALLOW", () => {
    expect(prog.at(-1)).toEqual({ code: BPF_RET_K, jt: 0, jf: 0, k: SECCOMP_RET_ALLOW });
    const listed = new Set([...denied.map((s) => s[key]!), CLONE3[key], CLONE[key]]);
    for (let nr = 0; nr < 500; nr++) {
      if (!listed.has(nr)) expect(run(prog, { nr, arch: audit }), `nr ${nr}`).toBe(SECCOMP_RET_ALLOW);
    }
  });

  it("keeps every jump within a u8 and inside the program", () => {
    const instructions = seccompInstructions(arch);
    instructions.forEach((ins, i) => {
      expect(ins.jt, `jt at ${i}`).toBeLessThan(256);
      expect(ins.jf, `jf at ${i}`).toBeLessThan(256);
      if (ins.code !== BPF_RET_K && ins.code !== BPF_LD_W_ABS) {
        expect(i + 1 + Math.max(ins.jt, ins.jf), `target of ${i}`).toBeLessThan(instructions.length);
      }
    });
  });
});

describe("seccompBpf: x32, default and unsupported arches", () => {
  it("refuses the x32 ABI with EPERM", () => {
    const prog = decode(seccompBpf("x64"));
    expect(prog).toContainEqual({ code: BPF_JGE_K, jt: 0, jf: 1, k: 0x40000000 });
    expect(run(prog, { nr: 0x40000000 | 39, arch: AUDIT_ARCH_X86_64 })).toBe(DENY);
    expect(run(prog, { nr: 0x40000000 | 56, arch: AUDIT_ARCH_X86_64, args0: 17n })).toBe(DENY);
  });

  it("defaults to the arch of the running process", () => {
    if (process.arch === "x64" || process.arch === "arm64") expect(seccompBpf()).toEqual(seccompBpf(process.arch));
    else expect(() => seccompBpf()).toThrow(/architecture/);
  });

  it("throws a clear error for an arch it has no numbers for", () => {
    for (const arch of ["ia32", "arm", "riscv64", "s390x", "", "toString"]) {
      expect(() => seccompBpf(arch), arch).toThrow(`no filter for architecture "${arch}"`);
    }
  });
});

describe("dockerSeccompProfile", () => {
  const profile = JSON.parse(dockerSeccompProfile());
  type Rule = { names: string[]; action: string; errnoRet?: number; args?: unknown[] };
  const rules: Rule[] = profile.syscalls;
  const ruleFor = (name: string) => rules.filter((r) => r.names.includes(name));

  it("allows by default on x86_64 (with x86 and x32) and aarch64 (with arm)", () => {
    expect(profile.defaultAction).toBe("SCMP_ACT_ALLOW");
    expect(profile.archMap).toEqual([
      { architecture: "SCMP_ARCH_X86_64", subArchitectures: ["SCMP_ARCH_X86", "SCMP_ARCH_X32"] },
      { architecture: "SCMP_ARCH_AARCH64", subArchitectures: ["SCMP_ARCH_ARM"] },
    ]);
  });

  it("refuses every denied call with EPERM, unconditionally", () => {
    for (const s of DENIED_SYSCALLS) {
      expect(ruleFor(s.name), s.name).toEqual([
        expect.objectContaining({ action: "SCMP_ACT_ERRNO", errnoRet: EPERM, names: expect.any(Array) }),
      ]);
      expect(ruleFor(s.name)[0]!.args, s.name).toBeUndefined();
    }
  });

  it("answers clone3 with ENOSYS and clone with CLONE_NEWUSER with EPERM", () => {
    expect(ruleFor("clone3")).toEqual([{ names: ["clone3"], action: "SCMP_ACT_ERRNO", errnoRet: 38 }]);
    expect(ruleFor("clone")).toEqual([
      {
        names: ["clone"],
        action: "SCMP_ACT_ERRNO",
        errnoRet: 1,
        args: [{ index: 0, value: 0x10000000, valueTwo: 0x10000000, op: "SCMP_CMP_MASKED_EQ" }],
      },
    ]);
    expect(ruleFor("personality")).toEqual([]);
  });
});
