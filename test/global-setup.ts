// Runs once before all test files: generate the Prisma client so a fresh clone works.
// Only when it is missing or older than the schema: regenerating rewrites src/generated
// while another vitest run in the same tree (or a spawned worker) may be importing it.
import { execFileSync } from "node:child_process";
import { statSync } from "node:fs";

const mtime = (path: string) => statSync(path, { throwIfNoEntry: false })?.mtimeMs ?? 0;

export default function setup(): void {
  if (mtime("src/generated/prisma/client.ts") > mtime("prisma/schema.prisma")) return;
  execFileSync("node", ["scripts/prisma-generate.mjs"], { stdio: "ignore" });
}
