// Entry point of the `faas` command (bin/faas.mjs loads it): runs one command and exits
// with the code that says how it went (exit-codes.ts).
import { CommanderError } from "commander";
import { CliContext } from "./context.js";
import { CliError, ExitCode } from "./exit-codes.js";
import { buildProgram } from "./program.js";

async function main(argv: string[]): Promise<number> {
  const interrupt = new AbortController();
  process.on("SIGINT", () => {
    // The first Ctrl-C lets the command stop cleanly; a second one does not wait for it.
    if (interrupt.signal.aborted) process.exit(ExitCode.INTERRUPTED);
    interrupt.abort();
  });
  const ctx = new CliContext(
    { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin },
    interrupt.signal,
  );
  try {
    await buildProgram(ctx).parseAsync(argv);
    return ExitCode.OK;
  } catch (err) {
    // commander has already printed its message (or the help or version it was asked for).
    if (err instanceof CommanderError) return err.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
    if (err instanceof CliError) {
      process.stderr.write(`${err.message}\n`);
      return err.exitCode;
    }
    process.stderr.write(`unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return ExitCode.ERROR;
  }
}

const code = await main(process.argv);
// Wait for stdout to drain (a large result into a slow pipe), then end even if a socket lingers.
process.stdout.write("", () => process.exit(code));
