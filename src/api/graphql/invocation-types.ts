// Invocations: the Invocation type (Prisma-backed) and the queries that read them.
import { formatDuration } from "../../lib/duration.js";
import { builder } from "./builder.js";
import { connectionComplexity, PAGE_ARG_PATHS, pageArgs, pageRequest, toConnection } from "./connections.js";
import { allowed } from "./context.js";
import { InvocationStatusEnum } from "./enums.js";
import { located } from "./errors.js";

export const InvocationRef = builder.prismaObject("Invocation", {
  description: "One run of a function with a payload, and its outcome.",
  fields: (t) => ({
    id: t.exposeID("id"),
    functionId: t.exposeID("functionId"),
    // A relation, so a list of invocations loads their functions in one batched query.
    function: t.relation("function"),
    status: t.expose("status", { type: InvocationStatusEnum }),
    payload: t.expose("payload", {
      type: "JSON",
      nullable: true,
      description: "The JSON payload it was invoked with.",
    }),
    headers: t.expose("headers", { type: "JSON", description: "Headers given at invoke time (an object of strings)." }),
    result: t.expose("result", {
      type: "JSON",
      nullable: true,
      description: "Standard output of the function: parsed JSON when it is JSON, else the text.",
    }),
    error: t.exposeString("error", { nullable: true }),
    logs: t.exposeString("logs", { nullable: true, description: "Standard error of the function." }),
    exitCode: t.exposeInt("exitCode", { nullable: true }),
    attempts: t.exposeInt("attempts"),
    workerId: t.exposeString("workerId", { nullable: true }),
    durationMs: t.exposeInt("durationMs", { nullable: true }),
    timeout: t.string({
      description: 'Time limit as a duration such as "30s".',
      resolve: (inv) => formatDuration(inv.timeoutMs),
    }),
    timeoutMs: t.exposeInt("timeoutMs"),
    codeSha256: t.exposeString("codeSha256", { description: "SHA-256 of the code this invocation runs." }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    startedAt: t.expose("startedAt", { type: "DateTime", nullable: true }),
    completedAt: t.expose("completedAt", { type: "DateTime", nullable: true }),
  }),
});

export const InvocationConnection = builder.connectionObject(
  { type: InvocationRef, name: "InvocationConnection" },
  { name: "InvocationEdge" },
);

const InvocationFilter = builder.inputType("InvocationFilter", {
  fields: (t) => ({
    functionId: t.id({ description: "Only invocations of this function." }),
    status: t.field({ type: InvocationStatusEnum }),
  }),
});

builder.queryFields((t) => ({
  invocation: t.field({
    type: InvocationRef,
    nullable: true,
    description: "One invocation by id (error NOT_FOUND when there is none).",
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, ctx) =>
      located(null, () => ctx.app.invocations.get(id, allowed(ctx, "invocations:read").functionScope)),
  }),
  invocations: t.field({
    type: InvocationConnection,
    description: "Invocations, newest first.",
    args: { ...pageArgs, filter: t.arg({ type: InvocationFilter }) },
    complexity: connectionComplexity,
    resolve: (_root, args, ctx) =>
      located(
        "filter",
        async () => {
          const { functionScope } = allowed(ctx, "invocations:read");
          const filter = { functionId: args.filter?.functionId ?? undefined, status: args.filter?.status ?? undefined };
          return toConnection(await ctx.app.invocations.list(filter, pageRequest(args), functionScope), args.after);
        },
        PAGE_ARG_PATHS,
      ),
  }),
}));
