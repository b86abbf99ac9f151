// GraphQL Code Generator: `npx graphql-codegen` prints the schema built in code (Pothos) to
// the committed schema.graphql, and generates typed documents for the tests from
// test/graphql/documents and for the dashboard from dashboard/src/operations.
// test/graphql/schema-drift.test.ts fails when any of them is stale.
import type { CodegenConfig } from "@graphql-codegen/cli";
import { printSchemaSdl } from "./src/api/graphql/schema.js";

/** Both sets of typed documents read the scalars the same way. */
const clientConfig = {
  useTypeImports: true,
  enumsAsTypes: true,
  emitLegacyCommonJSImports: false,
  scalars: { ID: "string", JSON: "unknown", DateTime: "string" },
};

const config: CodegenConfig = {
  // The SDL text rather than a file: the schema's source of truth is the code.
  schema: printSchemaSdl(),
  ignoreNoDocuments: false,
  generates: {
    "schema.graphql": {
      plugins: ["schema-ast"],
      config: { includeDirectives: false, sort: true },
    },
    "test/graphql/generated/": {
      documents: ["test/graphql/documents/**/*.graphql"],
      preset: "client",
      presetConfig: { fragmentMasking: false },
      config: clientConfig,
    },
    "dashboard/src/gql/": {
      documents: ["dashboard/src/operations/**/*.graphql"],
      preset: "client",
      presetConfig: { fragmentMasking: false },
      // Documents as typed strings: fetch and graphql-ws send text, so the browser bundle
      // needs no GraphQL parser or printer.
      config: { ...clientConfig, documentMode: "string" },
    },
  },
};

export default config;
