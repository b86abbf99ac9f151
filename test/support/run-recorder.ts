// Sandboxed functions share nothing with the host, so a test that must count a function's
// runs or hold one at a gate talks to it over the network: an HTTP server in a network
// namespace the test creates, on an address the tests' workers allow (TEST_NETWORK_ALLOW).
// Functions using it need `network: true`.
import { createTestNetns, type TestNetns } from "./test-network.js";

/** /start answers the run's number; /gate blocks until the test opened it; /end records the end. */
const RECORDER = (port: number) => `import json, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
lock = threading.Lock(); opened = threading.Event(); counts = {"start": 0, "end": 0}
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def answer(self, body):
        data = json.dumps(body).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(data))); self.end_headers(); self.wfile.write(data)
    def do_GET(self):
        if self.path in ("/start", "/end"):
            with lock:
                counts[self.path[1:]] += 1; n = counts[self.path[1:]]
            return self.answer({"n": n})
        if self.path == "/gate":
            opened.wait(120); return self.answer({"open": opened.is_set()})
        if self.path == "/open":
            opened.set(); return self.answer({})
        return self.answer(counts)
ThreadingHTTPServer.daemon_threads = True
server = ThreadingHTTPServer(("0.0.0.0", ${port}), H)
print("ready", flush=True)
server.serve_forever()
`;

export interface RunRecorder {
  /** Base URL functions call (http://address:port). */
  url: string;
  counts(): Promise<{ start: number; end: number }>;
  openGate(): Promise<void>;
  remove(): Promise<void>;
}

export async function createRunRecorder(): Promise<RunRecorder> {
  const netns: TestNetns = await createTestNetns(7071, RECORDER);
  const url = `http://${netns.allowedAddress}:${netns.port}`;
  return {
    url,
    counts: async () => (await fetch(`${url}/counts`)).json() as Promise<{ start: number; end: number }>,
    openGate: async () => void (await fetch(`${url}/open`)).arrayBuffer(),
    remove: () => netns.remove(),
  };
}

/**
 * Python: counts its run at RECORDER (payload or environment), waits at the gate when it is
 * run 1, records its end, and answers {"run": n}.
 */
export const COUNTING_PY = `import json, os, urllib.request
base = os.environ["RECORDER"]
get = lambda path: json.load(urllib.request.urlopen(base + path, timeout=130))
n = get("/start")["n"]
if n == 1:
    get("/gate")
get("/end")
print(json.dumps({"run": n}))
`;
