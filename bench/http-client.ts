// The benchmarks' HTTP client: node:http on keep-alive connections. Global fetch (undici)
// costs the client itself about 0.4 ms of CPU and 0.7 ms of latency per request on this
// project's 2-core machine, against 0.07 ms for this (both against a trivial node:http
// server): on one machine, client and platform share the CPU, and a heavier client would be
// counted as the platform's latency and take CPU from its burst.
import http from "node:http";

export interface BenchResponse {
  status: number;
  body: any;
}

export class BenchClient {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 512 });

  constructor(private readonly baseUrl: string) {}

  async request(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<BenchResponse> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.once(method, path, body, headers);
      } catch (err) {
        // The server closed an idle keep-alive connection as this request went out on it:
        // nothing reached the API, so it is sent again on a new one (Node's own advice).
        if (!(err instanceof StaleConnectionError) || attempt >= 3) throw err;
      }
    }
  }

  private once(method: string, path: string, body: unknown, headers: Record<string, string>): Promise<BenchResponse> {
    const text = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = http.request(
        `${this.baseUrl}${path}`,
        {
          method,
          agent: this.agent,
          headers: {
            ...headers,
            ...(text === undefined
              ? {}
              : { "content-type": "application/json", "content-length": Buffer.byteLength(text) }),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("error", reject);
          res.on("end", () => {
            const raw = Buffer.concat(chunks).toString("utf8");
            let parsed: unknown = raw;
            try {
              parsed = JSON.parse(raw);
            } catch {
              // not JSON: the text itself
            }
            resolve({ status: res.statusCode ?? 0, body: parsed });
          });
        },
      );
      req.on("error", (err: NodeJS.ErrnoException) => {
        const stale = req.reusedSocket && (err.code === "ECONNRESET" || err.code === "EPIPE");
        reject(stale ? new StaleConnectionError(err) : err);
      });
      req.end(text);
    });
  }

  /**
   * One invocation of the benchmarks, waited for by the API (?wait): its latency in ms, or
   * null with the answer when it did not complete.
   */
  async invokeWaiting(functionId: string, i: number): Promise<{ ms: number } | { ms: null; answer: string }> {
    const started = performance.now();
    const res = await this.request("POST", "/invoke?wait=120s", {
      function_id: functionId,
      payload: { name: `b${i}` },
    });
    if (res.body?.data?.status === "completed") return { ms: performance.now() - started };
    return { ms: null, answer: JSON.stringify(res.body?.data ?? res.body).slice(0, 300) };
  }

  close(): void {
    this.agent.destroy();
  }
}

class StaleConnectionError extends Error {
  constructor(override readonly cause: Error) {
    super(`a reused connection was closed: ${cause.message}`);
  }
}
