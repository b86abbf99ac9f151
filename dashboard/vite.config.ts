// Builds the dashboard (index.html + src/) into dist/dashboard, which the controller serves
// at /ui (src/api/dashboard.ts). Run from the project root: npx vite build --config dashboard/vite.config.ts
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  root: here("."),
  // Assets are requested as /ui/assets/…, the prefix the server routes to this build.
  base: "/ui/",
  publicDir: here("public"),
  // Vite's own TSX transform (oxc), with React's automatic runtime: no React plugin needed.
  oxc: { jsx: { runtime: "automatic", importSource: "react" } },
  // `npx vite --config dashboard/vite.config.ts` for work on the page: it reloads on each
  // change and sends the API calls to a running controller (FAAS_URL, default localhost:8080).
  server: {
    proxy: {
      "/graphql": { target: process.env.FAAS_URL ?? "http://localhost:8080", ws: true },
      "/health": { target: process.env.FAAS_URL ?? "http://localhost:8080" },
    },
  },
  build: {
    outDir: here("../dist/dashboard"),
    // The output is outside root: Vite empties it only when told to.
    emptyOutDir: true,
    assetsDir: "assets",
    target: "es2022",
    sourcemap: false,
    reportCompressedSize: false,
  },
});
