// The seccomp deny list against the real kernel: the BPF program under bubblewrap
// (`--seccomp 9`) and the Docker profile under the real engine. Each refusal is shown next
// to the same command succeeding without the filter, so a refusal is the filter's doing.
// Needs root, bwrap, python3, node and Docker (the runtime images are built when missing).
import { spawn } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runtimeImageName } from "../../src/worker/runtimes/container-images.js";
import { createDockerClient, pingEngine, removeContainersByLabels } from "../../src/worker/runtimes/docker-client.js";
import { dockerSeccompProfile, seccompBpf } from "../../src/worker/runtimes/seccomp.js";
import { ROOT } from "../support/platform.js";
import { ensureRuntimeImages } from "../support/runtime-images.js";

const PREFIX = process.env.RUNTIME_IMAGE_PREFIX || "faas-runtime";
/** The runtime images' base (runtimes/base/VERSION): a shell and coreutils, nothing else. */
const IMAGE = `${PREFIX}-base:${readFileSync(join(ROOT, "runtimes/base/VERSION"), "utf8").trim()}`;
/** The base image has no python3; the Python runtime image has, for the raw-syscall probe. */
const PYTHON_IMAGE = runtimeImageName(PREFIX, "python");
const TEST_LABEL = { "faas.test": "seccomp" };
/** The fd bubblewrap reads the program from. */
const FILTER_FD = 9;

interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end; `extraFd` becomes fd 9 of the child. */
function exec(command: string, args: string[], extraFd?: number): Promise<Ran> {
  const stdio: ("ignore" | "pipe" | number)[] = ["ignore", "pipe", "pipe"];
  if (extraFd !== undefined) {
    while (stdio.length < FILTER_FD) stdio.push("ignore");
    stdio[FILTER_FD] = extraFd;
  }
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d: Buffer) => {
      stdout += d.toString("utf8");
    });
    child.stderr!.on("data", (d: Buffer) => {
      stderr += d.toString("utf8");
    });
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

let dir: string;
let bpfPath: string;
let profilePath: string;

