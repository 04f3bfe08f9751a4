// The service under measurement, in its own process: starts RareForge (API only) from the environment and
// reports process.memoryUsage() to the parent every 20 ms; on "gc" it collects garbage and reports at once.
import { startService } from "../../src/app.ts";
import { loadConfig } from "../../src/config.ts";
import { createLogger } from "../../src/logger.ts";

const config = loadConfig(process.env, { port: 0, host: "127.0.0.1", logLevel: "warn", runWorker: false, importLibraryOnStart: false });
// run.ts reads the first admin key from <data dir>/secrets/admin-key; it is not printed
const service = await startService(config, { logger: createLogger("warn"), announce: () => {} });
const report = (kind: string) => process.send!({ kind, memory: process.memoryUsage(), at: performance.now() });
const timer = setInterval(() => report("sample"), 20);
process.on("message", async (message: { kind: string }) => {
  if (message.kind === "gc") {
    (globalThis as { gc?: () => void }).gc?.();
    await new Promise((r) => setTimeout(r, 50));
    (globalThis as { gc?: () => void }).gc?.();
    report("gc");
  } else if (message.kind === "stop") {
    clearInterval(timer);
    await service.close();
    process.exit(0);
  }
});
process.send!({ kind: "ready", url: service.url });
