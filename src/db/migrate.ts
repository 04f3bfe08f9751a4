// Applies prisma/migrations to the database, atomically and compatibly with `prisma migrate deploy`:
// the same `_prisma_migrations` table, checksum = sha256 of migration.sql. All pending migrations run in
// one transaction, so a failing migration leaves the database as it was and is reported by name.
// (Prisma's own engine cannot be used here: it needs a downloaded binary, and its adapters' executeScript
// either splits scripts on ';' or does not await them — see DESIGN.md "Database".)
import { createHash, randomUUID } from "node:crypto";
import { readFile, readdir } from "node:fs/promises";
import path from "node:path";
import { MIGRATIONS_DIR } from "./paths.ts";

/** The smallest SQL surface migrations need, implemented for PGlite and for node-postgres. */
export interface SqlSession {
  /** Runs `work` in one transaction; a throw rolls everything back. */
  transaction<T>(work: (tx: SqlTransaction) => Promise<T>): Promise<T>;
}

export interface SqlTransaction {
  /** Runs a multi-statement script without parameters. */
  exec(sql: string): Promise<void>;
  query<Row>(sql: string, params?: unknown[]): Promise<Row[]>;
}

export interface Migration {
  name: string;
  sql: string;
  checksum: string;
}

export class MigrationError extends Error {
  override name = "MigrationError";
  constructor(
    readonly migrationName: string,
    cause: unknown,
  ) {
    super(`migration ${migrationName} failed and nothing was applied: ${(cause as Error).message ?? String(cause)}`, { cause });
  }
}

export class MigrationChecksumError extends Error {
  override name = "MigrationChecksumError";
  constructor(readonly migrationName: string) {
    super(`migration ${migrationName} was already applied with different content (checksum mismatch); restore the original migration.sql`);
  }
}

export function migrationChecksum(sql: string): string {
  return createHash("sha256").update(sql, "utf8").digest("hex");
}

export async function readMigrations(dir: string = MIGRATIONS_DIR): Promise<Migration[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const names = entries.filter((entry) => entry.isDirectory()).map((entry) => entry.name).sort();
  return Promise.all(
    names.map(async (name) => {
      const sql = await readFile(path.join(dir, name, "migration.sql"), "utf8");
      return { name, sql, checksum: migrationChecksum(sql) };
    }),
  );
}

const CREATE_MIGRATIONS_TABLE = `
CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
);`;

/** Prisma's migrate uses this advisory lock key too, so RareForge and `prisma migrate deploy` never race. */
const MIGRATION_ADVISORY_LOCK = 72707369;

export interface MigrationOutcome {
  applied: string[];
  alreadyApplied: string[];
}

export async function applyMigrations(session: SqlSession, migrations?: Migration[]): Promise<MigrationOutcome> {
  const all = migrations ?? (await readMigrations());
  return session.transaction(async (tx) => {
    await tx.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_ADVISORY_LOCK]);
    await tx.exec(CREATE_MIGRATIONS_TABLE);
    const rows = await tx.query<{ migration_name: string; checksum: string }>(
      `SELECT migration_name, checksum FROM "_prisma_migrations" WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`,
    );
    const done = new Map(rows.map((row) => [row.migration_name, row.checksum]));
    const outcome: MigrationOutcome = { applied: [], alreadyApplied: [] };
    for (const migration of all) {
      const appliedChecksum = done.get(migration.name);
      if (appliedChecksum !== undefined) {
        if (appliedChecksum !== migration.checksum) throw new MigrationChecksumError(migration.name);
        outcome.alreadyApplied.push(migration.name);
        continue;
      }
      try {
        await tx.exec(migration.sql);
      } catch (error) {
        throw new MigrationError(migration.name, error);
      }
      await tx.query(
        `INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, started_at, applied_steps_count)
         VALUES ($1, $2, now(), $3, now(), 1)`,
        [randomUUID(), migration.checksum, migration.name],
      );
      outcome.applied.push(migration.name);
    }
    return outcome;
  });
}
