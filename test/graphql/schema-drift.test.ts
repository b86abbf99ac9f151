// schema.graphql and the typed documents of the tests and of the dashboard are generated
// (codegen.ts) and committed; this fails when any no longer matches what the code and the
// documents produce.
// Regenerate with: npx graphql-codegen --config codegen.ts
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { generate } from "@graphql-codegen/cli";
import type { Types } from "@graphql-codegen/plugin-helpers";
import { describe, expect, test } from "vitest";
import config from "../../codegen.js";
import { ROOT } from "../support/platform.js";

describe("generated GraphQL files", () => {
  test("schema.graphql, test/graphql/generated and dashboard/src/gql match the code", async () => {
    const outputs: Types.FileOutput[] = await generate({ ...config, cwd: ROOT, silent: true }, false);
    const files = outputs.map((o) => o.filename).sort();
    expect(files).toEqual(
      expect.arrayContaining(["schema.graphql", "test/graphql/generated/graphql.ts", "dashboard/src/gql/graphql.ts"]),
    );
    for (const output of outputs) {
      const committed = await readFile(join(ROOT, output.filename), "utf8").catch(() => "(missing)");
      expect(committed, `${output.filename} is stale: run npx graphql-codegen --config codegen.ts`).toBe(
        output.content,
      );
    }
  });
});
