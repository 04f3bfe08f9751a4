// The Prisma client factory: embedded PGlite (default) or a PostgreSQL server, one schema for both.
import path from "node:path";
import type { PGlite } from "@electric-sql/pglite";
import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";
import { PrismaPGlite } from "pglite-prisma-adapter";
import { PrismaClient } from "../generated/prisma/client.ts";
import { acquireDataDirectoryLock, type DataDirectoryLock } from "./lock.ts";
import { applyMigrations, type MigrationOutcome, type SqlSession } from "./migrate.ts";
import { FairPGlite } from "./fair-pglite.ts";

export type DatabaseKind = "pglite" | "postgresql";

export interface Database {
  readonly kind: DatabaseKind;
  readonly prisma: PrismaClient;
  /** Raw SQL access for migrations and health checks. */
  readonly sql: SqlSession;
  /** The embedded engine, for components that attach to it directly (the queue); undefined on PostgreSQL. */
  readonly pglite?: PGlite;
  /** The server URL; undefined on PGlite. */
  readonly url?: string;
  ping(): Promise<void>;
  migrate(): Promise<MigrationOutcome>;
  close(): Promise<void>;
}

export type DatabaseOptions =
  | { kind: "pglite"; /** undefined: in memory (tests) */ dataDir?: string }
  | { kind: "postgresql"; url: string };

function pgliteSession(pglite: PGlite): SqlSession {
  return {
    transaction: (work) =>
      pglite.transaction((tx) =>
        work({
          exec: async (sql) => {
            await tx.exec(sql);
          },
          query: async <Row>(sql: string, params?: unknown[]) => (await tx.query<Row>(sql, params)).rows,
        }),
      ),
  };
}

function postgresSession(pool: pg.Pool): SqlSession {
  return {
    async transaction(work) {
      const client = await pool.connect();
      try {
        await client.query("BEGIN");
        const result = await work({
          exec: async (sql) => {
            await client.query(sql);
          },
          query: async <Row>(sql: string, params?: unknown[]) => (await client.query(sql, params)).rows as Row[],
        });
        await client.query("COMMIT");
        return result;
      } catch (error) {
        await client.query("ROLLBACK").catch(() => {});
        throw error;
      } finally {
        client.release();
      }
    },
  };
}

export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  if (options.kind === "postgresql") {
    const pool = new pg.Pool({ connectionString: options.url, max: 10 });
    const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
    const sql = postgresSession(pool);
    let closed = false;
    return {
      kind: "postgresql",
      prisma,
      sql,
      url: options.url,
      ping: async () => {
        await pool.query("SELECT 1");
      },
      migrate: () => applyMigrations(sql),
      async close() {
        if (closed) return;
        closed = true;
        await prisma.$disconnect();
        await pool.end();
      },
    };
  }

  let lock: DataDirectoryLock | undefined;
  if (options.dataDir !== undefined) lock = acquireDataDirectoryLock(options.dataDir);
  let pglite: PGlite;
  try {
    pglite = options.dataDir === undefined ? new FairPGlite() : new FairPGlite(path.join(options.dataDir, "pgdata"));
    await pglite.waitReady;
  } catch (error) {
    lock?.release();
    throw error;
  }
  const prisma = new PrismaClient({ adapter: new PrismaPGlite(pglite) });
  const sql = pgliteSession(pglite);
  let closed = false;
  return {
    kind: "pglite",
    prisma,
    sql,
    pglite,
    ping: async () => {
      await pglite.query("SELECT 1");
    },
    migrate: () => applyMigrations(sql),
    async close() {
      if (closed) return;
      closed = true;
      try {
        await prisma.$disconnect();
        // Closing flushes PGlite's state to its directory; only then may another process open it.
        await pglite.close();
      } finally {
        lock?.release();
      }
    },
  };
}

export function databaseOptionsFromConfig(config: { dataDir: string; databaseUrl?: string | undefined }): DatabaseOptions {
  return config.databaseUrl ? { kind: "postgresql", url: config.databaseUrl } : { kind: "pglite", dataDir: path.join(config.dataDir, "db") };
}
