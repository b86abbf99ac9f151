// What runs first in a function container: a POSIX sh launcher that reads everything the
// invocation brings from standard input — a header line, the environment as a script of
// `export` lines, then the code — and becomes the function. Nothing invocation-specific is
// in the container's configuration, so a container can be started before its invocation
// arrives (the warm pool) and is still used for exactly one invocation.
import type { FunctionLanguage, RunRequest } from "./runtime.js";
import { BACKSTOP_GRACE_SECONDS, platformVariables } from "./runtime.js";

export const CODE_DIR = "/fn/code";
/** Exit status of the launcher when its input did not arrive complete (never the function's fault). */
export const DELIVERY_FAILED_EXIT = 125;
export const DELIVERY_FAILED_MARK = "faas-launch: code delivery incomplete";

const ENTRY: Record<FunctionLanguage, { file: string; command: string }> = {
  python: { file: "main.py", command: `python3 ${CODE_DIR}/main.py` },
  nodejs: { file: "main.js", command: `node ${CODE_DIR}/main.js` },
  go: { file: "main", command: `${CODE_DIR}/main` },
};

/** Reads exactly "$2" bytes of stdin into file "$1", or stops the launch. */
const RECEIVE = `receive() { head -c "$2" > "$1" && [ "$(wc -c < "$1")" -eq "$2" ] || { echo "${DELIVERY_FAILED_MARK}" >&2; exit ${DELIVERY_FAILED_EXIT}; }; }`;

/** The launcher command of a runtime's containers. */
export function launcherCommand(runtime: FunctionLanguage): string[] {
  const entry = ENTRY[runtime];
  const script = [
    RECEIVE,
    // The engine adds HOSTNAME and the shell PWD: the function sees only what it is given.
    "unset HOSTNAME PWD OLDPWD;",
    `read -r envlen codelen limit || { echo "${DELIVERY_FAILED_MARK}" >&2; exit ${DELIVERY_FAILED_EXIT}; };`,
    `receive ${CODE_DIR}/.env "$envlen"; . ${CODE_DIR}/.env; rm -f ${CODE_DIR}/.env;`,
    `receive ${CODE_DIR}/${entry.file} "$codelen";`,
    runtime === "go" ? `chmod 500 ${CODE_DIR}/main;` : "",
    // Backstop: if the worker dies, nothing else would stop the function at its limit.
    `exec timeout -s KILL "$limit" ${entry.command} </dev/null`,
  ].join("\n");
  return ["/bin/sh", "-c", script, "faas-launch"];
}

const quote = (value: string) => `'${value.replaceAll("'", `'\\''`)}'`;

/** The launcher's input for one invocation (the environment was checked with environmentProblem). */
export function launchInput(request: RunRequest, code: Buffer): Buffer {
  const vars = { ...request.environment, ...platformVariables(request) };
  const env = Buffer.from(
    Object.entries(vars)
      .map(([name, value]) => `export ${name}=${quote(value)}\n`)
      .join(""),
  );
  const limit = `${Math.ceil(request.timeoutMs / 1000) + BACKSTOP_GRACE_SECONDS}s`;
  return Buffer.concat([Buffer.from(`${env.length} ${code.length} ${limit}\n`), env, code]);
}
