// What the process runtime can take away from a function when the worker runs as root:
// its privileges (it runs as nobody, no capabilities, no-new-privs) and, unless the
// function asks for it, the network (a new, empty network namespace). util-linux's
// unshare and setpriv do it with no daemon and ~5 ms per invocation.
import { access, constants, stat } from "node:fs/promises";
import { dirname, resolve } from "node:path";

const UNSHARE = "/usr/bin/unshare";
const SETPRIV = "/usr/bin/setpriv";
/** nobody:nogroup on Debian. */
export const FUNCTION_UID = 65534;
export const FUNCTION_GID = 65534;

export interface ProcessSandbox {
  uid: number;
  gid: number;
  /** The command, run as the function user and, without network, in its own network namespace. */
  wrap(command: string[], network: boolean): string[];
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
      `WORKER_WORK_DIR ${resolve(workDir)} is not reachable by the function user (uid ${FUNCTION_UID}): ${blocked} lacks o+x; run chmod o+x ${blocked}`,
    );
  }
  const drop = [
    SETPRIV,
    `--reuid=${FUNCTION_UID}`,
    `--regid=${FUNCTION_GID}`,
    "--clear-groups",
    "--no-new-privs",
    "--inh-caps=-all",
    "--bounding-set=-all",
    "--",
  ];
  return {
    sandbox: {
      uid: FUNCTION_UID,
      gid: FUNCTION_GID,
      wrap: (command, network) => (network ? [...drop, ...command] : [UNSHARE, "--net", "--", ...drop, ...command]),
    },
  };
}
