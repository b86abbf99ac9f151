// GraphQL Code Generator: `npx graphql-codegen` prints the schema built in code (Pothos) to
// the committed schema.graphql, and generates typed documents for the tests from
// test/graphql/documents. test/graphql/schema-drift.test.ts fails when either is stale.
import type { CodegenConfig } from "@graphql-codegen/cli";
import { printSchemaSdl } from "./src/api/graphql/schema.js";

const config: CodegenConfig = {
  // The SDL text rather than a file: the schema's source of truth is the code.
  schema: printSchemaSdl(),
  documents: ["test/graphql/documents/**/*.graphql"],
  ignoreNoDocuments: false,
  generates: {
    "schema.graphql": {
      plugins: ["schema-ast"],
      config: { includeDirectives: false, sort: true },
    },
    "test/graphql/generated/": {
      preset: "client",
      presetConfig: { fragmentMasking: false },
      config: {
        useTypeImports: true,
        enumsAsTypes: true,
        emitLegacyCommonJSImports: false,
        scalars: { ID: "string", JSON: "unknown", DateTime: "string" },
      },
    },
  },
};

export default config;
