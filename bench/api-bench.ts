// `make bench` (second part): what API trust costs a request. Latency of GET /functions/{id}
// (the smallest authenticated read) as a loopback client in protected mode with no key, with
// an API key (a PostgreSQL lookup of its hash), and with a key under the default rate limits
// (Redis counters). Figures, not assertions.
import { functionBody } from "../test/support/functions.js";
import { type Platform, startPlatform } from "../test/support/platform.js";
import { BenchClient } from "./http-client.js";

const N = Number(process.env.BENCH_API_REQUESTS ?? 500);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

async function latencies(platform: Platform, path: string, headers: Record<string, string>) {
  const times: number[] = [];
  const client = new BenchClient(platform.url);
  try {
    for (let i = 0; i < N + 20; i++) {
      const started = performance.now();
      const res = await client.request("GET", path, undefined, headers);
      if (res.status !== 200) throw new Error(`GET ${path}: ${res.status}`);
      if (i >= 20) times.push(performance.now() - started); // the first 20 warm up
    }
  } finally {
    client.close();
  }
  return times.sort((a, b) => a - b);
}

async function row(name: string, env: Record<string, string>, withKey: boolean): Promise<string> {
  const platform = await startPlatform({ env: { LOG_LEVEL: "error", ...env } });
  try {
    const fn = await platform.app.functions.create(functionBody());
    const headers: Record<string, string> = {};
    if (withKey) {
      const { token } = await platform.app.apiKeys.create({ name: "bench", role: "viewer" });
      headers.authorization = `Bearer ${token}`;
    }
    const t = await latencies(platform, `/functions/${fn.id}`, headers);
    return `| ${name} | ${N} | ${percentile(t, 50).toFixed(2)} | ${percentile(t, 99).toFixed(2)} |`;
  } finally {
    await platform.stop();
  }
}

async function main() {
  const defaults = {
    RATE_LIMIT_REQUESTS_PER_SECOND: "100000",
    RATE_LIMIT_INVOCATIONS_PER_SECOND: "50",
    RATE_LIMIT_MAX_WAITING: "100",
  };
  const rows = [
    await row("loopback, protected mode, no key, no rate limits", {}, false),
    await row("API key, no rate limits", {}, true),
    await row("API key, rate limits on (Redis)", defaults, true),
  ];
  process.stdout.write(
    `\n| GET /functions/{id} | n | p50 ms | p99 ms |\n|---|---|---|---|\n${rows.join("\n")}\n\n` +
      "sequential requests from one client; the rate-limited row raises the request budget so that it is counted but never refused.\n",
  );
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
