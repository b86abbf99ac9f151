// What the process runtime can take away from a function when the worker runs as root:
// its privileges (it runs as a throwaway uid of its own, no capabilities, no-new-privs:
// it can neither signal nor read other invocations) and, unless the function asks for it,
// the network (a new, empty network namespace). util-linux's unshare and setpriv do it with
// no daemon and ~5 ms per invocation.
import { randomInt } from "node:crypto";
import { access, constants, stat } from "node:fs/promises";
import { dirname, resolve } from "node:path";

const UNSHARE = "/usr/bin/unshare";
const SETPRIV = "/usr/bin/setpriv";
/**
 * Invocations run as uids from this range, unused by Debian (whose dynamic ranges end below
 * 65535): no account, no files, no other process shares it. The group is nogroup.
 */
export const FUNCTION_UID_BASE = 200_000;
export const FUNCTION_UID_COUNT = 100_000;
export const FUNCTION_GID = 65534;

export interface FunctionIdentity {
  uid: number;
  gid: number;
}

export interface ProcessSandbox {
  /** A fresh identity for one invocation. */
  identity(): FunctionIdentity;
  /** The command, run as `who` and, without network, in its own network namespace. */
  wrap(command: string[], who: FunctionIdentity, network: boolean): string[];
}

export type SandboxDetection = { sandbox: ProcessSandbox; reason?: undefined } | { sandbox: null; reason: string };

const executable = (path: string) =>
  access(path, constants.X_OK).then(
    () => true,
    () => false,
  );

/**
 * Every ancestor of the work directory must let the function user through (o+x), or its
 * own code and Go binaries would be out of its reach; returns the first that does not.
 */
async function blockingAncestor(workDir: string): Promise<string | null> {
  for (let dir = resolve(workDir); ; dir = dirname(dir)) {
    const s = await stat(dir).catch(() => null);
    if (s && (s.mode & 0o001) === 0) return dir;
    if (dirname(dir) === dir) return null;
  }
}

export async function detectSandbox(workDir: string): Promise<SandboxDetection> {
  if (process.getuid?.() !== 0) return { sandbox: null, reason: "the worker does not run as root" };
  if (!(await executable(UNSHARE)) || !(await executable(SETPRIV))) {
    return { sandbox: null, reason: `${UNSHARE} or ${SETPRIV} missing (Debian package util-linux)` };
  }
  const blocked = await blockingAncestor(workDir);
  if (blocked) {
    throw new Error(
      `WORKER_WORK_DIR ${resolve(workDir)} is not reachable by function users (uids from ${FUNCTION_UID_BASE}): ${blocked} lacks o+x; run chmod o+x ${blocked}`,
    );
  }
  const drop = (who: FunctionIdentity) => [
    SETPRIV,
    `--reuid=${who.uid}`,
    `--regid=${who.gid}`,
    "--clear-groups",
    "--no-new-privs",
    "--inh-caps=-all",
    "--bounding-set=-all",
    "--",
  ];
  let next = randomInt(FUNCTION_UID_COUNT);
  return {
    sandbox: {
      identity: () => {
        next = (next + 1) % FUNCTION_UID_COUNT;
        return { uid: FUNCTION_UID_BASE + next, gid: FUNCTION_GID };
      },
      wrap: (command, who, network) =>
        network ? [...drop(who), ...command] : [UNSHARE, "--net", "--", ...drop(who), ...command],
    },
  };
}
