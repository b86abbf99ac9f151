// Scalars: JSON for free-form values (payloads, results, environment, metadata) and
// DateTime as ISO-8601 strings, the same text the REST shim sends.
import type { ValueNode } from "graphql";
import { builder } from "./builder.js";
import { GraphQLError, Kind } from "./graphql-js.js";

function literalToJson(node: ValueNode, variables: Record<string, unknown> | null | undefined): unknown {
  switch (node.kind) {
    case Kind.STRING:
    case Kind.BOOLEAN:
      return node.value;
    case Kind.INT:
    case Kind.FLOAT:
      return Number(node.value);
    case Kind.NULL:
      return null;
    case Kind.LIST:
      return node.values.map((v) => literalToJson(v, variables));
    case Kind.OBJECT:
      return Object.fromEntries(node.fields.map((f) => [f.name.value, literalToJson(f.value, variables)]));
    case Kind.VARIABLE:
      return variables?.[node.name.value];
    default:
      throw new GraphQLError(`unsupported JSON literal ${node.kind}`);
  }
}

builder.scalarType("JSON", {
  description: "Any JSON value.",
  serialize: (value) => value,
  parseValue: (value) => value,
  parseLiteral: (node, variables) => literalToJson(node, variables),
});

builder.scalarType("DateTime", {
  description: "A point in time, as an ISO-8601 string in UTC (e.g. 2024-01-31T12:00:00.000Z).",
  serialize: (value) => {
    const date = value instanceof Date ? value : new Date(String(value));
    if (Number.isNaN(date.getTime())) throw new GraphQLError("DateTime cannot represent an invalid date");
    return date.toISOString();
  },
  parseValue: (value) => {
    const date = new Date(String(value));
    if (typeof value !== "string" || Number.isNaN(date.getTime())) {
      throw new GraphQLError("DateTime must be an ISO-8601 string");
    }
    return date;
  },
});
