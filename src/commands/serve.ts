import type { Command } from "commander";
import { startService } from "../app.ts";
import { loadConfig } from "../config.ts";
import { createLogger } from "../logger.ts";
import { exitOnShutdownSignals } from "./shutdown.ts";

export function registerServeCommand(program: Command): void {
  program
    .command("serve")
    .description("run the GraphQL API (embedded database by default; DATABASE_URL for PostgreSQL)")
    .option("--port <port>", "HTTP port (default $PORT or 4000)")
    .option("--host <host>", "interface to bind (default $HOST or 127.0.0.1)")
    .option("--no-worker", "serve the API only; generation runs in `rareforge worker` processes")
    .action(async (options: { port?: string; host?: string; worker: boolean }) => {
      const config = loadConfig(process.env, {
        ...(options.worker === false ? { runWorker: false } : {}),
        ...(options.port !== undefined ? { port: Number(options.port) } : {}),
        ...(options.host !== undefined ? { host: options.host } : {}),
      });
      const logger = createLogger(config.logLevel);
      let service;
      try {
        service = await startService(config, { logger });
      } catch (error) {
        logger.fatal({ err: error }, (error as Error).message);
        console.error(`rareforge: ${(error as Error).message}`);
        process.exit(1);
      }
      exitOnShutdownSignals(logger, () => service.close());
    });
}
