// Where chaos functions report their starts and ends: an HTTP server in a network namespace
// made for the run (sandboxed functions see nothing of the host; with `network: true` they
// reach this address only because the run allows it).
import { createTestNetns, TEST_NETWORK_ALLOW, type TestNetns } from "../test/support/test-network.js";

const SERVER = (port: number) => `import json, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse, parse_qs
lock = threading.Lock(); ends = {}
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        url = urlparse(self.path); q = parse_qs(url.query)
        if url.path in ("/start", "/end"):
            with lock:
                ends.setdefault(q["n"][0], []).append([url.path[1:], q["tag"][0], time.time() * 1000])
        body = json.dumps(ends if url.path == "/ends" else {}).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
ThreadingHTTPServer.daemon_threads = True
server = ThreadingHTTPServer(("0.0.0.0", ${port}), H)
print("ready", flush=True)
server.serve_forever()
`;

export interface RunLog {
  url: string;
  /** FUNCTION_NETWORK_ALLOW for the run: the tests' range (the host's firewall chain is shared with them). */
  allow: string;
  /** Invocation n → the times (ms since the epoch) its runs ended. */
  ends(): Promise<Map<string, number[]>>;
  /** Invocation n → its runs' starts and ends: [event, run tag, ms since the epoch]. */
  events(n: string): Promise<[string, string, number][]>;
  remove(): Promise<void>;
}

export async function createRunLog(): Promise<RunLog> {
  const netns: TestNetns = await createTestNetns(7072, SERVER);
  const url = `http://${netns.allowedAddress}:${netns.port}`;
  return {
    url,
    allow: TEST_NETWORK_ALLOW.join(","),
    ends: async () => {
      const all = (await (await fetch(`${url}/ends`)).json()) as Record<string, [string, string, number][]>;
      return new Map(
        Object.entries(all).map(([n, events]) => [n, events.filter((e) => e[0] === "end").map((e) => e[2])]),
      );
    },
    events: async (n) =>
      ((await (await fetch(`${url}/ends`)).json()) as Record<string, [string, string, number][]>)[n] ?? [],
    remove: () => netns.remove(),
  };
}
