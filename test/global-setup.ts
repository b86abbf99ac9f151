// Runs once before all test files: generate the Prisma client so a fresh clone works.
import { execFileSync } from "node:child_process";

export default function setup(): void {
  execFileSync("node", ["scripts/prisma-generate.mjs"], { stdio: "ignore" });
}
