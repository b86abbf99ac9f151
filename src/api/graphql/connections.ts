// Forward-only cursor connections over the services' keyset pages (newest first): the
// services page by (createdAt, id) and their cursor is the Relay cursor, so GraphQL and
// REST share one pagination implementation.
import { z } from "zod";
import {
  DEFAULT_PAGE_SIZE,
  encodeCursor,
  MAX_PAGE_SIZE,
  type Page,
  type PageRequest,
  parsePageRequest,
} from "../../lib/pagination.js";
import { builder } from "./builder.js";

/** `first`/`after` (no `last`/`before`: the services page forward only). */
export const pageArgs = builder.args((t) => ({
  first: t.int({
    description: `Page size, 1 to ${MAX_PAGE_SIZE} (default ${DEFAULT_PAGE_SIZE}).`,
    validate: z
      .number()
      .int()
      .min(1, `must be a whole number from 1 to ${MAX_PAGE_SIZE}`)
      .max(MAX_PAGE_SIZE, `must be a whole number from 1 to ${MAX_PAGE_SIZE}`),
  }),
  after: t.string({ description: "The `endCursor` of the previous page." }),
}));

/** Service errors about the page name the GraphQL arguments. */
export const PAGE_ARG_PATHS = { limit: ["first"], cursor: ["after"] };

export function pageRequest(args: { first?: number | null; after?: string | null }): PageRequest {
  return parsePageRequest({ limit: args.first ?? undefined, cursor: args.after ?? undefined });
}

/** A connection field costs its page size times the cost of one node. */
export function connectionComplexity(args: { first?: number | null }) {
  return { field: 1, multiplier: args.first ?? DEFAULT_PAGE_SIZE };
}

export function toConnection<T extends { createdAt: Date; id: string }>(page: Page<T>, after?: string | null) {
  const edges = page.items.map((node) => ({ cursor: encodeCursor(node), node }));
  return {
    edges,
    pageInfo: {
      hasNextPage: page.nextCursor !== null,
      // Keyset pages do not look back; a page after a cursor has one before it.
      hasPreviousPage: Boolean(after),
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges[edges.length - 1]?.cursor ?? null,
    },
  };
}
