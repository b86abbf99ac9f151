// The Pothos schema builder shared by every feature file. Plugin order matters: the errors
// plugin must come before the prisma plugin so `errors` works on prisma fields.
import SchemaBuilder from "@pothos/core";
import ComplexityPlugin from "@pothos/plugin-complexity";
import ErrorsPlugin from "@pothos/plugin-errors";
import PrismaPlugin from "@pothos/plugin-prisma";
import RelayPlugin from "@pothos/plugin-relay";
import ValidationPlugin from "@pothos/plugin-validation";
import type PrismaTypes from "../../generated/pothos-prisma-types.js";
import { getDatamodel } from "../../generated/pothos-prisma-types.js";
import type { GraphqlContext } from "./context.js";

export const builder = new SchemaBuilder<{
  Context: GraphqlContext;
  PrismaTypes: PrismaTypes;
  DefaultFieldNullability: false;
  DefaultInputFieldRequiredness: false;
  Scalars: {
    ID: { Input: string; Output: string };
    JSON: { Input: unknown; Output: unknown };
    DateTime: { Input: Date; Output: Date };
  };
}>({
  plugins: [ErrorsPlugin, PrismaPlugin, RelayPlugin, ValidationPlugin, ComplexityPlugin],
  // Non-null unless a field says otherwise: clients need not null-check what is always there.
  defaultFieldNullability: false,
  prisma: {
    // The client is the App's (per context), so the schema itself is static: it can be
    // printed and type-checked without a database.
    client: (ctx) => ctx.app.db,
    dmmf: getDatamodel(),
    exposeDescriptions: false,
    filterConnectionTotalCount: true,
    onUnusedQuery: null,
  },
  relay: {
    clientMutationId: "omit",
    cursorType: "String",
    // No global object identification: ids are the platform's UUIDs, as in REST.
    nodeQueryOptions: false,
    nodesQueryOptions: false,
  },
  complexity: {
    defaultComplexity: 1,
    // Lists here are bounded by their connection's page size, which the connection field
    // already counts as its multiplier (see connectionComplexity).
    defaultListMultiplier: 1,
  },
  errors: {
    defaultTypes: [],
  },
});

builder.queryType({});
builder.mutationType({});
builder.subscriptionType({});
