// GET /, /ui and /ui/*: the web dashboard. Its React front end lives in dashboard/ and is
// built by Vite into dist/dashboard (make dashboard); this serves those files and nothing
// else, so the page works offline. The page and its files are public: they hold no data, and
// every GraphQL call the page makes carries the user's own API key.
import { createHash } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { extname, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import type { Logger } from "../lib/logger.js";

/**
 * dist/dashboard from the project root: from src/api in development and from dist/api once
 * compiled (the image keeps dist/ beside package.json), "../../" is the root either way.
 */
export const DASHBOARD_DIR = fileURLToPath(new URL("../../dist/dashboard/", import.meta.url));

/** The URL prefix of client routes and assets (Vite's `base`). */
export const DASHBOARD_BASE = "/ui";

export const NOT_BUILT_MESSAGE = "dashboard not built: run make dashboard\n";

export function isDashboardPath(path: string): boolean {
  return path === "/" || path === DASHBOARD_BASE || path.startsWith(`${DASHBOARD_BASE}/`);
}

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".txt": "text/plain; charset=utf-8",
};

/**
 * Everything the page loads comes from this server; its WebSocket too ('self' covers ws: and
 * wss: of the same host). No inline script or style: Vite emits files only.
 */
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

/** Vite puts content-hashed names under assets/: such a file never changes. */
const IMMUTABLE = "public, max-age=31536000, immutable";

type Target = { kind: "file"; relative: string; cache: string } | { kind: "index" } | { kind: "refused" };

/**
 * Which file a path names, from the raw (still percent-encoded) path. Any `.` or `..` segment,
 * backslash, NUL or undecodable escape is refused before a file name is built, so no request
 * can leave dist/dashboard; the resolved name is checked against the directory again anyway.
 */
function dashboardTarget(rawPath: string): Target {
  const rest = rawPath === "/" || rawPath === DASHBOARD_BASE ? "" : rawPath.slice(DASHBOARD_BASE.length + 1);
  let segments: string[];
  try {
    segments = rest.split("/").map((s) => decodeURIComponent(s));
  } catch {
    return { kind: "refused" };
  }
  if (segments.some((s) => s === "." || s === ".." || /[\\\0]/.test(s) || s.includes("/"))) return { kind: "refused" };
  const named = segments.filter((s) => s !== "");
  const last = named.at(-1) ?? "";
  if (named[0] === "assets") return { kind: "file", relative: named.join("/"), cache: IMMUTABLE };
  // A name with an extension is a file (favicon.svg); anything else is a client route
  // (/ui/functions/<id>) that the page's router draws, so it gets index.html.
  if (extname(last) !== "") return { kind: "file", relative: named.join("/"), cache: "public, max-age=3600" };
  return { kind: "index" };
}

function sendText(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, {
    "content-type": "text/plain; charset=utf-8",
    "content-length": Buffer.byteLength(text),
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
    ...headers,
  });
  res.end(text);
}

/** A file of dir, or null when there is none (or it is a directory). */
async function readIn(dir: string, relative: string): Promise<{ body: Buffer; etag: string } | null> {
  const path = resolve(dir, relative);
  if (!path.startsWith(resolve(dir) + sep)) return null;
  try {
    const info = await stat(path);
    if (!info.isFile()) return null;
    const body = await readFile(path);
    const etag = `"${createHash("sha1").update(body).digest("base64url").slice(0, 20)}"`;
    return { body, etag };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT" || (err as NodeJS.ErrnoException).code === "ENOTDIR")
      return null;
    throw err;
  }
}

export function createDashboardHandler(logger: Logger, dir: string = DASHBOARD_DIR) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    try {
      if (req.method !== "GET" && req.method !== "HEAD") {
        sendText(res, 405, `${req.method} is not allowed on the dashboard\n`, { allow: "GET, HEAD" });
        return;
      }
      const rawPath = (req.url ?? "/").split("?")[0] ?? "/";
      const target = dashboardTarget(rawPath);
      if (target.kind === "refused") {
        sendText(res, 400, "bad dashboard path\n");
        return;
      }
      const file = await readIn(dir, target.kind === "index" ? "index.html" : target.relative);
      if (file === null) {
        // Missing: one file, or (no index.html either) the whole build. Looked at only now, so
        // that a file served costs one read, not two.
        const built = target.kind === "file" && (await readIn(dir, "index.html")) !== null;
        if (built) sendText(res, 404, `no such dashboard file: ${rawPath.slice(0, 200)}\n`);
        else sendText(res, 503, NOT_BUILT_MESSAGE);
        return;
      }
      const isIndex = target.kind === "index";
      const type = isIndex ? CONTENT_TYPES[".html"] : CONTENT_TYPES[extname(target.relative).toLowerCase()];
      const headers: Record<string, string> = {
        "content-type": type ?? "application/octet-stream",
        "x-content-type-options": "nosniff",
        // The page must always be current (it names the hashed assets of the latest build).
        "cache-control": isIndex ? "no-cache" : target.cache,
        etag: file.etag,
        ...(isIndex ? { "content-security-policy": CSP, "referrer-policy": "no-referrer" } : {}),
      };
      if (req.headers["if-none-match"] === file.etag) {
        res.writeHead(304, headers);
        res.end();
        return;
      }
      res.writeHead(200, { ...headers, "content-length": String(file.body.length) });
      res.end(req.method === "HEAD" ? undefined : file.body);
    } catch (err) {
      logger.error("dashboard: cannot serve a file", { err });
      if (!res.headersSent) sendText(res, 500, "internal server error\n");
      else res.destroy();
    }
  };
}
