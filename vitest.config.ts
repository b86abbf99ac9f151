import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Integration tests start real processes, containers and servers: give them room,
    // but every wait inside a test is on an event, never a sleep.
    testTimeout: 120_000,
    hookTimeout: 180_000,
    // Two cores: run files two at a time; each file isolates itself (own database,
    // own Redis key prefix, labelled containers).
    maxWorkers: 2,
    globalSetup: ["test/global-setup.ts"],
  },
});
