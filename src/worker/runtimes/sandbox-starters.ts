// What runs inside a prepared sandbox (prepared-sandbox.ts) before its invocation is known,
// and the go-ahead it waits for. Pure: the programs (sandbox-programs.ts) are text, handed to
// interpreters that every sandbox sees under /usr.
//
// The sandbox's first process is the supervisor (Perl: Debian's perl-base is Essential, so
// it is there whatever toolchains are installed). It stands where `timeout` stands in a
// sandbox made on the invocation's path, and does its job, but from the go-ahead on:
//  - "start" mode (Python, Node.js): it starts the language's starter at once, which loads
//    the interpreter and common modules, says so with one byte and blocks on a socket of
//    its own; the supervisor then says so to the worker;
//  - it reads the go-ahead to its end: "<backstop seconds>\n" and the environment,
//    "NAME=value\0" per variable (the layout of /proc/<pid>/environ, any bytes but NUL);
//  - it hands the environment to the starter, which runs the function ("start" mode), or
//    starts the binary with exactly that environment ("exec" mode, Go);
//  - then it waits for its child, kills the whole process group if the backstop time
//    passes (the worker normally kills it first, at the timeout), and exits with the
//    child's status, or 128 + N when a signal N killed it (what bwrap reports as well).
// No function code runs before the supervisor has read the whole go-ahead and closed the
// worker's socket: whatever a function does, the worker can tell a sandbox that died before
// its go-ahead (a platform problem) from a function's own ending. A starter that dies while
// waiting takes the supervisor with it, so the worker learns of it at once.
import { backstopSeconds } from "./process-tree.js";
import type { FunctionLanguage } from "./runtime.js";
import { CODE, NODE_STARTER, PYTHON_STARTER, SUPERVISOR_PROGRAM } from "./sandbox-programs.js";

export const SUPERVISOR = "/usr/bin/perl";
/** The descriptor the supervisor reads its go-ahead from (a socket: it also says when it waits). */
export const GO_AHEAD_FD = 5;

/**
 * /proc/<pid>/environ shows the block a process started with, not what it set later; tools
 * (and tests) find a function by its environment there, and a function may read it. Python's
 * starter points the kernel at the invocation's block (and at "python3 main.py" for
 * /proc/<pid>/cmdline) with prctl(PR_SET_MM_MAP), which needs no privilege. Node.js cannot
 * make that call: its starter starts with this much filler in its environment and copies
 * the invocation's block over it, NUL-padded. A larger environment runs in a sandbox made
 * for it. (Python falls back to the same where the kernel lacks PR_SET_MM_MAP.)
 */
export const ENVIRONMENT_ROOM_BYTES = 32 * 1024;

/** The command a prepared sandbox runs (inside bubblewrap) for `language`, whose toolchain is `tool`. */
export function preparedCommand(language: FunctionLanguage, tool: string): string[] {
  const supervisor = [SUPERVISOR, "-e", SUPERVISOR_PROGRAM];
  switch (language) {
    case "python":
      return [...supervisor, "start", String(ENVIRONMENT_ROOM_BYTES), tool, "-c", PYTHON_STARTER];
    case "nodejs":
      return [...supervisor, "start", String(ENVIRONMENT_ROOM_BYTES), tool, "-e", NODE_STARTER];
    case "go":
      return [...supervisor, "exec", CODE.go];
  }
}

/** The go-ahead for an invocation with `environment` (see environmentBlock) and `timeoutMs`. */
export function goAheadMessage(timeoutMs: number, environment: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${backstopSeconds(timeoutMs)}\n`), environment]);
}

/** An environment as a process sees it in /proc/<pid>/environ: "NAME=value\0" per variable, UTF-8. */
export function environmentBlock(environment: Record<string, string>): Buffer {
  return Buffer.from(
    Object.entries(environment)
      .map(([name, value]) => `${name}=${value}\0`)
      .join(""),
  );
}

/**
 * Variables an interpreter reads as it starts (and not again): a starter that started
 * without them would not behave as a fresh interpreter does with them. Python: PYTHON*, the
 * locale. Node.js: NODE_* (NODE_OPTIONS, NODE_PATH, ...; not NODE_ENV, which only modules
 * read, at any time), libuv's, OpenSSL's, the locale. TZ is not one: both apply it at once.
 *
 * The same as readAtStart in runtimes/agent/langs.go: the container agent makes the same
 * choice (a fresh interpreter instead of a child forked from its zygote); the unit test
 * read-at-start holds the agent to this side's answers.
 */
const READ_AT_START: Record<Exclude<FunctionLanguage, "go">, (name: string) => boolean> = {
  python: (name) => name.startsWith("PYTHON") || isLocale(name),
  nodejs: (name) =>
    (name.startsWith("NODE_") && name !== "NODE_ENV") ||
    name.startsWith("UV_") ||
    name.startsWith("OPENSSL_") ||
    name.startsWith("SSL_CERT_") ||
    isLocale(name),
};

function isLocale(name: string): boolean {
  return name === "LANG" || name === "LANGUAGE" || name.startsWith("LC_");
}

/**
 * Why an invocation with `environment` cannot run in a sandbox prepared with `prepared`
 * (the environment its starter started with), or null when it can.
 */
export function preparedMismatch(
  language: FunctionLanguage,
  environment: Record<string, string>,
  prepared: Record<string, string>,
  block: Buffer,
): string | null {
  if (language === "go") return null;
  if (language === "nodejs" && block.length > ENVIRONMENT_ROOM_BYTES) {
    return "its environment is larger than the starter's room";
  }
  const readAtStart = READ_AT_START[language];
  for (const [name, value] of Object.entries(environment)) {
    if (readAtStart(name) && prepared[name] !== value) return `${name} is read as the interpreter starts`;
  }
  return null;
}
