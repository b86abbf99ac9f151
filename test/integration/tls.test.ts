// TLS_CERT_FILE / TLS_KEY_FILE: REST, GraphQL over HTTP and GraphQL over WebSocket on one
// HTTPS port, with a certificate generated for the test; plain HTTP gets no API answer there,
// and a certificate problem stops start() with a message naming the variable to fix.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { createClient } from "graphql-ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { ApiServer } from "../../src/api/server.js";
import type { Platform } from "../support/platform.js";
import { ROOT, startPlatform } from "../support/platform.js";

let dir: string;
let ca: Buffer;
let platform: Platform;

/** A self-signed certificate for localhost and 127.0.0.1 and its key, as PEM files in `dir`. */
function generateCertificate(name: string, subject: string): { certFile: string; keyFile: string } {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "1",
      "-subj",
      `/CN=${subject}`,
      "-addext",
      "subjectAltName=DNS:localhost,IP:127.0.0.1",
      "-keyout",
      keyFile,
      "-out",
      certFile,
    ],
    { stdio: "ignore" },
  );
  return { certFile, keyFile };
}

interface Answer {
  status: number;
  body: any;
}

/** An HTTPS request that trusts the test's certificate (and nothing else). */
function secure(method: string, path: string, body?: unknown, base = platform.url): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      `${base}${path}`,
      { method, ca, headers: { "content-type": "application/json", accept: "application/json" } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) });
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/** `tsx src/main.ts controller` with the platform's environment and `env`; its log lines as they come. */
function spawnController(env: Record<string, string>): {
  child: ChildProcess;
  exited: Promise<number | null>;
  line(msg: RegExp): Promise<Record<string, unknown>>;
  /** Everything it wrote to stderr so far. */
  output(): string;
} {
  const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "src/main.ts"), "controller"], {
    cwd: ROOT,
    env: { ...platform.env, LOG_LEVEL: "info", ...env } as NodeJS.ProcessEnv,
    stdio: ["ignore", "ignore", "pipe"],
  });
  children.push(child);
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const lines: Record<string, unknown>[] = [];
  const waiting: { msg: RegExp; resolve: (line: Record<string, unknown>) => void }[] = [];
  createInterface({ input: child.stderr! }).on("line", (text) => {
    let line: Record<string, unknown>;
    try {
      line = JSON.parse(text);
    } catch {
      line = { msg: text };
    }
    lines.push(line);
    for (const w of waiting) if (w.msg.test(String(line.msg))) w.resolve(line);
  });
  const line = (msg: RegExp) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const seen = lines.find((l) => msg.test(String(l.msg)));
      if (seen) return resolve(seen);
      waiting.push({ msg, resolve });
      void exited.then((code) =>
        reject(new Error(`controller exited (${code}) before logging ${msg}: ${JSON.stringify(lines)}`)),
      );
    });
  const output = () => lines.map((l) => String(l.msg)).join("\n");
  return { child, exited, line, output };
}

const children: ChildProcess[] = [];

/** graphql-ws's client needs a WebSocket class; this one trusts the test's certificate. */
class TrustingWebSocket extends WebSocket {
  constructor(address: string, protocols?: string | string[]) {
    super(address, protocols, { ca });
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "faas-tls-"));
  const { certFile, keyFile } = generateCertificate("server", "localhost");
  ca = readFileSync(certFile);
  platform = await startPlatform({ env: { TLS_CERT_FILE: certFile, TLS_KEY_FILE: keyFile } });
});

