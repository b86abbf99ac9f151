// The client of a burst, in a process of its own: `n` invocations of one function through
// `POST /invoke?wait`, at most `inFlight` unfinished at once. A client sits outside the
// controller's process in any deployment; run inside it, the two shared one event loop and
// the client's CPU was counted as the controller's. Prints one line of JSON: each
// invocation's latency in ms (null: not completed), the burst's wall time, this process's
// CPU during it, and what the first few invocations that did not complete answered.
//
//   node --import tsx bench/burst-client.ts <API url> <function id> <n> <in flight>
import { BenchClient } from "./http-client.js";

const [url, functionId, count, inFlight] = process.argv.slice(2);
const n = Number(count);
const client = new BenchClient(url as string);
const latencies: (number | null)[] = [];
const notCompleted: string[] = [];

const cpuBefore = process.cpuUsage();
const started = performance.now();
let next = 0;
const lane = async () => {
  for (let i = next++; i < n; i = next++) {
    const outcome = await client.invokeWaiting(functionId as string, i);
    latencies.push(outcome.ms);
    if (outcome.ms === null && notCompleted.length < 3) notCompleted.push(outcome.answer);
  }
};
await Promise.all(Array.from({ length: Math.min(Number(inFlight), n) }, lane));
const elapsedMs = performance.now() - started;
const cpu = process.cpuUsage(cpuBefore);
client.close();
process.stdout.write(
  `${JSON.stringify({ latencies, elapsedMs, cpuMs: (cpu.user + cpu.system) / 1000, notCompleted })}\n`,
);
