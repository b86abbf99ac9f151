#!/usr/bin/env node
// The `faas` command. Runs the compiled CLI (dist/, from `make build`) when it is at least as
// new as its sources; otherwise, in a checkout, the TypeScript sources through tsx (a dev
// dependency), so a stale build never answers for newer code.
import { existsSync, readdirSync, statSync } from "node:fs";

const compiled = new URL("../dist/cli/main.js", import.meta.url);
const sources = new URL("../src/cli/", import.meta.url);

/** Newest modification time of the files under a directory (0 when it does not exist). */
function newest(dir) {
  if (!existsSync(dir)) return 0;
  let latest = 0;
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) latest = Math.max(latest, statSync(`${entry.parentPath}/${entry.name}`).mtimeMs);
  }
  return latest;
}

if (existsSync(compiled) && statSync(compiled).mtimeMs >= newest(sources)) {
  await import(compiled.href);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  await import(new URL("main.ts", sources).href);
}