/** `cmd` in a bubblewrap sandbox, with or without the deny-list filter. */
async function sandboxed(cmd: string[], filtered: boolean): Promise<Ran> {
  const base = ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-user", "--unshare-pid"];
  if (!filtered) return exec("bwrap", [...base, "--", ...cmd]);
  const fd = openSync(bpfPath, "r");
  try {
    return await exec("bwrap", [...base, "--seccomp", String(FILTER_FD), "--", ...cmd], fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Makes raw system calls through ctypes and prints the errno of each as JSON (0: it worked).
 * None changes anything outside the sandbox: the keyctl only reads the session key ring's
 * id, the ptrace peeks into a process it does not trace, clone3 gets no arguments and the
 * clone child exits at once.
 */
const PROBE = `
import ctypes, json, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def call(nr, *args):
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_ulong(a) for a in args])
    return r, ctypes.get_errno()
out = {}
out["keyctl"] = call(250, 0, 0xfffffffd, 0)[1]           # KEYCTL_GET_KEYRING_ID, session ring, no create
out["ptrace"] = call(101, 2, os.getppid(), 0, 0)[1]       # PTRACE_PEEKDATA
out["clone3"] = call(435, 0, 0)[1]
out["x32_getpid"] = call(0x40000000 | 39)[1]
r, e = call(56, 0x10000000 | 17, 0, 0, 0, 0)             # clone(CLONE_NEWUSER | SIGCHLD)
if r == 0:
    os._exit(0)
if r > 0:
    os.waitpid(r, 0)
out["clone_newuser"] = e
out["getpid"] = call(39)[1]
print(json.dumps(out))
`;

beforeAll(async () => {
  if (process.arch !== "x64") throw new Error(`this file's probes use x86_64 syscall numbers; host is ${process.arch}`);
  const bwrap = await exec("bwrap", ["--version"]).catch((err: Error) => ({ code: -1, stderr: err.message }));
  if (bwrap.code !== 0) throw new Error(`bubblewrap is needed (apt-get install bubblewrap): ${bwrap.stderr}`);
  dir = await mkdtemp(join(tmpdir(), "faas-seccomp-"));
  bpfPath = join(dir, "filter.bpf");
  profilePath = join(dir, "profile.json");
  await writeFile(bpfPath, seccompBpf());
  await writeFile(profilePath, dockerSeccompProfile());
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("seccompBpf under bubblewrap", () => {
  it("refuses unshare -U with EPERM, which works without the filter", async () => {
    const free = await sandboxed(["unshare", "-U", "true"], false);
    expect(free, free.stderr).toMatchObject({ code: 0 });
    const denied = await sandboxed(["unshare", "-U", "true"], true);
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toMatch(/Operation not permitted/);
  });

  it("answers keyctl, ptrace, clone(CLONE_NEWUSER) and x32 calls with EPERM and clone3 with ENOSYS", async () => {
    const free = await sandboxed(["python3", "-c", PROBE], false);
    expect(free.code, free.stderr).toBe(0);
    const before = JSON.parse(free.stdout);
    // Without the filter the same calls get through to the kernel.
    expect(before).toMatchObject({ keyctl: 0, ptrace: 3, clone3: 22, clone_newuser: 0, getpid: 0 }); // ESRCH, EINVAL
    expect(before.x32_getpid).not.toBe(1);

    const filtered = await sandboxed(["python3", "-c", PROBE], true);
    expect(filtered.code, filtered.stderr).toBe(0);
    expect(JSON.parse(filtered.stdout)).toEqual({
      keyctl: 1,
      ptrace: 1,
      clone3: 38,
      x32_getpid: 1,
      clone_newuser: 1,
      getpid: 0,
    });
  });

  it("leaves ordinary programs working: python3 (with a thread), node, a shell pipeline", async () => {
    const python = await sandboxed(
      [
        "python3",
        "-c",
        "import threading; t = threading.Thread(target=print, args=(2,)); t.start(); t.join(); print(1)",
      ],
      true,
    );
    expect(python, python.stderr).toMatchObject({ code: 0, stdout: "2\n1\n" });
    // The callback runs after a libuv thread-pool read: threads work.
    const node = await sandboxed(
      ["node", "-e", "require('fs').readFile('/proc/self/status', (err) => console.log(err ? 'err' : 1))"],
      true,
    );
    expect(node, node.stderr).toMatchObject({ code: 0, stdout: "1\n" });
    const shell = await sandboxed(["/bin/sh", "-c", "echo hi | cat"], true);
    expect(shell, shell.stderr).toMatchObject({ code: 0, stdout: "hi\n" });
  });
});

describe("dockerSeccompProfile under Docker", () => {
  const docker = createDockerClient();
  // unshare -U: a user namespace; chroot: a call Docker's own default profile allows, so a
  // refusal shows this profile, not the default, is in force.
  const SCRIPT = 'unshare -U true; echo "unshare=$?"; chroot / true; echo "chroot=$?"; echo ok';

  beforeAll(async () => {
    await pingEngine(docker);
    await ensureRuntimeImages();
    for (const name of [IMAGE, PYTHON_IMAGE]) {
      const image = await docker
        .getImage(name)
        .inspect()
        .catch(() => null);
      if (!image) throw new Error(`image ${name} missing: run scripts/build-runtime-images.sh`);
    }
  }, 900_000);

  afterAll(async () => {
    // --rm removes them; this is for a run cut short.
    await removeContainersByLabels(docker, TEST_LABEL);
  });

  const run = (seccomp: string, command = ["sh", "-c", SCRIPT], image = IMAGE) =>
    exec("docker", [
      "run",
      "--rm",
      "--network",
      "none",
      "--label",
      `faas.test=${TEST_LABEL["faas.test"]}`,
      "--security-opt",
      `seccomp=${seccomp}`,
      image,
      ...command,
    ]);

  it("refuses unshare -U (and chroot) in the container while echo works", async () => {
    const free = await run("unconfined");
    expect(free, free.stderr).toMatchObject({ code: 0, stdout: "unshare=0\nchroot=0\nok\n" });

    const denied = await run(profilePath);
    expect(denied.code, denied.stderr).toBe(0);
    expect(denied.stdout).toMatch(/^unshare=[1-9]\d*\nchroot=[1-9]\d*\nok\n$/);
    expect(denied.stderr).toMatch(/unshare failed: Operation not permitted/);
    expect(denied.stderr).toMatch(/chroot: cannot change root directory to '\/': Operation not permitted/);
  });

  it("answers keyctl, ptrace and clone(CLONE_NEWUSER) with EPERM and clone3 with ENOSYS in the container", async () => {
    const free = await run("unconfined", ["python3", "-c", PROBE], PYTHON_IMAGE);
    expect(free.code, free.stderr).toBe(0);
    expect(JSON.parse(free.stdout)).toMatchObject({ keyctl: 0, ptrace: 3, clone3: 22, clone_newuser: 0, getpid: 0 });

    const denied = await run(profilePath, ["python3", "-c", PROBE], PYTHON_IMAGE);
    expect(denied.code, denied.stderr).toBe(0);
    // x32 calls are refused by name only here (the profile lists the x32 sub-arch), so x32
    // getpid is left to the kernel.
    expect(JSON.parse(denied.stdout)).toMatchObject({ keyctl: 1, ptrace: 1, clone3: 38, clone_newuser: 1, getpid: 0 });
  });
});
