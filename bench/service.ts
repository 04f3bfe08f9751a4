// The real service for a benchmark: a temporary data directory, the shipped models and scenario library, the
// in-process worker with one onnxruntime thread, on PGlite or (given a URL) PostgreSQL, on a loopback port, and
// the admin key its requests send.
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { startService, type RunningService, type StartOptions } from "../src/app.ts";
import { loadConfig, type Config } from "../src/config.ts";
import { databaseOptionsFromConfig, openDatabase } from "../src/db/index.ts";
import { createLogger } from "../src/logger.ts";

const ROOT = new URL("../", import.meta.url).pathname;

export async function startBenchService(options: { port: number; databaseUrl?: string; name: string }) {
  const root = mkdtempSync(path.join(os.tmpdir(), `rareforge-${options.name}-`));
  const config = loadConfig({ ...process.env, DATABASE_URL: options.databaseUrl ?? "" }, {
    port: options.port,
    host: "127.0.0.1",
    logLevel: "silent",
    dataDir: path.join(root, "data"),
    modelsDir: path.join(ROOT, "models"),
    scenariosDir: path.join(ROOT, "scenarios"),
    importLibraryOnStart: true,
    runWorker: true,
    onnxThreads: 1,
  });
  const db = await openDatabase(databaseOptionsFromConfig(config));
  const { service, adminKey } = await startWithAdminKey(config, { db, logger: createLogger("silent") });
  return { root, config, db, service, adminKey };
}

/**
 * startService, keeping the admin key it announces at its first start (not printed); on a database that already
 * has keys, a new admin key is made. Requests send it as `Authorization: Bearer <adminKey>`.
 */
export async function startWithAdminKey(config: Config, options: Omit<StartOptions, "announce">): Promise<{ service: RunningService; adminKey: string }> {
  let announced: string | undefined;
  const service = await startService(config, { ...options, announce: (key) => (announced = key) });
  const adminKey = announced ?? (await service.services.keys.create({ name: "bench admin", role: "ADMIN", scopes: ["AUTOMOTIVE", "MEDICAL"] })).secret;
  return { service, adminKey };
}
