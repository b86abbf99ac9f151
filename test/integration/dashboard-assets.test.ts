// The server side of the dashboard (src/api/dashboard.ts): / and /ui (and every /ui/* client
// route) answer the built index.html, the hashed assets it names are served with their types
// and cached for good, no path leaves dist/dashboard, and a missing build is a clear 503.
// dist/dashboard is built by test/global-setup.ts (or make dashboard) before this runs.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer, request as httpRequest, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test as plainTest } from "vitest";
import { createDashboardHandler, DASHBOARD_DIR, NOT_BUILT_MESSAGE } from "../../src/api/dashboard.js";
import { createLogger } from "../../src/lib/logger.js";
import { platformTest } from "../support/fixtures.js";

const test = platformTest();

interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * A request whose path is sent byte for byte: fetch (and URL) would resolve `..` segments
 * before sending, which is exactly what a hostile client does not do.
 */
function rawGet(base: string, path: string, method = "GET", headers: Record<string, string> = {}): Promise<RawAnswer> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, path, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }),
      );
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

/** The asset URLs the built index.html loads. */
async function builtAssets(): Promise<{ js: string; css: string }> {
  const html = await readFile(join(DASHBOARD_DIR, "index.html"), "utf8");
  const js = /<script[^>]+src="(\/ui\/assets\/[^"]+\.js)"/.exec(html)?.[1];
  const css = /<link[^>]+href="(\/ui\/assets\/[^"]+\.css)"/.exec(html)?.[1];
  if (!js || !css) throw new Error(`dist/dashboard/index.html names no /ui/assets script or stylesheet:\n${html}`);
  return { js, css };
}

describe("dashboard assets", () => {
  test("/, /ui, /ui/ and client routes serve the built index.html, never cached stale", async ({ platform }) => {
    const built = await readFile(join(DASHBOARD_DIR, "index.html"), "utf8");
    for (const path of ["/", "/ui", "/ui/", "/ui/functions", "/ui/functions/abc-123", "/ui/invocations/x/y"]) {
      const res = await rawGet(platform.url, path);
      expect(res.status, path).toBe(200);
      expect(res.headers["content-type"], path).toBe("text/html; charset=utf-8");
      expect(res.headers["cache-control"], path).toBe("no-cache");
      expect(res.body, path).toBe(built);
      // The page may load only from this server.
      expect(res.headers["content-security-policy"], path).toContain("default-src 'none'");
      expect(res.headers["content-security-policy"], path).toContain("script-src 'self'");
    }
    expect(built).toContain('<div id="root">');
  });

  test("the page's script and stylesheet have their types and are cached as immutable", async ({ platform }) => {
    const { js, css } = await builtAssets();
    const script = await rawGet(platform.url, js);
    expect(script.status).toBe(200);
    expect(script.headers["content-type"]).toBe("text/javascript; charset=utf-8");
    expect(script.headers["cache-control"]).toBe("public, max-age=31536000, immutable");
    expect(script.headers["x-content-type-options"]).toBe("nosniff");
    expect(script.body).toBe(await readFile(join(DASHBOARD_DIR, js.slice("/ui/".length)), "utf8"));

    const style = await rawGet(platform.url, css);
    expect(style.status).toBe(200);
    expect(style.headers["content-type"]).toBe("text/css; charset=utf-8");

    // Revalidation: the same ETag is a 304 without a body; HEAD has the headers only.
    const etag = String(script.headers.etag);
    const again = await rawGet(platform.url, js, "GET", { "if-none-match": etag });
    expect(again.status).toBe(304);
    expect(again.body).toBe("");
    const head = await rawGet(platform.url, js, "HEAD");
    expect(head.status).toBe(200);
    expect(head.headers["content-length"]).toBe(String(Buffer.byteLength(script.body)));
    expect(head.body).toBe("");

    const icon = await rawGet(platform.url, "/ui/favicon.svg");
    expect(icon.status).toBe(200);
    expect(icon.headers["content-type"]).toBe("image/svg+xml");
  });

  test("no path reaches a file outside dist/dashboard", async ({ platform }) => {
    const packageJson = await readFile("package.json", "utf8");
    for (const path of [
      "/ui/../../package.json",
      "/ui/../package.json",
      "/ui/assets/../../../package.json",
      "/ui/%2e%2e/%2e%2e/package.json",
      "/ui/assets/..%2f..%2f..%2fpackage.json",
      "/ui/assets/..%5c..%5c..%5cpackage.json",
      "/ui/./index.html",
      "/ui/assets/%00.js",
      "/ui/assets/%E0%A4%A.js",
    ]) {
      const res = await rawGet(platform.url, path);
      expect(res.status, path).toBe(400);
      expect(res.body, path).toBe("bad dashboard path\n");
      expect(res.body, path).not.toContain(packageJson.slice(0, 40));
    }
  });

  test("an unknown file is a 404, not the page; other methods are a 405", async ({ platform }) => {
    for (const path of ["/ui/assets/index-nope1234.js", "/ui/assets/", "/ui/nope.css", "/ui/assets/sub/x.js"]) {
      const res = await rawGet(platform.url, path);
      expect(res.status, path).toBe(404);
      expect(res.headers["content-type"], path).toBe("text/plain; charset=utf-8");
      expect(res.body, path).not.toContain("<html");
    }
    const post = await rawGet(platform.url, "/ui", "POST");
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe("GET, HEAD");
  });

  test("the API around it is unchanged", async ({ platform }) => {
    expect((await platform.request("GET", "/health")).status).toBe(200);
    // Only /ui and below are the dashboard's: a path that merely starts with "ui" is the API's 404.
    const other = await platform.request("GET", "/uix");
    expect(other.status).toBe(404);
    expect(other.body.error.code).toBe("NOT_FOUND");
  });
});

describe("dashboard not built", () => {
  plainTest("every dashboard path is a 503 saying how to build it", async () => {
    const empty = await mkdtemp(join(tmpdir(), "dashboard-missing-"));
    const handler = createDashboardHandler(createLogger("silent", {}), empty);
    const server: Server = createServer((req, res) => void handler(req, res));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const address = server.address();
      if (address === null || typeof address === "string") throw new Error("no port");
      const base = `http://127.0.0.1:${address.port}`;
      for (const path of ["/", "/ui", "/ui/functions/x", "/ui/assets/index-abc.js"]) {
        const res = await rawGet(base, path);
        expect(res.status, path).toBe(503);
        expect(res.headers["content-type"], path).toBe("text/plain; charset=utf-8");
        expect(res.body, path).toBe(NOT_BUILT_MESSAGE);
      }
      expect(NOT_BUILT_MESSAGE).toContain("dashboard not built: run make dashboard");
    } finally {
      await new Promise((resolve) => server.close(resolve));
      await rm(empty, { recursive: true, force: true });
    }
  });
});
