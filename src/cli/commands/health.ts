// faas health: the platform's own report (GET /health), and an exit code scripts can wait on.
import type { Command } from "commander";
import { type CliContext, JSON_OPTION } from "../context.js";
import { CliError, ExitCode } from "../exit-codes.js";
import type { HealthView } from "../views.js";

async function health(ctx: CliContext, opts: { json?: boolean }): Promise<void> {
  const client = ctx.client();
  // A degraded platform answers 503 with the same report, which is worth showing.
  const { data } = await client.rest<HealthView>("GET", "/health", { dataStatuses: [503] });
  if (opts.json) ctx.out.json(data);
  else {
    ctx.out.line(`status:    ${data.status}`);
    ctx.out.line(`postgres:  ${data.checks.postgres}`);
    ctx.out.line(`redis:     ${data.checks.redis}`);
    if (data.queue) {
      const q = data.queue;
      ctx.out.line(
        `queue:     ${q.queued} queued, ${q.processing} processing, ${q.delayed} delayed, ${q.dead_letter} dead letters`,
      );
    }
    if (data.workers) ctx.out.line(`workers:   ${data.workers.live} live`);
  }
  if (data.status !== "ok") throw new CliError(`the platform at ${client.url} is ${data.status}`, ExitCode.UNAVAILABLE);
  if (data.workers?.live === 0 && !opts.json) {
    ctx.out.note("no worker is running: invocations will stay pending until one starts");
  }
}

export function registerHealth(program: Command, ctx: CliContext): void {
  program
    .command("health")
    .description("check the platform: PostgreSQL, Redis, queue depth, live workers")
    .option(...JSON_OPTION)
    .addHelpText("after", "\nExits 0 when the platform is ok, 6 when it is degraded or unreachable.")
    .action((opts: { json?: boolean }) => health(ctx, opts));
}
