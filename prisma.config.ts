import { defineConfig } from "prisma/config";

// Prisma 7 reads the datasource URL from here; RareForge applies migrations itself (src/db/migrate.ts),
// so the URL only matters for ad-hoc Prisma CLI use against a PostgreSQL server.
export default defineConfig({
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations" },
  datasource: { url: process.env.DATABASE_URL ?? "postgresql://localhost:5432/rareforge" },
});
