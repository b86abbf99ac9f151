// A gate a function waits on: it polls for a file the test creates, so a test decides when
// the function ends instead of guessing with a sleep. The function gets the path in its
// payload ({"gate": path}). Gates live under GATE_ROOT, which the tests' workers show their
// sandboxed functions read-only (WORKER_SANDBOX_READONLY_PATHS); world-readable because
// functions run as a throwaway uid.
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const GATE_ROOT = join(tmpdir(), "faas-gates");

/** Python: waits for payload.gate (when given), then prints {"released": payload.n}. */
export const GATED_PY = [
  "import json, os, time",
  "p = json.loads(os.environ.get('FUNCTION_PAYLOAD') or '{}') or {}",
  "gate = p.get('gate') if isinstance(p, dict) else None",
  "while gate and not os.path.exists(gate):",
  "    time.sleep(0.02)",
  "print(json.dumps({'released': p.get('n') if isinstance(p, dict) else None}))",
  "",
].join("\n");

export interface Gate {
  /** Where the function looks; pass it as payload.gate. */
  path: string;
  open(): Promise<void>;
  remove(): Promise<void>;
}

export async function newGate(): Promise<Gate> {
  await mkdir(GATE_ROOT, { recursive: true, mode: 0o755 });
  await chmod(GATE_ROOT, 0o755);
  const dir = await mkdtemp(join(GATE_ROOT, "gate-"));
  await chmod(dir, 0o755);
  const path = join(dir, "open");
  return {
    path,
    open: () => writeFile(path, "open"),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