afterAll(async () => {
  for (const child of children) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGKILL");
    await exited;
  }
  await platform?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("TLS", () => {
  it("serves REST over HTTPS", async () => {
    expect(platform.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const health = await secure("GET", "/health");
    expect(health.status).toBe(200);
    expect(health.body.data).toMatchObject({ status: "ok", checks: { postgres: "ok", redis: "ok" } });
  });

  it("serves GraphQL over HTTPS", async () => {
    const res = await secure("POST", "/graphql", { query: "{ functions(first: 1) { edges { cursor } } }" });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ data: { functions: { edges: [] } } });
  });

  it("serves GraphQL subscriptions over WSS", async () => {
    const code = readFileSync(join(ROOT, "test/fixtures/functions/hello.py")).toString("base64");
    const created = await secure("POST", "/functions", { name: "tls-hello", runtime: "python", handler: "main", code });
    expect(created.status).toBe(201);
    const invoked = await secure("POST", "/invoke", { function_id: created.body.data.id, payload: { name: "TLS" } });
    expect(invoked.status).toBe(202);
    const id: string = invoked.body.data.invocation_id;

    const client = createClient({
      url: `${platform.url.replace(/^https/, "wss")}/graphql`,
      webSocketImpl: TrustingWebSocket,
      retryAttempts: 0,
      lazy: true,
    });
    try {
      const updates = client.iterate({
        query: "subscription ($id: ID!) { invocationUpdated(id: $id) { id status } }",
        variables: { id },
      });
      // No worker runs: the subscription delivers the current state, PENDING.
      const first = await updates.next();
      expect(first.value).toEqual({ data: { invocationUpdated: { id, status: "PENDING" } } });
      await updates.return?.();
    } finally {
      await client.dispose();
    }
  });

  it("gives plain HTTP on the TLS port no API answer", async () => {
    const { port } = new URL(platform.url);
    const outcome = await new Promise<string>((resolve) => {
      const req = httpRequest({ host: "127.0.0.1", port, path: "/health", method: "GET" }, (res) => {
        res.resume();
        resolve(`HTTP ${res.statusCode}`);
      });
      req.on("error", (err) => resolve(`error ${(err as NodeJS.ErrnoException).code ?? err.message}`));
      req.end();
    });
    // The TLS handshake fails on a plaintext request: the connection is closed unanswered.
    expect(outcome).toMatch(/^error /);
  });

  it("refuses to start on a missing file, a file that is not PEM, or a key of another certificate", async () => {
    const server = generateCertificate("server", "localhost");
    const other = generateCertificate("other", "other");
    const junk = join(dir, "junk.pem");
    await writeFile(junk, "not a certificate\n");
    const start = (tls: { certFile: string; keyFile: string }) =>
      new ApiServer(platform.app, { host: "127.0.0.1", port: 0, bodyLimitBytes: 1024, tls }).start();

    await expect(start({ certFile: join(dir, "missing.crt"), keyFile: server.keyFile })).rejects.toThrow(
      /TLS_CERT_FILE: cannot read .*missing\.crt/,
    );
    await expect(start({ certFile: server.certFile, keyFile: join(dir, "missing.key") })).rejects.toThrow(
      /TLS_KEY_FILE: cannot read .*missing\.key/,
    );
    await expect(start({ certFile: junk, keyFile: server.keyFile })).rejects.toThrow(
      /TLS_CERT_FILE: .*junk\.pem is not a PEM certificate/,
    );
    await expect(start({ certFile: server.certFile, keyFile: junk })).rejects.toThrow(
      /TLS_KEY_FILE: .*junk\.pem is not an unencrypted PEM private key/,
    );
    await expect(start({ certFile: server.certFile, keyFile: other.keyFile })).rejects.toThrow(
      /TLS_KEY_FILE: .*other\.key is not an unencrypted PEM private key of the certificate in TLS_CERT_FILE \(.*mismatch/,
    );
  });

  it("the controller command serves HTTPS from TLS_CERT_FILE and TLS_KEY_FILE, and does not start with a wrong key", async () => {
    const { certFile, keyFile } = generateCertificate("cli", "localhost");
    const other = generateCertificate("cli-other", "other");
    ca = Buffer.concat([ca, readFileSync(certFile)]);
    const controller = spawnController({ TLS_CERT_FILE: certFile, TLS_KEY_FILE: keyFile });
    const listening = await controller.line(/^controller listening$/);
    expect(listening.tls).toBe(true);
    expect(String((await controller.line(/^REST at /)).msg)).toMatch(/^REST at https:\/\//);
    const health = await secure("GET", "/health", undefined, `https://127.0.0.1:${listening.port}`);
    expect(health.status).toBe(200);

    const wrong = spawnController({ TLS_CERT_FILE: certFile, TLS_KEY_FILE: other.keyFile });
    expect(await wrong.exited).not.toBe(0);
    expect(wrong.output()).toMatch(/TLS_KEY_FILE: .*cli-other\.key is not an unencrypted PEM private key/);
  });
});
