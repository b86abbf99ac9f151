// Headless Chromium for browser tests (Debian's chromium, driven by playwright-core): a fresh
// profile per test file, no network of its own beyond this machine, closed and removed after.
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium } from "playwright-core";
import { afterAll, beforeAll } from "vitest";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/**
 * Launches Chromium before the file's tests and closes it after; the getter returns the
 * running browser. `name` labels the profile directory.
 */
export function useChromium(name: string): () => BrowserContext {
  let browser: BrowserContext | undefined;
  let profileDir: string | undefined;
  beforeAll(async () => {
    if (!existsSync(CHROMIUM))
      throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)`);
    profileDir = await mkdtemp(join(tmpdir(), `${name}-chromium-`));
    // A fresh profile per run (Playwright takes it as the persistent context's directory).
    browser = await chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
  });
  afterAll(async () => {
    await browser?.close();
    if (profileDir) await rm(profileDir, { recursive: true, force: true });
  });
  return () => {
    if (!browser) throw new Error("Chromium is not running (used outside the file's tests?)");
    return browser;
  };
}
