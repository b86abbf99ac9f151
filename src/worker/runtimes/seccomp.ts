// The system calls a user function is never allowed, in one place for both sandboxes.
//
// Why: function code is untrusted. The process runtime already takes away the worker's
// privileges and the container runtime drops capabilities, but the kernel still offers a
// function a wide surface it has no business with (key rings, ptrace, namespaces, mounts,
// module loading, eBPF, the clock). Most of those fail without capabilities anyway; a deny
// list on top closes the rest (user namespaces, which hand back capabilities inside them,
// ptrace, keyctl, userfaultfd, perf) and shrinks the kernel code a hostile function can reach
// even where a capability check would have said no.
//
// One list feeds both runtimes: `seccompBpf()` compiles it into the classic BPF program that
// bubblewrap installs with `--seccomp FD`, and `dockerSeccompProfile()` renders it as the JSON
// profile Docker takes in HostConfig.SecurityOpt (`seccomp=<json>`). Everything not listed
// stays allowed: a deny list cannot break an interpreter that needs some new system call.
//
// Written for this project from the kernel's UAPI headers (linux/seccomp.h, linux/filter.h,
// linux/audit.h, asm/unistd_64.h and asm-generic/unistd.h); no profile text is copied from
// elsewhere.

/** A system call no function may make; numbers from the kernel's UAPI headers. */
export interface DeniedSyscall {
  readonly name: string;
  /** Number on x86_64 (asm/unistd_64.h). */
  readonly x86_64: number;
  /** Number on aarch64 (asm-generic/unistd.h); absent where the call does not exist there. */
  readonly aarch64?: number;
  readonly why: string;
}

/** Every one of these fails with EPERM in a function, under both runtimes. */
export const DENIED_SYSCALLS: readonly DeniedSyscall[] = Object.freeze(
  (
    [
      // Kernel key rings: shared across the host's processes, not namespaced by uid alone.
      { name: "keyctl", x86_64: 250, aarch64: 219, why: "kernel key rings are a host-wide store, not for functions" },
      { name: "add_key", x86_64: 248, aarch64: 217, why: "kernel key rings are a host-wide store, not for functions" },
      {
        name: "request_key",
        x86_64: 249,
        aarch64: 218,
        why: "kernel key rings are a host-wide store; it can also run an upcall",
      },
      // Looking into and steering other processes.
      { name: "ptrace", x86_64: 101, aarch64: 117, why: "tracing processes lets one rewrite another's memory" },
      { name: "process_vm_readv", x86_64: 310, aarch64: 270, why: "reads another process's memory" },
      { name: "process_vm_writev", x86_64: 311, aarch64: 271, why: "writes another process's memory" },
      { name: "kcmp", x86_64: 312, aarch64: 272, why: "compares kernel objects of other processes (an info leak)" },
      // Mounts and the filesystem view.
      { name: "mount", x86_64: 165, aarch64: 40, why: "changing the mount table is the sandbox's job alone" },
      { name: "umount2", x86_64: 166, aarch64: 39, why: "unmounting could uncover what the sandbox hides" },
      { name: "move_mount", x86_64: 429, aarch64: 429, why: "new mount API: changes the mount table" },
      { name: "open_tree", x86_64: 428, aarch64: 428, why: "new mount API: clones mount trees" },
      { name: "fsopen", x86_64: 430, aarch64: 430, why: "new mount API: creates a filesystem context" },
      { name: "fsconfig", x86_64: 431, aarch64: 431, why: "new mount API: configures a filesystem context" },
      { name: "fsmount", x86_64: 432, aarch64: 432, why: "new mount API: turns a context into a mount" },
      { name: "fspick", x86_64: 433, aarch64: 433, why: "new mount API: reconfigures an existing mount" },
      { name: "mount_setattr", x86_64: 442, aarch64: 442, why: "changes mount flags such as read-only" },
      { name: "pivot_root", x86_64: 155, aarch64: 41, why: "swaps the root filesystem" },
      { name: "chroot", x86_64: 161, aarch64: 51, why: "changes the root directory; a known way out of jails" },
      {
        name: "open_by_handle_at",
        x86_64: 304,
        aarch64: 265,
        why: "opens files by handle, past the directories that hide them",
      },
      { name: "name_to_handle_at", x86_64: 303, aarch64: 264, why: "makes the handles open_by_handle_at takes" },
      // Namespaces: a new user namespace hands back every capability inside it.
      { name: "unshare", x86_64: 272, aarch64: 97, why: "new namespaces (a user namespace regains capabilities)" },
      { name: "setns", x86_64: 308, aarch64: 268, why: "joins another process's namespaces" },
      // Large kernel attack surface no function needs.
      { name: "bpf", x86_64: 321, aarch64: 280, why: "loads eBPF programs into the kernel" },
      { name: "perf_event_open", x86_64: 298, aarch64: 241, why: "performance counters leak host activity" },
      {
        name: "userfaultfd",
        x86_64: 323,
        aarch64: 282,
        why: "pauses the kernel on page faults, a staple of kernel exploits",
      },
      { name: "fanotify_init", x86_64: 300, aarch64: 262, why: "watches filesystem events host-wide" },
      {
        name: "lookup_dcookie",
        x86_64: 212,
        aarch64: 18,
        why: "profiling helper that resolves kernel directory entries",
      },
      // Kernel and machine administration.
      { name: "kexec_load", x86_64: 246, aarch64: 104, why: "loads a new kernel" },
      { name: "kexec_file_load", x86_64: 320, aarch64: 294, why: "loads a new kernel" },
      { name: "init_module", x86_64: 175, aarch64: 105, why: "loads kernel modules" },
      { name: "finit_module", x86_64: 313, aarch64: 273, why: "loads kernel modules" },
      { name: "delete_module", x86_64: 176, aarch64: 106, why: "unloads kernel modules" },
      { name: "reboot", x86_64: 169, aarch64: 142, why: "reboots or halts the machine" },
      { name: "swapon", x86_64: 167, aarch64: 224, why: "changes the host's swap" },
      { name: "swapoff", x86_64: 168, aarch64: 225, why: "changes the host's swap" },
      { name: "acct", x86_64: 163, aarch64: 89, why: "turns process accounting on or off host-wide" },
      { name: "quotactl", x86_64: 179, aarch64: 60, why: "changes disk quotas" },
      { name: "quotactl_fd", x86_64: 443, aarch64: 443, why: "changes disk quotas (file descriptor form)" },
      { name: "syslog", x86_64: 103, aarch64: 116, why: "reads or clears the kernel log" },
      { name: "vhangup", x86_64: 153, aarch64: 58, why: "hangs up the controlling terminal" },
      { name: "nfsservctl", x86_64: 180, aarch64: 42, why: "obsolete NFS server control" },
      // Direct hardware access (x86 only).
      { name: "iopl", x86_64: 172, why: "raises the I/O privilege level: direct port access" },
      { name: "ioperm", x86_64: 173, why: "grants direct access to I/O ports" },
      // The host's clock is shared by every process on it.
      { name: "settimeofday", x86_64: 164, aarch64: 170, why: "sets the host's clock" },
      { name: "clock_settime", x86_64: 227, aarch64: 112, why: "sets the host's clock" },
      { name: "clock_adjtime", x86_64: 305, aarch64: 266, why: "adjusts the host's clock" },
      { name: "adjtimex", x86_64: 159, aarch64: 171, why: "adjusts the host's clock" },
      // Obsolete calls with no modern user (x86 only); denying them costs nothing.
      { name: "uselib", x86_64: 134, why: "obsolete a.out shared library loader" },
      { name: "ustat", x86_64: 136, why: "obsolete filesystem statistics call" },
      { name: "sysfs", x86_64: 139, why: "obsolete filesystem type query" },
      { name: "_sysctl", x86_64: 156, why: "obsolete binary sysctl interface" },
      // personality stays allowed: Python and Node.js may call it.
    ] satisfies DeniedSyscall[]
  ).map((s) => Object.freeze(s)),
);

