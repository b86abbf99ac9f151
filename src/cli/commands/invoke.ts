// faas invoke NAME|ID: queue an invocation, follow it live until it ends, print its result
// on stdout (JSON, for jq) and its logs on stderr; the exit code says how it ended.
import type { Command } from "commander";
import { type CliContext, JSON_OPTION } from "../context.js";
import { CliError, ExitCode } from "../exit-codes.js";
import { resolveFunction } from "../function-ref.js";
import { followInvocation } from "../live-invocation.js";
import { readPayload } from "../payload.js";
import { Spinner } from "../spinner.js";
import type { InvocationView } from "../views.js";

interface InvokeOptions {
  data?: string;
  async?: boolean;
  idempotencyKey?: string;
  timeout?: string;
  json?: boolean;
}

/** How an ended invocation is reported: the answer on stdout, a failure as the exit code and one line. */
export function reportInvocation(ctx: CliContext, invocation: InvocationView, json: boolean | undefined): void {
  if (json) ctx.out.json(invocation);
  else if (invocation.logs) ctx.out.raw(ctx.io.stderr, invocation.logs);
  const why =
    invocation.error ?? (invocation.exit_code !== null ? `exit code ${invocation.exit_code}` : "no reason given");
  switch (invocation.status) {
    case "completed":
      if (!json) ctx.out.json(invocation.result);
      return;
    case "failed":
      throw new CliError(`invocation ${invocation.id} failed: ${why}`, ExitCode.FAILED);
    case "timeout":
      throw new CliError(`invocation ${invocation.id} timed out: ${why}`, ExitCode.TIMEOUT);
    default:
      throw new CliError(`invocation ${invocation.id} is still ${invocation.status}`, ExitCode.ERROR);
  }
}

async function invoke(ctx: CliContext, ref: string, opts: InvokeOptions): Promise<void> {
  // Bad input is found before anything is sent.
  const payload = await readPayload(opts.data, ctx.io.stdin);
  const client = ctx.client();
  const fn = await resolveFunction(client, ref);
  const answer = await client.rest<InvocationView>("POST", "/invoke", {
    body: {
      function_id: fn.id,
      ...(payload !== undefined ? { payload } : {}),
      ...(opts.timeout !== undefined ? { timeout: opts.timeout } : {}),
    },
    headers: opts.idempotencyKey !== undefined ? { "idempotency-key": opts.idempotencyKey } : {},
    interruptible: false,
  });
  const { id } = answer.data;
  if (answer.headers["idempotent-replayed"] === "true") {
    ctx.out.note(`invocation ${id} was made earlier with this Idempotency-Key; not run again`);
  }
  if (opts.async) return opts.json ? ctx.out.json(answer.data) : ctx.out.line(id);

  const spinner = new Spinner(ctx.io.stderr);
  const label = `${fn.name}@${fn.version} ${id.slice(0, 8)}`;
  spinner.update(`${label} ${answer.data.status}`);
  let ended: InvocationView;
  try {
    ended = await followInvocation(client, id, {
      signal: ctx.signal,
      onStatus: (status) => spinner.update(`${label} ${status}`),
      onFallback: (reason) => {
        spinner.stop();
        ctx.out.note(`live updates unavailable (${reason}); polling ${client.url}/invocations/${id}`);
      },
    });
  } catch (err) {
    if (err instanceof CliError && err.exitCode === ExitCode.INTERRUPTED) {
      throw new CliError(
        `stopped waiting; invocation ${id} goes on: \`faas logs ${id}\` or \`faas invocations --function ${fn.name}\``,
        ExitCode.INTERRUPTED,
      );
    }
    throw err;
  } finally {
    spinner.stop();
  }
  reportInvocation(ctx, ended, opts.json);
}

export function registerInvoke(program: Command, ctx: CliContext): void {
  program
    .command("invoke")
    .description("invoke a function and wait for its result")
    .argument("<function>", "NAME (its newest version), NAME@VERSION or ID")
    .option(
      "--data <json>",
      "the payload: JSON text, or @FILE to read it from a file (default: stdin when piped, else {})",
    )
    .option("--async", "do not wait: print the invocation id and return")
    .option("--idempotency-key <key>", "retry-safe: the same key and request within 24 h run once")
    .option("--timeout <duration>", "a shorter time limit than the function's, e.g. 5s")
    .option(...JSON_OPTION)
    .addHelpText(
      "after",
      "\nPrints the result (JSON) on stdout and the function's logs on stderr; with --json the whole invocation.\nExit codes: 0 completed, 3 failed, 4 timeout, 5 not found (see `faas --help`).",
    )
    .action((ref: string, opts: InvokeOptions) => invoke(ctx, ref, opts));
}
