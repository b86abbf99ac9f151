// The `faas` command tree. Every command is registered on the program with .command(), so
// each inherits the program's output and error settings.
import { readFileSync } from "node:fs";
import { Command } from "commander";
import { registerCompletion } from "./commands/completion.js";
import { registerDeploy } from "./commands/deploy.js";
import { registerFunctionCommands } from "./commands/functions.js";
import { registerHealth } from "./commands/health.js";
import { registerInvocationCommands } from "./commands/invocations.js";
import { registerInvoke } from "./commands/invoke.js";
import type { CliContext } from "./context.js";

const EXIT_CODES_HELP = `
Environment:
  FAAS_URL      the platform (default http://localhost:8080)
  FAAS_API_KEY  sent as "Authorization: Bearer <key>"

Exit codes:
  0  ok (invoke: the invocation completed)    4  the invocation timed out
  1  other error (conflict, rate limit, …)    5  function or invocation not found
  2  bad input (usage, file, JSON, 400)       6  platform unreachable, 5xx, or degraded
  3  the invocation failed                    7  API key missing, invalid or not allowed
  130  interrupted while waiting (Ctrl-C)`;

/** The platform's version (package.json sits two levels up from both src/cli and dist/cli). */
function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
      version?: string;
    };
    return pkg.version ?? "unknown";
  } catch {
    return "unknown";
  }
}

export function buildProgram(ctx: CliContext): Command {
  const program = new Command("faas")
    .description("Deploy, invoke and follow functions on the FaaS platform, over its public API.")
    .version(version(), "-V, --version")
    // Program options only before the command: `faas deploy x.py --version 2.0.0` is the function's version.
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({
      writeOut: (text) => ctx.io.stdout.write(text),
      writeErr: (text) => ctx.io.stderr.write(text),
    })
    .showHelpAfterError("(add --help for usage)")
    .addHelpText("after", EXIT_CODES_HELP);
  registerDeploy(program, ctx);
  registerInvoke(program, ctx);
  registerFunctionCommands(program, ctx);
  registerInvocationCommands(program, ctx);
  registerHealth(program, ctx);
  registerCompletion(program, ctx);
  return program;
}
