// faas invocations (a table, optionally kept live) and faas logs INVOCATION_ID.
import { setTimeout as sleep } from "node:timers/promises";
import { type Command, Option } from "commander";
import { lifePosition } from "../../lib/invocation-order.js";
import type { PlatformClient } from "../client.js";
import { type CliContext, JSON_OPTION } from "../context.js";
import { resolveFunctions } from "../function-ref.js";
import { LiveUnavailable, watchLive } from "../live-invocations.js";
import { positiveInt } from "../options.js";
import { formatTable, shortDuration, shortTime } from "../output.js";
import { INVOCATION_STATUSES, type InvocationStatus, type InvocationView, TERMINAL_STATUSES } from "../views.js";

/** --watch's pace when live updates cannot be had and the listing is polled instead. */
const POLL_EVERY_MS = 1000;
/** Invocations whose last printed state --watch remembers (into a pipe), to print only changes. */
const REMEMBERED = 10_000;
const HEADERS = ["ID", "STATUS", "CREATED", "DURATION", "FUNCTION"];

interface InvocationsOptions {
  function?: string;
  status?: InvocationStatus;
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

/**
 * What --watch shows. On a terminal (without --json): the table of the newest invocations,
 * redrawn on each change. Into a pipe: one line per new invocation or status change (a JSON
 * line with --json), oldest first; a report older than what was printed (events of one
 * invocation from different processes may cross) prints nothing.
 */
class WatchView {
  readonly redraw: boolean;
  private rows: InvocationView[] = [];
  private readonly printed = new Map<string, number>();
  /** Output in order although function names are looked up on the way. */
  private output: Promise<void> = Promise.resolve();

  constructor(
    private readonly ctx: CliContext,
    private readonly opts: InvocationsOptions,
    private readonly names: FunctionNames,
  ) {
    this.redraw = ctx.io.stdout.isTTY === true && !opts.json;
    if (!this.redraw && !opts.json) ctx.out.line(fixedRow(HEADERS));
  }

  /** A whole listing (the first one, or a poll): the table becomes it; into a pipe, its news. */
  list(invocations: InvocationView[]): Promise<void> {
    if (!this.redraw) {
      for (const inv of [...invocations].reverse()) void this.change(inv);
      return this.output;
    }
    this.rows = invocations;
    return this.draw();
  }

  /** One invocation as it is now. */
  change(inv: InvocationView): Promise<void> {
    if (this.redraw) {
      const at = this.rows.findIndex((row) => row.id === inv.id);
      const shown = this.rows[at];
      if (shown && lifePosition(inv) <= lifePosition(shown)) return this.output;
      // The table lists what the --status filter lists: a row leaves it when its status moves on.
      const kept = this.opts.status === undefined || inv.status === this.opts.status ? [inv] : [];
      if (!shown && kept.length === 0) return this.output;
      const others = this.rows.filter((row) => row.id !== inv.id);
      this.rows = [...others, ...kept]
        .sort((a, b) => b.created_at.localeCompare(a.created_at) || b.id.localeCompare(a.id))
        .slice(0, this.opts.limit);
      return this.draw();
    }
    const position = lifePosition(inv);
    const last = this.printed.get(inv.id);
    if (last !== undefined && position <= last) return this.output;
    this.printed.delete(inv.id);
    this.printed.set(inv.id, position);
    // The longest unchanged are forgotten first: a watch may run for days.
    if (this.printed.size > REMEMBERED) this.printed.delete(this.printed.keys().next().value as string);
    return this.print(async () => {
      if (this.opts.json) this.ctx.out.json(inv, { compact: true });
      else for (const row of await rows([inv], this.names)) this.ctx.out.line(fixedRow(row));
    });
  }

  private draw(): Promise<void> {
    const snapshot = this.rows;
    return this.print(async () => {
      const table = formatTable(HEADERS, await rows(snapshot, this.names));
      // Home, clear, and the whole table again: the terminal shows the current state only.
      this.ctx.io.stdout.write(`\x1b[H\x1b[2J${table}`);
      this.ctx.out.note(`updated ${shortTime(new Date().toISOString())} UTC; Ctrl-C to stop`);
    });
  }

  private print(write: () => Promise<void>): Promise<void> {
    this.output = this.output.then(write);
    return this.output;
  }
}

/**
 * Live: subscribes (invocationsUpdated over graphql-ws), lists once, then applies each event.
 * Events that arrive before the list is shown wait for it. When live updates cannot be had, or
 * stop, it says so on stderr and polls the listing instead, from where the output stands.
 */
async function watch(
  ctx: CliContext,
  opts: InvocationsOptions,
  functionIds: string[] | undefined,
  load: () => Promise<InvocationView[]>,
  names: FunctionNames,
): Promise<void> {
  const client = ctx.client();
  const view = new WatchView(ctx, opts, names);
  let early: InvocationView[] | null = [];
  try {
    await watchLive(client, {
      functionIds,
      // The table also needs the changes that take a row out of the --status filter.
      status: view.redraw ? undefined : opts.status,
      signal: ctx.signal,
      onConnected: async () => {
        await view.list(await load());
        const waiting = early ?? [];
        early = null;
        for (const inv of waiting) await view.change(inv);
      },
      onEvent: (inv) => {
        if (early) early.push(inv);
        else void view.change(inv);
      },
    });
    return; // Ctrl-C is how a watch ends: a normal end.
  } catch (err) {
    if (ctx.signal.aborted) return;
    if (!(err instanceof LiveUnavailable)) throw err;
    // Listed before the note: a platform that cannot be reached at all is one line, saying so.
    const invocations = await load();
    ctx.out.note(`live updates unavailable (${err.reason}); polling ${client.url}/invocations every second instead`);
    await view.list(invocations);
  }
  for (;;) {
    try {
      await sleep(POLL_EVERY_MS, undefined, { signal: ctx.signal });
    } catch {
      return;
    }
    await view.list(await load());
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
  if (opts.watch) return watch(ctx, opts, functionIds, load, names);
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
    .option("--watch", "keep the list live (changes as they happen) until Ctrl-C")
    .option(...JSON_OPTION)
    .addHelpText(
      "after",
      "\nWith --watch and a pipe (or --json), prints one line per new invocation or status change (JSON lines with --json).\n--watch follows the invocationsUpdated subscription over WebSocket; without one it says so and polls every second.",
    )
    .action((opts: InvocationsOptions) => invocations(ctx, opts));

  program
    .command("logs")
    .description("print an invocation's logs (the function's standard error)")
    .argument("<invocation>", "the invocation id")
    .option(...JSON_OPTION)
    .action((id: string, opts: { json?: boolean }) => logs(ctx, id, opts));
}
