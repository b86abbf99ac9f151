// The process runtime's sandbox, when the worker runs as root. Each invocation:
//  - runs as a throwaway uid of its own (setpriv: no capabilities, no-new-privs), so it can
//    neither signal nor read other invocations;
//  - inside bubblewrap (bwrap.ts): own user, mount, PID, IPC, UTS and cgroup namespaces, the
//    system directories read-only, nothing of WORKER_WORK_DIR or STORAGE_BASE_DIR but its own
//    scratch space (scratch-space.ts), a seccomp filter (seccomp.ts);
//  - in an empty network namespace, or, with `network: true`, in one that pasta (Debian's
//    passt) connects to the outside through sockets it opens as the function's uid, which
//    the host firewall (function-firewall.ts) keeps away from the host and private ranges.
import { execFile } from "node:child_process";
import { access, constants, lstat, readlink, stat } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import type { Logger } from "../../lib/logger.js";
import { BWRAP, type BwrapBind, bwrapArgs, USR_MERGE_LINKS } from "./bwrap.js";
import { GO_BUILDER_UID } from "./go-build-cache.js";
import { HOST_UID_BLOCKS_DIR, takeUids } from "./uid-blocks.js";
import { assertUidsUnclaimed, HOST_UID_FILES, type UidFiles } from "./uid-claims.js";
import { type UidRange, uidCycle } from "./uid-cycle.js";

const SETPRIV = "/usr/bin/setpriv";
export const PASTA = "/usr/bin/pasta";
const TUN = "/dev/net/tun";
/**
 * Invocations run as uids from this range, unused by Debian (whose dynamic ranges end below
 * 65535): no account, no files, no other process shares it. The group is nogroup.
 */
export const FUNCTION_UID_BASE = 200_000;
export const FUNCTION_UID_COUNT = 100_000;
const FUNCTION_UIDS: UidRange = { base: FUNCTION_UID_BASE, count: FUNCTION_UID_COUNT };
export const FUNCTION_GID = 65534;
/** The firewall's owner match for every function uid. */
export const FUNCTION_UID_RANGE = `${FUNCTION_UID_BASE}-${FUNCTION_UID_BASE + FUNCTION_UID_COUNT - 1}`;

export interface FunctionIdentity {
  uid: number;
  gid: number;
}

export interface SandboxPlan {
  who: FunctionIdentity;
  /** Its scratch space and anything else it may see of the host. */
  binds: BwrapBind[];
  cwd: string;
  network: boolean;
  /** Extra read-only host paths (a toolchain outside /usr). */
  readOnly?: string[];
  /** Inherited descriptor holding the seccomp program. */
  seccompFd?: number;
  /** An execution environment's sandbox, the agent its command (see BwrapSpec.environment). */
  environment?: boolean;
}

export interface ProcessSandbox {
  /** A fresh identity for one invocation. */
  identity(): FunctionIdentity;
  /** The command wrapped in the sandbox. */
  wrap(command: string[], plan: SandboxPlan): string[];
  /** Gives the block of uids identity() hands out back (at the runtime's stop); idempotent. */
  release(): Promise<void>;
}

export type SandboxDetection = { sandbox: ProcessSandbox; reason?: undefined } | { sandbox: null; reason: string };

/**
 * Where a host gives out uids, and where its workers claim theirs (tests put both elsewhere);
 * `logger` hears when no block of uids could be claimed.
 */
export interface UidPlaces {
  uidFiles?: UidFiles;
  uidBlocksDir?: string;
  logger?: Logger;
}

const executable = (path: string) =>
  access(path, constants.X_OK).then(
    () => true,
    () => false,
  );

/**
 * Every ancestor of the work directory must let the function user through (o+x), or bwrap
 * (which runs as that user) could not bind its scratch space; returns the first that does not.
 */
async function blockingAncestor(workDir: string): Promise<string | null> {
  for (let dir = resolve(workDir); ; dir = dirname(dir)) {
    const s = await stat(dir).catch(() => null);
    if (s && (s.mode & 0o001) === 0) return dir;
    if (dirname(dir) === dir) return null;
  }
}

/** Root symlinks of a merged-/usr system, as they are on this host. */
async function usrMergeLinks(): Promise<Record<string, string>> {
  const links: Record<string, string> = {};
  for (const [link, fallback] of Object.entries(USR_MERGE_LINKS)) {
    const s = await lstat(link).catch(() => null);
    if (s?.isSymbolicLink()) links[link] = await readlink(link).catch(() => fallback);
  }
  return links;
}

