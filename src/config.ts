// Environment → typed, validated configuration. The one place that reads process.env.
import path from "node:path";
import { z } from "zod";
import { PROJECT_ROOT } from "./db/paths.ts";

const configSchema = z.object({
  /** Where the embedded database, artifacts and the lock live. */
  dataDir: z.string().min(1),
  /** postgresql://… switches from embedded PGlite to a PostgreSQL server. */
  databaseUrl: z
    .string()
    .regex(/^postgres(ql)?:\/\//, "DATABASE_URL must start with postgresql://")
    .optional(),
  host: z.string().min(1),
  port: z.coerce.number().int().min(0).max(65535),
  logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]),
  modelsDir: z.string().min(1),
  scenariosDir: z.string().min(1),
  /** Import scenarios/*.yaml at start (idempotent). */
  importLibraryOnStart: z.boolean(),
  /** Largest accepted request body, in bytes. */
  maxBodyBytes: z.coerce.number().int().positive(),
  /** Deepest accepted GraphQL selection. */
  maxQueryDepth: z.coerce.number().int().positive(),
  /** Largest accepted GraphQL query cost (graphql-armor's cost model). */
  maxQueryCost: z.coerce.number().int().positive(),
  executionProvider: z.enum(["cpu", "cuda", "webgpu", "auto"]),
});

export type Config = z.infer<typeof configSchema>;

/** Configuration variables, their defaults and meaning (README lists the same). */
export const CONFIG_VARIABLES = {
  RAREFORGE_DATA_DIR: ".rareforge — embedded database, artifacts, lock file",
  DATABASE_URL: "unset — postgresql://user@host:5432/db to use a PostgreSQL server instead of PGlite",
  HOST: "127.0.0.1 — interface the HTTP server binds",
  PORT: "4000 — HTTP port (GraphiQL at /graphql)",
  LOG_LEVEL: "info — pino level (fatal … trace, silent)",
  RAREFORGE_MODELS_DIR: "models — model, detector and critic packages",
  RAREFORGE_SCENARIOS_DIR: "scenarios — YAML scenario library imported at start",
  RAREFORGE_IMPORT_LIBRARY: "true — import the scenario library at start",
  RAREFORGE_MAX_BODY_BYTES: "1048576 — request body limit",
  RAREFORGE_MAX_QUERY_DEPTH: "12 — GraphQL depth limit",
  RAREFORGE_MAX_QUERY_COST: "5000 — GraphQL cost limit",
  RAREFORGE_EP: "cpu — onnxruntime execution provider: cpu | cuda | webgpu | auto",
} as const;

export class ConfigError extends Error {
  override name = "ConfigError";
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Config {
  const resolveDir = (value: string | undefined, fallback: string) => path.resolve(PROJECT_ROOT, value ?? fallback);
  const candidate = {
    dataDir: resolveDir(env.RAREFORGE_DATA_DIR, ".rareforge"),
    databaseUrl: env.DATABASE_URL || undefined,
    host: env.HOST ?? "127.0.0.1",
    port: env.PORT ?? 4000,
    logLevel: env.LOG_LEVEL ?? "info",
    modelsDir: resolveDir(env.RAREFORGE_MODELS_DIR, "models"),
    scenariosDir: resolveDir(env.RAREFORGE_SCENARIOS_DIR, "scenarios"),
    importLibraryOnStart: (env.RAREFORGE_IMPORT_LIBRARY ?? "true") !== "false",
    maxBodyBytes: env.RAREFORGE_MAX_BODY_BYTES ?? 1024 * 1024,
    maxQueryDepth: env.RAREFORGE_MAX_QUERY_DEPTH ?? 12,
    maxQueryCost: env.RAREFORGE_MAX_QUERY_COST ?? 5000,
    executionProvider: env.RAREFORGE_EP ?? "cpu",
    ...overrides,
  };
  const parsed = configSchema.safeParse(candidate);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`).join("; ");
    throw new ConfigError(`invalid configuration: ${problems}`);
  }
  return parsed.data;
}
