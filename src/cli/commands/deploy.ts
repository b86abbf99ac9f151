// faas deploy FILE: create the function, or update it when its name and version exist
// (name, version and runtime are a function's identity; everything else can change).
import { readFile } from "node:fs/promises";
import { basename, extname } from "node:path";
import { type Command, Option } from "commander";
import type { PlatformClient } from "../client.js";
import { markRepeatable } from "../completion.js";
import { type CliContext, JSON_OPTION } from "../context.js";
import { CliError, usageError } from "../exit-codes.js";
import { collectEnv, positiveInt } from "../options.js";
import { type FunctionView, RUNTIMES, type Runtime } from "../views.js";

/** The API's default version (README, POST /functions). */
export const DEFAULT_VERSION = "1.0.0";

const RUNTIME_BY_EXTENSION: Record<string, Runtime> = {
  ".go": "go",
  ".py": "python",
  ".js": "nodejs",
  ".mjs": "nodejs",
  ".cjs": "nodejs",
};

interface DeployOptions {
  name?: string;
  version?: string;
  runtime?: Runtime;
  timeout?: string;
  memory?: number;
  maxConcurrency?: number;
  env?: Record<string, string>;
  network?: boolean;
  json?: boolean;
}

export function runtimeFromExtension(file: string): Runtime {
  const extension = extname(file).toLowerCase();
  const runtime = RUNTIME_BY_EXTENSION[extension];
  if (runtime) return runtime;
  const known = Object.keys(RUNTIME_BY_EXTENSION).join(", ");
  const what = extension === "" ? "has no extension" : `has the unknown extension "${extension}"`;
  throw usageError(`${file} ${what}: expected ${known}, or give --runtime ${RUNTIMES.join("|")}`);
}

async function readSource(file: string): Promise<Buffer> {
  let code: Buffer;
  try {
    code = await readFile(file);
  } catch (err) {
    const errno = (err as NodeJS.ErrnoException).code;
    const why = errno === "ENOENT" ? "no such file" : errno === "EISDIR" ? "it is a directory" : (err as Error).message;
    throw usageError(`cannot read ${file}: ${why}`);
  }
  if (code.length === 0) throw usageError(`${file} is empty`);
  return code;
}

async function findVersion(client: PlatformClient, name: string, version: string): Promise<FunctionView | undefined> {
  return (await client.functionsNamed(name)).find((fn) => fn.version === version);
}

async function update(client: PlatformClient, existing: FunctionView, runtime: Runtime, settings: object) {
  if (existing.runtime !== runtime) {
    throw usageError(
      `${existing.name}@${existing.version} exists as a ${existing.runtime} function and a runtime cannot change: deploy under another --version`,
    );
  }
  return (await client.rest<FunctionView>("PUT", `/functions/${existing.id}`, { body: settings })).data;
}

async function deploy(ctx: CliContext, file: string, opts: DeployOptions): Promise<void> {
  const runtime = opts.runtime ?? runtimeFromExtension(file);
  const code = await readSource(file);
  const name = opts.name ?? basename(file, extname(file));
  const version = opts.version ?? DEFAULT_VERSION;
  // Only what was given: an update leaves every other setting as it is.
  const settings = {
    code: code.toString("base64"),
    ...(opts.timeout !== undefined ? { timeout: opts.timeout } : {}),
    ...(opts.memory !== undefined ? { memory_mb: opts.memory } : {}),
    ...(opts.maxConcurrency !== undefined ? { max_concurrency: opts.maxConcurrency } : {}),
    ...(opts.env !== undefined ? { environment: opts.env } : {}),
    ...(opts.network !== undefined ? { network: opts.network } : {}),
  };
  const client = ctx.client();
  let fn: FunctionView;
  let action = "updated";
  const existing = await findVersion(client, name, version);
  if (existing) {
    fn = await update(client, existing, runtime, settings);
  } else {
    try {
      fn = (await client.rest<FunctionView>("POST", "/functions", { body: { name, version, runtime, ...settings } }))
        .data;
      action = "created";
    } catch (err) {
      // Someone created it between the lookup and now: it exists, so this deploy updates it.
      const raced =
        err instanceof CliError && err.status === 409 ? await findVersion(client, name, version) : undefined;
      if (!raced) throw err;
      fn = await update(client, raced, runtime, settings);
    }
  }
  if (opts.json) return ctx.out.json(fn);
  ctx.out.line(fn.id);
  ctx.out.note(`${action} ${fn.name}@${fn.version} (${fn.runtime})`);
}

export function registerDeploy(program: Command, ctx: CliContext): void {
  program
    .command("deploy")
    .description("create a function from a source file, or update it when its name and version exist")
    .argument("<file>", "the source file: .go, .py, .js, .mjs or .cjs")
    .option("--name <name>", "function name (default: the file name without its extension)")
    .option("--version <version>", `version (default ${DEFAULT_VERSION}); name and version identify a function`)
    .addOption(
      new Option("--runtime <runtime>", "the language, instead of guessing it from the extension").choices(RUNTIMES),
    )
    .option("--timeout <duration>", 'time limit such as "30s", "500ms" or "1m30s"')
    .option("--memory <mb>", "memory limit in MiB", positiveInt)
    .option("--max-concurrency <n>", "most invocations running at once, across all workers", positiveInt)
    .addOption(
      markRepeatable(
        new Option("--env <NAME=value>", "an environment variable (repeat for more); replaces all of them").argParser(
          collectEnv,
        ),
      ),
    )
    .option("--network", "allow network access")
    .option("--no-network", "deny network access (a new function's default)")
    .option(...JSON_OPTION)
    .addHelpText("after", "\nPrints the function's id (with --json the function).")
    .action((file: string, opts: DeployOptions) => deploy(ctx, file, opts));
}
