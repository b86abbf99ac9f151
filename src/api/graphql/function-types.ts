// Functions: the Function type (Prisma-backed) and the queries that read them.

import type { Runtime } from "../../functions/function-input.js";
import { formatDuration } from "../../lib/duration.js";
import { newestFirst } from "../../lib/pagination.js";
import { builder } from "./builder.js";
import { connectionComplexity, PAGE_ARG_PATHS, pageArgs, pageRequest, toConnection } from "./connections.js";
import { allowed } from "./context.js";
import { InvocationStatusEnum, RuntimeEnum } from "./enums.js";
import { located } from "./errors.js";
import { InvocationConnection } from "./invocation-types.js";

export const FunctionRef = builder.prismaObject("FaasFunction", {
  name: "Function",
  description: "An uploaded function: one version of its code and how to run it.",
  fields: (t) => ({
    id: t.exposeID("id"),
    name: t.exposeString("name"),
    version: t.exposeString("version"),
    runtime: t.field({ type: RuntimeEnum, resolve: (fn) => fn.runtime as Runtime }),
    handler: t.exposeString("handler"),
    codeSha256: t.exposeString("codeSha256", { description: "SHA-256 of the decoded source." }),
    codeSize: t.exposeInt("codeSize", { description: "Size of the decoded source in bytes." }),
    timeout: t.string({
      description: 'Time limit as a duration such as "30s".',
      resolve: (fn) => formatDuration(fn.timeoutMs),
    }),
    timeoutMs: t.exposeInt("timeoutMs"),
    memoryMb: t.exposeInt("memoryMb"),
    maxConcurrency: t.exposeInt("maxConcurrency", {
      description: "Most invocations running at once, across all workers.",
    }),
    network: t.exposeBoolean("networkEnabled", { description: "Whether the function may use the network." }),
    environment: t.field({
      type: "JSON",
      nullable: true,
      description:
        "Environment variables (an object of strings). Secrets: null unless the caller's role may edit functions (admin, developer).",
      // Stored sealed; decrypted here, by FunctionService.environmentOf, the one place that reveals it.
      resolve: (fn, _args, { app, caller }) =>
        caller.may("functions:secrets") ? app.functions.environmentOf(fn) : null,
    }),
    metadata: t.expose("metadata", { type: "JSON" }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    updatedAt: t.expose("updatedAt", { type: "DateTime" }),
    // Loaded by the prisma plugin: for a list of functions, one batched query for all of
    // their invocations instead of one per function.
    invocations: t.relatedConnection(
      "invocations",
      {
        cursor: "id",
        description: "Invocations of this function, newest first.",
        args: { status: t.arg({ type: InvocationStatusEnum }) },
        query: (args) => ({ where: args.status ? { status: args.status } : {}, orderBy: newestFirst }),
        complexity: (args) => connectionComplexity({ first: args.first ?? args.last }),
      },
      InvocationConnection,
    ),
  }),
});

const FunctionConnection = builder.connectionObject(
  { type: FunctionRef, name: "FunctionConnection" },
  { name: "FunctionEdge" },
);

const FunctionFilter = builder.inputType("FunctionFilter", {
  fields: (t) => ({
    runtime: t.field({ type: RuntimeEnum }),
    name: t.string({ description: "Exact function name (all of its versions)." }),
  }),
});

builder.queryFields((t) => ({
  function: t.field({
    type: FunctionRef,
    nullable: true,
    description: "One function by id (error NOT_FOUND when there is none).",
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, ctx) =>
      located(null, () => ctx.app.functions.get(id, allowed(ctx, "functions:read").functionScope)),
  }),
  functions: t.field({
    type: FunctionConnection,
    description: "Functions, newest first.",
    args: { ...pageArgs, filter: t.arg({ type: FunctionFilter }) },
    complexity: connectionComplexity,
    resolve: (_root, args, ctx) =>
      located(
        "filter",
        async () => {
          const { functionScope } = allowed(ctx, "functions:read");
          const filter = { runtime: args.filter?.runtime ?? undefined, name: args.filter?.name ?? undefined };
          return toConnection(await ctx.app.functions.list(filter, pageRequest(args), functionScope), args.after);
        },
        PAGE_ARG_PATHS,
      ),
  }),
}));
