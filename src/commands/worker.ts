// `rareforge worker`: generation workers alone, against a PostgreSQL server (DATABASE_URL). Any number of
// these processes, on any machines sharing the database and the artifact store, take batch tasks from
// the queue; `--concurrency` batch tasks run at once in each.
import type { Command } from "commander";
import { loadConfig } from "../config.ts";
import { databaseOptionsFromConfig, openDatabase } from "../db/index.ts";
import { openQueue, startWorker } from "../jobs/index.ts";
import { createLogger } from "../logger.ts";
import { exitOnShutdownSignals } from "./shutdown.ts";
import { artifactStoreFromConfig } from "../storage/index.ts";

export function registerWorkerCommand(program: Command): void {
  program
    .command("worker")
    .description("run generation workers only (PostgreSQL: set DATABASE_URL; the embedded database runs its worker inside `serve`)")
    .option("--concurrency <n>", "batch tasks run at once (default $RAREFORGE_WORKER_CONCURRENCY or 1)")
    .action(async (options: { concurrency?: string }) => {
      const config = loadConfig(process.env, options.concurrency !== undefined ? { workerConcurrency: Number(options.concurrency) } : {});
      const logger = createLogger(config.logLevel);
      if (!config.databaseUrl) {
        console.error("rareforge worker: set DATABASE_URL to a PostgreSQL server; with the embedded database, `rareforge serve` runs the worker in-process");
        process.exit(2);
      }
      const db = await openDatabase(databaseOptionsFromConfig(config));
      try {
        await db.migrate();
        const boss = await openQueue(db, config, logger);
        const worker = await startWorker({ config, db, boss, store: artifactStoreFromConfig(config), logger });
        exitOnShutdownSignals(logger, async () => {
          await worker.stop();
          await boss.stop({ graceful: true, close: true, timeout: 20_000 });
          await db.close();
        });
      } catch (error) {
        logger.fatal({ err: error }, (error as Error).message);
        console.error(`rareforge worker: ${(error as Error).message}`);
        await db.close().catch(() => {});
        process.exit(1);
      }
    });
}
