// NAME, NAME@VERSION or ID → one function. Names cannot contain "@" (the API allows letters,
// digits, ".", "_" and "-"), so the split is unambiguous.
import type { PlatformClient } from "./client.js";
import { CliError, ExitCode, usageError } from "./exit-codes.js";
import type { FunctionView } from "./views.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * When a bare NAME has several versions: "newest" takes the most recently created one (what
 * `invoke` and `get` want after a new version is deployed); "one" refuses, for `rm`, where
 * guessing would delete the wrong thing.
 */
export type Ambiguity = "newest" | "one";

const notFound = (ref: string) => new CliError(`function ${ref} not found`, ExitCode.NOT_FOUND);

export async function resolveFunction(
  client: PlatformClient,
  ref: string,
  ambiguity: Ambiguity = "newest",
): Promise<FunctionView> {
  if (UUID.test(ref)) {
    try {
      return await client.getFunction(ref);
    } catch (err) {
      // A name may look like a UUID: try it as one before saying there is none.
      if (!(err instanceof CliError && err.exitCode === ExitCode.NOT_FOUND)) throw err;
    }
  }
  const at = ref.indexOf("@");
  const name = at >= 0 ? ref.slice(0, at) : ref;
  const version = at >= 0 ? ref.slice(at + 1) : undefined;
  if (name === "" || version === "") throw usageError(`"${ref}" is not a function: give NAME, NAME@VERSION or an id`);
  // Newest first, as the API lists them.
  const versions = await client.functionsNamed(name);
  if (version !== undefined) {
    const match = versions.find((fn) => fn.version === version);
    if (!match) throw notFound(ref);
    return match;
  }
  const [newest] = versions;
  if (!newest) throw notFound(ref);
  if (versions.length > 1 && ambiguity === "one") {
    throw usageError(
      `function ${name} has ${versions.length} versions (${versions.map((fn) => fn.version).join(", ")}): say which, as ${name}@VERSION or by id`,
    );
  }
  return newest;
}

/** Every version of NAME (or the one of NAME@VERSION or ID). */
export async function resolveFunctions(client: PlatformClient, ref: string): Promise<FunctionView[]> {
  if (UUID.test(ref) || ref.includes("@")) return [await resolveFunction(client, ref)];
  const versions = await client.functionsNamed(ref);
  if (versions.length === 0) throw notFound(ref);
  return versions;
}
