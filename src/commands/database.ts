// What the commands that open the database themselves share (export, upload, keys, audit): they act as the
// machine itself (no API key) on the configured database, migrated first and closed after, and their failures
// read alike.
import type { Config } from "../config.ts";
import { DataDirectoryLockedError, databaseOptionsFromConfig, openDatabase, type Database } from "../db/index.ts";
import { DomainError } from "../errors.ts";

export async function withDatabase<T>(config: Config, work: (db: Database) => Promise<T>): Promise<T> {
  const db = await openDatabase(databaseOptionsFromConfig(config));
  try {
    await db.migrate();
    return await work(db);
  } finally {
    await db.close();
  }
}

/**
 * Prints `rareforge <command>: …` on stderr and sets the exit code: 2 for an expected failure (a DomainError,
 * named), 1 for anything else. `whileServing` follows the message when a running server holds the embedded
 * database (what to do instead of stopping it).
 */
export function reportFailure(command: string, error: unknown, whileServing?: string): void {
  const typed = error instanceof DomainError;
  const hint = whileServing && error instanceof DataDirectoryLockedError ? `; ${whileServing}` : "";
  console.error(`rareforge ${command}: ${typed ? `${error.name}: ` : ""}${(error as Error).message}${hint}`);
  process.exitCode = typed ? 2 : 1;
}
