// Usage: npx tsx scripts/migrate-new.ts <name>
// Writes prisma/migrations/<timestamp>_<name>/migration.sql from the changes in
// prisma/schema.prisma since the last migration. The PostgreSQL server in DATABASE_URL only
// hosts a temporary shadow database (created and dropped); its data is not touched.
import { createMigration } from "../src/db/migrate.js";

const name = process.argv[2];
if (!name) {
  console.error("usage: npx tsx scripts/migrate-new.ts <name>");
  process.exit(2);
}
const databaseUrl = process.env.DATABASE_URL ?? "postgresql://postgres:postgres@localhost:5432/faas?sslmode=disable";

const created = await createMigration(name, databaseUrl);
if (created) {
  console.log(`created ${created.path}`);
} else {
  console.log("no changes: prisma/schema.prisma matches the migrations");
}