/** clone3 fails with ENOSYS, so libc falls back to clone, whose flags a filter can read. */
export const CLONE3 = Object.freeze({ name: "clone3", x86_64: 435, aarch64: 435 });
/** clone fails with EPERM when its flags (first argument on both arches) ask for a user namespace. */
export const CLONE = Object.freeze({ name: "clone", x86_64: 56, aarch64: 220 });
export const CLONE_NEWUSER = 0x10000000;

export const EPERM = 1;
export const ENOSYS = 38;

// linux/seccomp.h: return actions.
export const SECCOMP_RET_KILL_PROCESS = 0x80000000;
export const SECCOMP_RET_ERRNO = 0x00050000;
export const SECCOMP_RET_ALLOW = 0x7fff0000;

// linux/audit.h: EM_* | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE.
export const AUDIT_ARCH_X86_64 = 0xc000003e;
export const AUDIT_ARCH_AARCH64 = 0xc00000b7;
/** x86_64 numbers with this bit set are x32 ABI calls. */
export const X32_SYSCALL_BIT = 0x40000000;

// linux/bpf_common.h: the instruction codes this module emits.
export const BPF_LD_W_ABS = 0x20; // BPF_LD | BPF_W | BPF_ABS
export const BPF_JEQ_K = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
export const BPF_JGE_K = 0x35; // BPF_JMP | BPF_JGE | BPF_K
export const BPF_JSET_K = 0x45; // BPF_JMP | BPF_JSET | BPF_K
export const BPF_RET_K = 0x06; // BPF_RET | BPF_K

// struct seccomp_data { int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]; }
export const SECCOMP_DATA_NR = 0;
export const SECCOMP_DATA_ARCH = 4;
/** Low 32 bits of args[0] (both supported arches are little-endian). */
export const SECCOMP_DATA_ARG0_LO = 16;

/** Size of one `struct sock_filter`. */
export const SOCK_FILTER_SIZE = 8;

