// `rotate-secrets`: seals every function's environment again under the current key
// (SECRETS_KEY), opening it with whichever key sealed it (SECRETS_KEY_PREVIOUS) or reading
// it as legacy plaintext. Rows are read in small batches by id; each is written only if it
// still holds what was read (compared in SQL), so an update made meanwhile (sealed under the
// current key by the controller that made it) is never overwritten.

import type { Db } from "../db/client.js";
import { SecretsError } from "../errors.js";
import type { Logger } from "../lib/logger.js";
import type { SecretBox } from "./secret-box.js";

export interface RotationReport {
  /** Functions examined. */
  total: number;
  /** Sealed again under the current key. */
  rotated: number;
  /** Functions no configured key opens: id and why (the key id, never a value). */
  unreadable: { id: string; reason: string }[];
  /** Changed again and again while being rotated; a second run picks them up. */
  contended: string[];
}

export interface RotationOptions {
  batchSize?: number;
}

/** A conditional write lost to a concurrent update is retried this often with the fresh value. */
const ATTEMPTS_PER_ROW = 5;

export async function rotateSecrets(
  app: { db: Db; secrets: SecretBox; logger: Logger },
  options: RotationOptions = {},
): Promise<RotationReport> {
  const batchSize = options.batchSize ?? 100;
  const report: RotationReport = { total: 0, rotated: 0, unreadable: [], contended: [] };
  let after: string | undefined;
  for (;;) {
    const rows = await app.db.faasFunction.findMany({
      select: { id: true, environment: true },
      where: after === undefined ? {} : { id: { gt: after } },
      orderBy: { id: "asc" },
      take: batchSize,
    });
    if (rows.length === 0) break;
    after = rows[rows.length - 1]?.id;
    report.total += rows.length;
    for (const row of rows) {
      const outcome = await rotateRow(app, row.id, row.environment);
      if (outcome === "rotated") report.rotated += 1;
      else if (outcome === "contended") report.contended.push(row.id);
      else if (outcome instanceof SecretsError) report.unreadable.push({ id: row.id, reason: outcome.message });
    }
    app.logger.debug("rotate-secrets: batch done", { examined: report.total, rotated: report.rotated });
  }
  return report;
}

async function rotateRow(
  app: { db: Db; secrets: SecretBox },
  id: string,
  read: unknown,
): Promise<"rotated" | "current" | "gone" | "contended" | SecretsError> {
  let stored = read;
  for (let attempt = 0; attempt < ATTEMPTS_PER_ROW; attempt++) {
    if (!app.secrets.needsRotation(stored)) return "current";
    let sealed: string;
    try {
      sealed = JSON.stringify(app.secrets.seal(app.secrets.open(stored)));
    } catch (err) {
      if (err instanceof SecretsError) return err;
      throw err;
    }
    // jsonb equality: the row is written only if it still holds exactly what was read.
    // updated_at is left alone: the function itself did not change.
    const written = await app.db.$executeRaw`
      UPDATE functions SET environment = ${sealed}::jsonb
      WHERE id = ${id}::uuid AND environment = ${JSON.stringify(stored)}::jsonb`;
    if (written === 1) return "rotated";
    const again = await app.db.faasFunction.findUnique({ where: { id }, select: { environment: true } });
    if (!again) return "gone";
    stored = again.environment;
  }
  return "contended";
}
