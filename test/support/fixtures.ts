// vitest fixtures: `platform` is started once per test file and stopped after it.
import { test as base } from "vitest";
import { type Platform, type PlatformOptions, startPlatform } from "./platform.js";

export function platformTest(options: PlatformOptions = {}) {
  return base.extend<{ $file: { platform: Platform } }>({
    platform: [
      // biome-ignore lint/correctness/noEmptyPattern: vitest reads the fixture's dependencies from this pattern
      async ({}, use) => {
        const platform = await startPlatform(options);
        try {
          await use(platform);
        } finally {
          await platform.stop();
        }
      },
      { scope: "file" },
    ],
  });
}
