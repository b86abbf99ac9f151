// faas ls, faas get, faas rm: the functions themselves.
import { type Command, Option } from "commander";
import { type CliContext, JSON_OPTION } from "../context.js";
import { resolveFunction } from "../function-ref.js";
import { shortTime } from "../output.js";
import { type FunctionView, RUNTIMES } from "../views.js";

interface ListOptions {
  name?: string;
  runtime?: string;
  json?: boolean;
}

async function list(ctx: CliContext, opts: ListOptions): Promise<void> {
  const functions = await ctx.client().listAll<FunctionView>("/functions", { name: opts.name, runtime: opts.runtime });
  if (opts.json) return ctx.out.json(functions);
  ctx.out.table(
    ["NAME", "VERSION", "RUNTIME", "TIMEOUT", "MEMORY", "UPDATED", "ID"],
    functions.map((fn) => [
      fn.name,
      fn.version,
      fn.runtime,
      fn.timeout,
      `${fn.memory_mb}Mi`,
      shortTime(fn.updated_at),
      fn.id,
    ]),
  );
}

function describeFunction(fn: FunctionView): string[][] {
  const environment =
    fn.environment === null ? "(hidden from this key's role)" : Object.keys(fn.environment).join(", ") || "-";
  return [
    ["id", fn.id],
    ["name", fn.name],
    ["version", fn.version],
    ["runtime", fn.runtime],
    ["handler", fn.handler],
    ["timeout", fn.timeout],
    ["memory", `${fn.memory_mb} MiB`],
    ["max concurrency", String(fn.max_concurrency)],
    ["network", fn.network ? "allowed" : "none"],
    // Values are secrets: names only here, values with --json (for roles that may see them).
    ["environment", environment],
    ["code", `${fn.code_size} bytes, sha256 ${fn.code_sha256}`],
    ["created", shortTime(fn.created_at)],
    ["updated", shortTime(fn.updated_at)],
  ];
}

async function get(ctx: CliContext, ref: string, opts: { json?: boolean }): Promise<void> {
  const fn = await resolveFunction(ctx.client(), ref);
  if (opts.json) return ctx.out.json(fn);
  for (const [key, value] of describeFunction(fn)) ctx.out.line(`${`${key}:`.padEnd(17)}${value}`);
}

async function remove(ctx: CliContext, ref: string, opts: { json?: boolean }): Promise<void> {
  const client = ctx.client();
  const fn = await resolveFunction(client, ref, "one");
  const deleted = (await client.rest<FunctionView>("DELETE", `/functions/${fn.id}`)).data;
  if (opts.json) return ctx.out.json(deleted);
  ctx.out.line(`deleted ${deleted.name}@${deleted.version} (${deleted.id})`);
}

export function registerFunctionCommands(program: Command, ctx: CliContext): void {
  program
    .command("ls")
    .description("list functions, newest first")
    .option("--name <name>", "only the versions of this function")
    .addOption(new Option("--runtime <runtime>", "only functions in this language").choices(RUNTIMES))
    .option(...JSON_OPTION)
    .action((opts: ListOptions) => list(ctx, opts));

  program
    .command("get")
    .description("show a function")
    .argument("<function>", "NAME (its newest version), NAME@VERSION or ID")
    .option(...JSON_OPTION)
    .action((ref: string, opts: { json?: boolean }) => get(ctx, ref, opts));

  program
    .command("rm")
    .description("delete a function and its invocation history")
    .argument("<function>", "NAME (when it has one version), NAME@VERSION or ID")
    .option(...JSON_OPTION)
    .action((ref: string, opts: { json?: boolean }) => remove(ctx, ref, opts));
}
