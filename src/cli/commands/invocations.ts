// faas invocations (a table, optionally kept live) and faas logs INVOCATION_ID.
import { setTimeout as sleep } from "node:timers/promises";
import { type Command, Option } from "commander";
import type { PlatformClient } from "../client.js";
import { type CliContext, JSON_OPTION } from "../context.js";
import { resolveFunctions } from "../function-ref.js";
import { positiveInt } from "../options.js";
import { formatTable, shortDuration, shortTime } from "../output.js";
import { INVOCATION_STATUSES, type InvocationView, TERMINAL_STATUSES } from "../views.js";

/**
 * The schema's only subscription follows one invocation by id; there is none over all of
 * them, so --watch polls the listing at this pace.
 */
const WATCH_EVERY_MS = 1000;
const HEADERS = ["ID", "STATUS", "CREATED", "DURATION", "FUNCTION"];

interface InvocationsOptions {
  function?: string;
  status?: string;
  limit: number;
  watch?: boolean;
  json?: boolean;
}

/** Function ids → "name@version", looked up once each; an id that cannot be read is shown as it is. */
class FunctionNames {
  private readonly names = new Map<string, Promise<string>>();
  constructor(private readonly client: PlatformClient) {}

  remember(id: string, name: string): void {
    this.names.set(id, Promise.resolve(name));
  }

  of(id: string): Promise<string> {
    let name = this.names.get(id);
    if (!name) {
      name = this.client.getFunction(id).then(
        (fn) => `${fn.name}@${fn.version}`,
        () => id,
      );
      this.names.set(id, name);
    }
    return name;
  }
}

async function fetchInvocations(
  client: PlatformClient,
  functionIds: string[] | undefined,
  opts: InvocationsOptions,
): Promise<InvocationView[]> {
  const query = { status: opts.status, limit: opts.limit };
  if (!functionIds) return client.listInvocations(query);
  // The API filters by one function id; a name may have several versions.
  const lists = await Promise.all(functionIds.map((id) => client.listInvocations({ ...query, function_id: id })));
  return lists
    .flat()
    .sort((a, b) => b.created_at.localeCompare(a.created_at))
    .slice(0, opts.limit);
}

async function rows(invocations: InvocationView[], names: FunctionNames): Promise<string[][]> {
  return Promise.all(
    invocations.map(async (inv) => [
      inv.id,
      inv.status,
      shortTime(inv.created_at),
      shortDuration(inv.duration_ms),
      await names.of(inv.function_id),
    ]),
  );
}

/** One row of --watch output to a pipe, in fixed columns (rows arrive one change at a time). */
function fixedRow(cells: string[]): string {
  const widths = [36, 9, 19, 8];
  return cells.map((cell, i) => (i < widths.length ? cell.padEnd(widths[i] ?? 0) : cell)).join("  ");
}

async function watch(
  ctx: CliContext,
  opts: InvocationsOptions,
  load: () => Promise<InvocationView[]>,
  names: FunctionNames,
): Promise<void> {
  const redraw = ctx.io.stdout.isTTY === true && !opts.json;
  const seen = new Map<string, string>();
  if (!redraw && !opts.json) ctx.out.line(fixedRow(HEADERS));
  for (;;) {
    const invocations = await load();
    if (redraw) {
      // Home, clear, and the whole table again: the terminal shows the current state only.
      ctx.io.stdout.write(`\x1b[H\x1b[2J${formatTable(HEADERS, await rows(invocations, names))}`);
      ctx.out.note(`updated ${shortTime(new Date().toISOString())} UTC; Ctrl-C to stop`);
    } else {
      // New invocations and status changes, oldest first, one line each (NDJSON with --json).
      const changed = invocations.filter((inv) => seen.get(inv.id) !== inv.status).reverse();
      if (opts.json) for (const inv of changed) ctx.out.json(inv, { compact: true });
      else for (const row of await rows(changed, names)) ctx.out.line(fixedRow(row));
    }
    seen.clear();
    for (const inv of invocations) seen.set(inv.id, inv.status);
    try {
      await sleep(WATCH_EVERY_MS, undefined, { signal: ctx.signal });
    } catch {
      return; // Ctrl-C is how a watch ends: a normal end.
    }
  }
}

async function invocations(ctx: CliContext, opts: InvocationsOptions): Promise<void> {
  const client = ctx.client();
  const names = new FunctionNames(client);
  let functionIds: string[] | undefined;
  if (opts.function !== undefined) {
    const versions = await resolveFunctions(client, opts.function);
    for (const fn of versions) names.remember(fn.id, `${fn.name}@${fn.version}`);
    functionIds = versions.map((fn) => fn.id);
  }
  const load = () => fetchInvocations(client, functionIds, opts);
  if (opts.watch) return watch(ctx, opts, load, names);
  const list = await load();
  if (opts.json) return ctx.out.json(list);
  ctx.out.table(HEADERS, await rows(list, names));
}

async function logs(ctx: CliContext, id: string, opts: { json?: boolean }): Promise<void> {
  const inv = await ctx.client().getInvocation(id);
  if (opts.json) return ctx.out.json({ id: inv.id, status: inv.status, logs: inv.logs });
  if (inv.logs) ctx.out.raw(ctx.io.stdout, inv.logs);
  if (!TERMINAL_STATUSES.has(inv.status)) {
    ctx.out.note(`invocation ${inv.id} is still ${inv.status}: its logs are kept when it ends`);
  }
}

export function registerInvocationCommands(program: Command, ctx: CliContext): void {
  program
    .command("invocations")
    .description("list invocations, newest first")
    .option("--function <function>", "only this function: NAME (all versions), NAME@VERSION or ID")
    .addOption(new Option("--status <status>", "only invocations with this status").choices(INVOCATION_STATUSES))
    .option("--limit <n>", "how many (1 to 100)", positiveInt, 20)
    .option("--watch", "keep the list live (refreshed every second) until Ctrl-C")
    .option(...JSON_OPTION)
    .addHelpText(
      "after",
      "\nWith --watch and a pipe (or --json), prints one line per new invocation or status change (JSON lines with --json).",
    )
    .action((opts: InvocationsOptions) => invocations(ctx, opts));

  program
    .command("logs")
    .description("print an invocation's logs (the function's standard error)")
    .argument("<invocation>", "the invocation id")
    .option(...JSON_OPTION)
    .action((id: string, opts: { json?: boolean }) => logs(ctx, id, opts));
}