/** Why networked functions cannot run in this sandbox, or null when they can. */
export async function networkProblem(sandbox: ProcessSandbox): Promise<string | null> {
  if (!(await executable(PASTA))) return `${PASTA} missing (Debian package passt)`;
  const tun = await stat(TUN).catch(() => null);
  // pasta runs as the function's uid: it must be able to open the tun device (udev makes it 0666 on Debian).
  if (!tun || (tun.mode & 0o006) !== 0o006) return `${TUN} is not usable by function users: run chmod 0666 ${TUN}`;
  const failure = await probe(sandbox, true);
  return failure ? `pasta cannot connect a sandbox: ${failure}` : null;
}

export async function detectSandbox(
  workDir: string,
  { uidFiles = HOST_UID_FILES, uidBlocksDir = HOST_UID_BLOCKS_DIR, logger }: UidPlaces = {},
): Promise<SandboxDetection> {
  if (process.getuid?.() !== 0) return { sandbox: null, reason: "the worker does not run as root" };
  for (const [path, pkg] of [
    [SETPRIV, "util-linux"],
    [BWRAP, "bubblewrap"],
  ]) {
    if (!(await executable(path as string)))
      return { sandbox: null, reason: `${path} missing (Debian package ${pkg})` };
  }
  const blocked = await blockingAncestor(workDir);
  if (blocked) {
    throw new Error(
      `WORKER_WORK_DIR ${resolve(workDir)} is not reachable by function users (uids from ${FUNCTION_UID_BASE}): ${blocked} lacks o+x; run chmod o+x ${blocked}`,
    );
  }
  await assertUidsUnclaimed(
    [
      { range: FUNCTION_UIDS, what: "the process runtime's function uids" },
      { range: { base: GO_BUILDER_UID, count: 1 }, what: "the uid of Go builds" },
    ],
    uidFiles,
  );
  const symlinks = await usrMergeLinks();
  const drop = (who: FunctionIdentity, network: boolean) => [
    SETPRIV,
    `--reuid=${who.uid}`,
    `--regid=${who.gid}`,
    "--clear-groups",
    "--no-new-privs",
    "--inh-caps=-all",
    // A worker that dies takes its functions with it: pasta and bwrap get SIGKILL (bwrap's
    // --die-with-parent then ends the sandbox), instead of running on to the backstop.
    "--pdeathsig=SIGKILL",
    // pasta needs a full bounding set to keep CAP_SYS_ADMIN in the user namespace it makes
    // (for bwrap's mounts); bwrap drops every capability before the function starts.
    ...(network ? [] : ["--bounding-set=-all"]),
    "--",
  ];
  const uids = await takeUids(FUNCTION_UIDS, uidBlocksDir, logger);
  const nextUid = uidCycle(uids.range);
  const sandbox: ProcessSandbox = {
    release: uids.release,
    identity: () => ({ uid: nextUid(), gid: FUNCTION_GID }),
    wrap: (command, plan) => {
      const bwrap = bwrapArgs({
        ...plan.who,
        binds: plan.binds,
        cwd: plan.cwd,
        readOnly: plan.readOnly,
        symlinks,
        seccompFd: plan.seccompFd,
        environment: plan.environment,
        shareNetwork: plan.network,
        // In pasta's user namespace only root is mapped (to the function's uid on the host):
        // bwrap cannot map another uid there, so the function is root of that namespace,
        // without capabilities; the seccomp filter stops it making namespaces of its own.
        userNamespace: !plan.network,
      });
      if (!plan.network) return [...drop(plan.who, false), ...bwrap, ...command];
      const pasta = [
        PASTA,
        "--quiet",
        "--foreground",
        "--config-net",
        "--ipv4-only",
        // No way back to the host: neither through the gateway address nor forwarded ports.
        "--no-map-gw",
        ...["-t", "none", "-u", "none", "-T", "none", "-U", "none"],
        "--",
      ];
      return [...drop(plan.who, true), ...pasta, ...bwrap, ...command];
    },
  };
  // A kernel without unprivileged user namespaces (or a broken bwrap) fails every invocation:
  // say so at start instead.
  const failure = await probe(sandbox, false);
  if (failure) {
    await sandbox.release();
    throw new Error(
      `bubblewrap cannot make a sandbox on this machine (${failure}); allow user namespaces (sysctl user.max_user_namespaces > 0) or run the worker without root (unsandboxed)`,
    );
  }
  return { sandbox };
}

/** Runs `true` in a sandbox; returns why it failed, or null. */
export function probe(sandbox: ProcessSandbox, network: boolean): Promise<string | null> {
  const command = sandbox.wrap(["/bin/true"], {
    who: sandbox.identity(),
    binds: [],
    cwd: "/",
    network,
  });
  return new Promise((resolve) => {
    execFile(command[0] as string, command.slice(1), { timeout: 20_000, env: {} }, (err, _stdout, stderr) =>
      resolve(err ? ((stderr.trim() || err.message).split("\n")[0] ?? "failed") : null),
    );
  });
}
