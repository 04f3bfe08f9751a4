import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { applyMigrations, MigrationChecksumError, MigrationError, readMigrations } from "../../src/db/index.ts";
import { testBackends } from "../helpers/databases.ts";

const run = promisify(execFile);

describe.each(testBackends())("migrations on $name", (backend) => {
  it("apply once, record what `prisma migrate deploy` records, and are idempotent", async () => {
    const db = await backend.open();
    try {
      const migrations = await readMigrations();
      expect(migrations.length).toBeGreaterThan(0);
      const first = await db.migrate();
      expect(first.applied).toEqual(migrations.map((m) => m.name));
      const second = await db.migrate();
      expect(second).toEqual({ applied: [], alreadyApplied: migrations.map((m) => m.name) });
      const rows = await db.sql.transaction((tx) =>
        tx.query<{ migration_name: string; checksum: string; finished_at: Date | null; applied_steps_count: number }>(
          `SELECT migration_name, checksum, finished_at, applied_steps_count FROM "_prisma_migrations" ORDER BY migration_name`,
        ),
      );
      expect(rows.map((r) => r.migration_name)).toEqual(migrations.map((m) => m.name));
      for (const [i, row] of rows.entries()) {
        const sql = readFileSync(new URL(`../../prisma/migrations/${row.migration_name}/migration.sql`, import.meta.url), "utf8");
        expect(row.checksum).toBe(createHash("sha256").update(sql).digest("hex"));
        expect(row.finished_at).not.toBeNull();
        expect(row.applied_steps_count).toBe(1);
        expect(migrations[i]?.checksum).toBe(row.checksum);
      }
      // The schema the client expects is really there.
      expect(await db.prisma.scenario.count()).toBe(0);
    } finally {
      await db.close();
    }
  });

  it("are atomic: a failing migration leaves the database unchanged and is reported by name", async () => {
    const db = await backend.open();
    try {
      const good = { name: "20990101000000_good", sql: `CREATE TABLE "marker" (id int);`, checksum: "a".repeat(64) };
      const bad = { name: "20990101000001_bad", sql: `INSERT INTO "marker" VALUES (1);\nSELECT * FROM "no_such_table";`, checksum: "b".repeat(64) };
      await expect(applyMigrations(db.sql, [good, bad])).rejects.toThrow(MigrationError);
      await expect(applyMigrations(db.sql, [good, bad])).rejects.toThrow(/20990101000001_bad/);
      const tables = await db.sql.transaction((tx) =>
        tx.query<{ n: number }>(`SELECT count(*)::int AS n FROM information_schema.tables WHERE table_name IN ('marker', '_prisma_migrations')`),
      );
      expect(tables[0]?.n).toBe(0);
    } finally {
      await db.close();
    }
  });

  it("refuse an applied migration whose file has changed", async () => {
    const db = await backend.open();
    try {
      const original = { name: "20990101000000_a", sql: `CREATE TABLE "a" (id int);`, checksum: "c".repeat(64) };
      await applyMigrations(db.sql, [original]);
      await expect(applyMigrations(db.sql, [{ ...original, checksum: "d".repeat(64) }])).rejects.toThrow(MigrationChecksumError);
    } finally {
      await db.close();
    }
  });
});

describe("migration files", () => {
  it("match prisma/schema.prisma: creating a migration finds nothing to add", async () => {
    const { stdout } = await run(process.execPath, ["--import", "tsx", "scripts/create-migration.ts", "--check"], {
      cwd: new URL("../..", import.meta.url).pathname,
    });
    expect(stdout).toContain("nothing to create");
  }, 60_000);
});
