// The database backends every API and migration test runs against: embedded PGlite always, and a real
// PostgreSQL server when TEST_DATABASE_URL is set (CI sets it). Each PostgreSQL use gets a fresh database.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { openDatabase, type Database } from "../../src/db/index.ts";

export interface TestBackend {
  name: "pglite" | "postgresql";
  /** A fresh, empty database; PGlite's files in `pgliteDir` when given (else in memory). */
  open(pgliteDir?: string): Promise<Database>;
}

async function withAdmin<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Creates a fresh database beside TEST_DATABASE_URL's and drops it again when closed. */
export async function freshPostgresUrl(baseUrl: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `rareforge_test_${randomBytes(6).toString("hex")}`;
  await withAdmin(baseUrl, (c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    // Connections that a closed service is still ending get up to 5 s to go before FORCE terminates the rest
    // (a terminated connection whose pool has no error listener is an uncaught exception in the test run).
    drop: () =>
      withAdmin(baseUrl, async (c) => {
        for (let waited = 0; waited < 5000; waited += 50) {
          const { rows } = await c.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1", [name]);
          if (rows[0].n === 0) break;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      }),
  };
}

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL;

export function testBackends(): TestBackend[] {
  const backends: TestBackend[] = [{ name: "pglite", open: (pgliteDir) => openDatabase({ kind: "pglite", ...(pgliteDir ? { dataDir: pgliteDir } : {}) }) }];
  if (TEST_DATABASE_URL) {
    backends.push({
      name: "postgresql",
      async open() {
        const fresh = await freshPostgresUrl(TEST_DATABASE_URL);
        const db = await openDatabase({ kind: "postgresql", url: fresh.url });
        const close = db.close.bind(db);
        return Object.assign(db, {
          close: async () => {
            await close();
            await fresh.drop();
          },
        });
      },
    });
  } else {
    console.info("TEST_DATABASE_URL is not set: PostgreSQL variants of the database tests are skipped (PGlite runs).");
  }
  return backends;
}
