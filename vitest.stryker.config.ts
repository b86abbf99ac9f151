// The suite as StrykerJS runs it (stryker.config.mjs): the project's vitest.config.ts with
// two differences.
//
// - No test/e2e. quick-reference.test.ts runs the platform on the documented defaults
//   (port 8080, database "faas", Redis prefix "faas"): two Stryker test runners running it at
//   once, or one next to a `make dev`, would collide and count the collision as a killed
//   mutant. graphiql.test.ts drives headless Chromium through the GraphiQL page, which holds
//   none of the mutated promises. `make test` still runs both.
// - No globalSetup. It regenerates the Prisma client into src/generated; every Stryker test
//   runner (and each restart after a timed-out mutant) would rewrite those files in the one
//   shared sandbox while another runner imports them. `make mutation` generates the client
//   before Stryker copies the project into its sandbox.
import { configDefaults, defineConfig } from "vitest/config";
import base from "./vitest.config.js";

export default defineConfig({
  ...base,
  test: {
    ...base.test,
    exclude: [...configDefaults.exclude, "test/e2e/**"],
    globalSetup: [],
  },
});
