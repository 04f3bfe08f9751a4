import type { Command } from "commander";
import { loadConfig } from "../config.ts";
import { databaseOptionsFromConfig, openDatabase } from "../db/index.ts";

export function registerMigrateCommand(program: Command): void {
  program
    .command("migrate")
    .description("apply pending migrations from prisma/migrations (atomically; same table as `prisma migrate deploy`)")
    .action(async () => {
      const config = loadConfig();
      const db = await openDatabase(databaseOptionsFromConfig(config));
      try {
        const outcome = await db.migrate();
        console.log(
          outcome.applied.length > 0
            ? `applied ${outcome.applied.length} migration(s): ${outcome.applied.join(", ")}`
            : `database is up to date (${outcome.alreadyApplied.length} migration(s) applied)`,
        );
      } catch (error) {
        console.error(`rareforge migrate: ${(error as Error).message}`);
        process.exitCode = 1;
      } finally {
        await db.close();
      }
    });
}
