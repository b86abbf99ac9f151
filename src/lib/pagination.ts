// Keyset pagination over (created_at DESC, id DESC). The cursor is opaque to clients; it
// encodes the last row's position, so rows inserted or deleted meanwhile never shift pages.
import { ValidationError } from "../errors.js";

export interface PageRequest {
  limit: number;
  after?: { createdAt: Date; id: string };
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
  /** The page size that was asked for (or the default). */
  limit: number;
}

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

export function encodeCursor(row: { createdAt: Date; id: string }): string {
  return Buffer.from(`${row.createdAt.toISOString()}|${row.id}`).toString("base64url");
}

export function decodeCursor(cursor: string, field = "cursor"): { createdAt: Date; id: string } {
  const [iso, id] = Buffer.from(cursor, "base64url").toString("utf8").split("|");
  const createdAt = new Date(iso ?? "");
  if (!id || !iso || !isUuid(id) || Number.isNaN(createdAt.getTime())) {
    throw ValidationError.field(field, "is not a cursor returned by this API");
  }
  return { createdAt, id };
}

export function parsePageRequest(input: { limit?: unknown; cursor?: unknown }): PageRequest {
  let limit = DEFAULT_PAGE_SIZE;
  if (input.limit !== undefined && input.limit !== null && input.limit !== "") {
    limit = Number(input.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) {
      throw ValidationError.field("limit", `must be a whole number from 1 to ${MAX_PAGE_SIZE}`);
    }
  }
  if (input.cursor === undefined || input.cursor === null || input.cursor === "") return { limit };
  if (typeof input.cursor !== "string") throw ValidationError.field("cursor", "must be a string");
  return { limit, after: decodeCursor(input.cursor) };
}

/** Prisma `where` fragment selecting rows after the cursor in (createdAt desc, id desc) order. */
export function afterCursorWhere(page: PageRequest) {
  if (!page.after) return {};
  const { createdAt, id } = page.after;
  return { OR: [{ createdAt: { lt: createdAt } }, { createdAt, id: { lt: id } }] };
}

export const newestFirst = [{ createdAt: "desc" as const }, { id: "desc" as const }];

/** One page of any table keyed by (createdAt, id), newest first. */
export async function fetchPage<T extends { createdAt: Date; id: string }, W extends object>(
  findMany: (args: { where: W; orderBy: typeof newestFirst; take: number }) => Promise<T[]>,
  where: W,
  page: PageRequest,
): Promise<Page<T>> {
  const rows = await findMany({
    where: { ...where, ...afterCursorWhere(page) },
    orderBy: newestFirst,
    take: page.limit + 1,
  });
  return toPage(rows, page.limit);
}

/** Fetch limit+1 rows, then cut: the extra row tells whether there is a next page. */
export function toPage<T extends { createdAt: Date; id: string }>(rows: T[], limit: number): Page<T> {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return { items, nextCursor: rows.length > limit && last ? encodeCursor(last) : null, limit };
}

export function isUuid(value: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value);
}

export function assertUuid(value: string, field = "id"): string {
  if (!isUuid(value)) throw ValidationError.field(field, `must be a UUID, got "${value.slice(0, 60)}"`);
  return value.toLowerCase();
}
