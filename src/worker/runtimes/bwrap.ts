// The command line of one bubblewrap sandbox. bwrap runs unprivileged (as the function's
// own uid, after setpriv dropped everything), so it can only take away, never grant: new
// user, mount, PID, IPC, UTS and cgroup namespaces, the host's system directories read-only,
// its own writable directories, a fresh /proc of its PID namespace only, a minimal /dev,
// no capabilities, no user namespaces inside, and a seccomp filter. Pure: easy to test.

export const BWRAP = "/usr/bin/bwrap";

/** Host paths a function needs to run an interpreter or a binary; missing ones are skipped. */
export const SYSTEM_PATHS = [
  "/usr",
  "/etc/alternatives",
  "/etc/ssl",
  "/etc/ca-certificates",
  "/etc/ld.so.cache",
  "/etc/localtime",
  "/etc/nsswitch.conf",
  "/etc/hosts",
  "/etc/resolv.conf",
  "/etc/mime.types",
];

/** The root's symlinks of a merged-/usr system (Debian 12): recreated, not bound. */
export const USR_MERGE_LINKS: Record<string, string> = {
  "/bin": "usr/bin",
  "/sbin": "usr/sbin",
  "/lib": "usr/lib",
  "/lib64": "usr/lib64",
};

export interface BwrapBind {
  source: string;
  target: string;
  writable: boolean;
}

export interface BwrapSpec {
  /** The uid and gid the function sees itself as (and is, on the host). */
  uid: number;
  gid: number;
  /** Extra read-only host paths beyond SYSTEM_PATHS (a toolchain outside /usr). */
  readOnly?: string[];
  /** Root symlinks to recreate (those of USR_MERGE_LINKS that are symlinks on this host). */
  symlinks?: Record<string, string>;
  binds: BwrapBind[];
  /** Working directory inside the sandbox. */
  cwd: string;
  /** Keep the caller's network namespace (pasta's, for a networked function) instead of a new, empty one. */
  shareNetwork: boolean;
  /** File descriptor (inherited by bwrap) to read a seccomp BPF program from. */
  seccompFd?: number;
  /**
   * A user namespace of its own, where the function is `uid`/`gid` and cannot make further
   * namespaces. False inside a namespace that is already the function's (pasta's), where
   * bwrap cannot map other ids: the function keeps that namespace's root id, without
   * capabilities. Default true.
   */
  userNamespace?: boolean;
  /**
   * An execution environment's sandbox (process-environment.ts): the command (the agent) is
   * the PID namespace's init (it reaps and kills everything but itself between
   * invocations), POSIX message queues are mounted so it can empty them, /var/tmp is /tmp
   * (which it empties), and the root (where bwrap made /fn, /opt, /var) is read-only: a
   * function can write nowhere the agent does not clean.
   */
  environment?: boolean;
}

export function bwrapArgs(spec: BwrapSpec): string[] {
  const ownUserNamespace = spec.userNamespace ?? true;
  const args = [
    BWRAP,
    ...(ownUserNamespace
      ? [
          "--unshare-all",
          "--unshare-user",
          // The function cannot make namespaces of its own (no way to regain capabilities).
          "--disable-userns",
          "--uid",
          String(spec.uid),
          "--gid",
          String(spec.gid),
        ]
      : ["--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try"]),
    // --unshare-all takes the network too unless told to keep it; the explicit list keeps it unless told.
    ...(ownUserNamespace === spec.shareNetwork ? [ownUserNamespace ? "--share-net" : "--unshare-net"] : []),
    "--cap-drop",
    "ALL",
    // No terminal shared with the worker: no TIOCSTI keystroke injection.
    "--new-session",
    // If the worker's process tree dies, so does everything in the sandbox.
    "--die-with-parent",
    "--hostname",
    "faas",
  ];
  for (const path of SYSTEM_PATHS) args.push("--ro-bind-try", path, path);
  for (const [link, target] of Object.entries(spec.symlinks ?? {})) args.push("--symlink", target, link);
  args.push("--proc", "/proc", "--dev", "/dev");
  if (spec.environment) args.push("--as-pid-1", "--mqueue", "/dev/mqueue");
  for (const bind of spec.binds) args.push(bind.writable ? "--bind" : "--ro-bind", bind.source, bind.target);
  // After the binds: an extra path under /tmp must not be hidden by the private /tmp.
  for (const path of spec.readOnly ?? []) args.push("--ro-bind-try", path, path);
  // /memfd:main: what a Go function's os.Executable() names in an environment, whose agent
  // execs it from a sealed memfd called "main" (runtimes/agent/code.go); the runtime images
  // hold the same link.
  if (spec.environment)
    args.push("--symlink", "/tmp", "/var/tmp", "--symlink", "/fn/code/main", "/memfd:main", "--remount-ro", "/");
  if (spec.seccompFd !== undefined) args.push("--seccomp", String(spec.seccompFd));
  // bwrap exports PWD after --chdir (even over --unsetenv): env drops it, so the function
  // sees exactly the environment it was given.
  args.push("--chdir", spec.cwd, "--", "/usr/bin/env", "-u", "PWD", "--");
  return args;
}
