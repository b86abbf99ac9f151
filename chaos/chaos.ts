// make chaos: CHAOS_N invocations (default 2,000) through every fault of the scenario; one line of results.
import { runChaos, summary } from "./scenario.js";

const n = Number(process.env.CHAOS_N ?? 2000);
const rate = Number(process.env.CHAOS_RATE ?? 20);
const workers = Number(process.env.CHAOS_WORKERS ?? 3);
const runtime = process.env.CHAOS_RUNTIME ?? "process";
if (!Number.isInteger(n) || n < 1 || !(rate > 0) || !Number.isInteger(workers) || workers < 1) {
  process.stderr.write("CHAOS_N, CHAOS_RATE and CHAOS_WORKERS must be positive numbers\n");
  process.exit(2);
}
if (runtime !== "process" && runtime !== "container") {
  process.stderr.write("CHAOS_RUNTIME must be process or container\n");
  process.exit(2);
}
const report = await runChaos({
  invocations: n,
  rate,
  workers,
  runtime,
  log: (line) => process.stderr.write(`${new Date().toISOString()} ${line}\n`),
});
process.stdout.write(`${summary(report, n)}\n`);
const clean =
  report.lost +
    report.stuck +
    report.wrong +
    report.failed +
    report.executedTwice +
    report.refusedBadly +
    (report.containersLeft ?? 0) ===
    0 && report.accepted === n;
process.exit(clean ? 0 : 1);
