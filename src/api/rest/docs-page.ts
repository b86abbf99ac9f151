// GET /docs: the interactive API reference (Swagger UI) for GET /openapi.json. Everything it
// loads comes from this server: the installed swagger-ui-dist package's files, served by
// GET /docs/{asset}, and a small inline script; no CDN, so it works offline. Its
// Content-Security-Policy lets the page load nothing from anywhere else.
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { ServerResponse } from "node:http";
import { join } from "node:path";
import getAbsoluteFSPath from "swagger-ui-dist/absolute-path.js";
import { NotFoundError } from "../../errors.js";

export const DOCS_PATH = "/docs";
export const OPENAPI_PATH = "/openapi.json";

/** The files of swagger-ui-dist the page may load, and their types: nothing else is served. */
export const DOCS_ASSETS: Readonly<Record<string, string>> = {
  "swagger-ui.css": "text/css; charset=utf-8",
  "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
  "favicon-32x32.png": "image/png",
  "favicon-16x16.png": "image/png",
};

const INIT_SCRIPT = `window.ui = SwaggerUIBundle({
  url: ${JSON.stringify(OPENAPI_PATH)},
  dom_id: "#swagger-ui",
  deepLinking: true,
  persistAuthorization: true,
  tryItOutEnabled: false,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});`;

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>FaaS platform: REST API reference</title>
<link rel="stylesheet" href="${DOCS_PATH}/swagger-ui.css">
<link rel="icon" type="image/png" href="${DOCS_PATH}/favicon-32x32.png" sizes="32x32">
<link rel="icon" type="image/png" href="${DOCS_PATH}/favicon-16x16.png" sizes="16x16">
</head>
<body>
<div id="swagger-ui"></div>
<script src="${DOCS_PATH}/swagger-ui-bundle.js"></script>
<script>
${INIT_SCRIPT}
</script>
</body>
</html>
`;

const scriptHash = createHash("sha256").update(`\n${INIT_SCRIPT}\n`).digest("base64");

/**
 * Only this server, and only the one inline script above. Swagger UI sets inline styles and
 * draws some icons as data: URLs.
 */
const CSP = [
  "default-src 'none'",
  `script-src 'self' 'sha256-${scriptHash}'`,
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

function send(res: ServerResponse, type: string, body: string | Buffer, headers: Record<string, string> = {}): void {
  res.writeHead(200, {
    "content-type": type,
    "content-length": Buffer.byteLength(body),
    "x-content-type-options": "nosniff",
    ...headers,
  });
  res.end(body);
}

export function sendDocsPage(res: ServerResponse): void {
  send(res, "text/html; charset=utf-8", PAGE, { "content-security-policy": CSP, "cache-control": "no-cache" });
}

export function sendOpenApi(res: ServerResponse, json: string): void {
  send(res, "application/json; charset=utf-8", json, { "cache-control": "no-cache" });
}

const assets = new Map<string, Promise<Buffer>>();

/** One whitelisted file of swagger-ui-dist (read once, then kept); any other name is a 404. */
export async function sendDocsAsset(res: ServerResponse, name: string): Promise<void> {
  const type = Object.hasOwn(DOCS_ASSETS, name) ? DOCS_ASSETS[name] : undefined;
  if (type === undefined) throw new NotFoundError("asset", name);
  let file = assets.get(name);
  if (!file) {
    file = readFile(join(getAbsoluteFSPath(), name));
    assets.set(name, file);
    file.catch(() => assets.delete(name));
  }
  send(res, type, await file, { "cache-control": "public, max-age=3600" });
}
