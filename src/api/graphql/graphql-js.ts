// The graphql-js values this folder uses, from the one copy the libraries use.
//
// graphql 16 ships a CommonJS build (index.js) and an ES module build (index.mjs) without
// an "exports" map: Node resolves "graphql" to the CommonJS build (so Pothos, Yoga and
// graphql-ws get that one), while Vite, and so vitest, resolves it to the ES module. Two
// copies in one process break graphql-js's instanceof checks ("Cannot use GraphQLSchema
// from another module or realm", GraphQLErrors seen as unexpected). Naming the file pins
// ours to the copy Node picks, under tsx and vitest alike.
export { GraphQLError, Kind, NoSchemaIntrospectionCustomRule, printSchema } from "graphql/index.js";