export interface SockFilter {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

type SeccompArch = "x86_64" | "aarch64";

const ARCHES: Record<string, SeccompArch> = {
  x64: "x86_64",
  x86_64: "x86_64",
  arm64: "aarch64",
  aarch64: "aarch64",
};

const AUDIT_ARCH: Record<SeccompArch, number> = { x86_64: AUDIT_ARCH_X86_64, aarch64: AUDIT_ARCH_AARCH64 };

function seccompArch(arch: string): SeccompArch {
  const found = Object.hasOwn(ARCHES, arch) ? ARCHES[arch] : undefined;
  if (!found) {
    throw new Error(
      `seccomp: no filter for architecture "${arch}"; supported: x64 (x86_64) and arm64 (aarch64). Run functions on a supported host or without the seccomp filter.`,
    );
  }
  return found;
}

const stmt = (code: number, k: number): SockFilter => ({ code, jt: 0, jf: 0, k });
const jump = (code: number, k: number, jt: number, jf: number): SockFilter => ({ code, jt, jf, k });
const ret = (k: number): SockFilter => stmt(BPF_RET_K, k);

/**
 * The filter as instructions. Every test is a compare and a return right after it, so jumps
 * are at most a few instructions long whatever the list's length (jt/jf are u8).
 */
export function seccompInstructions(arch: string = process.arch): SockFilter[] {
  const target = seccompArch(arch);
  const prog: SockFilter[] = [
    // Numbers mean something else under another ABI (i386 via int 0x80, arm32 compat): refuse.
    stmt(BPF_LD_W_ABS, SECCOMP_DATA_ARCH),
    jump(BPF_JEQ_K, AUDIT_ARCH[target], 1, 0),
    ret(SECCOMP_RET_KILL_PROCESS),
    stmt(BPF_LD_W_ABS, SECCOMP_DATA_NR),
  ];
  if (target === "x86_64") {
    // x32 calls share AUDIT_ARCH_X86_64 but carry this bit; their numbers would dodge the list.
    prog.push(jump(BPF_JGE_K, X32_SYSCALL_BIT, 0, 1), ret(SECCOMP_RET_ERRNO | EPERM));
  }
  for (const call of DENIED_SYSCALLS) {
    const nr = call[target];
    if (nr === undefined) continue;
    prog.push(jump(BPF_JEQ_K, nr, 0, 1), ret(SECCOMP_RET_ERRNO | EPERM));
  }
  prog.push(jump(BPF_JEQ_K, CLONE3[target], 0, 1), ret(SECCOMP_RET_ERRNO | ENOSYS));
  prog.push(
    jump(BPF_JEQ_K, CLONE[target], 0, 3), // not clone: to the final ALLOW
    stmt(BPF_LD_W_ABS, SECCOMP_DATA_ARG0_LO),
    jump(BPF_JSET_K, CLONE_NEWUSER, 0, 1),
    ret(SECCOMP_RET_ERRNO | EPERM),
    ret(SECCOMP_RET_ALLOW),
  );
  return prog;
}

/**
 * The filter as bubblewrap's `--seccomp FD` reads it: `struct sock_filter` records
 * (u16 code, u8 jt, u8 jf, u32 k), little-endian, 8 bytes each. Throws for an arch
 * it has no numbers for.
 */
export function seccompBpf(arch: string = process.arch): Buffer {
  const prog = seccompInstructions(arch);
  const out = Buffer.alloc(prog.length * SOCK_FILTER_SIZE);
  prog.forEach((ins, i) => {
    if (ins.jt > 0xff || ins.jf > 0xff) throw new Error(`seccomp: jump out of range at instruction ${i}`);
    const at = i * SOCK_FILTER_SIZE;
    out.writeUInt16LE(ins.code, at);
    out.writeUInt8(ins.jt, at + 2);
    out.writeUInt8(ins.jf, at + 3);
    out.writeUInt32LE(ins.k >>> 0, at + 4);
  });
  return out;
}

/**
 * The same rules as a Docker seccomp profile (JSON for HostConfig.SecurityOpt
 * `seccomp=<json>`): allow by default, EPERM for the list, ENOSYS for clone3, EPERM for
 * clone asking for a user namespace. Names the kernel lacks on an arch are skipped by runc.
 */
export function dockerSeccompProfile(): string {
  const profile = {
    defaultAction: "SCMP_ACT_ALLOW",
    archMap: [
      { architecture: "SCMP_ARCH_X86_64", subArchitectures: ["SCMP_ARCH_X86", "SCMP_ARCH_X32"] },
      { architecture: "SCMP_ARCH_AARCH64", subArchitectures: ["SCMP_ARCH_ARM"] },
    ],
    syscalls: [
      { names: DENIED_SYSCALLS.map((s) => s.name), action: "SCMP_ACT_ERRNO", errnoRet: EPERM },
      { names: [CLONE3.name], action: "SCMP_ACT_ERRNO", errnoRet: ENOSYS },
      {
        names: [CLONE.name],
        action: "SCMP_ACT_ERRNO",
        errnoRet: EPERM,
        args: [{ index: 0, value: CLONE_NEWUSER, valueTwo: CLONE_NEWUSER, op: "SCMP_CMP_MASKED_EQ" }],
      },
    ],
  };
  return JSON.stringify(profile);
}
