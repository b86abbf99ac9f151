// The CLI's only contact with its environment variables. It is a separate program from the
// platform (src/config.ts is the server's), so it has its own, much smaller, configuration.
import { z } from "zod";
import { usageError } from "./exit-codes.js";

export const DEFAULT_URL = "http://localhost:8080";

/** An empty variable counts as unset: `FAAS_API_KEY= faas ls` should not send "Bearer ". */
const unsetIfEmpty = (value: unknown) => (typeof value === "string" && value.trim() === "" ? undefined : value);

const envSchema = z.object({
  FAAS_URL: z.preprocess(
    unsetIfEmpty,
    z
      .url({ protocol: /^https?$/, message: "must be an http:// or https:// URL" })
      .default(DEFAULT_URL)
      // One form for joining paths: no trailing slash.
      .transform((url) => url.replace(/\/+$/, "")),
  ),
  FAAS_API_KEY: z.preprocess(unsetIfEmpty, z.string().trim().optional()),
});

export interface CliConfig {
  /** The platform's base URL, without a trailing slash. */
  url: string;
  apiKey: string | undefined;
}

export function loadCliConfig(env: Record<string, string | undefined> = process.env): CliConfig {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw usageError(`${issue?.path.join(".") ?? "environment"} ${issue?.message ?? "is invalid"}`);
  }
  return { url: parsed.data.FAAS_URL, apiKey: parsed.data.FAAS_API_KEY };
}
