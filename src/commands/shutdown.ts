// How `serve` and `worker` stop on SIGTERM or SIGINT. One stop can deliver several signals: a signal to the
// process group reaches npm and the server, and npm relays it again; Ctrl-C followed by `kill` is another. Every
// signal after the first is logged and otherwise ignored, because the default action (exit at once) would cut
// the shutdown short and leave the embedded database unflushed and its lock behind.
import type { Logger } from "../logger.ts";

/** Longest wait for `close` (a batch in flight finishes first) before exiting with status 1 regardless. */
export const SHUTDOWN_TIMEOUT_MS = 30_000;

export function exitOnShutdownSignals(logger: Logger, close: () => Promise<void>): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return void logger.info({ signal }, "already shutting down");
    stopping = true;
    logger.info({ signal }, "shutting down");
    const force = setTimeout(() => {
      logger.error(`shutdown took over ${SHUTDOWN_TIMEOUT_MS / 1000} s; exiting`);
      process.exit(1);
    }, SHUTDOWN_TIMEOUT_MS);
    force.unref();
    close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
}
