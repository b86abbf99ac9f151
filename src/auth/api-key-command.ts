// `make api-key ARGS="…"` (tsx src/main.ts api-key …): create, list and revoke API keys on
// the server itself, straight in PostgreSQL — how the first key is made. `create` prints
// the new token alone on its last line, so scripts can capture it with `| tail -n 1`.
import { parseArgs } from "node:util";
import { AppError } from "../errors.js";
import { DEFAULT_PAGE_SIZE, decodeCursor } from "../lib/pagination.js";
import type { ApiKey, ApiKeyService } from "./api-key-service.js";
import { ROLES } from "./roles.js";

export const API_KEY_USAGE = `usage: make api-key ARGS="<command>"
  create --name NAME --role ${ROLES.join("|")} [--functions a,b] [--expires-in 30d | --expires-at ISO-DATE]
         prints the new key on its last line (shown once: store it now)
  list   the keys, newest first (never their tokens)
  revoke ID|NAME`;

export interface CommandOutput {
  out(line: string): void;
  err(line: string): void;
}

function describe(key: ApiKey): string {
  const parts = [key.id, key.name, key.role, `${key.tokenPrefix}…`];
  if (key.functions.length > 0) parts.push(`functions=${key.functions.join(",")}`);
  parts.push(key.expiresAt ? `expires ${key.expiresAt.toISOString()}` : "no expiry");
  parts.push(key.lastUsedAt ? `last used ${key.lastUsedAt.toISOString()}` : "never used");
  if (key.revokedAt) parts.push(`REVOKED ${key.revokedAt.toISOString()}`);
  return parts.join("  ");
}

/** Runs one command; resolves with the process exit code. */
export async function runApiKeyCommand(keys: ApiKeyService, argv: string[], io: CommandOutput): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case "create": {
        const { values } = parseArgs({
          args: rest,
          options: {
            name: { type: "string" },
            role: { type: "string" },
            functions: { type: "string" },
            "expires-in": { type: "string" },
            "expires-at": { type: "string" },
          },
          strict: true,
        });
        const { key, token } = await keys.create({
          name: values.name,
          role: values.role,
          ...(values.functions ? { functions: values.functions.split(",").map((f) => f.trim()) } : {}),
          ...(values["expires-in"] ? { expires_in: values["expires-in"] } : {}),
          ...(values["expires-at"] ? { expires_at: values["expires-at"] } : {}),
        });
        io.out(`created ${describe(key)}`);
        io.out("the key (shown once; send it as `Authorization: Bearer <key>`):");
        io.out(token);
        return 0;
      }
      case "list": {
        parseArgs({ args: rest, options: {}, strict: true });
        let cursor: string | undefined;
        let count = 0;
        do {
          const page = await keys.list({
            limit: DEFAULT_PAGE_SIZE,
            ...(cursor ? { after: decodeCursor(cursor) } : {}),
          });
          for (const key of page.items) io.out(describe(key));
          count += page.items.length;
          cursor = page.nextCursor ?? undefined;
        } while (cursor);
        if (count === 0) io.out("no api keys");
        return 0;
      }
      case "revoke": {
        const { positionals } = parseArgs({ args: rest, options: {}, allowPositionals: true, strict: true });
        if (positionals.length !== 1) throw new UsageError("revoke takes one key id or name");
        const key = await keys.revoke(positionals[0] as string);
        io.out(`revoked ${describe(key)}`);
        return 0;
      }
      default:
        io.err(command ? `unknown api-key command "${command}"\n${API_KEY_USAGE}` : API_KEY_USAGE);
        return 2;
    }
  } catch (err) {
    if (err instanceof AppError || err instanceof UsageError || isParseArgsError(err)) {
      io.err(`api-key ${command}: ${(err as Error).message}`);
      return 2;
    }
    throw err;
  }
}

class UsageError extends Error {}

function isParseArgsError(err: unknown): boolean {
  return String((err as { code?: unknown } | null)?.code ?? "").startsWith("ERR_PARSE_ARGS");
}
