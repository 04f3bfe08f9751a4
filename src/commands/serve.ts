import type { Command } from "commander";
import { startService } from "../app.ts";
import { loadConfig } from "../config.ts";
import { createLogger } from "../logger.ts";

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
      const shutdown = (signal: string) => {
        logger.info({ signal }, "shutting down");
        const force = setTimeout(() => {
          logger.error("shutdown took over 10 s; exiting");
          process.exit(1);
        }, 10_000);
        force.unref();
        void service.close().then(
          () => process.exit(0),
          (error: unknown) => {
            logger.error({ err: error }, "shutdown failed");
            process.exit(1);
          },
        );
      };
      process.once("SIGTERM", () => shutdown("SIGTERM"));
      process.once("SIGINT", () => shutdown("SIGINT"));
    });
}
