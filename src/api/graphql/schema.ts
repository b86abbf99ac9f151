// The executable schema: every feature file registers its types on the shared builder.
import { builder } from "./builder.js";
import { printSchema } from "./graphql-js.js";
import "./scalars.js";
import "./enums.js";
import "./errors.js";
import "./invocation-types.js";
import "./function-types.js";
import "./function-mutations.js";
import "./invocation-mutations.js";
import "./subscriptions.js";
import "./api-key-types.js";

// Sorted, so the printed SDL does not depend on the order the files register types in.
export const schema = builder.toSchema({ sortSchema: true });

/** The SDL committed as schema.graphql (codegen prints it; a test checks it has not drifted). */
export function printSchemaSdl(): string {
  return printSchema(schema);
}
